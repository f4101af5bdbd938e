from django.urls import path

from clients import views

app_name = "clients"
urlpatterns = [
    path("clients/", views.client_list, name="client_list"),
    path("clients/new/", views.client_create, name="client_create"),
    path("clients/<uuid:pk>/", views.client_detail, name="client_detail"),
    path("clients/<uuid:pk>/edit/", views.client_edit, name="client_edit"),
    path("clients/<uuid:pk>/members/new/", views.member_add, name="member_add"),
    path("clients/<uuid:pk>/members/<uuid:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("clients/<uuid:pk>/members/<uuid:membership_id>/role/", views.member_role, name="member_role"),
    path("clients/<uuid:pk>/members/<uuid:membership_id>/erase/", views.member_erase, name="member_erase"),
    path("clients/<uuid:pk>/members/<uuid:membership_id>/resend/", views.member_resend, name="member_resend"),
    path("team/", views.team, name="team"),
    path("security/", views.security_log, name="security_log"),
    path("webhooks/", views.webhook_list, name="webhook_list"),
    path("webhooks/<uuid:pk>/", views.webhook_detail, name="webhook_detail"),
    path("style-guides/", views.style_guide_list, name="style_guide_list"),
    path("style-guides/new/", views.style_guide_create, name="style_guide_create"),
    path("style-guides/<uuid:pk>/", views.style_guide_detail, name="style_guide_detail"),
    path("style-guides/<uuid:pk>/edit/", views.style_guide_edit, name="style_guide_edit"),
    path("style-guides/<uuid:pk>/reference/", views.style_guide_reference, name="style_guide_reference"),
]
