"""Races on PostgreSQL with real threads and transactions (SECURITY.md §1.5: select_for_update is a
no-op on SQLite and TestCase hides missing transactions, so these use transactional_db)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections

from agency.exceptions import InvalidTransition
from agency.models import Role
from jobs import workflow
from jobs.models import Event, Order, OrderStatus, Service
from jobs.production import assignment, qc
from jobs.services import order_create
from tests.conftest import require_postgres
from tests.factories import (
    ClientFactory,
    StyleGuideFactory,
    UserFactory,
    client_user,
    ensure_service_catalog,
    make_order,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    require_postgres()  # row-lock races: select_for_update is a no-op on SQLite
    ensure_service_catalog()


def _race(n: int, work: Callable[[int], Any]) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_orders_created_at_once_get_distinct_consecutive_numbers():
    client = ClientFactory()
    guide = StyleGuideFactory(client=client)
    user = client_user(client, Role.CLIENT_MEMBER)
    services = list(Service.objects.filter(code="colour-correction"))

    def create(i: int) -> str:
        return order_create(client=client, created_by=user, title=f"Race {i}", style_guide=guide,
                            services=services, turnaround="standard").number

    numbers = _race(8, create)
    assert all(isinstance(n, str) for n in numbers), numbers
    assert len(set(numbers)) == 8
    sequence = sorted(int(n.rsplit("-", 1)[1]) for n in numbers)
    assert sequence == list(range(sequence[0], sequence[0] + 8))


def test_two_people_submitting_at_once_exactly_one_wins():
    client = ClientFactory()
    order = make_order(client, by=UserFactory(role=Role.ACCOUNT_MANAGER))
    manager = UserFactory(role=Role.ACCOUNT_MANAGER)
    results = _race(6, lambda i: workflow.order_submit(order_id=order.pk, by=manager))
    winners = [r for r in results if isinstance(r, Order)]
    losers = [r for r in results if isinstance(r, InvalidTransition)]
    assert len(winners) == 1 and len(losers) == 5, results
    assert Event.objects.filter(order=order, verb="order.submitted").count() == 1


def test_cancel_racing_hold_leaves_one_consistent_outcome():
    client = ClientFactory()
    order = make_order(client, status=OrderStatus.SUBMITTED)
    manager = UserFactory(role=Role.ACCOUNT_MANAGER)
    actions = [lambda: workflow.order_cancel(order_id=order.pk, by=manager),
               lambda: workflow.order_hold(order_id=order.pk, by=manager)] * 3
    results = _race(6, lambda i: actions[i]())
    order.refresh_from_db()
    events = list(Event.objects.filter(order=order).exclude(verb="order.created").values_list("verb", flat=True))
    # Whatever the interleaving, every recorded event is a legal step from the state before it.
    assert order.status in {OrderStatus.CANCELLED, OrderStatus.ON_HOLD}
    assert all(isinstance(r, (Order, InvalidTransition)) for r in results), results
    assert len(events) == sum(isinstance(r, Order) for r in results)


def test_two_managers_assigning_the_same_image_exactly_one_wins():
    from jobs.models import Assignment, ImageStatus
    from tests.factories import add_images, retoucher

    client = ClientFactory()
    order = make_order(client, status=OrderStatus.IN_PRODUCTION)
    [image] = add_images(order, {"standard": 1})
    people = [retoucher(f"R{i}", ["colour-correction"]) for i in range(2)]
    managers = [UserFactory(role=Role.ACCOUNT_MANAGER) for _ in range(6)]
    results = _race(6, lambda i: assignment.image_assign(image=image, retoucher=people[i % 2], by=managers[i]))
    winners = [r for r in results if isinstance(r, Assignment)]
    assert len(winners) == 1, results
    assert all(isinstance(r, (Assignment, InvalidTransition)) for r in results), results
    assert Assignment.objects.filter(image=image).count() == 1
    image.refresh_from_db()
    assert image.status == ImageStatus.ASSIGNED


def test_ten_clicks_on_build_delivery_make_one_build(monkeypatch):
    from django.core.files.base import ContentFile

    from jobs.models import Delivery, ImageStatus, OrderImage, Version, VersionStatus
    from jobs.review import deliveries

    client = ClientFactory()
    order = make_order(client, status=OrderStatus.IN_PRODUCTION)
    image = OrderImage.objects.create(order=order, filename="ring.png", status=ImageStatus.READY)
    version = Version(image=image, number=1, status=VersionStatus.PASSED)
    version.file.save("v1.png", ContentFile(b"not rendered in this test"), save=True)
    manager = UserFactory(role=Role.ACCOUNT_MANAGER)
    monkeypatch.setattr("agency.tasks.enqueue", lambda *args, **kwargs: None)  # the build stays "building"
    results = _race(10, lambda i: deliveries.delivery_publish(order=order, by=manager))
    made = [r for r in results if isinstance(r, Delivery)]
    assert len(made) == 1, results
    assert all(isinstance(r, (Delivery, InvalidTransition)) for r in results), results
    assert Delivery.objects.filter(order=order).count() == 1


def _delivered_image(client, retoucher_user):
    from jobs.models import Delivery, DeliveryItem, ImageStatus, OrderImage, Version, VersionStatus

    order = make_order(client, status=OrderStatus.DELIVERED)
    image = OrderImage.objects.create(order=order, filename="ring.png", status=ImageStatus.DELIVERED)
    version = Version.objects.create(image=image, number=1, status=VersionStatus.PASSED, file="v.png",
                                     created_by=retoucher_user)
    delivery = Delivery.objects.create(order=order, number=1, status="ready", archive="d.zip")
    DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
    return order, image


def test_two_qc_reviewers_deciding_one_version_one_wins():
    from jobs.models import ImageStatus, OrderImage, Version, VersionStatus

    client = ClientFactory()
    order = make_order(client, status=OrderStatus.IN_PRODUCTION)
    image = OrderImage.objects.create(order=order, filename="ring.png", status=ImageStatus.IN_QC)
    version = Version.objects.create(image=image, number=1, status=VersionStatus.IN_QC, file="v.png")
    reviewers = [UserFactory(role=Role.QC) for _ in range(4)]
    decisions = ["pass", "reject"] * 2
    results = _race(4, lambda i: qc.qc_decide(version=version, by=reviewers[i], decision=decisions[i],
                                                      category="dust", note="Dust"))
    winners = [r for r in results if isinstance(r, Version)]
    assert len(winners) == 1, results
    assert all(isinstance(r, (Version, InvalidTransition)) for r in results), results
    assert Event.objects.filter(order=order, verb__startswith="version.qc_").count() == 1
    version.refresh_from_db()
    image.refresh_from_db()
    assert (version.status, image.status) in {(VersionStatus.PASSED, ImageStatus.READY),
                                              (VersionStatus.FAILED, ImageStatus.QC_REJECTED)}


def test_approve_racing_request_changes_on_one_image_one_wins():
    from jobs.models import RevisionRound
    from jobs.review import proofing

    client = ClientFactory()
    people = [client_user(client, Role.CLIENT_MEMBER) for _ in range(6)]
    order, image = _delivered_image(client, UserFactory(role=Role.RETOUCHER))
    items = [[{"image": image.pk, "decision": "approve"}],
             [{"image": image.pk, "decision": "revise", "note": "Warmer", "kind": "defect", "marks": []}]] * 3
    results = _race(6, lambda i: proofing.review_submit(order=order, by=people[i], items=items[i]))
    winners = [r for r in results if isinstance(r, proofing.ReviewResult)]
    assert len(winners) == 1, results
    assert all(isinstance(r, (proofing.ReviewResult, InvalidTransition)) for r in results), results
    assert RevisionRound.objects.filter(order=order).count() == (1 if winners[0].round else 0)
    assert Event.objects.filter(order=order, verb__in=["images.approved", "order.revision"]).count() == 1


def test_two_guests_and_a_member_deciding_one_image_at_once_one_decision_counts():
    """Issue 22: reviewers through review links decide with the company's people; one image, six at once
    (four guests, two members): one decision, one timeline line, one guest decision noted at most."""
    from jobs.models import Delivery, RevisionRound, ShareActivity
    from jobs.review import proofing, shares

    client = ClientFactory()
    admin, members = client_user(client, Role.CLIENT_ADMIN), [client_user(client, Role.CLIENT_MEMBER) for _ in range(2)]
    order, image = _delivered_image(client, UserFactory(role=Role.RETOUCHER))
    delivery = Delivery.objects.get(order=order)
    guests = []
    for n in range(4):
        link, _ = shares.share_create(delivery=delivery, by=admin, email=f"guest{n}@agency.test", can_decide=True)
        link.guest_name = f"Guest {n}"
        guests.append(link)
    deciders = [*guests, *members]
    items = [[{"image": image.pk, "decision": "approve"}],
             [{"image": image.pk, "decision": "revise", "note": "Warmer", "kind": "change"}]] * 3
    results = _race(6, lambda i: proofing.review_submit(order=order, by=deciders[i], items=items[i]))
    winners = [i for i, r in enumerate(results) if isinstance(r, proofing.ReviewResult)]
    assert len(winners) == 1, results
    assert all(isinstance(r, (proofing.ReviewResult, InvalidTransition)) for r in results), results
    assert Event.objects.filter(order=order, verb__in=["images.approved", "order.revision"]).count() == 1
    assert RevisionRound.objects.filter(order=order).count() == (1 if results[winners[0]].round else 0)
    assert ShareActivity.objects.filter(kind="decided").count() == (1 if winners[0] < len(guests) else 0)


def test_required_reviewers_approving_one_image_at_once_are_each_recorded_and_the_company_approves_once():
    """Issue 22: a delivery waits for three required reviewers (two members and a guest); all three approve the same
    image at once: one decision each, and the image approved for the company exactly once, by whoever came last."""
    from jobs.models import Delivery, ImageStatus, OrderImage, ReviewDecision
    from jobs.review import proofing, shares

    client = ClientFactory()
    admin, members = client_user(client, Role.CLIENT_ADMIN), [client_user(client, Role.CLIENT_MEMBER) for _ in range(2)]
    order, image = _delivered_image(client, UserFactory(role=Role.RETOUCHER))
    delivery = Delivery.objects.get(order=order)
    link, _ = shares.share_create(delivery=delivery, by=admin, email="guest@agency.test", can_decide=True)
    proofing.required_reviewers_set(delivery=delivery, by=admin, users=[m.pk for m in members], shares=[link.pk])
    deciders = [*members, link]
    results = _race(3, lambda i: proofing.review_submit(order=order, by=deciders[i],
                                                        items=[{"image": image.pk, "decision": "approve"}]))
    assert all(isinstance(r, proofing.ReviewResult) for r in results), results
    assert sorted(r.approved for r in results) == [0, 0, 1]
    assert ReviewDecision.objects.filter(image=image, verdict="approved").count() == 3
    assert OrderImage.objects.get(pk=image.pk).status == ImageStatus.APPROVED
    assert Event.objects.filter(order=order, verb="images.approved").count() == 1
    assert Event.objects.filter(order=order, verb="review.decided").count() == 2


def test_a_retoucher_completing_a_version_twice_at_once_submits_it_once():
    import hashlib

    from jobs.models import Assignment, ImageStatus, OrderImage, Version
    from jobs.production import versions
    from tests.factories import retoucher

    client = ClientFactory()
    order = make_order(client, status=OrderStatus.IN_PRODUCTION)
    image = OrderImage.objects.create(order=order, filename="ring.png", status=ImageStatus.IN_PROGRESS)
    rita = retoucher("Rita", ["colour-correction"])
    Assignment.objects.create(image=image, retoucher=rita, minutes=30)
    data = b"\x89PNG\r\n\x1a\n" + b"0" * 200
    version, _ = versions.version_create(image=image, by=rita, file={
        "name": "v.png", "size": len(data), "content_type": "image/png", "sha256": hashlib.sha256(data).hexdigest()})
    from agency.uploads import get_backend

    path = get_backend().path(version.upload_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    results = _race(5, lambda i: versions.version_complete(version=version, by=rita))
    done = [r for r in results if isinstance(r, Version)]
    assert len(done) == 1, results
    assert all(isinstance(r, (Version, InvalidTransition)) for r in results), results
    version.refresh_from_db()
    assert version.uploaded_at is not None


def test_200_invoices_issued_from_8_threads_take_numbers_1_to_200_without_a_gap():
    """Issue 9: numbering is gapless under load, and failed issues in the mix take no number. Each thread
    issues the invoices of its own client, so nothing but the series counter serialises the issuers (a
    shared client's row lock would hide a read-modify-write counter)."""
    from decimal import Decimal

    from billing import invoicing
    from billing.models import Invoice, InvoiceLine, InvoiceStatus
    from tests.billing.invoicing_setup import address, billing_profile

    billing_profile()
    finance = UserFactory(role=Role.FINANCE)
    bad = ClientFactory(name="No address")
    goods = [address(ClientFactory(name=f"Numbered {t}")) for t in range(8)]
    per_thread: list[list[Invoice]] = [[] for _ in range(8)]
    for t, good in enumerate(goods):
        for i in range(26):  # 25 issuable drafts of the thread's own client, and one that cannot be issued
            invoice = Invoice.objects.create(client=bad if i == 13 else good, currency="EUR", tax_rate=Decimal("19"),
                                             net_total=Decimal("10.00"), tax_total=Decimal("1.90"), total=Decimal("11.90"))
            InvoiceLine.objects.create(invoice=invoice, position=1, source="extra", description=f"Line {t}.{i}",
                                       quantity=Decimal("1"), unit_price=Decimal("10.00"), amount=Decimal("10.00"))
            per_thread[t].append(invoice)
    assert sum(d.client_id == bad.pk for drafts in per_thread for d in drafts) == 8

    def issue(i: int) -> list[str]:
        outcomes = []
        for draft in per_thread[i]:
            try:
                outcomes.append(invoicing.invoice_issue(invoice=draft, by=finance).number)
            except InvalidTransition as exc:
                outcomes.append(f"refused: {exc.message}")
        return outcomes

    results = _race(8, issue)
    assert all(isinstance(r, list) for r in results), results
    numbers = [n for r in results for n in r if not n.startswith("refused")]
    year = invoicing.studio_today().year
    assert sorted(numbers) == [f"INV-{year}-{n:05d}" for n in range(1, 201)]
    assert sum(n.startswith("refused") for r in results for n in r) == 8
    assert Invoice.objects.filter(client=bad, status=InvoiceStatus.DRAFT, number="").count() == 8
    assert sorted(Invoice.objects.exclude(number="").values_list("sequence", flat=True)) == list(range(1, 201))


def test_twenty_requests_with_one_idempotency_key_execute_once(monkeypatch):
    """SECURITY.md D5: 20 identical POSTs with one key. The first claims the key and works; nine arrive
    while it works and are told it is still running (409); ten come back after it answered and get its
    answer byte for byte. The order of arrivals is set with events and a barrier, never with pauses."""
    from rest_framework.test import APIClient

    from jobs import api as jobs_api

    client = ClientFactory()
    guide = StyleGuideFactory(client=client)
    user = client_user(client, Role.CLIENT_MEMBER)
    real = jobs_api.services.order_create
    in_flight = list(range(2, 20, 2))  # arrive while the first works
    after = list(range(1, 20, 2))  # arrive once the first has answered
    working, answered = threading.Event(), threading.Event()
    refused = threading.Barrier(len(in_flight) + 1)  # the nine in-flight answers, and the first request's work

    def held(**kwargs: Any) -> Any:
        working.set()
        refused.wait(timeout=30)  # the first request works on only after the nine were answered
        return real(**kwargs)

    monkeypatch.setattr(jobs_api.services, "order_create", held)
    body = {"title": "Retried ring", "style_guide": str(guide.pk), "services": ["colour-correction"],
            "turnaround": "standard"}

    def post(i: int) -> tuple[int, str, bytes]:
        web = APIClient()
        web.force_login(user)
        if i in in_flight:
            assert working.wait(timeout=30)
        elif i in after:
            assert answered.wait(timeout=60)
        response = web.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="same-key")
        if i in in_flight:
            refused.wait(timeout=30)
        elif i == 0:
            answered.set()
        return response.status_code, response.get("Idempotent-Replayed", ""), response.content

    results = _race(20, post)
    assert all(isinstance(r, tuple) for r in results), results
    assert results[0][0] == 201 and results[0][1] == "", results[0]
    assert [results[i][0] for i in in_flight] == [409] * len(in_flight), results
    assert all(results[i][:2] == (201, "true") and results[i][2] == results[0][2] for i in after), results
    assert Order.objects.filter(title="Retried ring").count() == 1


def test_a_webhook_delivery_run_by_eight_workers_at_once_is_sent_once():
    """SECURITY.md T3: the task claims its row with a conditional update; the others find it taken."""
    from clients import tasks, webhooks
    from clients.models import WebhookDelivery
    from tests.clients.test_webhooks import Receiver

    receiver = Receiver()
    try:
        client = ClientFactory()
        admin = client_user(client, Role.CLIENT_ADMIN)
        endpoint, _ = webhooks.endpoint_create(by=admin, client=client, url=receiver.url, events=["order.submitted"])
        # made directly: emit() would queue it, and out of a transaction the sync test queue sends it at once
        delivery_id = str(WebhookDelivery.objects.create(endpoint=endpoint, event_type="order.submitted", body="{}").pk)
        assert receiver.requests == []
        results = _race(8, lambda i: tasks.deliver_webhook(delivery_id))
        assert not any(isinstance(r, Exception) for r in results), results
        assert len(receiver.requests) == 1 and WebhookDelivery.objects.get().attempts == 1
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_an_invitation_link_posted_twelve_times_at_once_sets_one_password():
    """Issue 20, item 4: one post sets the password and is logged; the other eleven find the link used."""
    import re

    from django.core import mail
    from django.test import Client as HttpClient
    from django.test.utils import override_settings

    from agency.models import SecurityEvent, User
    from clients import services

    company = ClientFactory()
    admin = client_user(company, role=Role.CLIENT_ADMIN)
    with override_settings(Q_CLUSTER={"sync": True}):
        person = services.member_add(client=company, by=admin, email="twelve@example.test", full_name="Twelve",
                                     role=Role.CLIENT_MEMBER).user
        services.invitation_send(user_id=person.pk)
    link = re.search(r"/password/reset/[^/\s]+/[^/\s]+/", mail.outbox[-1].body).group(0)
    browsers = []
    for _ in range(12):  # each opened the link (the token moves into its session) before anyone posted
        browser = HttpClient()
        opened = browser.get(link, follow=True)
        browsers.append((browser, opened.redirect_chain[-1][0]))
    connections.close_all()

    def post(i: int) -> int:
        browser, form_url = browsers[i]
        password = f"a-good-new-password-{i}"
        answer = browser.post(form_url, {"new_password1": password, "new_password2": password})
        assert answer.status_code == 302 or b"has been used already" in answer.content
        return answer.status_code

    codes = _race(12, post)
    assert sorted(codes) == [302] + [410] * 11, codes
    winner = codes.index(302)
    assert User.objects.get(pk=person.pk).check_password(f"a-good-new-password-{winner}")
    assert SecurityEvent.objects.filter(kind="password_changed", subject=person).count() == 1
