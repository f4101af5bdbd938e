"""Admin for billing. The billing profile (the studio as seller) is edited here; invoices are read
only: they change through billing.invoicing (issue, pay, credit, void), which keeps numbers gapless
and issued documents unchanged."""

from django.contrib import admin

from billing.models import BillingProfile, DocumentCounter, Export, Invoice, InvoiceLine, Payment, PriceList, Quote


@admin.register(BillingProfile)
class BillingProfileAdmin(admin.ModelAdmin):
    list_display = ("legal_name", "vat_number", "iban", "updated_at")
    fieldsets = (
        ("Company", {"fields": ("legal_name", "registration", "vat_number", "vat_rate", "logo", "footer")}),
        ("Address", {"fields": ("street", "postcode", "city", "country")}),
        ("Contact", {"fields": ("email", "phone")}),
        ("Bank", {"fields": ("bank_name", "iban", "bic")}),
    )

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return not BillingProfile.objects.exists()  # one studio, one profile

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = ("position", "source", "order", "po_number", "description", "quantity", "unit_price", "amount", "work")


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ("amount", "received_on", "method", "reference", "recorded_by")


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = ("__str__", "kind", "client", "status", "issue_date", "due_date", "total", "currency")
    list_filter = ("kind", "status", "currency")
    search_fields = ("number", "client__name")
    list_select_related = ("client",)
    inlines = [InvoiceLineInline, PaymentInline]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(DocumentCounter)
class DocumentCounterAdmin(admin.ModelAdmin):
    list_display = ("series", "year", "last")

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "total", "done", "created_by", "created_at")
    list_filter = ("status", "format")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PriceList)
class PriceListAdmin(admin.ModelAdmin):
    list_display = ("name", "client", "currency", "updated_at")
    list_select_related = ("client",)


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    list_display = ("__str__", "status", "total", "currency", "created_at")
    list_filter = ("status",)
    list_select_related = ("order",)
    search_fields = ("order__number",)

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
