"""Order transitions: every allowed one, and each refusal leaves the order as it was."""

from __future__ import annotations

import pytest

from agency.exceptions import InvalidTransition, NotPermitted
from jobs import workflow
from jobs.models import Event, OrderStatus
from tests.factories import make_order

S = OrderStatus
pytestmark = pytest.mark.django_db


def _events(order):
    return list(Event.objects.filter(order=order).values_list("verb", flat=True))


def test_client_submits_a_draft(cast):
    order = workflow.order_submit(order_id=cast.acme_order.pk, by=cast.acme_member)
    assert order.status == S.SUBMITTED and order.submitted_at is not None
    assert _events(order) == ["order.created", "order.submitted"]


def test_account_manager_may_submit_on_behalf_of_the_client(cast):
    assert workflow.order_submit(order_id=cast.acme_order.pk, by=cast.account_manager).status == S.SUBMITTED


@pytest.mark.parametrize("state", [S.SUBMITTED, S.QUOTED, S.IN_PRODUCTION, S.DELIVERED, S.COMPLETED, S.CANCELLED])
def test_submit_refused_outside_draft(cast, state):
    order = make_order(cast.acme, status=state)
    with pytest.raises(InvalidTransition, match="only a draft can be submitted"):
        workflow.order_submit(order_id=order.pk, by=cast.acme_member)
    order.refresh_from_db()
    assert order.status == state and _events(order) == ["order.created"]


@pytest.mark.parametrize("role", ["retoucher", "qc", "finance", "globex_member"])
def test_submit_refused_for_wrong_role(cast, role):
    with pytest.raises(NotPermitted):
        workflow.order_submit(order_id=cast.acme_order.pk, by=getattr(cast, role))
    cast.acme_order.refresh_from_db()
    assert cast.acme_order.status == S.DRAFT


def test_submit_refused_without_services(cast):
    cast.acme_order.services.clear()
    with pytest.raises(InvalidTransition, match="no services"):
        workflow.order_submit(order_id=cast.acme_order.pk, by=cast.acme_member)
    cast.acme_order.refresh_from_db()
    assert cast.acme_order.status == S.DRAFT


@pytest.mark.parametrize("state", [S.DRAFT, S.SUBMITTED, S.QUOTED])
def test_account_manager_cancels_before_production(cast, state):
    order = make_order(cast.acme, status=state)
    order = workflow.order_cancel(order_id=order.pk, by=cast.account_manager, reason="Duplicate")
    assert order.status == S.CANCELLED
    assert Event.objects.get(order=order, verb="order.cancelled").data == {"note": "Duplicate"}


@pytest.mark.parametrize("state", [S.IN_PRODUCTION, S.DELIVERED, S.REVISION, S.COMPLETED, S.CANCELLED])
def test_cancel_refused_once_production_started(cast, state):
    order = make_order(cast.acme, status=state)
    with pytest.raises(InvalidTransition, match="only draft, submitted or quoted"):
        workflow.order_cancel(order_id=order.pk, by=cast.account_manager)
    order.refresh_from_db()
    assert order.status == state


def test_client_may_discard_own_draft_but_not_a_submitted_order(cast):
    assert workflow.order_cancel(order_id=cast.acme_order.pk, by=cast.acme_member).status == S.CANCELLED
    submitted = make_order(cast.acme, status=S.SUBMITTED)
    with pytest.raises(NotPermitted, match="ask your account manager"):
        workflow.order_cancel(order_id=submitted.pk, by=cast.acme_member)
    submitted.refresh_from_db()
    assert submitted.status == S.SUBMITTED


@pytest.mark.parametrize("state", [S.SUBMITTED, S.QUOTED, S.IN_PRODUCTION, S.DELIVERED, S.REVISION])
def test_hold_and_resume_return_to_the_same_state(cast, state):
    order = make_order(cast.acme, status=state)
    held = workflow.order_hold(order_id=order.pk, by=cast.account_manager, reason="Waiting for SKUs")
    assert (held.status, held.held_from) == (S.ON_HOLD, state)
    resumed = workflow.order_resume(order_id=order.pk, by=cast.account_manager)
    assert (resumed.status, resumed.held_from) == (state, "")
    assert _events(order)[-2:] == ["order.held", "order.resumed"]


@pytest.mark.parametrize("state", [S.DRAFT, S.COMPLETED, S.CANCELLED, S.ON_HOLD])
def test_hold_refused_outside_open_states(cast, state):
    order = make_order(cast.acme, status=state)
    with pytest.raises(InvalidTransition, match="only an open order"):
        workflow.order_hold(order_id=order.pk, by=cast.account_manager)
    order.refresh_from_db()
    assert order.status == state


def test_resume_refused_when_not_on_hold(cast):
    with pytest.raises(InvalidTransition, match="not on hold"):
        workflow.order_resume(order_id=cast.acme_order.pk, by=cast.account_manager)


@pytest.mark.parametrize("role", ["acme_member", "acme_admin", "retoucher", "qc", "finance"])
def test_hold_and_resume_are_for_account_managers(cast, role):
    order = make_order(cast.acme, status=S.SUBMITTED)
    with pytest.raises(NotPermitted):
        workflow.order_hold(order_id=order.pk, by=getattr(cast, role))
    held = make_order(cast.acme, status=S.ON_HOLD)
    with pytest.raises(NotPermitted):
        workflow.order_resume(order_id=held.pk, by=getattr(cast, role))
    order.refresh_from_db()
    held.refresh_from_db()
    assert (order.status, held.status) == (S.SUBMITTED, S.ON_HOLD)


def test_order_on_hold_from_submitted_can_be_cancelled(cast):
    order = make_order(cast.acme, status=S.ON_HOLD)
    assert workflow.order_cancel(order_id=order.pk, by=cast.account_manager).status == S.CANCELLED


def test_available_actions_follow_role_and_state(cast):
    assert workflow.available_actions(cast.acme_member, cast.acme_order) == ["submit", "cancel", "edit"]
    assert workflow.available_actions(cast.account_manager, cast.acme_order) == ["submit", "cancel", "edit"]
    submitted = make_order(cast.acme, status=S.SUBMITTED)
    assert workflow.available_actions(cast.acme_member, submitted) == []
    assert workflow.available_actions(cast.account_manager, submitted) == ["cancel", "hold"]
