"""Each state table is held against a hand-written list of what it allows, conditions included,
never against itself: a changed edge, source or ``when`` condition in any table fails here. Then the
real transition functions are walked over every (state, condition, action): an allowed move lands
where the list says; every other one is refused with a domain error and writes nothing (the row and the
timeline are unchanged)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.utils import timezone

from agency.exceptions import InvalidTransition
from billing import exports as billing_exports
from billing import invoicing
from billing import services as quoting
from billing import workflow as quotes
from billing.models import ExportStatus, InvoiceStatus, Quote, QuoteStatus
from clients import webhooks
from clients.models import DeliveryStatus as WebhookStatus
from jobs import workflow
from jobs.models import DeliveryStatus, Event, ImageStatus, Order, OrderStatus, RoundStatus, VersionStatus
from jobs.production import assignment, qc
from jobs.review import deliveries
from tests.factories import default_price_list, make_order, submitted_order

pytestmark = pytest.mark.django_db
S, Q = OrderStatus, QuoteStatus

# -- The tables, written out by hand from DESIGN.md §4 (a change to a table must change these) --------

# Orders: each state, and on hold each state it may have been held from ("" is a corrupt hold).
HELD_FROM = ["", "submitted", "quoted", "in_production", "delivered", "revision"]
ORDER_ROWS = [(s, "") for s in S.values if s != "on_hold"] + [("on_hold", h) for h in HELD_FROM]
ORDER_ALLOWED = {
    "submit": {("draft", "")},
    "cancel": {("draft", ""), ("submitted", ""), ("quoted", ""), ("on_hold", "submitted"), ("on_hold", "quoted")},
    "quote": {("submitted", "")},
    "requote": {("quoted", "")},
    "start_production": {("quoted", "")},
    "hold": {("submitted", ""), ("quoted", ""), ("in_production", ""), ("delivered", ""), ("revision", "")},
    "resume": {("on_hold", "submitted"), ("on_hold", "quoted"), ("on_hold", "in_production"), ("on_hold", "delivered"),
               ("on_hold", "revision")},
    "deliver": {("in_production", ""), ("revision", ""), ("delivered", "")},
    "request_revision": {("delivered", "")},
    "complete": {("delivered", "")},
    "start_rest": {("delivered", "")},
}
ORDER_TARGET = {"submit": "submitted", "cancel": "cancelled", "quote": "quoted", "requote": "submitted",
                "start_production": "in_production", "hold": "on_hold", "resume": "<held from>",
                "deliver": "delivered", "request_revision": "revision", "complete": "completed",
                "start_rest": "in_production"}
# The studio owes work in these; resuming an order held from one of them runs the SLA clock again.
CLOCK_RESTARTS = {"in_production", "revision"}

IMAGE_ALLOWED = {
    "receive": ({"uploading"}, "received"), "reject_file": ({"uploading"}, "rejected"),
    "assign": ({"received", "revision_requested"}, "assigned"),
    "start": ({"assigned", "qc_rejected", "revision_requested"}, "in_progress"),
    "submit": ({"in_progress"}, "in_qc"), "qc_pass": ({"in_qc"}, "ready"), "qc_reject": ({"in_qc"}, "qc_rejected"),
    "deliver": ({"ready"}, "delivered"), "approve": ({"delivered"}, "approved"),
    "request_revision": ({"delivered"}, "revision_requested"),
    "wait_for_pilot": ({"received"}, "waiting_pilot"), "release": ({"waiting_pilot"}, "received"),
}
PILOT_ALLOWED = {"start": ({""}, "running"), "approve": ({"running"}, "approved")}
VERSION_ALLOWED = {"receive": ({"uploading"}, "in_qc"), "reject_file": ({"uploading"}, "rejected"),
                   "pass": ({"in_qc"}, "passed"), "fail": ({"in_qc"}, "failed")}
QUOTE_ALLOWED = {"send": ({"draft"}, "sent"), "accept": ({"sent"}, "accepted"), "decline": ({"sent"}, "declined"),
                 "expire": ({"sent"}, "expired"), "suspend": ({"sent"}, "suspended"), "reopen": ({"suspended"}, "sent"),
                 "withdraw": ({"draft", "sent", "suspended"}, "withdrawn")}
DELIVERY_ALLOWED = {"finish": ({"building"}, "ready"), "fail": ({"building"}, "failed"), "retry": ({"failed"}, "building")}
ROUND_ALLOWED = {"confirm": ({"awaiting"}, "open"), "decline": ({"awaiting"}, "declined")}
EXPORT_ALLOWED = {"finish": ({"building"}, "ready"), "fail": ({"building"}, "failed")}
WEBHOOK_ALLOWED = {"deliver": ({"pending"}, "delivered"), "give_up": ({"pending"}, "failed")}

# Invoices: the state and whether money was received or credited against it (void's condition).
INVOICE_ROWS = [(s, paid, credited) for s in InvoiceStatus.values for paid in (False, True) for credited in (False, True)]
OPEN_ROWS = {(s, p, c) for s in ("issued", "partially_paid") for p in (False, True) for c in (False, True)}
INVOICE_ALLOWED = {
    "issue": ({("draft", False, False), ("draft", True, False), ("draft", False, True), ("draft", True, True)}, "issued"),
    "pay_part": (OPEN_ROWS, "partially_paid"), "settle": (OPEN_ROWS, "paid"),
    "void": ({("draft", False, False), ("issued", False, False)}, "void"),
}


class Row:
    """A stand-in row for asking a table (``status`` plus whatever its conditions read)."""

    def __init__(self, status: str, **fields: Any) -> None:
        self.status = status
        self.__dict__.update(fields)


SIMPLE_TABLES = [
    ("images", workflow.IMAGES, IMAGE_ALLOWED, ImageStatus.values),
    ("versions", workflow.VERSIONS, VERSION_ALLOWED, VersionStatus.values),
    ("quotes", quotes.QUOTES, QUOTE_ALLOWED, QuoteStatus.values),
    ("deliveries", deliveries.DELIVERIES, DELIVERY_ALLOWED, DeliveryStatus.values),
    ("rounds", workflow.ROUNDS, ROUND_ALLOWED, RoundStatus.values),
    ("exports", billing_exports.EXPORTS, EXPORT_ALLOWED, ExportStatus.values),
    ("webhook deliveries", webhooks.WEBHOOK_DELIVERIES, WEBHOOK_ALLOWED, WebhookStatus.values),
]


@pytest.mark.parametrize("name,table,allowed,states", SIMPLE_TABLES, ids=[t[0] for t in SIMPLE_TABLES])
def test_each_table_allows_exactly_what_is_written(name, table, allowed, states):
    assert set(table.actions) == set(allowed), f"{name}: actions differ from the written list"
    for action, (sources, target) in allowed.items():
        for state in states:
            assert table.can(action, Row(state)) == (state in sources), f"{name}: {action} from {state}"
        assert table.target(action, Row(next(iter(sources)))) == target, f"{name}: {action} leads elsewhere"


def test_the_pilot_table_allows_exactly_what_is_written():
    """An order's pilot (``pilot_status``, jobs/production/pilots.py): started once, approved once."""
    assert set(workflow.PILOTS.actions) == set(PILOT_ALLOWED)
    for action, (sources, target) in PILOT_ALLOWED.items():
        for state in ["", "running", "approved"]:
            row = Row("delivered", pilot_status=state)
            assert workflow.PILOTS.can(action, row) == (state in sources), f"pilot: {action} from {state or 'none'}"
        assert workflow.PILOTS.target(action, Row("delivered", pilot_status=next(iter(sources)))) == target


def test_the_order_table_allows_exactly_what_is_written():
    assert set(workflow.ORDERS.actions) == set(ORDER_ALLOWED)
    for action, rows in ORDER_ALLOWED.items():
        for state, held_from in ORDER_ROWS:
            row = Row(state, held_from=held_from)
            assert workflow.ORDERS.can(action, row) == ((state, held_from) in rows), f"{action} from {state}/{held_from}"
            if (state, held_from) in rows:
                expected = held_from if action == "resume" else ORDER_TARGET[action]
                assert workflow.ORDERS.target(action, row) == expected


@pytest.mark.parametrize("guard,action", [("can_submit", "submit"), ("can_cancel", "cancel"), ("can_hold", "hold"),
                                          ("can_resume", "resume")])
def test_the_order_guards_pages_use_answer_as_written(guard, action):
    for state, held_from in ORDER_ROWS:
        assert getattr(workflow, guard)(Row(state, held_from=held_from)) == ((state, held_from) in ORDER_ALLOWED[action]), \
            f"{guard} on {state}/{held_from}"


def test_the_invoice_table_allows_exactly_what_is_written_conditions_included():
    assert set(invoicing.INVOICES.actions) == set(INVOICE_ALLOWED)
    for action, (rows, target) in INVOICE_ALLOWED.items():
        for status, paid, credited in INVOICE_ROWS:
            row = Row(status, paid_total=Decimal("5.00") if paid else Decimal("0"),
                      credited_total=Decimal("5.00") if credited else Decimal("0"))
            assert invoicing.INVOICES.can(action, row) == ((status, paid, credited) in rows), \
                f"{action} from {status}, paid={paid}, credited={credited}"
        assert invoicing.INVOICES.target(action, Row("draft")) == target


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


@pytest.mark.parametrize("action", sorted(ORDER_CALLS))
@pytest.mark.parametrize("state,held_from", ORDER_ROWS)
def test_every_order_edge(cast, action, state, held_from):
    order = make_order(cast.acme, by=cast.acme_member)
    Order.objects.filter(pk=order.pk).update(status=state, held_from=held_from)
    order.refresh_from_db()
    before, events = _snapshot(Order, order.pk), Event.objects.filter(order=order).count()
    if (state, held_from) in ORDER_ALLOWED[action]:
        target = held_from if action == "resume" else ORDER_TARGET[action]
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
    sources, target = QUOTE_ALLOWED[action]
    allowed = state in sources
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
        {"image": image.pk, "decision": decision, "note": "Warmer", "kind": "defect", "marks": []}])


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
    sources, target = IMAGE_ALLOWED[action]
    before = _snapshot(OrderImage, image.pk)
    events = Event.objects.filter(order=image.order).count()
    if state in sources:
        _image_call(action, cast, image, version, rita)
        assert OrderImage.objects.get(pk=image.pk).status == target
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
    sources, target = IMAGE_ALLOWED[action]
    if state in sources:
        assert moved == 1 and status == target
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
    sources, target = VERSION_ALLOWED[action]
    before = _snapshot(Version, version.pk)

    call = lambda: qc.qc_decide(version=version, by=cast.qc, decision="pass" if action == "pass" else "reject",  # noqa: E731
                                        category="dust", note="Dust")
    if state in sources:
        call()
        assert Version.objects.get(pk=version.pk).status == target
    else:
        with pytest.raises(DomainError):
            call()
        assert _snapshot(Version, version.pk) == before


# The SLA clock follows the order table: hold pauses it, resume runs it again only where the studio owes work.

@pytest.mark.parametrize("held_from", [h for h in HELD_FROM if h])
def test_resuming_runs_the_clock_again_only_for_work_the_studio_owes(cast, held_from):
    order = make_order(cast.acme, by=cast.acme_member)
    due = timezone.now() + timedelta(days=3)
    Order.objects.filter(pk=order.pk).update(status=S.ON_HOLD, held_from=held_from, sla_target_hours=48, due_at=due,
                                             sla_remaining_seconds=3600.0, sla_running_since=None, sla_state="paused")
    workflow.order_resume(order_id=order.pk, by=cast.account_manager)
    order.refresh_from_db()
    assert order.status == held_from
    if held_from in CLOCK_RESTARTS:
        assert order.sla_running_since is not None and order.sla_remaining_seconds is None
        assert order.sla_state == "on_track" and order.due_at != due
    else:
        assert order.sla_running_since is None and order.sla_remaining_seconds == 3600.0
        assert order.sla_state == "paused" and order.due_at == due


@pytest.mark.parametrize("state", ["submitted", "quoted", "in_production", "delivered", "revision"])
def test_holding_pauses_a_running_clock_and_leaves_a_stopped_one(cast, state):
    order = make_order(cast.acme, by=cast.acme_member)
    running = state in CLOCK_RESTARTS
    Order.objects.filter(pk=order.pk).update(status=state, sla_target_hours=48 if running else None,
                                             due_at=timezone.now() + timedelta(days=3) if running else None,
                                             sla_running_since=timezone.now() if running else None)
    workflow.order_hold(order_id=order.pk, by=cast.account_manager)
    order.refresh_from_db()
    assert order.status == S.ON_HOLD and order.held_from == state and order.sla_running_since is None
    assert order.sla_state == ("paused" if running else "")
    assert (order.sla_remaining_seconds is not None) == running


# Invoices: void's condition through the real function -----------------------------------------------

@pytest.fixture
def issued(cast):
    from tests.billing.invoicing_setup import address, billing_profile, issued_invoice

    billing_profile()
    address(cast.acme)
    default_price_list()
    return issued_invoice(cast.acme, cast)


@pytest.mark.parametrize("against", ["nothing", "payment", "credit note"])
def test_an_invoice_with_money_against_it_cannot_be_voided(cast, issued, against):
    if against == "payment":
        invoicing.invoice_pay(invoice=issued, by=cast.finance, amount=Decimal("1.00"))
    elif against == "credit note":
        invoicing.invoice_credit(invoice=issued, by=cast.finance, reason="Goodwill", amount=Decimal("1.00"))
    issued.refresh_from_db()
    before = _snapshot(type(issued), issued.pk)
    if against == "nothing":
        invoicing.invoice_void(invoice=issued, by=cast.finance, reason="Wrong client")
        issued.refresh_from_db()
        assert issued.status == InvoiceStatus.VOID
        return
    with pytest.raises(InvalidTransition):
        invoicing.invoice_void(invoice=issued, by=cast.finance, reason="Wrong client")
    assert _snapshot(type(issued), issued.pk) == before


# Revision rounds: a client admin's answer through the real function ---------------------------------

@pytest.mark.parametrize("confirm", [True, False])
@pytest.mark.parametrize("state", RoundStatus.values)
def test_every_round_answer(cast, image_in, state, confirm):
    from jobs.models import RevisionItem, RevisionRound
    from jobs.review import proofing

    default_price_list()  # a confirmed billable round is charged at the list's fee
    image, version, _ = image_in(IM.DELIVERED, S.DELIVERED)
    round_ = RevisionRound.objects.create(order=image.order, number=1, status=state, billable=True,
                                          requested_by=cast.acme_member)
    RevisionItem.objects.create(round=round_, image=image, version=version, note="Warmer")
    sources, target = ROUND_ALLOWED["confirm" if confirm else "decline"]
    before, events = _snapshot(RevisionRound, round_.pk), Event.objects.filter(order=image.order).count()
    if state in sources:
        proofing.round_answer(round_=round_, by=cast.acme_admin, confirm=confirm)
        assert RevisionRound.objects.get(pk=round_.pk).status == target
    else:
        with pytest.raises(InvalidTransition):
            proofing.round_answer(round_=round_, by=cast.acme_admin, confirm=confirm)
        assert _snapshot(RevisionRound, round_.pk) == before
        assert Event.objects.filter(order=image.order).count() == events


def test_assignment_moves_images_through_the_table(cast, image_in):
    """Fresh images are claimed along the table's ``assign`` edge (the same sources as written)."""
    from jobs.models import OrderImage

    image, _, rita = image_in(IM.RECEIVED, S.IN_PRODUCTION, assigned=False)
    assignment.image_assign(image=image, retoucher=rita, by=cast.account_manager)
    assert OrderImage.objects.get(pk=image.pk).status == IMAGE_ALLOWED["assign"][1]


# Every action of every table, as a refusal says it ("This order is completed; it can be submitted only
# when draft."), written out by hand.
ACTION_WORDS = {
    "submit": "submitted", "cancel": "cancelled", "quote": "quoted", "requote": "re-quoted",
    "start_production": "started in production", "hold": "put on hold", "resume": "resumed", "deliver": "delivered",
    "request_revision": "sent back for changes", "complete": "completed", "receive": "received",
    "reject_file": "refused", "assign": "assigned", "start": "started", "qc_pass": "passed by QC",
    "qc_reject": "sent back by QC", "approve": "approved", "pass": "passed", "fail": "failed", "send": "sent",
    "accept": "accepted", "decline": "declined", "expire": "expired", "suspend": "suspended", "reopen": "reopened",
    "withdraw": "withdrawn", "issue": "issued", "pay_part": "partly paid", "settle": "settled", "void": "voided",
    "finish": "finished", "retry": "retried", "confirm": "confirmed", "give_up": "given up",
    "start_rest": "started on the rest of its pictures", "wait_for_pilot": "held for the pilot", "release": "released",
}


def test_every_action_has_its_words():
    from agency.statemachine import action_words

    tables = [workflow.ORDERS, workflow.IMAGES, workflow.PILOTS, workflow.VERSIONS, workflow.ROUNDS, quotes.QUOTES,
              invoicing.INVOICES,
              deliveries.DELIVERIES, billing_exports.EXPORTS, webhooks.WEBHOOK_DELIVERIES]
    actions = {action for table in tables for action in table.actions}
    assert actions <= set(ACTION_WORDS)
    assert {action: action_words(action) for action in actions} == {a: ACTION_WORDS[a] for a in actions}


def test_a_refusal_without_its_own_words_says_the_state_and_the_states_it_needs():
    with pytest.raises(InvalidTransition) as refused:
        workflow.ORDERS.check("submit", Row("completed"))
    assert refused.value.message == "This order is completed; it can be submitted only when draft."
    with pytest.raises(InvalidTransition) as refused:
        quotes.QUOTES.check("withdraw", Row("accepted"))
    assert refused.value.message == "This quote is accepted; it can be withdrawn only when draft, on hold, sent."
    with pytest.raises(InvalidTransition) as refused:
        workflow.ORDERS.check("resume", Row("on_hold", held_from=""), "Order {state} cannot resume")
    assert refused.value.message == "Order on hold cannot resume"


def test_a_table_built_with_add_answers_from_what_was_added():
    """The machinery itself, on a table of its own (the real tables are built at import)."""
    from agency.statemachine import StateTable

    table = StateTable("parcel", {"packed": "Packed", "sent": "Sent", "held": "Held at customs", "lost": "Lost"})
    table.add("send", ["packed"], "sent")
    table.add("hold", ["sent", "packed"], "held", when=lambda row: row.declared)
    table.add("release", ["held"], lambda row: row.held_from)
    assert table.sources("hold") == frozenset({"sent", "packed"}) and set(table.actions) == {"send", "hold", "release"}
    assert table.actions["release"].name == "release"
    assert (table.label("held"), table.label("returned")) == ("held at customs", "returned")  # unlabelled: itself
    assert table.can("send", Row("packed")) and not table.can("send", Row("sent"))
    assert table.can("hold", Row("sent", declared=True)) and not table.can("hold", Row("sent", declared=False))
    assert table.target("release", Row("held", held_from="packed")) == "packed"
    row = Row("held", held_from="sent")
    assert table.move(row, "release") == ("held", "sent") and row.status == "sent"
    with pytest.raises(InvalidTransition) as refused:
        table.check("hold", Row("lost", declared=True))
    assert refused.value.message == "This parcel is lost; it can be put on hold only when packed, sent."
    with pytest.raises(InvalidTransition) as refused:
        table.move(Row("sent", declared=False), "hold", refusal="Nothing to declare: a {state} parcel stays")
    assert refused.value.message == "Nothing to declare: a sent parcel stays"
    for action in ("hold", "release"):  # rows that decide for themselves move one at a time
        with pytest.raises(TypeError, match="one at a time"):
            table.claim(Order.objects.none(), action)
