"""An order's stored facts: how many of its pictures are accepted, approved, ready, delivered, to schedule, waiting
for the pilot or in it, and how many of its revision rounds await a client admin. The order lists' "whose move is
it" (``jobs.next_step``) reads them, so a list of 100,000 orders never groups millions of pictures (issue 24,
bench/scale.py).

They are kept by the database itself: triggers on the pictures and rounds tables (PostgreSQL and SQLite alike) add
and take away each row's share whenever a row is written, moved or deleted, whatever wrote it (a state table's move
or claim, a bulk update, the admin, a test's factory). ``Order.save`` never writes them back from a stale instance.
``refresh`` recomputes them from the rows (after a bulk load with the triggers off, and as the reference the tests
hold the triggers to)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection

from jobs.models import NOT_ACCEPTED, ImageStatus, RoundStatus


def _quoted(values: Iterable[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def _in(row: str, *states: str) -> str:
    return f"{row}.status IN ({_quoted(states)})"


# Each fact: the table it counts and the condition on a row ("{row}" is NEW, OLD or the table's alias).
PICTURE_FACTS: dict[str, Callable[[str], str]] = {
    "image_count": lambda row: f"{row}.status NOT IN ({_quoted(NOT_ACCEPTED)})",
    "approved_count": lambda row: _in(row, ImageStatus.APPROVED),
    "ready_count": lambda row: _in(row, ImageStatus.READY),
    "delivered_count": lambda row: _in(row, ImageStatus.DELIVERED),
    "to_schedule_count": lambda row: _in(row, ImageStatus.RECEIVED),
    "waiting_count": lambda row: _in(row, ImageStatus.WAITING_PILOT),
    "pilot_count": lambda row: f"{row}.in_pilot",
    "pilot_approved_count": lambda row: f"({row}.in_pilot AND {_in(row, ImageStatus.APPROVED)})",
}
ROUND_FACTS: dict[str, Callable[[str], str]] = {
    "awaiting_rounds": lambda row: _in(row, RoundStatus.AWAITING_CONFIRMATION),
}
FACTS = (*PICTURE_FACTS, *ROUND_FACTS)
TABLES = {"jobs_orderimage": PICTURE_FACTS, "jobs_revisionround": ROUND_FACTS}
WATCHED = {"jobs_orderimage": "status, in_pilot, order_id", "jobs_revisionround": "status, order_id"}


def _one(condition: str) -> str:
    return f"(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _change(facts: dict[str, Callable[[str], str]], row: str, sign: str) -> str:
    sets = ", ".join(f"{name} = {name} {sign} {_one(fact(row))}" for name, fact in facts.items())
    return f"UPDATE jobs_order SET {sets} WHERE id = {row}.order_id;"  # noqa: S608 (no input: names and constants)


def trigger_sql(vendor: str) -> list[str]:
    """The statements that (re)create the triggers on ``vendor``'s database."""
    statements = drop_sql(vendor)
    for table, facts in TABLES.items():
        if vendor == "postgresql":
            statements.append(f"""
CREATE FUNCTION {table}_facts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN {_change(facts, 'OLD', '-')} END IF;
  IF TG_OP <> 'DELETE' THEN {_change(facts, 'NEW', '+')} END IF;
  RETURN NULL;
END $$""")
            statements.append(f"CREATE TRIGGER {table}_facts AFTER INSERT OR DELETE OR UPDATE OF {WATCHED[table]} "
                              f"ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_facts()")
        else:
            statements += [
                f"CREATE TRIGGER {table}_facts_insert AFTER INSERT ON {table} BEGIN {_change(facts, 'NEW', '+')} END",
                f"CREATE TRIGGER {table}_facts_delete AFTER DELETE ON {table} BEGIN {_change(facts, 'OLD', '-')} END",
                f"CREATE TRIGGER {table}_facts_update AFTER UPDATE OF {WATCHED[table]} ON {table} BEGIN "
                f"{_change(facts, 'OLD', '-')} {_change(facts, 'NEW', '+')} END",
            ]
    return statements


def drop_sql(vendor: str) -> list[str]:
    if vendor == "postgresql":
        return [f"DROP FUNCTION IF EXISTS {table}_facts() CASCADE" for table in TABLES]
    return [f"DROP TRIGGER IF EXISTS {table}_facts_{when}" for table in TABLES for when in ("insert", "delete", "update")]


def refresh_sql(where: str = "") -> str:
    """One UPDATE that recomputes every fact of the orders ``where`` selects (all without it) from their rows: one
    subquery per table, its sums assigned together (a row value, on both engines)."""
    sets = []
    for table, facts in TABLES.items():
        names = ", ".join(facts)
        sums = ", ".join(f"COALESCE(SUM({_one(fact('r'))}), 0)" for fact in facts.values())
        target = f"({names})" if len(facts) > 1 else names
        sets.append(f"{target} = (SELECT {sums} FROM {table} r WHERE r.order_id = jobs_order.id)")  # noqa: S608
    return f"UPDATE jobs_order SET {', '.join(sets)}" + (f" WHERE {where}" if where else "")  # noqa: S608


def refresh(order_ids: Iterable[Any] | None = None) -> None:
    """Recompute the facts of these orders (all orders without ids) from their pictures and rounds."""
    with connection.cursor() as cursor:
        if order_ids is None:
            cursor.execute(refresh_sql())
            return
        ids = [str(pk) if connection.vendor == "postgresql" else getattr(pk, "hex", str(pk).replace("-", ""))
               for pk in order_ids]
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(refresh_sql(f"id IN ({marks})"), chunk)


def install(schema_editor: Any) -> None:
    for statement in trigger_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement)


def uninstall(schema_editor: Any) -> None:
    for statement in drop_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement)
