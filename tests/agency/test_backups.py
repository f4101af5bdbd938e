"""Backups that are restored (issue 24): ``manage.py backup`` dumps the database consistently with its row counts
and lists every stored object with its SHA-256; ``manage.py restore`` loads the dump into a new, empty database
(PostgreSQL in CI's second pass, a new SQLite file in the first), finds every row and every object again, names
what is missing or changed in storage, and refuses to load over a database that holds anything."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import connection

from agency import backups, uploads
from billing.models import Invoice

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def storage(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """A storage folder of this test's own (the process's shared one holds other tests' files); on
    PostgreSQL, its client tools."""
    if connection.vendor == "postgresql":
        from tests.conftest import require

        require("pg_dump and pg_restore", bool(shutil.which("pg_dump") and shutil.which("pg_restore")),
                switch="LOUPE_REQUIRE_POSTGRES", how="apt-get install -y postgresql-client (the server's major version)")
    media = tmp_path / "media"
    default = settings.STORAGES["default"]
    settings.STORAGES = {**settings.STORAGES, "default": {**default, "OPTIONS": {**default["OPTIONS"],
                                                                                  "location": str(media)}}}
    uploads._backend_for.cache_clear()
    yield media
    uploads._backend_for.cache_clear()


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A new, empty database of the suite's own engine, as a URL; dropped afterwards."""
    if connection.vendor == "sqlite":
        yield f"sqlite:///{tmp_path / 'restored.sqlite3'}"
        return
    import psycopg

    name = f"loupe_restore_{uuid.uuid4().hex[:10]}"
    info = backups._conninfo({**connection.settings_dict, "NAME": "postgres"})
    with psycopg.connect(info, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    settings_dict = connection.settings_dict
    yield (f"postgres://{settings_dict['USER']}@{settings_dict['HOST'] or '127.0.0.1'}:"
           f"{settings_dict['PORT'] or 5432}/{name}")
    with psycopg.connect(info, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read straight from a restored database (not through Django)."""
    import dj_database_url

    parsed = dj_database_url.parse(url)
    if "sqlite" in parsed["ENGINE"]:
        with sqlite3.connect(parsed["NAME"]) as db:
            rows = db.execute(sql).fetchall()
        db.close()
        return rows
    import psycopg

    with psycopg.connect(backups._conninfo(parsed)) as db:
        return db.execute(sql).fetchall()


def _files(media: Path) -> dict[str, str]:
    return {str(p.relative_to(media)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in media.rglob("*") if p.is_file()}


def test_the_demo_backed_up_and_restored_into_a_new_database_has_every_row_and_every_file(storage, empty_database,
                                                                                           tmp_path):
    call_command("seed_demo", stdout=io.StringIO())
    files = _files(storage)
    assert len(files) > 20  # originals, versions, previews, tiles, deliveries, documents
    out = io.StringIO()
    call_command("backup", into=tmp_path / "backups", stdout=out)
    [folder] = (tmp_path / "backups").iterdir()
    assert str(folder) in out.getvalue()
    listed = {e["key"]: e for e in map(json.loads, (folder / backups.OBJECTS).read_text().splitlines())}
    assert {k: e["sha256"] for k, e in listed.items()} == files
    assert all(e["size"] == (storage / k).stat().st_size for k, e in listed.items())
    meta = json.loads((folder / backups.META).read_text())
    assert meta["tables"]["billing_invoice"] == Invoice.objects.count() > 0
    assert meta["tables"]["jobs_orderimage"] > 10

    out = io.StringIO()
    call_command("restore", str(folder), database=empty_database, stdout=out)
    assert "Every row and every stored object is there." in out.getvalue()
    assert f"checked {len(files)} stored objects" in out.getvalue()
    # read back independently of the restore's own check
    for table, rows in meta["tables"].items():
        assert _query(empty_database, f"SELECT count(*) FROM {backups._quoted(table)}") == [(rows,)], table  # noqa: S608
    restored = _query(empty_database, "SELECT number, total, currency FROM billing_invoice ORDER BY id")
    # SQLite hands a raw NUMERIC back as a number (40.00 reads 40): compared as amounts
    assert sorted((n, Decimal(str(t)), c) for n, t, c in restored) == sorted(
        Invoice.objects.values_list("number", "total", "currency"))
    keys = {row[0] for row in _query(empty_database, "SELECT original FROM jobs_orderimage WHERE original <> ''")}
    assert keys and keys <= set(listed)  # the database refers to files the manifest holds


def _small_studio() -> None:
    """A company and a few stored files: enough for the refusals."""
    from clients.models import Client

    Client.objects.create(name="Backup Jewels", billing_email="finance@backup.example")
    for n in range(3):
        default_storage.save(f"clients/backup/file-{n}.bin", ContentFile(bytes([n]) * (1000 + n)))


def test_a_restore_names_every_object_missing_or_changed_since_the_backup(storage, empty_database, tmp_path):
    _small_studio()
    folder = backups.backup(tmp_path)
    (storage / "clients/backup/file-0.bin").unlink()
    (storage / "clients/backup/file-1.bin").write_bytes(b"\x09" * 1001)  # the same size, other bytes
    (storage / "clients/backup/file-3.bin").write_bytes(b"new")  # stored after the backup: not its business
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 objects missing, 1 different"):
        call_command("restore", str(folder), database=empty_database, stdout=out)
    assert "missing from storage: clients/backup/file-0.bin" in out.getvalue()
    assert "different in storage: clients/backup/file-1.bin" in out.getvalue()
    assert "file-2" not in out.getvalue() and "file-3" not in out.getvalue()
    assert "rows differ" not in out.getvalue()  # the database itself came back whole


def test_a_restore_that_finds_fewer_rows_than_the_backup_counted_says_which_table(storage, empty_database, tmp_path):
    _small_studio()
    folder = backups.backup(tmp_path)
    meta = json.loads((folder / backups.META).read_text())
    meta["tables"]["clients_client"] += 1  # as if the dump had lost a company
    (folder / backups.META).write_text(json.dumps(meta))
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 tables differ, 0 objects missing, 0 different"):
        call_command("restore", str(folder), database=empty_database, stdout=out)
    assert "rows differ in clients_client: 2 in the backup, 1 restored" in out.getvalue()


def test_rows_written_while_the_dump_runs_are_neither_dumped_nor_counted(storage, empty_database, tmp_path,
                                                                        monkeypatch):
    """The dump and the row counts read one state, whatever is written meanwhile. PostgreSQL: a row committed
    by another connection while ``pg_dump`` runs (after the snapshot was exported); SQLite: a row written after
    the online backup copied the database, just before the counting (counts are read from the copy)."""
    from clients.models import Client

    _small_studio()

    def write_a_row() -> None:
        Client.objects.create(name="Signed while the dump ran", billing_email="x@example.test")

    if connection.vendor == "postgresql":
        run = backups._run

        def meanwhile(argv: list[str], password: str | None) -> None:
            if argv[0] == "pg_dump":
                write_a_row()
            run(argv, password)

        monkeypatch.setattr(backups, "_run", meanwhile)
    else:
        count = backups._sqlite_counts

        def meanwhile(db: Any) -> dict[str, int]:
            write_a_row()
            return count(db)

        monkeypatch.setattr(backups, "_sqlite_counts", meanwhile)
    folder = backups.backup(tmp_path)
    monkeypatch.undo()
    assert json.loads((folder / backups.META).read_text())["tables"]["clients_client"] == 1
    assert backups.restore(folder, empty_database).whole
    assert _query(empty_database, "SELECT name FROM clients_client") == [("Backup Jewels",)]
    assert Client.objects.count() == 2


def test_a_restore_into_a_database_that_holds_anything_is_refused_and_changes_nothing(storage, empty_database,
                                                                                      tmp_path):
    _small_studio()
    folder = backups.backup(tmp_path)
    backups.restore(folder, empty_database)
    before = _query(empty_database, "SELECT count(*) FROM clients_client")
    with pytest.raises(CommandError, match="is not empty .* nothing is overwritten"):
        call_command("restore", str(folder), database=empty_database, stdout=io.StringIO())
    assert _query(empty_database, "SELECT count(*) FROM clients_client") == before == [(1,)]


def test_a_folder_that_is_not_a_whole_backup_or_of_another_engine_is_refused(storage, tmp_path):
    _small_studio()
    folder = backups.backup(tmp_path)
    other = "postgres://postgres@127.0.0.1:5432/x" if connection.vendor == "sqlite" else f"sqlite:///{tmp_path}/x.db"
    with pytest.raises(backups.BackupError, match=f"backup is of a {connection.vendor} database"):
        backups.restore(folder, other)
    (folder / backups.OBJECTS).unlink()
    with pytest.raises(CommandError, match="not a complete Loupe backup"):
        call_command("restore", str(folder), database=other, stdout=io.StringIO())
    with pytest.raises(CommandError, match="is not a Loupe backup"):
        call_command("restore", str(tmp_path), database=other, stdout=io.StringIO())


def test_a_backup_that_cannot_finish_leaves_no_half_folder(storage, tmp_path, monkeypatch):
    _small_studio()

    def unreadable():
        yield {"key": "clients/backup/file-0.bin", "size": 1000, "sha256": "0" * 64}
        raise OSError("storage went away")

    monkeypatch.setattr(backups, "stored_objects", unreadable)
    with pytest.raises(OSError, match="storage went away"):
        backups.backup(tmp_path / "backups")
    assert list((tmp_path / "backups").iterdir()) == []
