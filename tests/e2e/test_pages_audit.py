"""Every main page of every role, in a real browser, on the demo studio (``seed_demo``, every state) with every
free-text field full of long unbroken text: axe-core finds no serious or critical accessibility violation
at 1440 px, and at 1440 and 390 px nothing sticks out of the viewport (wide tables scroll inside their own
card or stack; the phone is a touch screen, where no key shortcuts are offered). The order list, an order
page, the quote editor and the new-order form are saved as screenshots at both widths
(``LOUPE_SCREENSHOTS``, default ``var/screenshots``)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from agency.management.commands.seed_demo import DEMO_PASSWORD
from agency.models import User
from billing.models import Invoice, PriceList
from billing.services import quote_draft
from jobs.models import ImageStatus, Order, OrderImage, OrderStatus, Version, VersionStatus
from tests.factories import ensure_service_catalog

pytestmark = [pytest.mark.browser, pytest.mark.engine_independent, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
SHOTS = Path(os.environ.get("LOUPE_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "var" / "screenshots")

# Elements wider than the viewport whose overflow no ancestor contains (a scrolling card is fine).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth, found = [];
  for (const el of document.body.querySelectorAll('*')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.right <= width + 1) continue;
    let contained = false;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (['auto', 'scroll', 'hidden', 'clip'].includes(style.overflowX) && up.getBoundingClientRect().right <= width + 1) {
        contained = true; break;
      }
    }
    const name = typeof el.className === 'string' ? el.className.trim() : '';
    const classes = name ? '.' + name.split(/\\s+/).join('.') : '';
    if (!contained) found.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + classes +
                              ` (right ${Math.round(box.right)} > ${width})`);
  }
  return found.slice(0, 5);
}"""


def _pages() -> dict[str, list[tuple[str, str]]]:
    """(name, path) of the main pages each demo person uses, on the demo's own objects."""
    orders = {o.status: o for o in Order.objects.order_by("number")}
    submitted, delivered = orders[OrderStatus.SUBMITTED], orders[OrderStatus.DELIVERED]
    production, completed = orders[OrderStatus.IN_PRODUCTION], orders[OrderStatus.COMPLETED]
    in_qc = Version.objects.filter(status=VersionStatus.IN_QC).first()
    working = OrderImage.objects.filter(status__in=[ImageStatus.IN_PROGRESS, ImageStatus.ASSIGNED],
                                        assignments__retoucher__email="rita.retoucher@loupe.test").first()
    image = submitted.images.first()
    client_id = submitted.client_id
    prices = PriceList.objects.filter(client__isnull=True).first()
    from datetime import timedelta

    from django.utils import timezone

    from storefront.models import Estimate

    estimate = Estimate.objects.create(  # what a visitor was told (figures only; the samples are never kept)
        expires_at=timezone.now() + timedelta(hours=24), services=["colour-correction", "clipping-path"],
        turnaround="express", count=1200, price="12345.67", currency="EUR", ready_by=timezone.now() + timedelta(days=9),
        schedule_note="The schedule is busy: the earliest free capacity sets the date.", mix={"simple": 400, "complex": 800},
        samples=[{"name": "A" * 120 + ".jpg", "grade": "complex", "score": 9.1,
                  "features": {"clutter": 0.4, "product": 0.2, "highlights": 0.05, "outline": 4.2, "dust": 20.0}},
                 {"name": "ring.jpg", "grade": "simple", "score": 2.0, "features": {}}])
    invoice = Invoice.objects.exclude(number="").order_by("number").first()
    from storefront.models import TrialRequest

    trial = TrialRequest.objects.first()
    pilot = Order.objects.exclude(pilot_status="").get()  # the demo's new style guide, running its pilot
    return {
        "ava@northwind.test": [("order-list", "/orders/"), ("order-delivered", f"/orders/{delivered.pk}/"),
                               ("review", f"/orders/{delivered.pk}/review/"), ("new-order-form", "/orders/new/"),
                               ("image", f"/images/{image.pk}/"), ("style-guides", "/style-guides/"),
                               ("style-guide", f"/style-guides/{submitted.style_guide_id}/"),
                               ("profile", "/profile/"), ("notifications", "/notifications/")],
        "maria.manager@loupe.test": [("order-list-studio", "/orders/"), ("order-page", f"/orders/{submitted.pk}/"),
                                     ("order-production", f"/orders/{production.pk}/"),
                                     ("schedule", f"/orders/{production.pk}/schedule/"), ("dashboard", "/dashboard/"),
                                     ("workload", "/workload/"), ("clients", "/clients/"),
                                     ("client", f"/clients/{client_id}/"), ("reports", "/reports/on-time/"),
                                     ("quality", "/reports/quality/"), ("portfolio", "/studio/portfolio/"),
                                     ("trials", "/trials/"), ("trial", f"/trials/{trial.pk}/"),
                                     ("pilot-order", f"/orders/{pilot.pk}/")],
        "admin@loupe.test": [("brand", "/settings/brand/")],
        "olivia@rosewood.test": [("pilot-order-client", f"/orders/{pilot.pk}/")],
        "rita.retoucher@loupe.test": [("work-queue", "/work/"), ("workspace", f"/images/{working.pk}/work/")],
        "quinn.qc@loupe.test": [("qc-queue", "/qc/"), ("qc-review", f"/versions/{in_qc.pk}/qc/")],
        "fiona.finance@loupe.test": [("order-list-finance", "/orders/"), ("price-lists", "/price-lists/"),
                                     ("price-list", f"/price-lists/{prices.pk}/"), ("invoices", "/invoices/"),
                                     ("invoice", f"/invoices/{invoice.pk}/"), ("aging", "/invoices/aging/"),
                                     ("exports", "/invoices/exports/")],
        "camille@aurelia.test": [("client-invoices", "/invoices/"), ("client-invoice", f"/invoices/{invoice.pk}/"),
                                 ("team", "/team/"), ("security-log", "/security/"), ("webhooks", "/webhooks/"),
                                 ("two-factor-setup", "/profile/two-factor/"), ("order-completed", f"/orders/{completed.pk}/"),
                                 ("rating", f"/orders/{completed.pk}/rating/"), ("studio", "/studio/"),
                                 ("estimate-form", "/studio/estimate/"), ("estimate", f"/studio/estimate/{estimate.pk}/"),
                                 ("trial-form", f"/studio/trial/?estimate={estimate.pk}")],
    }


def _login(page, url: str, email: str) -> None:
    page.goto(f"{url}/login/")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(orders|work|qc|invoices)/$"))


def _serious(page) -> list[str]:
    page.add_script_tag(content=AXE)
    result = page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => v.id + ': ' + v.nodes.length + ' × ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
    }""")
    return result


@pytest.fixture
def demo(transactional_db):
    ensure_service_catalog()  # an earlier browser test's flush removed the migration's catalog
    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", stdout=quiet)
    # the submitted order gets a draft quote, so its page shows the quote editor
    order = Order.objects.get(status=OrderStatus.SUBMITTED)
    quote_draft(order=order, by=User.objects.get(email="maria.manager@loupe.test"))
    return _pages()


SAVED = {"order-list", "order-list-studio", "order-page", "new-order-form", "invoices", "invoice", "workload", "notifications",
         "profile"}


def test_every_main_page_is_accessible_and_long_text_never_widens_it(demo, live_server, browser):
    """One pass over every page of every role (a pass costs a minute of the suite): first every free-text
    field of the demo gets long unbroken text (a pasted link once made the order page 693 px wide on a
    phone); then axe at 1440 px, and no sideways scroll at 1440 or 390 px."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert _fill_free_text_with_long_unbroken_text() > 20
    problems: list[str] = []
    shortcut_pages: set[bool] = set()
    for email, pages in demo.items():
        for width in (1440, 390):
            # bypass_csp: axe is injected by the test; Loupe's own pages never run inline scripts
            phone = width == 390  # a touch screen without a keyboard, as phones are
            context = browser.new_context(viewport={"width": width, "height": 900}, timezone_id="America/New_York",
                                          bypass_csp=True, has_touch=phone, is_mobile=phone)
            page = context.new_page()
            page.set_default_timeout(20_000)
            _login(page, live_server.url, email)
            for name, path in pages:
                response = page.goto(live_server.url + path)
                page.wait_for_load_state("networkidle")
                if response is None or response.status != 200:
                    problems.append(f"{email} {path}: HTTP {response.status if response else '—'}")
                    continue
                if width == 1440:
                    problems += [f"{email} {path}: {v}" for v in _serious(page)]
                problems += [f"{email} {path} at {width} px overflows: {e}" for e in page.evaluate(OVERFLOW)]
                wide = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                if wide > 0:
                    problems.append(f"{email} {path} at {width} px scrolls sideways by {wide} px: "
                                    + page.evaluate(DEBUG_WIDE))
                keys = page.locator(".keys-help")
                if keys.count() and keys.first.is_visible() == phone:  # key shortcuts: for keyboards only
                    problems.append(f"{email} {path}: the key shortcuts are {'shown on a phone' if phone else 'hidden'}")
                if keys.count():
                    shortcut_pages.add(phone)
                if name in SAVED or name == "order-page":
                    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
                    if name == "order-page":  # the quote editor is the order page's quote panel
                        page.locator("#quote").screenshot(path=str(SHOTS / f"quote-editor-{width}.png"))
            context.close()
    assert not problems, "\n".join(problems)
    assert shortcut_pages == {True, False}  # the canvas was among the pages, on a phone and on a desk


# When a page scrolls sideways: the elements past the edge with their ancestors (tag.class:overflow-x:right).
DEBUG_WIDE = """() => {
  const w = document.documentElement.clientWidth, out = [];
  const describe = (el) => el.tagName + '.' + (typeof el.className === 'string' ? el.className : '') + ':' +
    getComputedStyle(el).overflowX + ':' + Math.round(el.getBoundingClientRect().right);
  for (const el of document.body.querySelectorAll('*')) {
    if (el.getBoundingClientRect().right <= w + 1) continue;
    const chain = [];
    for (let up = el; up && up !== document.body; up = up.parentElement) chain.push(describe(up));
    out.push(chain.join(' < '));
    if (out.length > 2) break;
  }
  return out.join(' || ');
}"""
LONG_WORD = "Mikrofacettenschliffverlobungsringkollektion"  # a long unbroken word, repeated without spaces


def _fill_free_text_with_long_unbroken_text() -> int:
    """Every free-text field of every demo row gets text nobody wraps by hand: CharFields a token as long
    as they allow, TextFields a pasted 150-character link and 5,000 characters without a space."""
    from django.apps import apps
    from django.db import models

    skip = {"email", "number", "code", "status", "currency", "time_zone", "vat_number", "billing_country", "country",
            "password", "key", "kind", "role", "format", "icc_profile", "content_type", "upload_id", "upload_key",
            "sha256", "declared_sha256", "fingerprint", "verb", "audience", "family", "background", "background_colour",
            "turnaround", "complexity", "method", "category", "qc_category", "unit", "slug", "tier", "source", "url",
            "held_from", "invoicing", "iban", "bic", "legal_form", "secret", "location", "detail", "subject_email",
            "pack"}
    link = "https://drive.example.com/" + "a1b2c3d4e5" * 15
    changed = 0
    for model in [m for m in apps.get_models() if m._meta.app_label in {"jobs", "clients", "billing", "agency"}]:
        fields = [f for f in model._meta.get_fields()
                  if isinstance(f, (models.CharField, models.TextField)) and not f.choices and f.name not in skip
                  and not f.name.endswith(("_key", "_id", "_hash", "_sha256")) and not f.primary_key and f.editable
                  and not isinstance(f, (models.EmailField, models.URLField, models.SlugField))]
        if not fields:
            continue
        for index, row in enumerate(model.objects.all()):
            for field in fields:
                if not getattr(row, field.attname):
                    continue
                if isinstance(field, models.TextField):
                    value = f"{link} " + LONG_WORD * 120
                else:
                    value = (f"{index}{LONG_WORD * 8}")[: field.max_length or 200]
                    if field.name == "filename":
                        value = value[:120] + ".jpg"
                setattr(row, field.attname, value)
            model.objects.filter(pk=row.pk).update(**{f.attname: getattr(row, f.attname) for f in fields})
            changed += 1
    return changed
