"""The production topology of the README, run for real on this machine (issue 10): PostgreSQL, Redis as
the django-q2 broker, the S3 API (moto over HTTP), gunicorn with 2 uvicorn (ASGI) workers and 2 ``qcluster``
processes, each started here with the production settings module and stopped after. One order goes
through it: 20 images uploaded straight to the bucket, previews made by both clusters, one cluster
killed with SIGKILL half-way, every image still received and none processed twice, each announced by the cluster
that received it to the client's order page open on a web process (its event stream, through Redis), then quote
and acceptance. The commands are the README's production commands."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connection
from PIL import Image

from agency.models import User
from jobs.models import ImageStatus, OrderImage, OrderStatus
from tests.conftest import require_postgres, require_redis
from tests.factories import PASSWORD, default_price_list
from tests.integration.conftest import BUCKET, REGION, _free_port

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REDIS_DB = 11  # a database of its own on the shared Redis, emptied first


@pytest.fixture(autouse=True)
def _services() -> None:
    require_postgres()
    require_redis()


def _env(s3_server: str, var_dir: Path) -> dict[str, str]:
    db = connection.settings_dict
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root"),
        "DJANGO_SETTINGS_MODULE": "agency.settings", "DEBUG": "0", "SECRET_KEY": "topology-" + "k" * 56,
        "ALLOWED_HOSTS": "127.0.0.1", "LOUPE_HTTPS": "0",
        "LOUPE_BASE_URL": "http://127.0.0.1", "LOUPE_STATIC_MANIFEST": "0", "LOUPE_VAR_DIR": str(var_dir),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "LOUPE_STORAGE": "s3", "LOUPE_S3_BUCKET": BUCKET, "LOUPE_S3_REGION": REGION, "LOUPE_S3_ENDPOINT_URL": s3_server,
        "LOUPE_S3_ADDRESSING_STYLE": "path", "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "EMAIL_URL": f"file://{var_dir / 'mail'}", "LOUPE_TASK_WORKERS": "1", "LOUPE_REQUIRE_2FA_FOR_STAFF": "0",
        "OMP_NUM_THREADS": "1",
    }


def _wait(predicate: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture
def topology(s3_server: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    env = _env(s3_server, tmp_path)
    port = _free_port()
    started = {"env": env, "url": f"http://127.0.0.1:{port}"}
    # The README's production commands:
    web = subprocess.Popen([str(BIN / "gunicorn"), "agency.asgi", "-k", "uvicorn_worker.UvicornWorker", "-w", "2",
                            "-b", f"127.0.0.1:{port}"], cwd=ROOT,
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    clusters = [subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True) for _ in range(2)]
    started.update(web=web, clusters=clusters)
    try:
        def ready() -> bool:
            try:  # booting workers may accept and answer late on a loaded machine
                return requests.get(f"{started['url']}/readyz/", timeout=10).status_code == 200
            except requests.RequestException:
                return False

        _wait(ready, 180, "gunicorn to answer /readyz/")
        yield started
    finally:
        for process in [web, *clusters]:
            _stop(process)


def _jpeg(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1800, 1350), (150 + i, 120, 60)).save(out, "JPEG", quality=90)
    return out.getvalue()


def _listen(base: str, email: str, topic: str, heard: list[dict[str, Any]], stop: threading.Event) -> None:
    """A browser's live page: signs in with the form, opens ``topic``'s event stream and keeps what it hears."""
    session = requests.Session()
    form = session.get(f"{base}/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    signed = session.post(f"{base}/login/", data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": csrf},
                          allow_redirects=False, timeout=30)
    assert signed.status_code == 302, signed.text[:300]
    with session.get(f"{base}/events/?topic={topic}", stream=True, timeout=(10, 60)) as stream:
        heard.append({"status": stream.status_code, "type": stream.headers.get("Content-Type")})
        for line in stream.iter_lines(decode_unicode=True):
            if stop.is_set():
                return
            if line and line.startswith("data: "):
                heard.append(json.loads(line[len("data: "):]))


def _api(base: str, token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    session.base = base  # type: ignore[attr-defined]
    return session


def _token(base: str, email: str) -> str:
    answer = requests.post(f"{base}/api/v1/auth/token/", json={"email": email, "password": PASSWORD}, timeout=30)
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


def test_an_order_goes_through_gunicorn_two_clusters_redis_and_s3_surviving_a_killed_cluster(cast, topology):
    base, env = topology["url"], topology["env"]
    default_price_list()
    # The suite hashes passwords with MD5 for speed; the production settings know only real hashers.
    User.objects.filter(pk__in=[cast.acme_admin.pk, cast.account_manager.pk]).update(
        password=PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt()))
    health = requests.get(f"{base}/healthz/", timeout=30).json()
    assert {k: v["status"] for k, v in health["checks"].items()} == {"database": "ok", "broker": "ok", "storage": "ok"}

    client = _api(base, _token(base, cast.acme_admin.email))
    order = client.post(f"{base}/api/v1/orders/", json={"title": "Topology rings", "style_guide": str(cast.acme_guide.pk),
                                                        "services": ["colour-correction"], "turnaround": "standard"},
                        timeout=30).json()
    # a client's order page, open on one web process: what the clusters do reaches it through Redis
    heard: list[dict[str, Any]] = []
    stop = threading.Event()
    listener = threading.Thread(target=_listen, args=(base, cast.acme_admin.email, f"order:{order['id']}", heard, stop),
                                daemon=True)
    listener.start()
    _wait(lambda: heard, 60, "the order page's event stream to open")
    assert heard[0] == {"status": 200, "type": "text/event-stream"}
    files = [_jpeg(i) for i in range(20)]
    declared = client.post(f"{base}/api/v1/orders/{order['id']}/uploads/", timeout=30, json={"files": [
        {"name": f"ring-{i:02d}.jpg", "size": len(data), "content_type": "image/jpeg",
         "sha256": hashlib.sha256(data).hexdigest()} for i, data in enumerate(files)]})
    assert declared.status_code == 201, declared.text
    for entry, data in zip(declared.json()["images"], files, strict=True):
        target = entry["upload"]
        assert target["url"].startswith(env["LOUPE_S3_ENDPOINT_URL"])  # straight to the bucket
        assert requests.put(target["url"], data=data, headers=target["headers"], timeout=60).status_code == 200
        done = client.post(urljoin(base, target["complete_url"]), json={}, timeout=30)
        assert done.status_code in (200, 202), done.text

    images = OrderImage.objects.filter(order_id=order["id"])

    def received() -> int:
        return images.filter(status=ImageStatus.RECEIVED).count()

    _wait(lambda: received() >= 3, 120, "the first previews")
    os.killpg(topology["clusters"][0].pid, signal.SIGKILL)  # a machine crash, mid-way
    topology["clusters"][0].wait(timeout=10)
    at_kill = received()
    assert at_kill < 20, "the kill came too late to interrupt anything"

    # The survivor finishes what reached it; what the dead cluster held (claimed or prefetched) waits for
    # the sweeper, run here as its schedule would run it 15 minutes later.
    def settled() -> bool:
        before = received()
        time.sleep(3)
        return received() == before

    _wait(settled, 180, "the surviving cluster to finish its queue")
    left_by_the_dead = 20 - received()
    print(f"received when killed: {at_kill}; left by the killed cluster: {left_by_the_dead}")

    def sweep() -> None:
        swept = subprocess.run([sys.executable, "manage.py", "shell", "-c",
                                "from jobs.intake import uploads; print(uploads.sweep_stuck_images(stuck_after_minutes=0))"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert swept.returncode == 0, swept.stderr

    # Sweep, then give the survivor time; if it stalls short of 20 (a task of the dead cluster surfaced
    # late), sweep again, as the schedule would every 10 minutes.
    deadline = time.monotonic() + 300
    while received() < 20 and time.monotonic() < deadline:
        sweep()
        for _ in range(40):  # up to two minutes for the survivor to settle
            if settled():
                break
    if received() < 20:
        states = list(images.values_list("filename", "status", "attempts", "reason"))
        pytest.fail(f"only {received()} of 20 received: {states}")
    assert not images.exclude(status=ImageStatus.RECEIVED).exists()
    attempts = sorted(images.values_list("attempts", flat=True))
    assert attempts[0] >= 1 and attempts[-1] <= 2, attempts  # none twice beyond the one the crash interrupted
    assert sum(a == 2 for a in attempts) <= 1, attempts  # one worker per cluster: at most one image was in hand
    assert len(set(images.values_list("thumbnail", flat=True))) == 20
    # the images the clusters received were announced on the open page (ids and kinds only), from another process
    ids = {str(pk) for pk in images.values_list("pk", flat=True)}
    _wait(lambda: {m["ref"] for m in heard[1:] if m.get("kind") == "image.received"} == ids, 60,
          "the stream to hear of every received image")
    assert all(set(m) == {"topic", "kind", "ref"} and m["topic"] == f"order:{order['id']}" for m in heard[1:])
    stop.set()

    submitted = client.post(f"{base}/api/v1/orders/{order['id']}/submit/", json={}, timeout=30)
    assert submitted.status_code == 200, submitted.text
    manager = _api(base, _token(base, cast.account_manager.email))
    quote = manager.post(f"{base}/api/v1/orders/{order['id']}/quote/", json={}, timeout=30)
    assert quote.status_code in (200, 201), quote.text
    sent = manager.post(f"{base}/api/v1/quotes/{quote.json()['id']}/send/", json={"valid_days": 14}, timeout=30)
    assert sent.status_code == 200, sent.text
    accepted = client.post(f"{base}/api/v1/quotes/{quote.json()['id']}/accept/", json={}, timeout=30)
    assert accepted.status_code == 200, accepted.text
    assert client.get(f"{base}/api/v1/orders/{order['id']}/", timeout=30).json()["status"] == OrderStatus.IN_PRODUCTION
