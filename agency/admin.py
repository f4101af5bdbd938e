from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from agency import two_factor
from agency.models import ApiToken, BusinessCalendar, Closure, SecurityEvent, StaffProfile, StudioBrand, TimeOff, User


class SecondFactorAdminSite(admin.AdminSite):
    """Django admin needs the admin role and a session signed in with the second factor. Its own
    login form (password only) is never used: sign-in goes through Loupe's two steps."""

    def has_permission(self, request: HttpRequest) -> bool:
        verified = getattr(request.user, "is_verified", None)
        return super().has_permission(request) and verified is not None and verified()

    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        next_url = request.GET.get("next") or reverse("admin:index")
        if not request.user.is_authenticated:
            return redirect_to_login(next_url)
        if request.user.is_staff:
            messages.info(request, "The admin needs two-factor sign-in: set it up (or sign in again with your code).")
            return redirect_to_login(next_url, login_url=reverse("two_factor_setup"))
        from agency.views import refused

        return refused(request, 403, "The admin is for the studio's admins.")


admin.site.__class__ = SecondFactorAdminSite


class LoupeUserCreationForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name", "role")


class LoupeUserChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = ("email", "full_name", "role", "time_zone", "is_active")


class StaffProfileInline(admin.StackedInline):
    model = StaffProfile
    extra = 0
    can_delete = False


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = LoupeUserChangeForm
    add_form = LoupeUserCreationForm
    list_display = ("email", "full_name", "role", "is_active", "last_login")
    list_filter = ("role", "is_active")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    filter_horizontal = ()
    inlines = [StaffProfileInline]
    readonly_fields = ("last_login", "date_joined")
    actions = ["reset_two_factor"]

    @admin.action(description="Reset two-factor sign-in (lost phone): remove the app and recovery codes")
    def reset_two_factor(self, request: HttpRequest, queryset: Any) -> None:
        for person in queryset:
            two_factor.reset(person=person, by=request.user)
        self.message_user(request, f"Two-factor sign-in reset for {queryset.count()} people; their sessions ended.")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("full_name", "role", "time_zone", "is_active")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "full_name", "role", "password1", "password2")}),)


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "daily_capacity_minutes", "working_days")
    search_fields = ("user__email", "user__full_name")
    list_select_related = ("user",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "created_at", "expires_at", "last_used_at")
    list_filter = ("expires_at",)
    search_fields = ("user__email", "prefix")
    list_select_related = ("user",)
    readonly_fields = ("user", "prefix", "created_at", "expires_at", "last_used_at")
    exclude = ("digest", "password_fingerprint")

    def has_add_permission(self, request: Any) -> bool:
        return False  # tokens are issued through the API only; their key is shown once




@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ("__str__", "time_zone", "country")


@admin.register(Closure)
class ClosureAdmin(admin.ModelAdmin):
    list_display = ("reason", "start_date", "end_date")
    date_hierarchy = "start_date"
    search_fields = ("reason",)


@admin.register(TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    list_display = ("user", "start_date", "end_date", "reason")
    list_filter = ("user",)
    list_select_related = ("user",)
    search_fields = ("user__full_name", "reason")


@admin.register(SecurityEvent)
class SecurityEventAdmin(admin.ModelAdmin):
    """The studio's security log, read-only: lines are evidence and are never edited."""

    list_display = ("at", "kind", "subject_email", "actor_email", "company_name", "ip_address", "detail")
    list_filter = ("kind",)
    search_fields = ("subject_email", "actor_email", "company_name", "ip_address")
    date_hierarchy = "at"

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(StudioBrand)
class StudioBrandAdmin(admin.ModelAdmin):
    """Read here; changed on Brand (/settings/brand/) or PATCH /api/v1/brand/, which check the colours' contrast and
    re-encode the logo (``agency.brand``)."""

    list_display = ("name", "accent", "header", "sender_email", "domain", "updated_at")
    readonly_fields = ("name", "tagline", "logo", "accent", "header", "sender_name", "sender_email", "footer", "domain",
                       "updated_at", "updated_by")

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
