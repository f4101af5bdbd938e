"""What the process-level benchmarks share: a production-like environment (gunicorn on PostgreSQL with
the demo data, optional Redis broker and workers), started and stopped by the bench itself."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEMO_PASSWORD = "loupe-demo-2026"
DEMO_CLIENT = "camille@aurelia.test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(database: str, var_dir: str, **extra: str) -> dict[str, str]:
    """Production settings (DEBUG off, PBKDF2, real hashers) on a throw-away var dir, plain HTTP."""
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "agency.settings", "DEBUG": "0",
            "SECRET_KEY": "bench-only-" + "x" * 45, "ALLOWED_HOSTS": "127.0.0.1", "LOUPE_HTTPS": "0",
            "LOUPE_BASE_URL": "http://127.0.0.1",
            "LOUPE_STATIC_MANIFEST": "0", "LOUPE_VAR_DIR": var_dir, "DATABASE_URL": database,
            "EMAIL_URL": f"file://{var_dir}/mail", "LOUPE_REQUIRE_2FA_FOR_STAFF": "0", "LOUPE_TASKS_SYNC": "1",
            **extra}


def fresh_database(database: str) -> None:
    """Drop and create the bench's own PostgreSQL database (never the one the suite uses)."""
    import psycopg

    name = database.rsplit("/", 1)[1]
    admin = database.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def migrate_and_seed(env: dict[str, str]) -> None:
    """Migrate and seed the demo studio; its task log is shown only if seeding fails."""
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    seeded = subprocess.run([*manage, "seed_demo"], cwd=ROOT, env=env, capture_output=True, text=True)
    if seeded.returncode:
        raise SystemExit(f"seed_demo failed:\n{seeded.stdout[-3000:]}{seeded.stderr[-3000:]}")


def start(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A server process in its own session, so stopping it stops its workers too."""
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def start_gunicorn(env: dict[str, str], workers: int = 2, asgi: bool = False) -> tuple[subprocess.Popen, str]:
    """gunicorn on a free port, answering once it accepts: WSGI, or ASGI with uvicorn workers (README's production)."""
    port = free_port()
    app = ["agency.asgi", "-k", "uvicorn_worker.UvicornWorker", "--timeout", "120"] if asgi else ["agency.wsgi"]
    web = start([str(BIN / "gunicorn"), *app, "-w", str(workers), "-b", f"127.0.0.1:{port}"], env)
    for _ in range(240):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.5)
    return web, f"http://127.0.0.1:{port}"


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def demo_order(url: str, title: str) -> tuple[Any, str, dict[str, Any]]:
    """Sign in as the demo client through the API and create a draft order: (session, token, order)."""
    import requests

    token = requests.post(f"{url}/api/v1/auth/token/", json={"email": DEMO_CLIENT, "password": DEMO_PASSWORD},
                          timeout=60).json()["token"]
    api = requests.Session()
    api.headers["Authorization"] = f"Token {token}"
    guide = api.get(f"{url}/api/v1/style-guides/", timeout=60).json()["results"][0]["id"]
    service = api.get(f"{url}/api/v1/services/", timeout=60).json()["results"][0]["code"]
    order = api.post(f"{url}/api/v1/orders/", timeout=60, json={
        "title": title, "style_guide": guide, "services": [service], "turnaround": "standard"}).json()
    return api, token, order
