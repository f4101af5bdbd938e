"""Settings: the deploy check with production variables (C1), strict environment, the engine in use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from agency import env

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "agency.settings",
    "SECRET_KEY": "prod-" + "k3y-material-" * 5,
    "DEBUG": "0",
    "ALLOWED_HOSTS": "loupe.example.com",
    "LOUPE_BASE_URL": "https://loupe.example.com",
    "DATABASE_URL": "postgres://loupe:secret@db.internal:5432/loupe",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "LOUPE_STORAGE": "s3",
    "LOUPE_S3_BUCKET": "loupe-files",
    "EMAIL_URL": "smtp://mailer:pw@smtp.example.com:587",
    "PATH": os.environ.get("PATH", ""),
}


def _manage(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**PRODUCTION_ENV, **(extra_env or {})},
                          capture_output=True, text=True, timeout=120)


def test_deploy_check_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_secret_key_is_required_when_debug_is_off():
    env_without_key = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env_without_key,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


@pytest.mark.parametrize("value, error", [
    (None, "LOUPE_BASE_URL is required"),
    ("loupe.example.com", "LOUPE_BASE_URL must be the site's address"),
    ("https://loupe.example.com/app?x=1", "LOUPE_BASE_URL must be the site's address"),
])
def test_production_needs_the_address_mails_link_to(value, error):
    """Every mailed link (invitation, password reset, notification) is this address plus a path."""
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "LOUPE_BASE_URL"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT,
                            env={**env, **({"LOUPE_BASE_URL": value} if value else {})},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and error in result.stderr


def test_production_cookies_and_headers_are_strict():
    result = _manage("shell", "-c", (
        "from django.conf import settings as s; print(s.SESSION_COOKIE_NAME, s.CSRF_COOKIE_NAME, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, s.SECURE_SSL_REDIRECT, "
        "s.Q_CLUSTER.get('redis'), s.STORAGES['default']['OPTIONS']['default_acl'], s.DEBUG)"
    ))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "__Host-sessionid", "__Host-csrftoken", "True", "True", "31536000", "True", "redis://cache.internal:6379/0",
        "private", "False",
    ]


@pytest.mark.parametrize("value,expected", [("1", True), ("yes", True), ("off", False), ("0", False)])
def test_env_bool_parses(monkeypatch, value, expected):
    monkeypatch.setenv("LOUPE_X", value)
    assert env.env_bool("LOUPE_X", not expected) is expected


def test_env_helpers_refuse_garbage(monkeypatch):
    monkeypatch.setenv("LOUPE_X", "maybe")
    with pytest.raises(ImproperlyConfigured, match="not a boolean"):
        env.env_bool("LOUPE_X", False)
    monkeypatch.setenv("LOUPE_N", "ten")
    with pytest.raises(ImproperlyConfigured, match="not an integer"):
        env.env_int("LOUPE_N", 1)


def test_secret_from_file(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    monkeypatch.delenv("LOUPE_SECRET", raising=False)
    monkeypatch.setenv("LOUPE_SECRET_FILE", str(secret))
    assert env.env_str("LOUPE_SECRET") == "from-a-file"


def test_task_queue_invariants():
    """T6: retry > timeout + 30 s, a timeout, bounded attempts, one worker on SQLite."""
    q = settings.Q_CLUSTER
    assert q["timeout"] and q["retry"] > q["timeout"] + 30
    assert 1 <= q["max_attempts"] <= 5
    if connection.vendor == "sqlite":
        assert q["workers"] == 1


def test_database_is_the_one_asked_for():
    """The PostgreSQL CI run must not silently fall back to SQLite."""
    if os.environ.get("LOUPE_REQUIRE_POSTGRES") == "1":
        assert connection.vendor == "postgresql", f"LOUPE_REQUIRE_POSTGRES=1 but the suite runs on {connection.vendor}"
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        assert connection.vendor == "postgresql"


@pytest.mark.django_db
def test_sqlite_runs_in_immediate_mode():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite-only setting; this run is on PostgreSQL")
    assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
