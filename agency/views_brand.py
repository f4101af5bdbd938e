"""The studio's brand: its settings page (admins) and its logo (public, served from Loupe's own PNG)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from agency import brand
from agency.forms import run_service
from agency.models import StudioBrand
from agency.permissions import can_edit_brand, require


class BrandForm(forms.ModelForm):
    """The brand's fields as typed (the rules and their words are ``agency.brand``'s)."""

    logo_file = forms.FileField(label="Logo", required=False, help_text="PNG, JPEG or WebP, at most 512 KiB; shown 28 px "
                                "tall in the header and on invoices. Transparent PNGs look best on the dark header.")
    remove_logo = forms.BooleanField(label="Remove the logo", required=False)

    class Meta:
        model = StudioBrand
        fields = ["name", "tagline", "accent", "header", "sender_name", "sender_email", "footer", "domain"]
        widgets = {"accent": forms.TextInput(attrs={"type": "color"}), "header": forms.TextInput(attrs={"type": "color"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, default in (("accent", brand.DEFAULT_ACCENT), ("header", brand.DEFAULT_HEADER)):
            self.fields[name].validators = []  # brand_update says why, with the contrast it found
            self.initial[name] = self.initial.get(name) or default  # the colour input shows what pages use
        self.fields["name"].widget.attrs["placeholder"] = settings.LOUPE_STUDIO_NAME
        self.fields["sender_email"].widget.attrs["placeholder"] = "studio@example.com"
        self.fields["domain"].widget.attrs["placeholder"] = "retouch.example.com"


@login_required
@require_http_methods(["GET", "POST"])
def brand_settings(request: HttpRequest) -> HttpResponse:
    """One page for the studio's brand: name, logo, colours (checked for contrast), mail sender, footer, domain."""
    require(can_edit_brand(request.user))
    row = brand.stored()
    form = BrandForm(request.POST or None, request.FILES or None, instance=row)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data.get("logo_file")
        fields = {name: form.cleaned_data[name] for name in BrandForm.Meta.fields}
        if run_service(form, lambda: brand.brand_update(
                by=request.user, logo=upload.read() if upload else None,
                remove_logo=form.cleaned_data.get("remove_logo", False), **fields)):
            messages.success(request, "The studio's brand is saved: every page, mail and new invoice uses it now.")
            return redirect("brand_settings")
    return render(request, "agency/brand.html", {"form": form, "shown": brand.current(), "row": row},
                  status=400 if form.errors else 200)


@require_GET
def brand_logo(request: HttpRequest) -> HttpResponse:
    """The studio's logo (public: the sign-in page and the public pages show it), as Loupe re-encoded it."""
    shown = brand.current()
    if not shown.logo:
        raise Http404("The studio has no logo.")
    try:
        with default_storage.open(shown.logo, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise Http404("The studio has no logo.") from None
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "public, max-age=86400"  # its address carries the brand's version
    response["X-Content-Type-Options"] = "nosniff"
    return response
