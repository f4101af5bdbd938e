"""T1 and T2 of SECURITY.md with a real django-q2 cluster (ORM broker) in another process:
a worker killed mid-preview, and a task that kills its worker every time."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from PIL import Image

from jobs.intake.uploads import upload_complete, uploads_create
from jobs.models import ImageStatus, OrderImage
from tests.factories import ensure_service_catalog

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT, MARGIN = 6, 4  # retry = 10 s: a task whose worker died is handed out again after 10 s


def _database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    return f"sqlite:///{settings['NAME']}"


def start_cluster() -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": _database_url(),
           "LOUPE_TASKS_SYNC": "0", "LOUPE_TASK_TIMEOUT": str(TIMEOUT), "LOUPE_TASK_RETRY_MARGIN": str(MARGIN)}
    return subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def kill(cluster: subprocess.Popen) -> None:
    os.killpg(cluster.pid, signal.SIGKILL)  # the whole cluster, as a machine crash would
    cluster.wait(timeout=10)


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def _image(cast, tmp_path, size=(300, 200)) -> OrderImage:
    path = tmp_path / "ring.png"
    Image.new("RGB", size, (120, 100, 60)).save(path, compress_level=1)
    data = path.read_bytes()
    [(image, target)] = uploads_create(order=cast.acme_order, by=cast.acme_member, files=[{
        "name": "ring.png", "size": len(data), "content_type": "image/png", "sha256": hashlib.sha256(data).hexdigest()}])
    from agency.uploads import get_backend

    backend = get_backend()
    backend.path(image.upload_key).parent.mkdir(parents=True, exist_ok=True)
    backend.path(image.upload_key).write_bytes(data)
    return image


def to_broker(monkeypatch, replace: dict[str, str] | None = None) -> None:
    """Queued tasks go to the broker (the test process itself runs tasks synchronously), optionally
    swapping a task for another."""
    from django_q.tasks import async_task

    def enqueue(func, *args, group):
        async_task((replace or {}).get(func, func), *args, group=group, sync=False)

    monkeypatch.setattr("agency.tasks.enqueue", enqueue)


@pytest.fixture
def enqueue_to_broker(monkeypatch):
    to_broker(monkeypatch)


def test_worker_killed_mid_preview_finishes_after_retry(cast, tmp_path, enqueue_to_broker):
    ensure_service_catalog()
    image = _image(cast, tmp_path, size=(9000, 7000))  # a few seconds of decoding
    upload_complete(image=image, by=cast.acme_member)
    cluster = start_cluster()
    try:
        started = wait_for(lambda: OrderImage.objects.filter(pk=image.pk, attempts=1).exists(), 30)
        assert started, "the worker never picked the task up"
        kill(cluster)
        cluster = start_cluster()
        done = wait_for(lambda: OrderImage.objects.filter(pk=image.pk).exclude(status=ImageStatus.UPLOADING).exists(),
                        TIMEOUT + MARGIN + 30)
        assert done, "the task was not handed out again after its worker died"
    finally:
        kill(cluster)
    image.refresh_from_db()
    assert image.status == ImageStatus.RECEIVED and image.attempts == 2
    prefix = Path(image.thumbnail.path).parent
    assert sorted(p.name for p in prefix.iterdir()) == ["1600.webp", "256.webp"]


def test_a_task_that_kills_its_worker_ends_rejected_after_three_attempts(cast, tmp_path, monkeypatch):
    ensure_service_catalog()
    image = _image(cast, tmp_path)
    to_broker(monkeypatch, {"jobs.tasks.process_image": "tests.integration.poison.claim_then_die"})
    upload_complete(image=image, by=cast.acme_member)
    cluster = start_cluster()
    try:
        # Each attempt is counted before the worker dies; the fourth delivery finds no attempt left.
        done = wait_for(lambda: OrderImage.objects.filter(pk=image.pk, status=ImageStatus.REJECTED).exists(),
                        4 * (TIMEOUT + MARGIN) + 40)
    finally:
        kill(cluster)
    image.refresh_from_db()
    assert done, f"still {image.status} after {image.attempts} attempts"
    assert image.attempts == 3 and image.reason == "the file could not be processed after 3 attempts"
