from django.urls import path

from billing import views

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
