from django.contrib import admin

from clients.models import Client, Membership, StyleGuide, WebhookAttempt, WebhookDelivery, WebhookEndpoint


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("name", "currency", "account_manager", "free_revision_rounds", "is_active", "created_at")
    list_filter = ("is_active", "legal_hold", "currency")
    search_fields = ("name", "billing_email", "vat_number")
    list_select_related = ("account_manager",)
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "client", "created_at")
    list_filter = ("client",)
    search_fields = ("user__email", "user__full_name", "client__name")
    list_select_related = ("user", "client")
    autocomplete_fields = ("user", "client")


@admin.register(StyleGuide)
class StyleGuideAdmin(admin.ModelAdmin):
    list_display = ("name", "client", "version", "is_current", "locked_at", "created_at")
    list_filter = ("is_current", "background", "client")
    search_fields = ("name", "client__name")
    list_select_related = ("client",)
    readonly_fields = ("family", "version", "is_current", "locked_at", "created_at")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Endpoints are made on the Webhooks page or the API (the secret is shown there once); here they
    can be looked at and switched off."""

    list_display = ("url", "client", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "client__name")
    list_select_related = ("client",)
    fields = ("client", "url", "events", "description", "is_active", "disabled_reason", "created_by", "created_at",
              "secret_rotated_at")
    readonly_fields = ("client", "url", "events", "created_by", "created_at", "secret_rotated_at")

    def has_add_permission(self, request: object) -> bool:
        return False


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = ("at", "status_code", "latency_ms", "error")

    def has_add_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("event_type", "endpoint", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event_type")
    list_select_related = ("endpoint",)
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request: object) -> bool:
        return False
