from django.urls import path

from jobs import views
from jobs import views_production as production

app_name = "jobs"
urlpatterns = [
    path("orders/", views.order_list, name="order_list"),
    path("orders/new/", views.order_create, name="order_create"),
    path("orders/<uuid:pk>/", views.order_detail, name="order_detail"),
    path("orders/<uuid:pk>/edit/", views.order_edit, name="order_edit"),
    path("orders/<uuid:pk>/images/", views.order_images, name="order_images"),
    path("orders/<uuid:pk>/schedule/", views.order_schedule, name="order_schedule"),
    path("orders/<uuid:pk>/review/", production.order_review, name="order_review"),
    path("orders/<uuid:pk>/deliveries/", production.order_deliveries, name="order_deliveries"),
    path("orders/<uuid:pk>/deliveries/new/", production.delivery_create, name="delivery_create"),
    path("orders/<uuid:pk>/messages/", production.message_post, name="message_post"),
    path("orders/<uuid:pk>/legal-hold/", views.order_legal_hold, name="order_legal_hold"),
    path("clients/<uuid:pk>/data/", views.company_exports, name="company_exports"),
    path("data/<uuid:pk>/download/", views.company_export_download, name="company_export_download"),
    path("orders/<uuid:pk>/<slug:action>/", views.order_transition, name="order_transition"),
    path("images/<uuid:pk>/", views.image_detail, name="image_detail"),
    path("images/<uuid:pk>/remove/", views.image_remove, name="image_remove"),
    path("images/<uuid:pk>/marks/", production.image_marks, name="image_marks"),
    path("orders/<uuid:pk>/images/remove-rejected/", views.order_remove_rejected, name="order_remove_rejected"),
    path("images/<uuid:pk>/assign/", views.image_assign, name="image_assign"),
    path("images/<uuid:pk>/work/", production.image_work, name="image_work"),
    path("images/<uuid:pk>/start/", production.image_start, name="image_start"),
    path("versions/<uuid:pk>/qc/", production.version_qc, name="version_qc"),
    path("versions/<uuid:pk>/reference/", production.version_reference, name="version_reference"),
    path("deliveries/<uuid:pk>/retry/", production.delivery_retry, name="delivery_retry"),
    path("deliveries/<uuid:pk>/shares/", production.delivery_share, name="delivery_share"),
    path("deliveries/<uuid:pk>/reviewers/", production.delivery_reviewers, name="delivery_reviewers"),
    path("deliveries/<uuid:pk>/shares/revoke/", production.delivery_shares_revoke, name="delivery_shares_revoke"),
    path("shares/<uuid:pk>/revoke/", production.share_revoke, name="share_revoke"),
    path("rounds/<uuid:pk>/answer/", production.round_answer, name="round_answer"),
    path("revision-items/<uuid:pk>/classify/", production.item_classify, name="item_classify"),
    path("work/", production.work_queue, name="work_queue"),
    path("qc/", production.qc_queue, name="qc_queue"),
    path("workload/", views.workload_board, name="workload"),
    path("dashboard/", views.sla_dashboard, name="dashboard"),
    path("reports/on-time/", views.on_time_report, name="on_time_report"),
    path("reports/quality/", production.quality_report, name="quality_report"),
]
