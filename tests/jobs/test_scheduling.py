"""Scheduling: proposals within skills and capacity, promises, assignment and its refusals, SLA clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agency.calendar import Calendar, business_seconds_between
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import TimeOff
from jobs import workflow
from jobs.models import Assignment, ImageStatus, Order, OrderStatus
from jobs.production import assignment, planning, scheduling, sla
from tests.conftest import api_for
from tests.factories import add_images, retoucher

CAL = Calendar("Europe/Berlin", country="DE")
MONDAY = date(2026, 11, 30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(5, 600), st.sets(st.integers(0, 3), min_size=1, max_size=2)), min_size=1,
                max_size=40),
       st.lists(st.tuples(st.integers(60, 600), st.sets(st.integers(0, 3), min_size=1, max_size=4),
                          st.sets(st.integers(0, 6), min_size=1, max_size=7)), min_size=1, max_size=6))
def test_proposals_respect_capacity_and_skills_and_assign_once(jobs, people):
    pool = [scheduling.Retoucher(id=i, name=str(i), skills=frozenset(skills), capacity=cap,
                                 working_days=frozenset(days)) for i, (cap, skills, days) in enumerate(people)]
    work = [scheduling.Job(image_id=n, minutes=m, required=frozenset(req)) for n, (m, req) in enumerate(jobs)]
    proposal = scheduling.propose(work, pool, start=MONDAY, calendar=CAL)
    placed = [p.image_id for p in proposal.placements]
    assert len(placed) == len(set(placed)) and set(placed) | set(proposal.unassignable) == set(range(len(jobs)))
    assert not set(placed) & set(proposal.unassignable)
    by_id = {r.id: r for r in pool}
    for placement in proposal.placements:
        person, job = by_id[placement.retoucher_id], work[placement.image_id]
        assert job.required <= person.skills
        assert sum(m for _, m in placement.days) == job.minutes
        assert all(day.weekday() in person.working_days and CAL.is_working_day(day) for day, _ in placement.days)
    for person in pool:
        assert all(minutes <= person.capacity for minutes in person.booked.values())


def test_earliest_due_first_and_fastest_retoucher():
    fast = scheduling.Retoucher(id="fast", name="Fast", skills=frozenset({1}), capacity=480,
                                working_days=frozenset(range(5)))
    slow = scheduling.Retoucher(id="slow", name="Slow", skills=frozenset({1}), capacity=60, working_days=frozenset(range(5)))
    due_soon = datetime(2026, 12, 1, tzinfo=UTC)
    jobs = [scheduling.Job("late", 400, frozenset({1})), scheduling.Job("urgent", 400, frozenset({1}), due_at=due_soon)]
    proposal = scheduling.propose(jobs, [slow, fast], start=MONDAY, calendar=CAL)
    first = proposal.placements[0]
    assert (first.image_id, first.retoucher_id) == ("urgent", "fast")


@pytest.fixture
def production(cast, db):
    order = cast.acme_order
    add_images(order, {"standard": 3})
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.IN_PRODUCTION)
    order.refresh_from_db()
    return order


@pytest.mark.django_db
def test_apply_proposal_assigns_with_history(cast, production):
    rita = retoucher("Rita", ["colour-correction"], capacity=480)
    made = assignment.schedule_apply(order=production, by=cast.account_manager)
    assert len(made) == 3 and {a.retoucher_id for a in made} == {rita.pk}
    assert set(production.images.values_list("status", flat=True)) == {ImageStatus.ASSIGNED}
    raj = retoucher("Raj", ["colour-correction"])
    image = production.images.first()
    assignment.image_assign(image=image, retoucher=raj, by=cast.account_manager, reassign=True)
    history = list(Assignment.objects.filter(image=image).order_by("created_at").values_list("retoucher_id", "active"))
    assert history == [(rita.pk, False), (raj.pk, True)]


@pytest.mark.django_db
def test_assign_refusals(cast, production):
    no_skill = retoucher("Nina", ["clipping-path"])
    on_leave = retoucher("Leo", ["colour-correction"])
    TimeOff.objects.create(user=on_leave, start_date=date.today() - timedelta(days=1),
                           end_date=date.today() + timedelta(days=3), reason="Holiday")
    image = production.images.first()
    with pytest.raises(RuleViolation, match="does not do colour correction"):
        assignment.image_assign(image=image, retoucher=no_skill, by=cast.account_manager)
    with pytest.raises(RuleViolation, match="on leave today"):
        assignment.image_assign(image=image, retoucher=on_leave, by=cast.account_manager)
    with pytest.raises(NotPermitted):
        assignment.image_assign(image=image, retoucher=no_skill, by=cast.acme_admin)
    ok = retoucher("Ok", ["colour-correction"])
    assignment.image_assign(image=image, retoucher=ok, by=cast.account_manager)
    with pytest.raises(InvalidTransition, match="already assigned to Ok"):
        assignment.image_assign(image=image, retoucher=ok, by=cast.account_manager)
    assert Assignment.objects.filter(image=image).count() == 1


@pytest.mark.django_db
def test_assigned_retoucher_sees_the_order_but_no_prices(cast, production):
    rita = retoucher("Rita", ["colour-correction"])
    assignment.image_assign(image=production.images.first(), retoucher=rita, by=cast.account_manager)
    client = api_for(rita)
    assert client.get(f"/api/v1/orders/{production.pk}/").status_code == 200
    assert client.get(f"/api/v1/orders/{production.pk}/images/").json()["count"] == 1
    assert client.get(f"/api/v1/orders/{production.pk}/quote/").status_code == 404
    assert api_for(cast.retoucher_other).get(f"/api/v1/orders/{production.pk}/").status_code == 404


@pytest.mark.django_db
def test_schedule_api(cast, production):
    retoucher("Rita", ["colour-correction"])
    manager = api_for(cast.account_manager)
    proposal = manager.get(f"/api/v1/orders/{production.pk}/schedule/").json()
    assert len(proposal["placements"]) == 3 and all(p["retoucher_name"] == "Rita" for p in proposal["placements"])
    assert api_for(cast.acme_admin).get(f"/api/v1/orders/{production.pk}/schedule/").status_code == 403
    applied = manager.post(f"/api/v1/orders/{production.pk}/schedule/", {}, format="json")
    assert applied.status_code == 201 and len(applied.json()) == 3
    image = production.images.first()
    raj = retoucher("Raj", ["colour-correction"])
    refused = manager.post(f"/api/v1/images/{image.pk}/assign/", {"retoucher": str(raj.pk)}, format="json")
    assert refused.status_code == 409
    moved = manager.post(f"/api/v1/images/{image.pk}/assign/", {"retoucher": str(raj.pk), "reassign": True}, format="json")
    assert moved.status_code == 201 and moved.json()["retoucher_name"] == "Raj"


@pytest.mark.django_db
def test_promise_explains_an_infeasible_tier(cast):
    order = cast.acme_order
    add_images(order, {"complex": 40})
    order.turnaround = "rush"
    order.save()
    retoucher("Slow", ["colour-correction"], capacity=60)
    promise = planning.order_promise(order, now=datetime(2026, 11, 30, 8, 0, tzinfo=UTC), calendar=CAL)
    assert promise.due_at > promise.sla_due_at
    assert promise.note.startswith("rush needs 10 h of colour correction; the earliest free capacity finishes")
    assert promise.feasible_tier is None or promise.feasible_tier in ("express", "standard")


def test_sla_clock_pauses_and_resumes():
    order = Order(turnaround="standard", status=OrderStatus.IN_PRODUCTION)
    start = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # Monday 09:00 Berlin
    sla.start(order, now=start, calendar=CAL)
    due = order.due_at
    assert business_seconds_between(start, due, CAL) == pytest.approx(48 * 3600)
    sla.pause(order, now=start + timedelta(hours=2), calendar=CAL)
    later = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # two days on hold
    assert sla.status(order, now=later, calendar=CAL).state == "paused"
    sla.resume(order, now=later, calendar=CAL)
    assert business_seconds_between(later, order.due_at, CAL) == pytest.approx(46 * 3600)
    status = sla.status(order, now=later + timedelta(hours=1), calendar=CAL)
    assert status.state == "on_track" and status.used_seconds == pytest.approx(3 * 3600)
    assert sla.status(order, now=order.due_at + timedelta(days=1), calendar=CAL).state == "breached"


@pytest.mark.django_db
def test_hold_pauses_the_clock_and_resume_moves_the_due_date(cast):
    from billing import services as billing
    from billing import workflow as quoting
    from tests.factories import default_price_list, submitted_order

    default_price_list()
    order = submitted_order(cast.acme_order, {"standard": 2})
    retoucher("Rita", ["colour-correction"])
    quote = billing.quote_draft(order=order, by=cast.account_manager)
    quoting.quote_send(quote=quote, by=cast.account_manager)
    quoting.quote_accept(quote=quote, by=cast.acme_admin)
    workflow.order_hold(order_id=order.pk, by=cast.account_manager, reason="Waiting for SKUs")
    order.refresh_from_db()
    assert order.sla_running_since is None and order.sla_remaining_seconds > 0 and order.sla_state == "paused"
    workflow.order_resume(order_id=order.pk, by=cast.account_manager)
    order.refresh_from_db()
    assert order.status == OrderStatus.IN_PRODUCTION and order.sla_running_since is not None


@pytest.mark.django_db
def test_sla_sweep_marks_at_risk_and_breached_once(cast, django_capture_on_commit_callbacks):
    from django.core import mail

    from jobs.models import Event

    cast.acme.account_manager = cast.account_manager
    cast.acme.save()
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    late = cast.acme_order
    images = add_images(late, {"complex": 30}, status=ImageStatus.ASSIGNED)  # assigned work, as _assign leaves it
    sla.start(late, now=now - timedelta(days=1), calendar=CAL)
    late.status, late.due_at = OrderStatus.IN_PRODUCTION, now + timedelta(hours=2)
    late.save()
    rita = retoucher("Rita", ["colour-correction"], capacity=120)
    Assignment.objects.bulk_create([Assignment(image=i, retoucher=rita, minutes=15) for i in images])
    with django_capture_on_commit_callbacks(execute=True):
        counts = sla.sla_sweep(now=now, calendar=CAL)
    late.refresh_from_db()
    assert counts["at_risk"] == 1 and late.sla_state == "at_risk" and late.projected_finish_at > late.due_at
    assert Event.objects.filter(order=late, verb="order.sla_at_risk").count() == 1
    assert mail.outbox and mail.outbox[-1].to == [cast.account_manager.email]
    sla.sla_sweep(now=now, calendar=CAL)
    assert Event.objects.filter(order=late, verb="order.sla_at_risk").count() == 1  # once per change
    sla.sla_sweep(now=now + timedelta(days=1), calendar=CAL)
    late.refresh_from_db()
    assert late.sla_state == "breached" and Event.objects.filter(order=late, verb="order.sla_breached").count() == 1


@pytest.mark.django_db
def test_sla_sweep_runs_a_constant_number_of_queries(cast, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import make_order

    retoucher("Rita", ["colour-correction"])
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    def grow(n):
        person = retoucher(f"R{n}", ["colour-correction"])
        for i in range(n):
            order = make_order(cast.acme, status=OrderStatus.IN_PRODUCTION, title=f"O{i}")
            images = add_images(order, {"standard": 2})
            Assignment.objects.bulk_create([Assignment(image=img, retoucher=person, minutes=30) for img in images])
            sla.start(order, now=now, calendar=CAL)
            order.save()

    def count():
        with CaptureQueriesContext(connection) as ctx:
            sla.sla_sweep(now=now, calendar=CAL)
        return len([q for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]])

    grow(2)
    count()
    small = count()  # steady state: nothing changes
    grow(20)
    first = count()  # the new orders change state: one bulk update, one bulk insert of events
    assert first <= small + 3
    assert count() == small


def test_a_revision_round_gets_its_own_target():
    order = Order(turnaround="rush", status=OrderStatus.REVISION)
    now = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    sla.start_revision(order, now=now, calendar=CAL)
    assert order.sla_target_hours == 24
    assert business_seconds_between(now, order.due_at, CAL) == pytest.approx(24 * 3600)
    assert sla.status(order, now=now + timedelta(hours=1), calendar=CAL).state == "on_track"


@pytest.mark.parametrize("state,booked", [(ImageStatus.ASSIGNED, True), (ImageStatus.IN_PROGRESS, True),
                                          (ImageStatus.QC_REJECTED, True), (ImageStatus.REVISION_REQUESTED, True),
                                          (ImageStatus.IN_QC, False), (ImageStatus.READY, False),
                                          (ImageStatus.DELIVERED, False), (ImageStatus.APPROVED, False)])
def test_work_left_is_booked_against_the_retoucher_and_nothing_else(cast, state, booked):
    """Work an image still needs from its retoucher (QC sending it back included) takes their time;
    work handed to QC or beyond does not."""
    from jobs.production.capacity import retoucher_pool

    rita = retoucher("Rita", ["colour-correction"], capacity=480)
    order = cast.acme_order
    image = add_images(order, {"standard": 1}, status=state)[0]
    Assignment.objects.create(image=image, retoucher=rita, minutes=300)
    [pooled] = [r for r in retoucher_pool(start=MONDAY, calendar=CAL) if r.id == rita.pk]
    assert sum(pooled.booked.values()) == (300 if booked else 0), state
