"""What happens next on an order, and whose move it is: the one table behind "Action needed" on the
order lists and the order page (UI.md "Lists").

Each ``Step`` names a condition on an order row (its status and its stored facts, jobs/facts.py: picture
counts, rounds awaiting confirmation), who acts (a ``permissions`` function of the viewer; the order is
already in their scope) and the words for the one who acts, for the client's other users and for the rest of the studio. The first
step whose condition holds is the order's next step.

The conditions are read in two places from this one table: the database evaluates "one of the viewer's
steps holds" (``action_first``), so a list can put the viewer's actions first and still paginate, and
``next_step`` evaluates the conditions on the fetched row (``holds``) to name the step: compiling the
whole table into SQL CASEs for every list cost more than the rest of the page (bench/load.py), and a test
holds both evaluations to the same answer for every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from jobs import permissions
from jobs.models import IN_WORK, OrderStatus, PilotStatus

S = OrderStatus


@dataclass(frozen=True)
class Step:
    code: str
    when: Q
    actor: Callable[[Any], bool] | None  # None: nobody in particular (the queues carry the work)
    mine: str
    client: str
    studio: str


STEPS: tuple[Step, ...] = (
    Step("submit", Q(status=S.DRAFT), permissions.is_client_user,
         "Add your photographs and submit", "Draft, not sent to the studio yet", "Draft: the client has not submitted it"),
    Step("quote", Q(status=S.SUBMITTED), permissions.runs_orders,
         "Send a quote", "The studio is preparing your quote", "Waiting for a quote"),
    Step("answer", Q(status=S.QUOTED), permissions.is_client_admin,
         "Answer the quote", "Waiting for your company admin to answer the quote", "Waiting for the client's answer"),
    Step("confirm", Q(status=S.REVISION, awaiting_rounds__gt=0), permissions.is_client_admin,
         "Confirm the billable revision round", "Waiting for your company admin to confirm the revision round",
         "Waiting for the client admin to confirm a billable round"),
    Step("review", Q(status=S.DELIVERED, pilot_status=PilotStatus.RUNNING, waiting_count__gt=0), permissions.is_client_user,
         "Review the pilot: the other {waiting} picture{waiting_s} start when you approve it",
         "The pilot is delivered: review it", "Waiting for the client's review of the pilot"),
    Step("review", Q(status=S.DELIVERED), permissions.is_client_user,
         "Review the delivery", "Delivered: review it", "Waiting for the client's review"),
    Step("deliver", Q(status__in=IN_WORK, ready_count__gt=0), permissions.runs_orders,
         "Deliver {ready} ready image{ready_s}", "Being retouched", "{ready} ready to deliver"),
    Step("schedule", Q(status__in=IN_WORK, to_schedule_count__gt=0), permissions.runs_orders,
         "Schedule {to_schedule} image{to_schedule_s}", "Being retouched", "{to_schedule} to schedule"),
    Step("production", Q(status=S.IN_PRODUCTION), None, "", "Being retouched", "Retouching and QC"),
    Step("revision", Q(status=S.REVISION), None, "", "Your changes are being made", "Revision round in work"),
    # During a round, images delivered earlier still wait for the client (only ever the client's own step).
    Step("review", Q(status=S.REVISION, delivered_count__gt=0), permissions.is_client_user,
         "Review {delivered} delivered image{delivered_s}", "", ""),
    Step("hold", Q(status=S.ON_HOLD), None, "", "On hold", "On hold"),
    Step("completed", Q(status=S.COMPLETED), None, "", "Completed", "Completed"),
    Step("cancelled", Q(status=S.CANCELLED), None, "", "Cancelled", "Cancelled"),
)


def _mine(user: Any) -> list[int]:
    return [i for i, step in enumerate(STEPS) if step.actor is not None and step.actor(user)]


def _any_of(indexes: list[int]) -> Q:
    condition = Q()
    for i in indexes:
        condition |= STEPS[i].when
    return condition


def with_next_step(orders: QuerySet[Any], user: Any) -> QuerySet[Any]:
    """Annotate ``action_first`` (0 when one of the viewer's steps holds), so lists can sort the viewer's
    actions first; ``next_step`` names the step from the order's stored facts (jobs/facts.py)."""
    mine = _mine(user)
    return orders.annotate(
        action_first=(Case(When(_any_of(mine), then=Value(0)), default=Value(1), output_field=IntegerField())
                      if mine else Value(1, output_field=IntegerField())),
    )


_LOOKUPS: dict[str, Callable[[Any, Any], bool]] = {
    "exact": lambda value, wanted: value == wanted,
    "in": lambda value, wanted: value in wanted,
    "gt": lambda value, wanted: value is not None and value > wanted,
}


def holds(condition: Q, row: Any) -> bool:
    """Whether ``condition`` (a step's ``when``: exact, ``__in`` and ``__gt`` lookups on the row's
    fields and facts) holds for a fetched row, as the database would answer it."""
    results = []
    for child in condition.children:
        if isinstance(child, Q):
            results.append(holds(child, row))
            continue
        name, wanted = child
        field, _, lookup = name.partition("__")
        results.append(_LOOKUPS[lookup or "exact"](getattr(row, field), wanted))
    result = all(results) if condition.connector == Q.AND else any(results)
    return not result if condition.negated else result


def first_step(row: Any, indexes: Iterable[int] | None = None) -> int | None:
    """The index of the first step (of ``indexes``, or of all) whose condition holds for ``row``."""
    return next((i for i in (range(len(STEPS)) if indexes is None else indexes) if holds(STEPS[i].when, row)), None)


def needing_action(orders: QuerySet[Any], user: Any) -> QuerySet[Any]:
    """The orders where one of the viewer's steps holds (``action_first == 0``): the "Needs your action" count."""
    mine = _mine(user)
    return orders.filter(_any_of(mine)) if mine else orders.none()


@dataclass(frozen=True)
class NextStep:
    code: str
    text: str
    mine: bool  # the viewer is the one to act ("Action needed")


def next_step(order: Any, user: Any) -> NextStep | None:
    """The order's next step in words for ``user`` (the order comes from ``with_next_step``)."""
    counts = {name: getattr(order, f"{name}_count", 0) or 0 for name in ("ready", "to_schedule", "delivered", "waiting")}
    words = {**counts, **{f"{name}_s": "" if n == 1 else "s" for name, n in counts.items()}}
    # Two parties may each have a move (the client reviews what was delivered while the studio delivers
    # the rest of a round): the viewer's own step wins for them.
    mine = first_step(order, _mine(user))
    if mine is not None:
        step = STEPS[mine]
        return NextStep(step.code, step.mine.format(**words), True)
    index = first_step(order)
    if index is None:
        return None
    step = STEPS[index]
    return NextStep(step.code, (step.client if permissions.is_client_user(user) else step.studio).format(**words), False)
