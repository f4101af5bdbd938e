from django.urls import path

from storefront import views

app_name = "storefront"
urlpatterns = [
    path("studio/", views.studio_home, name="home"),
    path("orders/<uuid:pk>/rating/", views.order_rating, name="order_rating"),
    path("orders/<uuid:pk>/rating/panel/", views.order_rating_panel, name="order_rating_panel"),
    path("reports/quality/ratings/", views.quality_ratings, name="quality_ratings"),
]
