"""Trigram indexes for the order search (``jobs.selectors.search_condition``) on PostgreSQL: each searched text as
Django's ``icontains`` compares it (``UPPER(col::text) LIKE UPPER('%…%')``), so a substring search reads an index, not
the table. SQLite has no trigram indexes; its search stays a plain scan (nothing to do there)."""

from django.db import migrations

INDEXES = [
    ("jobs_order", "number"), ("jobs_order", "title"), ("jobs_order", "po_number"),
    ("jobs_orderimage", "filename"), ("jobs_orderimage", "sku"),
]


def _name(table: str, column: str) -> str:
    return f"{table.removeprefix('jobs_')}_{column}_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, column in INDEXES:
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{_name(table, column)}" ON "{table}" '
                              f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)')


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table, column in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{_name(table, column)}"')


class Migration(migrations.Migration):
    dependencies = [("jobs", "0018_pilot_batches")]

    operations = [migrations.RunPython(create, drop)]
