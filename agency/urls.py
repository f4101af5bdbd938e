from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import DefaultRouter

from agency import api as agency_api
from agency import views, views_brand
from billing import api as billing_api
from clients import api as clients_api
from jobs import api as jobs_api
from jobs import views_guest, views_live
from storefront import api as storefront_api

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("services", jobs_api.ServiceViewSet, basename="service")
router.register("clients", clients_api.ClientViewSet, basename="client")
router.register("style-guides", clients_api.StyleGuideViewSet, basename="style-guide")
router.register("orders", jobs_api.OrderViewSet, basename="order")
router.register("images", jobs_api.ImageViewSet, basename="image")
router.register("deliveries", jobs_api.DeliveryViewSet, basename="delivery")
router.register("shares", jobs_api.ShareViewSet, basename="share")
router.register("company-exports", jobs_api.CompanyExportViewSet, basename="company-export")
router.register("price-lists", billing_api.PriceListViewSet, basename="price-list")
router.register("quotes", billing_api.QuoteViewSet, basename="quote")
router.register("quote-lines", billing_api.QuoteLineViewSet, basename="quote-line")
router.register("invoices", billing_api.InvoiceViewSet, basename="invoice")
router.register("tokens", agency_api.ApiTokenViewSet, basename="api-token-personal")
router.register("members", clients_api.MemberViewSet, basename="member")
router.register("security-events", clients_api.SecurityEventViewSet, basename="security-event")
router.register("webhooks", clients_api.WebhookViewSet, basename="webhook")
router.register("versions", jobs_api.VersionViewSet, basename="version")
router.register("revision-rounds", jobs_api.RevisionRoundViewSet, basename="revision-round")
router.register("revision-items", jobs_api.RevisionItemViewSet, basename="revision-item")
router.register("annotations", jobs_api.AnnotationViewSet, basename="annotation")
router.register("annotation-replies", jobs_api.AnnotationReplyViewSet, basename="annotation-reply")
router.register("portfolio", storefront_api.PortfolioPairViewSet, basename="portfolio-pair")
router.register("trials", storefront_api.TrialViewSet, basename="trial")

api_urlpatterns = [
    path("auth/token/", agency_api.TokenView.as_view(), name="api-token"),
    path("me/", agency_api.MeView.as_view(), name="api-me"),
    path("orders/<uuid:pk>/quote/", billing_api.OrderQuoteView.as_view(), name="order-quote"),
    path("orders/<uuid:pk>/revision-price/", billing_api.RevisionPriceView.as_view(), name="order-revision-price"),
    path("orders/<uuid:pk>/rating/", storefront_api.OrderRatingView.as_view(), name="order-rating"),
    path("orders/<uuid:pk>/rating/visibility/", storefront_api.OrderRatingVisibilityView.as_view(),
         name="order-rating-visibility"),
    path("public/ratings/", storefront_api.PublicRatingsView.as_view(), name="public-ratings"),
    path("public/estimates/", storefront_api.PublicEstimateView.as_view(), name="public-estimates"),
    path("public/trials/", storefront_api.PublicTrialView.as_view(), name="public-trials"),
    path("brand/", agency_api.BrandView.as_view(), name="brand"),
    path("public/portfolio/", storefront_api.PublicPortfolioView.as_view(), name="public-portfolio"),
    path("orders/<uuid:pk>/portfolio-consent/", storefront_api.OrderConsentView.as_view(), name="order-portfolio-consent"),
    path("exports/invoices/", billing_api.InvoiceExportView.as_view(), name="export-invoices"),
    path("notifications/", agency_api.NotificationListView.as_view(), name="notification-list"),
    path("notifications/read/", agency_api.NotificationReadView.as_view(), name="notification-read"),
    path("uploads/local/<str:token>/", views.local_upload, name="local-upload"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsAuthenticated]), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=[IsAuthenticated]),
         name="api-docs"),
    *router.urls,
    re_path(r"^(?P<path>.*)$", views.api_not_found, name="api-not-found"),
]

admin.site.site_header = "Loupe administration"
admin.site.site_title = "Loupe admin"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("login/code/", views.login_code, name="login_code"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("password/reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("password/change/", views.PasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("profile/", views.profile, name="profile"),
    path("profile/two-factor/", views.two_factor_page, name="two_factor_setup"),
    path("profile/tokens/", views.token_create, name="token_create"),
    path("profile/tokens/<uuid:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/bell/", views.notification_bell, name="notification_bell"),
    path("healthz/", views.health, name="health"),
    path("readyz/", views.ready, name="ready"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("settings/brand/", views_brand.brand_settings, name="brand_settings"),
    path("brand/logo.png", views_brand.brand_logo, name="brand_logo"),
    path("files/<str:token>/", views.local_file, name="local-file"),
    # personal review links (jobs.review.shares): nobody signs in, the token opens the link
    path("r/<str:token>/", views_guest.guest_review, name="guest_review"),
    path("r/<str:token>/decide/", views_guest.guest_decide, name="guest_decide"),
    path("r/<str:token>/threads/", views_guest.guest_threads, name="guest_threads"),
    path("r/<str:token>/events/", views_live.guest_events, name="guest_events"),
    path("events/", views_live.events, name="events"),
    path("r/<str:token>/pictures/<int:pk>/marks/", views_guest.guest_marks, name="guest_marks"),
    *[route for kind in ("image", "version") for route in (
        path(f"r/<str:token>/{kind}s/<uuid:pk>/tiles/", views_guest.guest_tiles, {"kind": kind}, name=f"guest_{kind}_tiles"),
        path(f"r/<str:token>/{kind}s/<uuid:pk>/tiles/<int:level>/<int:col>_<int:row>.webp/", views_guest.guest_tile,
             {"kind": kind}, name=f"guest_{kind}_tile"),
        path(f"r/<str:token>/{kind}s/<uuid:pk>/download/", views_guest.guest_preview, {"kind": kind},
             name=f"guest_{kind}_preview"))],
    path("r/<str:token>/download/", views_guest.guest_download, name="guest_download_finals"),
    path("r/<str:token>/download/<int:pk>/", views_guest.guest_download, name="guest_download_preview"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_urlpatterns)),
    path("", include("clients.urls")),
    # billing and the storefront first: jobs' orders/<id>/<action>/ would otherwise swallow orders/<id>/quote/.
    path("", include("billing.urls")),
    path("", include("storefront.urls")),
    path("", include("jobs.urls")),
]

handler400 = "agency.views.bad_request"
handler403 = "agency.views.permission_denied"
handler404 = "agency.views.not_found"
handler500 = "agency.views.server_error"
