from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_create, name="order_create"),
    path("orders/<uuid:pk>/", views.order_detail, name="order_detail"),
    path("orders/<uuid:pk>/edit/", views.order_edit, name="order_edit"),
    path("orders/<uuid:pk>/<slug:action>/", views.order_transition, name="order_transition"),
    path("images/<uuid:pk>/thumbnail/", views.image_thumbnail, name="image_thumbnail"),
]
