"""Strict, typed readers for settings that come from the environment.

Every helper fails loudly with ``ImproperlyConfigured`` on a value it cannot parse, so a typo in
production stops the process at start-up instead of silently falling back to a default. Secrets
also accept a ``NAME_FILE`` variant (Docker/Kubernetes secrets mounted as files).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

_UNSET: Any = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if value is None and file_name:
        try:
            value = Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points at {file_name!r}, which cannot be read") from exc
    return value


def env_str(name: str, default: Any = _UNSET) -> Any:
    value = _raw(name)
    if value is None:
        if default is _UNSET:
            raise ImproperlyConfigured(f"The environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from exc


def env_float(name: str, default: float) -> float:
    value = _raw(name)
    if value is None:
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def email_config(url: str) -> dict[str, Any]:
    """Turn ``EMAIL_URL`` into Django's e-mail settings.

    ``console://`` prints mails, ``file:///path/to/folder`` writes them there (``make run``: ``var/mail/``),
    ``locmem://`` keeps them in memory (tests), ``smtp://user:pass@host:587`` sends with STARTTLS and
    ``smtps://…:465`` with implicit TLS.
    """
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    backends = {
        "console": "django.core.mail.backends.console.EmailBackend",
        "file": "django.core.mail.backends.filebased.EmailBackend",
        "locmem": "django.core.mail.backends.locmem.EmailBackend",
        "smtp": "django.core.mail.backends.smtp.EmailBackend",
        "smtps": "django.core.mail.backends.smtp.EmailBackend",
    }
    if parts.scheme not in backends:
        raise ImproperlyConfigured(f"EMAIL_URL scheme {parts.scheme!r} is not one of {sorted(backends)}")
    config: dict[str, Any] = {"EMAIL_BACKEND": backends[parts.scheme]}
    if parts.scheme == "file":
        if not parts.path.startswith("/"):
            raise ImproperlyConfigured("EMAIL_URL file:// needs an absolute folder, e.g. file:///srv/loupe/mail")
        config["EMAIL_FILE_PATH"] = unquote(parts.path)
    if parts.scheme.startswith("smtp"):
        config.update(
            EMAIL_HOST=parts.hostname or "localhost",
            EMAIL_PORT=parts.port or (465 if parts.scheme == "smtps" else 587),
            EMAIL_HOST_USER=unquote(parts.username or ""),
            EMAIL_HOST_PASSWORD=unquote(parts.password or ""),
            EMAIL_USE_TLS=parts.scheme == "smtp",
            EMAIL_USE_SSL=parts.scheme == "smtps",
        )
    return config


def installation_secret_key(var_dir: Path) -> str:
    """A development key made once per installation and kept in ``var/secret_key`` (mode 600)."""
    import secrets

    path = var_dir / "secret_key"
    try:
        key = path.read_text().strip()
        if len(key) >= 50:
            return key
    except FileNotFoundError:
        pass
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(64)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def env_base_url(name: str, default: Any = _UNSET) -> str:
    """The address people reach the site at, for links in mails: ``http(s)://host[:port]``, no path
    beyond ``/``, no query (every mailed link is this plus a path)."""
    from urllib.parse import urlsplit

    value = env_str(name, default)
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ImproperlyConfigured(f"{name} must be the site's address, like https://loupe.example.com "
                                   f"(got {value!r})")
    return value.rstrip("/")

