from django.contrib import admin

from storefront.models import Estimate, PortfolioConsent, PortfolioPair, Rating, TrialRequest


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    """Ratings are the clients' words: the admin reads them (and may take down an abusive comment's
    publication), never changes a score."""

    list_display = ["order", "client", "score", "publish", "rated_at"]
    list_filter = ["score", "publish"]
    search_fields = ["order__number", "client__name", "comment"]
    readonly_fields = ["order", "client", "score", "comment", "shown_name", "shown_company", "by", "rated_at", "created_at"]
    fields = ["order", "client", "score", "comment", "publish", "shown_name", "shown_company", "by", "rated_at",
              "created_at"]

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(PortfolioConsent)
class PortfolioConsentAdmin(admin.ModelAdmin):
    """Consents are the clients' own record: read here, given and withdrawn by their admins on the order page."""

    list_display = ["order", "image", "client", "given_at", "withdrawn_at"]
    list_filter = [("withdrawn_at", admin.EmptyFieldListFilter)]
    search_fields = ["order__number", "client__name", "image__filename"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(PortfolioPair)
class PortfolioPairAdmin(admin.ModelAdmin):
    """Pairs are curated on the Portfolio page (which keeps the consent rule); the admin reads them."""

    list_display = ["title", "client", "service", "piece", "position", "published", "copies_at"]
    list_filter = ["published", "service", "piece"]
    search_fields = ["title", "client__name", "image__filename"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(Estimate)
class EstimateAdmin(admin.ModelAdmin):
    """What visitors were told (figures only; deleted after a day): read, or deleted early."""

    list_display = ["created_at", "count", "price", "currency", "turnaround", "ready_by", "expires_at"]
    list_filter = ["turnaround"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(TrialRequest)
class TrialRequestAdmin(admin.ModelAdmin):
    """Prospects' trial requests: read here; answered on Trials (/trials/) or the API, which create the company
    and its free order in one go (``storefront.trials``)."""

    list_display = ["created_at", "company", "contact_name", "email", "country", "pictures", "status", "decided_by"]
    list_filter = ["status", "country"]
    search_fields = ["company", "contact_name", "email", "vat_number"]
    date_hierarchy = "created_at"
    list_select_related = ["decided_by"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
