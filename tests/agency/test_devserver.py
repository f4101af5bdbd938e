"""``make run``'s supervisor (``manage.py devserver``) as a newcomer meets it: a busy port is one clear
line, and Ctrl-C, SIGTERM to the process group or closing the terminal stop the web server and the
worker cleanly, with one line each and no process left behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.engine_independent  # the supervisor runs on its own SQLite file either way


def _env(var_dir: Path) -> dict[str, str]:
    """The embedded defaults of ``make run`` in a folder of their own (never the suite's database)."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL", "DJANGO_SETTINGS_MODULE", "LOUPE_BASE_URL"}}
    return {**env, "DJANGO_SETTINGS_MODULE": "agency.settings", "DEBUG": "1", "LOUPE_VAR_DIR": str(var_dir)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _processes_of(var_dir: Path) -> list[int]:
    """Every process started with this LOUPE_VAR_DIR (the supervisor, the server, the cluster's processes)."""
    marker = f"LOUPE_VAR_DIR={var_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _environ(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "environ").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _wait_until(predicate: Any, seconds: float, what: str) -> None:
    """Wait for a condition (never for a time): poll it until it holds or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("devserver")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"], cwd=ROOT,
                   env=_env(folder), check=True, timeout=300)
    return folder


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "sigterm", "hangup"])
def test_a_signal_to_the_group_stops_server_and_worker_with_one_line_each(var_dir, sent):
    port = _free_port()
    # Its own session, as a terminal's foreground job: the signal goes to the whole group, like Ctrl-C.
    run = subprocess.Popen([sys.executable, "manage.py", "devserver", "--port", str(port)], cwd=ROOT,
                           env=_env(var_dir), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(line.decode() for line in run.stdout), daemon=True)
    reader.start()
    try:
        # the moment a newcomer presses Ctrl-C: the banner is on the screen
        _wait_until(lambda: any("Ctrl-C stops" in line for line in lines) or run.poll() is not None, 60, "the banner")
        assert _answers(port), "the web server never answered"
        assert len(_processes_of(var_dir)) >= 3  # supervisor, server, cluster (with its own processes)
        # mailed links lead to the port this serves (an invitation to port 8000 was dead on PORT=8811)
        children = [pid for pid in _processes_of(var_dir) if pid != run.pid]
        assert children and all(f"LOUPE_BASE_URL=http://127.0.0.1:{port}" in _environ(pid) for pid in children)
        os.killpg(run.pid, sent)
        run.wait(timeout=40)
        reader.join(timeout=10)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    text = "".join(lines)
    assert run.returncode == 0, text
    assert f"Loupe is running at http://127.0.0.1:{port}/" in text
    assert text.rstrip().splitlines()[-2:] == ["  worker stopped", "  web server stopped"]
    assert "Traceback" not in text and "RecursionError" not in text and len(text.splitlines()) < 12
    _wait_until(lambda: not _processes_of(var_dir), 5, "every process to end")
    assert not _answers(port)


def test_a_busy_port_is_one_clear_line(var_dir):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "manage.py", "devserver", "--check-port", "--port", str(port)],
                                cwd=ROOT, env=_env(var_dir), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"make run PORT={port + 1}" in result.stderr and "Traceback" not in result.stderr
