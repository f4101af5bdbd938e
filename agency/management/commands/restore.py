"""``manage.py restore FOLDER --database URL``: load a backup into an empty database, compare every table's row
count with the backup's and check every listed object against the configured storage (``agency.backups``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agency import backups

SHOWN = 20  # objects named one by one; the rest are counted


class Command(BaseCommand):
    help = "Restore a backup into an empty database and check it against storage."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("folder", type=Path, help="A folder made by manage.py backup.")
        parser.add_argument("--database", required=True,
                            help="The empty database to load into, as a URL (postgres://… or sqlite:///…).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = backups.restore(options["folder"], options["database"])
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Restored {report.tables} tables; checked {report.objects} stored objects.")
        for table, expected, found in report.rows_differ:
            self.stdout.write(f"  rows differ in {table}: {expected} in the backup, {found} restored")
        for label, keys in (("missing from storage", report.missing), ("different in storage", report.different)):
            for key in keys[:SHOWN]:
                self.stdout.write(f"  {label}: {key}")
            if len(keys) > SHOWN:
                self.stdout.write(f"  … and {len(keys) - SHOWN} more {label}")
        if not report.whole:
            raise CommandError(f"The restore is not whole: {len(report.rows_differ)} tables differ, "
                               f"{len(report.missing)} objects missing, {len(report.different)} different.")
        self.stdout.write("Every row and every stored object is there.")
