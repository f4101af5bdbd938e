"""``manage.py backup [--into DIR]``: a consistent dump of the database, its row counts and a manifest of every
stored object with its size and SHA-256 (``agency.backups``; README "Backups and restore")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agency import backups


class Command(BaseCommand):
    help = "Back up the database and list every stored object with its checksum."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--into", type=Path, default=Path(settings.VAR_DIR) / "backups",
                            help="Folder the backup folder is made in (default: var/backups).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            folder = backups.backup(options["into"])
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from exc
        meta = backups.read_meta(folder)
        rows = sum(meta["tables"].values())
        self.stdout.write(f"Backed up {meta['engine']}: {len(meta['tables'])} tables, {rows} rows; "
                          f"{meta['objects']} stored objects ({meta['object_bytes']} bytes) listed with their "
                          f"SHA-256.\n{folder}")
