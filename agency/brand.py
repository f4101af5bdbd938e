"""The studio's brand (issue 23): name, logo, colours, mail sender, footer and domain, read everywhere through
``current()`` (the portal's layout, the public pages, every mail, the invoice documents) and changed only through
``brand_update`` (the Brand settings page and ``PATCH /api/v1/brand/``, admins only).

Colours are checked for contrast before they are kept (WCAG 2.1: white text on the accent and on the header at least
4.5:1, the accent as link text on the page's background at least 4.5:1); the logo is decoded, bounded and re-encoded
as a PNG, so whatever was uploaded is never served. Empty fields fall back to the defaults that ship, so a fresh
install looks finished. ``current()`` is cached per process for a minute and dropped on every change here.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import transaction
from PIL import Image, UnidentifiedImageError

from agency.exceptions import NotPermitted, RuleViolation
from agency.models import StudioBrand, User
from agency.permissions import can_edit_brand
from agency.process_cache import Kept
from agency.tasks import enqueue_on_commit

DEFAULT_ACCENT, DEFAULT_HEADER = "#7A5F2F", "#1D2330"
PAGE_BACKGROUND = "#F7F6F3"  # --bg in static/css/loupe.css
MIN_CONTRAST = 4.5
LOGO_MAX_BYTES = 512 * 1024
LOGO_MAX_PIXELS = 2048 * 2048
LOGO_HEIGHT = 96  # kept at most this tall (shown at 28 px in the header, 48 px on invoices: sharp on any screen)
CACHE_SECONDS = 60
TEXT_FIELDS = ("name", "tagline", "accent", "header", "sender_name", "sender_email", "footer", "domain")
HOSTNAME = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


@dataclass(frozen=True)
class Brand:
    name: str
    tagline: str
    accent: str
    header: str
    footer: str
    sender: str  # the From: of every mail
    base_url: str  # where links in mail and the sitemap point
    logo: str  # storage key, or ""
    logo_width: int | None
    logo_height: int | None
    version: str  # changes with every update: the logo's address carries it, so caches never show an old one

    @property
    def styles(self) -> str:
        """CSS custom properties for the layout's ``<style>``: only checked #RRGGBB values reach it."""
        return f":root{{--accent:{self.accent};--topbar:{self.header}}}"


def current() -> Brand:
    """The studio's brand as the pages and mails use it (cached per process for a minute)."""
    return _kept.get()


def forget(**kwargs: Any) -> None:
    _kept.forget()


def stored(*, lock: bool = False) -> StudioBrand:
    """The brand's one row as an admin set it (an unsaved empty one until then: every field its default)."""
    rows = StudioBrand.objects.select_for_update() if lock else StudioBrand.objects
    return rows.filter(pk=1).first() or StudioBrand()


def _load() -> Brand:
    row = stored()
    name = row.name or settings.LOUPE_STUDIO_NAME
    if row.sender_email:
        sender = f"{_mail_name(row.sender_name or name)} <{row.sender_email}>"
    else:
        sender = settings.DEFAULT_FROM_EMAIL
    base = f"https://{row.domain}" if row.domain else settings.LOUPE_BASE_URL
    version = str(int(row.updated_at.timestamp())) if row.updated_at else "0"
    return Brand(name=name, tagline=row.tagline, accent=(row.accent or DEFAULT_ACCENT).upper(),
                 header=(row.header or DEFAULT_HEADER).upper(), footer=row.footer, sender=sender,
                 base_url=base.rstrip("/"), logo=row.logo, logo_width=row.logo_width, logo_height=row.logo_height,
                 version=version)


def _mail_name(name: str) -> str:
    """A display name safe in a From: header (quoted when it holds anything but letters, digits and spaces)."""
    clean = " ".join(name.replace('"', "'").split())
    return clean if re.fullmatch(r"[\w .-]*", clean) else f'"{clean}"'


def luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of #RRGGBB."""
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    """WCAG 2.1 contrast ratio of two #RRGGBB colours (1 to 21)."""
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def _check_colours(fields: dict[str, str]) -> None:
    accent, header = fields.get("accent"), fields.get("header")
    if accent:
        worst = min(contrast(accent, "#FFFFFF"), contrast(accent, PAGE_BACKGROUND))
        if worst < MIN_CONTRAST:
            raise RuleViolation(f"{accent} is too light for white button text and for links on the page (contrast "
                                f"{worst:.1f}:1; at least {MIN_CONTRAST}:1 is needed). Choose a darker shade.",
                                field="accent")
    if header and contrast(header, "#FFFFFF") < MIN_CONTRAST:
        raise RuleViolation(f"{header} is too light behind the header's white text (contrast "
                            f"{contrast(header, '#FFFFFF'):.1f}:1; at least {MIN_CONTRAST}:1 is needed).",
                            field="header")


def _clean(fields: dict[str, Any]) -> dict[str, str]:
    cleaned = {name: " ".join(str(fields[name] or "").split()) for name in TEXT_FIELDS if name in fields}
    for name in ("accent", "header"):
        if cleaned.get(name):
            if not re.fullmatch(r"#[0-9A-Fa-f]{6}", cleaned[name]):
                raise RuleViolation("Give a colour as #RRGGBB, for example #7A5F2F.", field=name)
            cleaned[name] = cleaned[name].upper()
    if cleaned.get("sender_email"):
        try:
            validate_email(cleaned["sender_email"])
        except ValidationError:
            raise RuleViolation("Give the address mail is sent from, such as studio@example.com.",
                                field="sender_email") from None
        cleaned["sender_email"] = cleaned["sender_email"].lower()
    if cleaned.get("domain"):
        domain = cleaned["domain"].lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not HOSTNAME.fullmatch(domain):
            raise RuleViolation("Give the domain alone, such as retouch.example.com (no path, no port).", field="domain")
        cleaned["domain"] = domain
    limits = {f.name: f.max_length for f in StudioBrand._meta.get_fields() if getattr(f, "max_length", None)}
    for name, value in cleaned.items():
        if len(value) > limits[name]:
            raise RuleViolation(f"At most {limits[name]} characters.", field=name)
    _check_colours(cleaned)
    return cleaned


def logo_png(data: bytes) -> tuple[bytes, int, int]:
    """Decode an uploaded logo (PNG, JPEG or WebP; at most 512 KiB and 4 megapixels), fit it to ``LOGO_HEIGHT``
    and re-encode it as a PNG: the bytes served are Loupe's own. Refused with the reason otherwise."""
    if not data:
        raise RuleViolation("Choose a logo file.", field="logo")
    if len(data) > LOGO_MAX_BYTES:
        raise RuleViolation("A logo can be at most 512 KiB; export a smaller PNG.", field="logo")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format not in {"PNG", "JPEG", "WEBP"}:
                raise RuleViolation("A logo is a PNG, JPEG or WebP file.", field="logo")
            if probe.width * probe.height > LOGO_MAX_PIXELS:
                raise RuleViolation("A logo can be at most 2048 × 2048 pixels.", field="logo")
            probe.load()
            picture = probe.convert("RGBA")
    except RuleViolation:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        raise RuleViolation("This file is not a picture that can be read; export the logo as PNG.", field="logo") from None
    if picture.height > LOGO_HEIGHT:
        picture = picture.resize((max(1, round(picture.width * LOGO_HEIGHT / picture.height)), LOGO_HEIGHT),
                                 Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return out.getvalue(), picture.width, picture.height


@transaction.atomic
def brand_update(*, by: User, logo: bytes | None = None, remove_logo: bool = False, **fields: Any) -> Brand:
    """Change the brand: the fields given (empty: back to the default), a new logo or none. Refused for anyone but
    an admin (403), and for a colour without enough contrast, a bad address, domain or logo (400, naming the
    field); nothing changes then."""
    if not can_edit_brand(by):
        raise NotPermitted("Only the studio's admins change its brand.")
    cleaned = _clean(fields)
    row = stored(lock=True)
    old_logo = row.logo
    if logo is not None:
        png, width, height = logo_png(logo)
        key = default_storage.save(f"brand/logo-{uuid.uuid4().hex}.png", ContentFile(png))
        row.logo, row.logo_width, row.logo_height = key, width, height
    elif remove_logo:
        row.logo, row.logo_width, row.logo_height = "", None, None
    for name, value in cleaned.items():
        setattr(row, name, value)
    row.updated_by = by
    row.save()
    if old_logo and old_logo != row.logo:
        enqueue_on_commit("agency.tasks.delete_brand_file", old_logo, group="storage")
    forget()  # this process reads it again at once; other processes within CACHE_SECONDS
    return _load()


_kept: Kept[Brand] = Kept(_load, CACHE_SECONDS)
