from django.urls import path

from jobs import views

app_name = "jobs"
urlpatterns = [
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_create, name="order_create"),
    path("orders/<uuid:pk>/", views.order_detail, name="order_detail"),
    path("orders/<uuid:pk>/edit/", views.order_edit, name="order_edit"),
    path("orders/<uuid:pk>/images/", views.order_images, name="order_images"),
    path("orders/<uuid:pk>/schedule/", views.order_schedule, name="order_schedule"),
    path("images/<uuid:pk>/assign/", views.image_assign, name="image_assign"),
    path("workload/", views.workload_board, name="workload"),
    path("dashboard/", views.sla_dashboard, name="dashboard"),
    path("reports/on-time/", views.on_time_report, name="on_time_report"),
    path("orders/<uuid:pk>/deliveries/new/", views.delivery_create, name="delivery_create"),
    path("orders/<uuid:pk>/<slug:action>/", views.order_transition, name="order_transition"),
    path("images/<uuid:pk>/", views.image_detail, name="image_detail"),
    path("images/<uuid:pk>/remove/", views.image_remove, name="image_remove"),
]
