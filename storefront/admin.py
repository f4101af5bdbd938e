from django.contrib import admin

from storefront.models import Rating


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
