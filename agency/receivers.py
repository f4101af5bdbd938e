"""What ``agency`` does when Django, django-axes or its own models say something happened.

Sign-ins happen inside Django's and django-axes' code, so the security log hears about them through
their signals; an edit of the business calendar drops this process's cached copy. Listed in
docs/architecture.md's "What else happens when…" table, which ``tests/test_architecture.py`` holds to
what is connected.
"""

from __future__ import annotations

from typing import Any


def log_sign_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Every sign-in is a line in the security log, saying how (password, authenticator, recovery code)."""
    from agency.security_log import Kind, record

    device = getattr(user, "otp_device", None)
    how = {"totpdevice": "with password and authenticator code",
           "staticdevice": "with password and a recovery code"}.get(
        device._meta.model_name if device is not None else "", "with password")
    record(Kind.SIGN_IN, actor=user, detail=how, request=request)


def log_failed_sign_in(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    """Every failed sign-in (wrong password, unknown address, wrong code) is a line in the security log."""
    from agency.auth import axes_username
    from agency.security_log import Kind, person_of, record

    email = axes_username(request, credentials)
    detail = credentials.get("loupe_reason") or "wrong password or unknown address"
    record(Kind.SIGN_IN_FAILED, subject=person_of(email), email=email, detail=detail, request=request)


def count_failed_address(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    """Every failed sign-in counts against its address too (throttled far above one person's limit)."""
    from agency.auth import count_failed_sign_in

    count_failed_sign_in(request)


def log_lockout(sender: Any, request: Any = None, username: str | None = None, **kwargs: Any) -> None:
    """A lockout after repeated failures is a line in the security log."""
    from django.conf import settings

    from agency.security_log import Kind, person_of, record

    email = (username or "").lower()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    record(Kind.LOCKED_OUT, subject=person_of(email), email=email, request=request,
           detail=f"sign-in refused for {minutes} minutes after repeated failures")


def forget_calendar(**kwargs: Any) -> None:
    """Saving or deleting the calendar or a closure drops this process's cached calendar at once."""
    from agency.calendar import forget_studio_calendar

    forget_studio_calendar()


def connect() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_login_failed
    from django.db.models.signals import post_delete, post_save

    from agency.models import BusinessCalendar, Closure

    for model in (BusinessCalendar, Closure):
        post_save.connect(forget_calendar, sender=model, dispatch_uid=f"calendar-save-{model.__name__}")
        post_delete.connect(forget_calendar, sender=model, dispatch_uid=f"calendar-delete-{model.__name__}")
    user_logged_in.connect(log_sign_in, dispatch_uid="security-log-sign-in")
    user_login_failed.connect(log_failed_sign_in, dispatch_uid="security-log-sign-in-failed")
    user_login_failed.connect(count_failed_address, dispatch_uid="login-address-throttle")
    user_locked_out.connect(log_lockout, dispatch_uid="security-log-locked-out")
