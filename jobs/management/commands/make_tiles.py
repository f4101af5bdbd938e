"""Queue the deep-zoom tiles of every stored original and version that has none (after an upgrade from a
release without tiles; the worker makes them)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from jobs.intake.tiles import queue_missing


class Command(BaseCommand):
    help = "Queue deep-zoom tiles for stored originals and versions that have none."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--limit", type=int, default=1000, help="At most this many files per run (default 1000).")

    def handle(self, *args: Any, **options: Any) -> None:
        queued = queue_missing(limit=options["limit"])
        self.stdout.write(f"Queued the tiles of {queued} file{'s' if queued != 1 else ''}; the worker makes them.")
