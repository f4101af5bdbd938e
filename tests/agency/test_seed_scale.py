"""``manage.py seed_scale``: the large studio the scale benchmark measures (issue 24). Small here, the same code:
every row passes the database's constraints (COPY on PostgreSQL, INSERT on SQLite), the states agree with each
other, the number series continue, and the companies' data stays their own."""

from __future__ import annotations

import io
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count, F, Sum
from django.utils import timezone

from agency.management.commands import seed_scale
from billing.invoicing import next_number
from billing.models import DocumentKind, Invoice, InvoiceStatus, Payment, Quote
from clients.models import Client
from jobs.models import (
    QUEUED,
    WORK_LEFT,
    Assignment,
    DeliveryItem,
    Event,
    ImageStatus,
    Order,
    OrderImage,
    OrderStatus,
    Version,
)
from jobs.services import order_number_next
from tests.billing.invoicing_setup import billing_profile
from tests.conftest import api_for

pytestmark = pytest.mark.django_db

SMALL = ["--images", "1500", "--clients", "6", "--retouchers", "4", "--per-order", "15", "--years", "2",
         "--seed", "7"]


@pytest.fixture
def studio(cast):
    billing_profile()
    out = io.StringIO()
    call_command("seed_scale", *SMALL, stdout=out)
    tag = out.getvalue().split("Large studio '")[1].split("'")[0]
    return cast, tag, out.getvalue()


def _scale_orders(tag):
    return Order.objects.filter(client__name__endswith=f"({tag})")


def test_the_studio_has_the_pictures_orders_and_companies_asked_for(studio):
    _cast, tag, out = studio
    orders = _scale_orders(tag)
    assert orders.count() == 100 and Client.objects.filter(name__endswith=f"({tag})").count() == 6
    assert OrderImage.objects.filter(order__in=orders).count() == 1500
    assert "1,500 pictures" in out and f"admin0.{tag}@scale.test" in out
    # a few large companies and many small ones
    per_company = sorted(orders.values("client").annotate(n=Count("id")).values_list("n", flat=True))
    assert per_company[-1] >= 3 * per_company[0]
    # skewed order sizes: the largest order is several times the mean
    sizes = list(orders.annotate(n=Count("images")).values_list("n", flat=True))
    assert max(sizes) >= 3 * 15 and min(sizes) >= 1


def test_old_work_is_finished_and_the_last_weeks_hold_every_open_state(studio):
    _cast, tag, _out = studio
    orders = _scale_orders(tag)
    now = timezone.now()
    old = set(orders.filter(created_at__lt=now - seed_scale.DAY * 22).values_list("status", flat=True))
    assert old <= {OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.ON_HOLD}
    assert OrderStatus.COMPLETED in old
    statuses = Counter(orders.values_list("status", flat=True))
    assert statuses[OrderStatus.COMPLETED] > sum(statuses.values()) / 2
    # nothing is dated in the future, and the history is not news to anybody
    assert not orders.filter(created_at__gt=now).exists()
    assert not Event.objects.filter(order__in=orders, notified_at__isnull=True).exists()
    assert not Event.objects.filter(order__in=orders, created_at__gt=now).exists()


def test_pictures_versions_and_assignments_agree_with_each_other(studio):
    _cast, tag, _out = studio
    images = OrderImage.objects.filter(order__in=_scale_orders(tag))
    # work left has its retoucher; nothing else holds an active assignment
    assert not images.filter(status__in=WORK_LEFT).exclude(assignments__active=True).exists()
    assert not Assignment.objects.filter(image__in=images, active=True).exclude(image__status__in=QUEUED).exists()
    # what waits for QC or was delivered has a version; what was never started has none
    assert not images.filter(status__in=[ImageStatus.IN_QC, ImageStatus.DELIVERED, ImageStatus.APPROVED],
                             versions__isnull=True).exists()
    assert not Version.objects.filter(image__in=images, image__status=ImageStatus.RECEIVED).exists()
    # every delivered item shows a version of its own picture, and delivered orders published every picture
    items = DeliveryItem.objects.filter(image__in=images)
    assert items.exists() and not items.exclude(version__image=F("image")).exists()
    delivered = _scale_orders(tag).filter(status=OrderStatus.DELIVERED)
    for order in delivered:
        assert DeliveryItem.objects.filter(delivery__order=order).count() == order.images.count()


def test_completed_work_is_invoiced_once_and_the_totals_add_up(studio):
    _cast, tag, _out = studio
    orders = _scale_orders(tag)
    invoices = Invoice.objects.filter(client__name__endswith=f"({tag})", kind=DocumentKind.INVOICE)
    assert invoices.exists()
    invoiced = list(invoices.values_list("lines__order", flat=True))
    assert len(invoiced) == len(set(invoiced)) == orders.filter(status=OrderStatus.COMPLETED).count()
    for invoice in invoices.annotate(lines_net=Sum("lines__amount")):
        assert invoice.lines_net == invoice.net_total
        assert invoice.total == invoice.net_total + invoice.tax_total
        if invoice.status == InvoiceStatus.PAID:
            paid = Payment.objects.filter(invoice=invoice).aggregate(total=Sum("amount"))["total"]
            assert paid == invoice.paid_total == invoice.total - invoice.credited_total
    for note in Invoice.objects.filter(client__name__endswith=f"({tag})", kind=DocumentKind.CREDIT_NOTE):
        assert note.credited_invoice.credited_total == note.total > Decimal("0")
    # each started order has its accepted quote, the quoted ones one sent
    assert Quote.objects.filter(order__in=orders.filter(status=OrderStatus.QUOTED), status="sent").count() == \
        orders.filter(status=OrderStatus.QUOTED).count()


def test_the_number_series_continue_after_the_large_studio(studio):
    _cast, tag, _out = studio
    taken_orders = set(Order.objects.values_list("number", flat=True))
    taken_invoices = set(Invoice.objects.exclude(number="").values_list("number", flat=True))
    years = set(Invoice.objects.filter(client__name__endswith=f"({tag})").values_list("year", flat=True))
    order_years = {number.split("-")[1] for number in _scale_orders(tag).values_list("number", flat=True)}
    with transaction.atomic():
        for year in years:
            assert next_number(DocumentKind.INVOICE, year)[0] not in taken_invoices
        for year in order_years:
            assert order_number_next(year=int(year)) not in taken_orders


def test_a_second_run_adds_another_studio_beside_the_first(studio):
    _cast, tag, _out = studio
    out = io.StringIO()
    call_command("seed_scale", *SMALL, stdout=out)
    second = out.getvalue().split("Large studio '")[1].split("'")[0]
    assert second != tag
    assert _scale_orders(tag).count() == _scale_orders(second).count() == 100


def test_a_company_of_the_large_studio_sees_only_its_own_orders(studio):
    _cast, tag, _out = studio
    company = Client.objects.filter(name__endswith=f"({tag})").annotate(n=Count("orders")).order_by("-n").first()
    person = company.memberships.select_related("user").first().user
    response = api_for(person).get("/api/v1/orders/?page_size=100")
    assert response.status_code == 200
    numbers = {row["number"] for row in response.json()["results"]}
    assert numbers and numbers <= set(company.orders.values_list("number", flat=True))
    assert response.json()["count"] == company.orders.count()


def test_it_refuses_without_the_demo_and_writes_nothing(db):
    before = Order.objects.count()
    with pytest.raises(CommandError, match="run manage.py seed_demo first"):
        call_command("seed_scale", "--images", "10", stdout=io.StringIO())
    assert Order.objects.count() == before and not Client.objects.exists()


def test_bad_sizes_are_refused(cast):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("seed_scale", "--images", "0", stdout=io.StringIO())
    assert not Order.objects.filter(client__name__contains="scale").exists()


def test_a_failure_half_way_leaves_the_database_as_it_was(cast, monkeypatch):
    billing_profile()
    counts = (Order.objects.count(), OrderImage.objects.count(), Client.objects.count(), Event.objects.count())

    def broken(self, orders):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(seed_scale.Studio, "_invoices", broken)
    with pytest.raises(RuntimeError):
        call_command("seed_scale", *SMALL, stdout=io.StringIO())
    assert (Order.objects.count(), OrderImage.objects.count(), Client.objects.count(), Event.objects.count()) == counts
