"""Writing many rows fast, for ``manage.py seed_scale`` and the benchmarks: PostgreSQL's ``COPY`` where the
database is PostgreSQL, batched ``INSERT`` on SQLite. Rows are tuples in the order of the fields named; every
other column takes its field's default (computed once per table, so whatever must differ per row, a primary
key or a unique value, is named and given). No model method, signal or validation runs: the caller writes
rows that are already consistent, and the database's constraints still check them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone

BATCH = 20_000


class Tables:
    """Tables written together, parents first: when one table's buffer is full every table is flushed in the
    order they were made, so a row never reaches the database before the rows it points to (PostgreSQL checks
    each batch's foreign keys as it is written under ``SET CONSTRAINTS ALL IMMEDIATE``)."""

    def __init__(self) -> None:
        self.tables: list[Table] = []

    def table(self, model: type[models.Model], *names: str) -> Table:
        table = Table(model, names, group=self)
        self.tables.append(table)
        return table

    def flush(self) -> None:
        for table in self.tables:
            table.flush()

    @property
    def models(self) -> list[type[models.Model]]:
        return list(dict.fromkeys(table.model for table in self.tables))


class Table:
    """Rows for one model's table; ``add`` buffers, ``flush`` writes (``add`` flushes every ``BATCH`` rows, with
    the rest of its group first when it has one)."""

    def __init__(self, model: type[models.Model], names: Sequence[str], group: Tables | None = None) -> None:
        self.model, self.group = model, group
        by_name = {field.name: field for field in model._meta.concrete_fields}
        missing = [name for name in names if name not in by_name]
        if missing:
            raise ValueError(f"{model.__name__} has no column {', '.join(missing)}")
        given = [by_name[name] for name in names]
        rest = [field for field in model._meta.concrete_fields if field.name not in names
                and not (field.primary_key and isinstance(field, models.AutoField))]
        self.fields = given + rest
        self.defaults = tuple(_default(field) for field in rest)
        self.rows: list[tuple[Any, ...]] = []
        self.written = 0
        self.postgres = connection.vendor == "postgresql"
        self.json = [index for index, field in enumerate(self.fields) if isinstance(field, models.JSONField)]

    def add(self, *values: Any) -> None:
        self.rows.append(values + self.defaults)
        if len(self.rows) >= BATCH:
            (self.group or self).flush()

    def extend(self, rows: Iterable[tuple[Any, ...]]) -> None:
        for row in rows:
            self.add(*row)

    def flush(self) -> None:
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(field.column) for field in self.fields)
        with connection.cursor() as cursor:
            if self.postgres:
                self._copy(cursor, table, columns, rows)
            else:
                prepared = [tuple(field.get_db_prep_save(value, connection)
                                  for field, value in zip(self.fields, row, strict=True)) for row in rows]
                marks = ", ".join(["%s"] * len(self.fields))
                # the table and its columns come from the model's metadata, never from input
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", prepared)  # noqa: S608
        self.written += len(rows)

    def _copy(self, cursor: Any, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        from psycopg.types.json import Jsonb

        raw = cursor.cursor  # Django's wrapper around the psycopg cursor
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            if self.json:
                for row in rows:
                    values = list(row)
                    for index in self.json:
                        values[index] = Jsonb(values[index])
                    copy.write_row(values)
            else:
                for row in rows:
                    copy.write_row(row)


def _default(field: models.Field) -> Any:
    if isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
        return timezone.now()
    if isinstance(field, models.ForeignKey):
        return None
    value = field.get_default()
    if isinstance(value, dt.datetime) and timezone.is_naive(value):
        return timezone.make_aware(value, dt.UTC)
    return value


def analyze(models_: Iterable[type[models.Model]]) -> None:
    """Fresh planner statistics after a large load (PostgreSQL; SQLite's planner reads none by default)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models_:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
