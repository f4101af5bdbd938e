"""/healthz (database, task broker, storage) and /readyz (database) for monitors and load balancers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_redis

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_healthz_checks_database_broker_and_storage(client):
    response = client.get("/healthz/")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok" and response["Cache-Control"] == "no-store"
    assert {name: check["status"] for name, check in body["checks"].items()} == {
        "database": "ok", "broker": "ok", "storage": "ok"}


def test_a_failing_storage_answers_503_without_saying_where(client, settings, tmp_path):
    from agency import uploads

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(blocker / "media")}}}
    uploads._backend_for.cache_clear()
    try:
        response = client.get("/healthz/")
    finally:
        uploads._backend_for.cache_clear()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing" and body["checks"]["storage"]["status"] == "failing"
    assert body["checks"]["database"]["status"] == "ok" and str(tmp_path) not in response.content.decode()
    assert client.get("/readyz/").status_code == 200  # the load balancer keeps sending traffic


def test_readyz_is_the_database_only(client):
    body = client.get("/readyz/").json()
    assert body["status"] == "ready" and list(body["checks"]) == ["database"]
    assert client.post("/readyz/").status_code == 405


def _broker_check(redis_url: str) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "REDIS_URL": redis_url}
    code = ("import django, json; django.setup(); from agency import health; "
            "print(json.dumps(health.run(['broker'])[1]['broker']['status']))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_redis_broker_is_checked_for_real():
    require_redis()
    assert _broker_check("redis://127.0.0.1:6379/0") == "ok"
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    assert _broker_check(f"redis://127.0.0.1:{closed}/0") == "failing"


def test_the_queue_probe_reports_how_long_a_task_waited():
    import time

    from agency.tasks import queue_probe

    assert 1.0 <= queue_probe(time.time() - 1.0) < 2.0
