"""Backups that are restored (issue 24; README "Backups and restore").

``backup(into)`` writes one folder:

- ``database.dump``: the database as its engine dumps it consistently: PostgreSQL with ``pg_dump`` (custom
  format) inside an exported snapshot, SQLite through its online backup API (a file of the same format);
- ``backup.json``: when, which engine, and every table's row count, counted in the dump's own snapshot (so a
  restore can say whether it has every row, however busy the studio was while the dump ran);
- ``objects.jsonl``: every stored object (originals, versions, previews, tiles, deliveries, documents) with
  its size and SHA-256, listed *after* the dump: an object the dump names was stored before it, and keys are
  never rewritten in place, so every one of them that still exists is listed.

``restore(folder, database_url)`` loads the dump into an empty database (anything else is refused: a restore
overwrites nothing), compares each table's row count with the backup's, and checks every listed object
against the storage configured now (the bucket or folder the restored studio will read), naming each
object that is missing or different. Files are not copied back: they live in storage with versioning
(README), and the check says whether that storage still holds what the database refers to.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.files.storage import default_storage
from django.db import connection

from agency.uploads import get_backend

DUMP, META, OBJECTS = "database.dump", "backup.json", "objects.jsonl"
CHUNK = 1 << 20
FORMAT = 1  # of backup.json; a restore refuses a folder of another format


class BackupError(Exception):
    """A backup or restore that cannot go on, with the reason a person can act on."""


@dataclass
class Restored:
    """What a restore found: the tables whose row count differs from the backup's, and the stored objects
    that are missing or hold other bytes than when the backup listed them."""

    tables: int = 0
    objects: int = 0
    rows_differ: list[tuple[str, int, int]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    different: list[str] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        return not (self.rows_differ or self.missing or self.different)


def _read(key: str) -> tuple[int, str]:
    """(size, SHA-256) of a stored object, read through once."""
    digest, size = hashlib.sha256(), 0
    with default_storage.open(key, "rb") as stored:
        while chunk := stored.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _conninfo(settings_dict: dict[str, Any]) -> str:
    """A libpq connection string for ``pg_dump``, ``pg_restore`` and psycopg (no password on a command line:
    it goes in ``PGPASSWORD``)."""
    from psycopg.conninfo import make_conninfo

    parts = {"dbname": settings_dict["NAME"], "user": settings_dict.get("USER") or None,
             "host": settings_dict.get("HOST") or None, "port": str(settings_dict.get("PORT") or "") or None}
    return make_conninfo(**{k: v for k, v in parts.items() if v})


def _run(argv: list[str], password: str | None) -> None:
    env = {**os.environ, **({"PGPASSWORD": password} if password else {})}
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - pg tools, our argv
    except FileNotFoundError as exc:
        raise BackupError(f"{argv[0]} is not installed (it comes with the PostgreSQL client tools, the same major "
                          "version as the server).") from exc
    if done.returncode:
        raise BackupError(f"{Path(argv[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}")


def _quoted(table: str) -> str:
    """A table name the database itself listed, as an SQL identifier."""
    return '"' + table.replace('"', '""') + '"'


def _pg_counts(cursor: Any) -> dict[str, int]:
    cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    tables = [row[0] for row in cursor.fetchall()]
    counts = {}
    for table in tables:
        cursor.execute(f"SELECT count(*) FROM {_quoted(table)}")  # noqa: S608 - a listed table, quoted
        counts[table] = cursor.fetchone()[0]
    return counts


def _sqlite_counts(db: sqlite3.Connection) -> dict[str, int]:
    tables = [row[0] for row in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {table: db.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0]  # noqa: S608 - quoted
            for table in tables}


def _dump_postgres(path: Path) -> dict[str, int]:
    """``pg_dump`` in a snapshot this connection exports and holds, and the row counts read in it."""
    import psycopg

    settings_dict = connection.settings_dict
    info = _conninfo(settings_dict)
    with psycopg.connect(info, password=settings_dict.get("PASSWORD") or None) as db:
        db.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        db.read_only = True
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
            _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
                  f"--file={path}", f"--dbname={info}"], settings_dict.get("PASSWORD"))
            counts = _pg_counts(cursor)
        db.rollback()
    return counts


def _dump_sqlite(path: Path) -> dict[str, int]:
    connection.ensure_connection()
    with sqlite3.connect(path) as copy:
        connection.connection.backup(copy)
        counts = _sqlite_counts(copy)
    copy.close()
    return counts


def stored_objects() -> Iterator[dict[str, Any]]:
    """Every object in the configured storage, with its size and SHA-256 (read through once)."""
    for key in sorted(get_backend().keys("")):
        try:
            size, sha256 = _read(key)
        except FileNotFoundError:  # deleted while listing
            continue
        yield {"key": key, "size": size, "sha256": sha256}


def backup(into: Path, *, now: datetime | None = None) -> Path:
    """Write a backup folder under ``into``; returns its path."""
    engine = connection.vendor
    if engine not in ("postgresql", "sqlite"):
        raise BackupError(f"Backups are made of PostgreSQL and SQLite databases, not {engine}.")
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    folder = into / f"loupe-{stamp}"
    if folder.exists():
        raise BackupError(f"{folder} exists already; a backup never overwrites another.")
    folder.mkdir(parents=True)
    try:
        counts = _dump_postgres(folder / DUMP) if engine == "postgresql" else _dump_sqlite(folder / DUMP)
        objects = 0
        size = 0
        with (folder / OBJECTS).open("w") as out:
            for entry in stored_objects():
                out.write(json.dumps(entry) + "\n")
                objects += 1
                size += entry["size"]
        (folder / META).write_text(json.dumps({
            "format": FORMAT, "engine": engine, "made_at": (now or datetime.now(UTC)).isoformat(),
            "tables": counts, "objects": objects, "object_bytes": size}, indent=1, sort_keys=True))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # half a backup is no backup
        raise
    return folder


def read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META).read_text())
    except (OSError, ValueError) as exc:
        raise BackupError(f"{folder} is not a Loupe backup (its {META} cannot be read).") from exc
    if meta.get("format") != FORMAT or not (folder / DUMP).is_file() or not (folder / OBJECTS).is_file():
        raise BackupError(f"{folder} is not a complete Loupe backup of format {FORMAT}.")
    return meta


def _restore_postgres(dump: Path, url: dict[str, Any]) -> dict[str, int]:
    import psycopg

    info = _conninfo(url)
    try:
        db = psycopg.connect(info, password=url.get("PASSWORD") or None, autocommit=True)
    except psycopg.OperationalError as exc:
        raise BackupError(f"The database to restore into cannot be reached: {exc}".strip()) from exc
    with db, db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        tables = cursor.fetchone()[0]
        if tables:
            raise BackupError(f"The database {url['NAME']} is not empty ({tables} tables): a restore loads into an "
                              "empty database, so that nothing is overwritten. Create a new one (createdb).")
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--dbname={info}", str(dump)], url.get("PASSWORD"))
        return _pg_counts(cursor)


def _restore_sqlite(dump: Path, url: dict[str, Any]) -> dict[str, int]:
    target = Path(url["NAME"])
    if target.exists() and target.stat().st_size:
        with sqlite3.connect(target) as existing:
            tables = len(_sqlite_counts(existing))
        existing.close()
        if tables:
            raise BackupError(f"{target} is not empty ({tables} tables): a restore loads into an empty database, "
                              "so that nothing is overwritten.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(dump) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
        counts = _sqlite_counts(copy)
    source.close()
    copy.close()
    return counts


def check_objects(folder: Path, report: Restored) -> None:
    """Each listed object against the storage configured now: there, of its size, with its bytes."""
    backend = get_backend()
    with (folder / OBJECTS).open() as listed:
        for line in listed:
            entry = json.loads(line)
            report.objects += 1
            found = backend.stat(entry["key"])
            if found is None:
                report.missing.append(entry["key"])
            elif found.size != entry["size"] or _read(entry["key"])[1] != entry["sha256"]:
                report.different.append(entry["key"])


def restore(folder: Path, database_url: str) -> Restored:
    """Load the backup in ``folder`` into the empty database at ``database_url`` and check it (``Restored``)."""
    meta = read_meta(folder)
    url = dj_database_url.parse(database_url)
    engine = "postgresql" if "postgresql" in url["ENGINE"] else "sqlite" if "sqlite" in url["ENGINE"] else url["ENGINE"]
    if engine != meta["engine"]:
        raise BackupError(f"This backup is of a {meta['engine']} database; it restores into {meta['engine']}, "
                          f"not {engine}.")
    counts = (_restore_postgres if engine == "postgresql" else _restore_sqlite)(folder / DUMP, url)
    report = Restored(tables=len(meta["tables"]))
    for table, rows in sorted(meta["tables"].items()):
        if counts.get(table, -1) != rows:
            report.rows_differ.append((table, rows, counts.get(table, -1)))
    check_objects(folder, report)
    return report
