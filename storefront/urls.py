from django.urls import path

from storefront import views

app_name = "storefront"
urlpatterns = [
    path("studio/", views.studio_home, name="home"),
    path("sitemap.xml", views.sitemap, name="sitemap"),
    path("robots.txt", views.robots, name="robots"),
    path("studio/estimate/", views.estimate_page, name="estimate_form"),
    path("studio/estimate/<uuid:pk>/", views.estimate_detail, name="estimate"),
    path("studio/trial/", views.trial_page, name="trial_form"),
    path("studio/trial/sent/", views.trial_sent, name="trial_sent"),
    path("trials/", views.trial_list, name="trial_list"),
    path("trials/<uuid:pk>/", views.trial_detail, name="trial_detail"),
    path("studio/work/<uuid:pk>/<str:side>.webp", views.pair_file, name="pair_file"),
    path("studio/portfolio/", views.portfolio_manage, name="portfolio_manage"),
    path("studio/portfolio/<uuid:pk>/", views.pair_edit, name="pair_edit"),
    path("orders/<uuid:pk>/portfolio/", views.order_portfolio, name="order_portfolio"),
    path("orders/<uuid:pk>/rating/", views.order_rating, name="order_rating"),
    path("orders/<uuid:pk>/rating/panel/", views.order_rating_panel, name="order_rating_panel"),
    path("orders/<uuid:pk>/rating/visibility/", views.rating_visibility, name="rating_visibility"),
    path("reports/quality/ratings/", views.quality_ratings, name="quality_ratings"),
]
