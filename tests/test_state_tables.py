"""Each state table is the rule: walk every (state, action) pair through the real transition
functions. An edge the table lists succeeds and lands where the table says; every other pair is
refused with ``InvalidTransition`` and writes nothing (the row and the timeline are unchanged)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from agency.exceptions import InvalidTransition
from billing import services as quoting
from billing import workflow as quotes
from billing.models import Quote, QuoteStatus
from jobs import workflow
from jobs.models import Event, ImageStatus, Order, OrderStatus, VersionStatus
from jobs.production import assignment, qc
from tests.factories import default_price_list, make_order, submitted_order

pytestmark = pytest.mark.django_db
S, Q = OrderStatus, QuoteStatus

# The tables as DESIGN.md §4 states them; a change to a table must change this list too.
ORDER_EDGES = {
    ("submit", S.DRAFT, S.SUBMITTED),
    *{("cancel", s, S.CANCELLED) for s in (S.DRAFT, S.SUBMITTED, S.QUOTED, S.ON_HOLD)},
    ("quote", S.SUBMITTED, S.QUOTED), ("requote", S.QUOTED, S.SUBMITTED),
    ("start_production", S.QUOTED, S.IN_PRODUCTION),
    *{("hold", s, S.ON_HOLD) for s in workflow.OPEN},
    ("resume", S.ON_HOLD, "held_from"),
    *{("deliver", s, S.DELIVERED) for s in (S.IN_PRODUCTION, S.REVISION, S.DELIVERED)},
    ("request_revision", S.DELIVERED, S.REVISION), ("complete", S.DELIVERED, S.COMPLETED),
}
QUOTE_EDGES = {
    ("send", Q.DRAFT, Q.SENT), ("accept", Q.SENT, Q.ACCEPTED), ("decline", Q.SENT, Q.DECLINED),
    ("expire", Q.SENT, Q.EXPIRED), ("suspend", Q.SENT, Q.SUSPENDED), ("reopen", Q.SUSPENDED, Q.SENT),
    *{("withdraw", s, Q.WITHDRAWN) for s in (Q.DRAFT, Q.SENT, Q.SUSPENDED)},
}


def test_order_table_is_the_documented_one():
    found = {(name, source, "held_from" if callable(spec.to) else spec.to)
             for name, spec in workflow.ORDERS.actions.items() for source in spec.sources}
    assert found == ORDER_EDGES


def test_quote_table_is_the_documented_one():
    found = {(name, source, spec.to) for name, spec in quotes.QUOTES.actions.items() for source in spec.sources}
    assert found == QUOTE_EDGES


def _snapshot(model: Any, pk: Any) -> dict[str, Any]:
    row = model.objects.get(pk=pk)
    return {k: v for k, v in model_to_dict(row).items() if k != "services"}


ORDER_CALLS = {
    "submit": lambda order, cast: workflow.order_submit(order_id=order.pk, by=cast.acme_member),
    "cancel": lambda order, cast: workflow.order_cancel(order_id=order.pk, by=cast.account_manager),
    "quote": lambda order, cast: workflow.order_quote(order_id=order.pk, by=cast.account_manager),
    "requote": lambda order, cast: workflow.order_requote(order_id=order.pk, by=cast.account_manager, reason="Again"),
    "start_production": lambda order, cast: workflow.order_start_production(order_id=order.pk, by=cast.account_manager),
    "hold": lambda order, cast: workflow.order_hold(order_id=order.pk, by=cast.account_manager),
    "resume": lambda order, cast: workflow.order_resume(order_id=order.pk, by=cast.account_manager),
}
ORDER_STATES = [(s, "") for s in S.values if s != S.ON_HOLD] + [(S.ON_HOLD, s) for s in sorted(workflow.OPEN)]


@pytest.mark.parametrize("action", sorted(ORDER_CALLS))
@pytest.mark.parametrize("state,held_from", ORDER_STATES)
def test_every_order_edge(cast, action, state, held_from):
    order = make_order(cast.acme, by=cast.acme_member)
    Order.objects.filter(pk=order.pk).update(status=state, held_from=held_from)
    order.refresh_from_db()
    allowed = workflow.ORDERS.can(action, order)
    before, events = _snapshot(Order, order.pk), Event.objects.filter(order=order).count()
    if allowed:
        target = workflow.ORDERS.target(action, order)
        ORDER_CALLS[action](order, cast)
        order.refresh_from_db()
        assert order.status == target
        assert Event.objects.filter(order=order).count() > events
    else:
        with pytest.raises(InvalidTransition):
            ORDER_CALLS[action](order, cast)
        assert _snapshot(Order, order.pk) == before
        assert Event.objects.filter(order=order).count() == events


def test_a_move_along_a_missing_edge_raises_even_inside_the_module(cast):
    """``_transition`` itself consults the table: no transition function can skip it."""
    order = make_order(cast.acme, status=S.COMPLETED)
    with pytest.raises(InvalidTransition):
        workflow._transition(order, "submit", by=cast.account_manager, verb="x", message="x")
    order.refresh_from_db()
    assert order.status == S.COMPLETED


@pytest.fixture
def quote_in(cast):
    """A quote forced into ``state`` on an order in ``order_state``."""
    default_price_list()
    order = submitted_order(cast.acme_order, {"standard": 2})
    quote = quoting.quote_draft(order=order, by=cast.account_manager)

    def make(state: str, order_state: str, held_from: str = "", stale: bool = False) -> Quote:
        valid = timezone.now() + (timedelta(minutes=-1) if stale else timedelta(days=3))
        Quote.objects.filter(pk=quote.pk).update(status=state, valid_until=valid, sent_at=timezone.now(),
                                                 suspended_at=timezone.now() if state == Q.SUSPENDED else None)
        Order.objects.filter(pk=order.pk).update(status=order_state, held_from=held_from)
        return Quote.objects.get(pk=quote.pk)

    return make


QUOTE_CALLS: dict[str, tuple[dict[str, Any], Any]] = {
    "send": ({"order_state": S.SUBMITTED}, lambda q, cast: quotes.quote_send(quote=q, by=cast.account_manager)),
    "accept": ({"order_state": S.QUOTED}, lambda q, cast: quotes.quote_accept(quote=q, by=cast.acme_admin)),
    "decline": ({"order_state": S.QUOTED}, lambda q, cast: quotes.quote_decline(quote=q, by=cast.acme_admin, reason="No")),
    "expire": ({"order_state": S.QUOTED, "stale": True}, lambda q, cast: quotes.quote_expire(quote_id=q.pk)),
    "suspend": ({"order_state": S.QUOTED},
                lambda q, cast: workflow.order_hold(order_id=q.order_id, by=cast.account_manager)),
    "reopen": ({"order_state": S.ON_HOLD, "held_from": S.QUOTED},
               lambda q, cast: workflow.order_resume(order_id=q.order_id, by=cast.account_manager)),
    "withdraw": ({"order_state": S.SUBMITTED},
                 lambda q, cast: workflow.order_cancel(order_id=q.order_id, by=cast.account_manager)),
}


@pytest.mark.parametrize("action", sorted(QUOTE_CALLS))
@pytest.mark.parametrize("state", Q.values)
def test_every_quote_edge(cast, quote_in, action, state):
    setup, call = QUOTE_CALLS[action]
    quote = quote_in(state, **setup)
    allowed = quotes.QUOTES.can(action, quote)
    target = quotes.QUOTES.target(action, quote) if allowed else None
    before = _snapshot(Quote, quote.pk)
    try:
        result = call(quote, cast)
    except InvalidTransition:
        result = False
    quote.refresh_from_db()
    if allowed:
        assert result is not False and quote.status == target
    else:
        assert result is False or action in {"suspend", "reopen", "withdraw"}  # order moves; the quote must not
        assert _snapshot(Quote, quote.pk) == before, f"{action} changed a {state} quote"


# Images and versions -------------------------------------------------------------------------------

IM, V = ImageStatus, VersionStatus
IMAGE_EDGES = {
    ("receive", IM.UPLOADING, IM.RECEIVED), ("reject_file", IM.UPLOADING, IM.REJECTED),
    ("assign", IM.RECEIVED, IM.ASSIGNED), ("assign", IM.REVISION_REQUESTED, IM.ASSIGNED),
    *{("start", s, IM.IN_PROGRESS) for s in (IM.ASSIGNED, IM.QC_REJECTED, IM.REVISION_REQUESTED)},
    ("submit", IM.IN_PROGRESS, IM.IN_QC), ("qc_pass", IM.IN_QC, IM.READY), ("qc_reject", IM.IN_QC, IM.QC_REJECTED),
    ("deliver", IM.READY, IM.DELIVERED), ("approve", IM.DELIVERED, IM.APPROVED),
    ("request_revision", IM.DELIVERED, IM.REVISION_REQUESTED),
}
VERSION_EDGES = {("receive", V.UPLOADING, V.IN_QC), ("reject_file", V.UPLOADING, V.REJECTED),
                 ("pass", V.IN_QC, V.PASSED), ("fail", V.IN_QC, V.FAILED)}


def test_image_and_version_tables_are_the_documented_ones():
    assert {(n, src, a.to) for n, a in workflow.IMAGES.actions.items() for src in a.sources} == IMAGE_EDGES
    assert {(n, src, a.to) for n, a in workflow.VERSIONS.actions.items() for src in a.sources} == VERSION_EDGES


@pytest.fixture
def image_in(cast):
    """An image forced into a state on an order whose state suits the action, with what each action
    needs around it (the retoucher's assignment, a version waiting for QC, a delivery)."""
    from jobs.models import Assignment, Delivery, DeliveryItem, OrderImage, Version
    from tests.factories import add_images, retoucher

    rita = retoucher("Rita", ["colour-correction"])

    def make(state: str, order_state: str, assigned: bool = True) -> Any:
        order = make_order(cast.acme, status=order_state, title=f"{state} {order_state}")
        Order.objects.filter(pk=order.pk).update(due_at=timezone.now() + timedelta(days=5))
        image = add_images(order, {"standard": 1}, status=state)[0]
        if assigned and state not in {IM.RECEIVED, IM.UPLOADING}:
            Assignment.objects.create(image=image, retoucher=rita, minutes=30)
        version = Version.objects.create(image=image, number=1, status=V.IN_QC if state == IM.IN_QC else V.PASSED,
                                         created_by=rita, file="x.png", preview="p.webp")
        delivery = Delivery.objects.create(order=order, number=1, status="ready", archive="d.zip")
        if state not in {IM.UPLOADING, IM.RECEIVED, IM.READY}:
            DeliveryItem.objects.create(delivery=delivery, image=image, version=version)
        return OrderImage.objects.get(pk=image.pk), version, rita

    return make


def _image_call(action, cast, image, version, rita):
    from jobs.production import versions
    from jobs.review import deliveries, proofing

    if action == "assign":
        return assignment.image_assign(image=image, retoucher=rita, by=cast.account_manager)
    if action == "start":
        return versions.image_start(image=image, by=rita)
    if action == "qc_pass":
        return qc.qc_decide(version=version, by=cast.qc, decision="pass")
    if action == "qc_reject":
        return qc.qc_decide(version=version, by=cast.qc, decision="reject", category="dust", note="Dust")
    if action == "deliver":
        return deliveries.delivery_publish(order=image.order, by=cast.account_manager, images=[image.pk])
    decision = "approve" if action == "approve" else "revise"
    return proofing.review_submit(order=image.order, by=cast.acme_admin, items=[
        {"image": image.pk, "decision": decision, "note": "Warmer", "kind": "defect", "pins": []}])


ORDER_FOR = {"assign": S.IN_PRODUCTION, "start": S.IN_PRODUCTION, "qc_pass": S.IN_PRODUCTION,
             "qc_reject": S.IN_PRODUCTION, "deliver": S.IN_PRODUCTION, "approve": S.DELIVERED,
             "request_revision": S.DELIVERED}
WALKED_STATES = [s for s in IM.values if s != IM.UPLOADING]


@pytest.mark.parametrize("action", sorted(ORDER_FOR))
@pytest.mark.parametrize("state", WALKED_STATES)
def test_every_image_edge(cast, image_in, action, state):
    """The human transitions of an image (``receive``/``reject_file`` belong to the pipeline and
    ``submit`` to a processed version: both are claims the next test walks)."""
    from agency.exceptions import DomainError
    from jobs.models import OrderImage

    # a first assignment: the image has no retoucher yet (a revision whose retoucher has left, say)
    image, version, rita = image_in(state, ORDER_FOR[action], assigned=action != "assign")
    allowed = workflow.IMAGES.can(action, image)
    before = _snapshot(OrderImage, image.pk)
    events = Event.objects.filter(order=image.order).count()
    if allowed:
        _image_call(action, cast, image, version, rita)
        assert OrderImage.objects.get(pk=image.pk).status == workflow.IMAGES.target(action, image)
    else:
        with pytest.raises(DomainError):
            _image_call(action, cast, image, version, rita)
        assert _snapshot(OrderImage, image.pk) == before
        assert Event.objects.filter(order=image.order).count() == events


@pytest.mark.parametrize("action", ["receive", "reject_file", "submit"])
@pytest.mark.parametrize("state", IM.values)
def test_pipeline_claims_move_only_along_the_table(cast, action, state):
    from jobs.models import OrderImage
    from tests.factories import add_images

    image = add_images(cast.acme_order, {"standard": 1}, status=state)[0]
    moved = workflow.IMAGES.claim(OrderImage.objects.filter(pk=image.pk), action)
    status = OrderImage.objects.get(pk=image.pk).status
    if workflow.IMAGES.can(action, image):
        assert moved == 1 and status == workflow.IMAGES.target(action, image)
    else:
        assert moved == 0 and status == state


@pytest.mark.parametrize("action", ["pass", "fail"])
@pytest.mark.parametrize("state", V.values)
def test_every_version_edge(cast, image_in, action, state):
    from agency.exceptions import DomainError
    from jobs.models import Version

    image, version, _ = image_in(IM.IN_QC, S.IN_PRODUCTION)
    Version.objects.filter(pk=version.pk).update(status=state)
    version.refresh_from_db()
    allowed = workflow.VERSIONS.can(action, version)
    before = _snapshot(Version, version.pk)

    call = lambda: qc.qc_decide(version=version, by=cast.qc, decision="pass" if action == "pass" else "reject",  # noqa: E731
                                        category="dust", note="Dust")
    if allowed:
        call()
        assert Version.objects.get(pk=version.pk).status == workflow.VERSIONS.target(action, version)
    else:
        with pytest.raises(DomainError):
            call()
        assert _snapshot(Version, version.pk) == before
