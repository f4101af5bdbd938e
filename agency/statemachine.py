"""Transition tables that are the rule (DESIGN.md §4, CONVENTIONS.md §2.9).

Each app with states declares one ``StateTable``: named actions, each with the states it may start
from and the state it leads to. The workflow functions move rows only through ``table.move(...)``,
which refuses an edge the table lacks, and the ``can_*`` guards pages use to show buttons ask the
same table. A test walks every table: each listed edge succeeds, every other edge is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agency.exceptions import InvalidTransition

# ``to`` may be a state or a function of the row (for example "back to the state it was held from").
Target = str | Callable[[Any], str]


@dataclass(frozen=True)
class Action:
    name: str
    sources: frozenset[str]
    to: Target
    # Extra condition on the row beyond its state (for example "held from a cancellable state").
    when: Callable[[Any], bool] | None = None


@dataclass
class StateTable:
    """Named transitions over the ``status`` field of one model."""

    entity: str
    labels: Mapping[str, str]
    actions: dict[str, Action] = field(default_factory=dict)
    field_name: str = "status"

    def add(self, name: str, sources: Iterable[str], to: Target, when: Callable[[Any], bool] | None = None) -> None:
        self.actions[name] = Action(name, frozenset(sources), to, when)

    def label(self, state: str) -> str:
        return str(self.labels.get(state, state)).lower()

    def can(self, action: str, row: Any) -> bool:
        """Does the table allow ``action`` from the row's current state?"""
        spec = self.actions[action]
        state = getattr(row, self.field_name)
        return state in spec.sources and (spec.when is None or spec.when(row))

    def target(self, action: str, row: Any) -> str:
        to = self.actions[action].to
        return to(row) if callable(to) else to

    def check(self, action: str, row: Any, refusal: str | None = None) -> str:
        """The state ``action`` leads to, or ``InvalidTransition`` with a message that says why."""
        if self.can(action, row):
            return self.target(action, row)
        state = self.label(getattr(row, self.field_name))
        if refusal:
            raise InvalidTransition(refusal.format(state=state))
        starts = ", ".join(sorted(self.label(s) for s in self.actions[action].sources)) or "no state"
        raise InvalidTransition(f"This {self.entity} is {state}; it can be {action_words(action)} only when {starts}.")

    def sources(self, action: str) -> frozenset[str]:
        return self.actions[action].sources

    def claim(self, queryset: Any, action: str, **fields: Any) -> int:
        """Move every row of ``queryset`` that the table allows along ``action`` with one conditional
        ``UPDATE … WHERE status IN (sources)`` (works on both engines: the first writer wins, the
        others update nothing). Returns the number of rows moved."""
        spec = self.actions[action]
        if callable(spec.to) or spec.when is not None:
            raise TypeError(f"{action} depends on the row; move rows one at a time with move()")
        return queryset.filter(**{f"{self.field_name}__in": spec.sources}).update(**{self.field_name: spec.to}, **fields)

    def move(self, row: Any, action: str, *, refusal: str | None = None) -> tuple[str, str]:
        """Set the row's new state along the ``action`` edge (not saved); returns (from, to)."""
        to = self.check(action, row, refusal)
        current = getattr(row, self.field_name)
        setattr(row, self.field_name, to)
        return current, to


# Past participles English does not make by adding "d" or "ed" (the rest do: started, issued, voided), and
# every action of more than one word (tests/test_state_tables.py holds every action's words).
IRREGULAR = {"submit": "submitted", "send": "sent", "hold": "put on hold", "requote": "re-quoted",
             "cancel": "cancelled", "pay": "paid", "pay_part": "partly paid", "give_up": "given up",
             "reject_file": "refused", "qc_pass": "passed by QC", "qc_reject": "sent back by QC",
             "start_production": "started in production", "request_revision": "sent back for changes",
             "withdraw": "withdrawn", "retry": "retried", "start_rest": "started on the rest of its pictures",
             "wait_for_pilot": "held for the pilot"}


def action_words(action: str) -> str:
    """The action as a refusal says it: "it can be submitted only when draft"."""
    return IRREGULAR.get(action, action + ("d" if action.endswith("e") else "ed"))
