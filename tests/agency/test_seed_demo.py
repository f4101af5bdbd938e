from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from agency.management.commands.seed_demo import demo_logins
from agency.models import Role, StaffProfile, User
from clients.models import Client, Membership, StyleGuide
from jobs.models import Delivery, DeliveryStatus, Event, Order, OrderImage, OrderStatus

pytestmark = pytest.mark.django_db


def _snapshot():
    return {
        "users": sorted(User.objects.values_list("email", "role")),
        "clients": Client.objects.count(), "memberships": Membership.objects.count(),
        "guides": StyleGuide.objects.count(), "profiles": StaffProfile.objects.count(),
        "orders": sorted(Order.objects.values_list("number", "status")),
        "images": OrderImage.objects.count(), "events": Event.objects.count(),
    }


def test_seed_demo_builds_the_demo_studio_and_is_idempotent():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    first = _snapshot()
    call_command("seed_demo", stdout=io.StringIO())
    assert _snapshot() == first
    roles = [role for _, role in first["users"]]
    assert roles.count(Role.ADMIN) == 1 and roles.count(Role.ACCOUNT_MANAGER) == 2
    assert roles.count(Role.RETOUCHER) == 4 and roles.count(Role.QC) == 1 and roles.count(Role.FINANCE) == 1
    assert first["clients"] == 3 and first["memberships"] == 6 and first["guides"] == 4
    assert {status for _, status in first["orders"]} == set(OrderStatus.values)
    capacities = set(StaffProfile.objects.values_list("daily_capacity_minutes", flat=True))
    skills = {tuple(sorted(u.skills.values_list("code", flat=True))) for u in User.objects.filter(role=Role.RETOUCHER)}
    assert len(capacities) == 4 and len(skills) == 4
    image = OrderImage.objects.first()
    assert image.original.size > 10_000 and image.thumbnail.read(4) == b"RIFF"
    # one progress line per step, nothing else; the deliveries are packed and nobody is mailed
    lines = out.getvalue().splitlines()
    assert lines[-1] == "Demo data ready (10 new orders)." and len(lines) <= 15
    assert all(line.startswith("  ") for line in lines[:-1]) and any("packing" in line for line in lines)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.READY}
    assert not Event.objects.filter(notified_at__isnull=True).exists() and mail.outbox == []
    # the completed order is rated by its company's admin, the comment published on /studio/
    from storefront.models import Rating

    assert list(Rating.objects.values_list("order__status", "score", "publish")) == [(OrderStatus.COMPLETED, 5, True)]
    # and its company lets the studio show it: three pairs on /studio/, their web copies made
    from storefront.selectors import public_pairs

    assert [(p.piece, p.width == p.height) for p in public_pairs()] == [("necklace", True), ("ring", True),
                                                                       ("earrings", True)]
    # a new style guide's first order runs its pilot: two pictures in work, two waiting; a trial request waits
    from jobs.models import PilotStatus
    from storefront.models import TrialRequest

    pilot = Order.objects.get(title="Velvet lookbook")
    assert (pilot.status, pilot.pilot_status) == (OrderStatus.IN_PRODUCTION, PilotStatus.RUNNING)
    assert sorted(pilot.images.values_list("in_pilot", "status")) == [(False, "waiting_pilot")] * 2 + [
        (True, "assigned")] * 2
    assert TrialRequest.objects.get().status == "requested"
    logins = "\n".join(demo_logins())
    assert "camille@aurelia.test" in logins and "quinn.qc@loupe.test" in logins
    # VAT follows the parties: the Berlin studio charges German VAT to Munich, reverse-charges Paris and
    # charges none to New York
    from billing.models import Invoice, Quote, TaxCategory

    rates = {q.order.client.name: q.tax_rate for q in Quote.objects.select_related("order__client")}
    assert rates == {"Rosewood Atelier": Decimal("19.00"), "Aurelia Fine Jewelry": Decimal("0.00"),
                     "Northwind Diamonds": Decimal("0.00")}
    aurelia = Invoice.objects.exclude(number="").get(client__name="Aurelia Fine Jewelry")
    assert (aurelia.tax_category, aurelia.tax_total) == (TaxCategory.REVERSE_CHARGE, Decimal("0.00"))
    # the demo logins work (on the same seeded studio: a seed costs 20 s of the suite)
    from django.test import Client as HttpClient

    web = HttpClient()
    assert web.post("/login/", {"username": "camille@aurelia.test", "password": "loupe-demo-2026"}).status_code == 302
    assert "Aurelia Fine Jewelry" in web.get("/orders/").content.decode()


def test_a_later_make_run_brings_back_what_time_alone_moved_on():
    """Seeded one day and started again three weeks later: the hourly task expired the demo's open quote
    and sent its order back to the studio; the next seed quotes it again, so every demo order is in the
    state the README promises whatever day `make run` starts."""
    from billing import tasks
    from billing.models import Quote, QuoteStatus

    call_command("seed_demo", stdout=io.StringIO())
    promised = dict(Order.objects.values_list("title", "status"))
    with time_machine.travel(timezone.now() + timedelta(days=21)):
        assert tasks.expire_quotes() == 1
        assert Order.objects.get(title="Solitaire restock").status == OrderStatus.SUBMITTED
        out = io.StringIO()
        call_command("seed_demo", stdout=out)
        assert dict(Order.objects.values_list("title", "status")) == promised
        assert "Solitaire restock quoted again" in out.getvalue()
        fresh = Quote.objects.get(order__title="Solitaire restock", status=QuoteStatus.SENT)
        assert fresh.valid_until > timezone.now()
        again = _snapshot()
        call_command("seed_demo", stdout=io.StringIO())
        assert _snapshot() == again  # and idempotent from there
