from django.contrib import admin

from clients.models import Client, Membership, StyleGuide


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ("name", "currency", "account_manager", "free_revision_rounds", "is_active", "created_at")
    list_filter = ("is_active", "currency")
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
