"""``manage.py devserver``: the web server and the task worker together, for ``make run``.

Each child runs in its own session, so a signal sent to the terminal's process group (Ctrl-C, closing
the terminal, ``kill -TERM -<pgid>``) reaches only this supervisor, which stops the children in order:
django-q2's cluster gets one SIGTERM and shuts its own processes down (a signal to every process of the
cluster at once is what made it recurse and crash). The children's output goes to ``var/log/``, so the
terminal shows only Loupe's own lines.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agency.management.commands.seed_demo import DEMO_PASSWORD, demo_logins
from agency.models import User

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 15


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Run the web server and the task worker; Ctrl-C, SIGTERM or closing the terminal stops both."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--check-port", action="store_true", help="Only check that the port is free.")

    def handle(self, *args: Any, host: str, port: int, check_port: bool, **options: Any) -> None:
        if port_in_use(host, port):
            raise CommandError(f"Port {port} on {host} is already in use (is Loupe already running?). "
                               f"Start on another port with: make run PORT={port + 1}")
        if check_port:
            return
        # Links in mails (invitations, resets, notifications) lead to the address this serves, unless
        # LOUPE_BASE_URL names another (a tunnel, a proxy); the children read it when they start.
        os.environ.setdefault("LOUPE_BASE_URL", f"http://{host}:{port}")
        logs = Path(settings.VAR_DIR) / "log"
        logs.mkdir(parents=True, exist_ok=True)
        stop: list[int] = []
        for number in STOP_SIGNALS:
            signal.signal(number, lambda received, _frame: stop.append(received))
        manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
        children = {
            "web server": self._start([*manage, "runserver", "--noreload", f"{host}:{port}"], logs / "web.log"),
            "worker": self._start([*manage, "qcluster"], logs / "worker.log"),
        }
        try:
            failed = self._wait_until_up(host, port, children, stop)
            if failed:
                self._say(f"The {failed} did not start; see {logs / failed.replace(' server', '')}.log")
            elif not stop:
                self._banner(host, port, logs)
                while not stop and all(child.poll() is None for child in children.values()):
                    time.sleep(0.3)
                for name, child in children.items():
                    if child.poll() is not None and not stop:
                        self._say(f"The {name} ended unexpectedly; see {logs}/.")
        finally:
            for number in STOP_SIGNALS:
                signal.signal(number, signal.SIG_IGN)
            for name, child in reversed(children.items()):
                self._stop(name, child)
        if not stop:
            sys.exit(1)

    def _start(self, command: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,  # noqa: S603 - our manage.py
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=settings.BASE_DIR, env=env)

    def _wait_until_up(self, host: str, port: int, children: dict[str, Any], stop: list[int]) -> str:
        deadline = time.monotonic() + 60
        while not stop and time.monotonic() < deadline:
            for name, child in children.items():
                if child.poll() is not None:
                    return name
            if answers(host, port):
                return ""
            time.sleep(0.2)
        return "" if stop else "web server"

    def _banner(self, host: str, port: int, logs: Path) -> None:
        lines = ["", f"  Loupe is running at http://{host}:{port}/", ""]
        if User.objects.filter(email="admin@loupe.test").exists():
            lines += [f"  Demo logins (password for all: {DEMO_PASSWORD}):", *demo_logins(), ""]
        mail = settings.EMAIL_FILE_PATH if hasattr(settings, "EMAIL_FILE_PATH") else None
        lines.append(f"  Logs: {logs}/" + (f"   Mails: {mail}/" if mail else ""))
        lines += ["  Ctrl-C stops the web server and the worker.", ""]
        self._say("\n".join(lines))

    def _stop(self, name: str, child: subprocess.Popen[bytes]) -> None:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        try:  # the worker's own processes share its session: none may outlive it
            os.killpg(child.pid, signal.SIGKILL)
        except OSError:
            pass
        self._say(f"  {name} stopped")

    def _say(self, text: str) -> None:
        try:
            self.stdout.write(text)
            self.stdout.flush()
        except OSError:  # the terminal is gone (SIGHUP): stopping must still finish
            pass
