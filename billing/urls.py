from django.urls import path

from billing import views, views_invoices

app_name = "billing"
urlpatterns = [
    path("orders/<uuid:pk>/quote/", views.order_quote, name="order_quote"),
    path("orders/<uuid:pk>/quote/draft/", views.quote_draft, name="quote_draft"),
    path("orders/<uuid:pk>/revision-price/", views.revision_price, name="revision_price"),
    path("quotes/<uuid:pk>/lines/", views.quote_edit, name="quote_edit"),
    path("quotes/<uuid:pk>/lines/preview/", views.quote_preview, name="quote_preview"),
    path("quotes/<uuid:pk>/send/", views.quote_send, name="quote_send"),
    path("quotes/<uuid:pk>/<slug:answer>/", views.quote_answer, name="quote_answer"),
    path("price-lists/", views.price_list_list, name="price_list_list"),
    path("price-lists/new/", views.price_list_edit, name="price_list_create"),
    path("price-lists/<uuid:pk>/", views.price_list_edit, name="price_list_edit"),
]

urlpatterns += [
    path("invoices/", views_invoices.invoice_list, name="invoice_list"),
    path("invoices/generate/", views_invoices.invoice_generate, name="invoice_generate"),
    path("invoices/issue-drafts/", views_invoices.invoice_issue_drafts, name="invoice_issue_drafts"),
    path("invoices/aging/", views_invoices.aging_report, name="aging_report"),
    path("invoices/exports/", views_invoices.export_page, name="export_page"),
    path("invoices/exports/list/", views_invoices.export_list, name="export_list"),
    path("invoices/exports/<uuid:pk>/download/", views_invoices.export_download, name="export_download"),
    path("invoices/<uuid:pk>/", views_invoices.invoice_detail, name="invoice_detail"),
    path("invoices/<uuid:pk>/pdf/", views_invoices.invoice_file, {"kind": "pdf"}, name="invoice_pdf"),
    path("invoices/<uuid:pk>/ubl/", views_invoices.invoice_file, {"kind": "ubl"}, name="invoice_ubl"),
    path("invoices/<uuid:pk>/<slug:action>/", views_invoices.invoice_action, name="invoice_action"),
]
