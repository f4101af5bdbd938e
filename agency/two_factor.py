"""Two-factor sign-in: an authenticator app (TOTP, RFC 6238) with single-use recovery codes.

The crypto, the replay guard (a code is accepted once: ``TOTPDevice.last_t``) and the storage are
django-otp's; this module holds Loupe's rules: who must use it, how it is set up, confirmed, replaced
and turned off, and what each change does to the person's other sessions. Wrong codes count towards
the login lockout (``agency.views.LoginCodeView``), not towards a second, per-device back-off.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice, default_key

from agency import security_log
from agency.exceptions import InvalidTransition, RuleViolation
from agency.models import ApiToken, User
from agency.permissions import is_studio_user

APP_NAME = "Authenticator app"
CODES_NAME = "Recovery codes"
WRONG_CODE = "That code is wrong, expired or already used. Enter the current code from your app."


def required_for(user: Any) -> bool:
    """Studio staff must use a second factor when the studio requires it (the default outside DEBUG)."""
    return bool(settings.LOUPE_REQUIRE_2FA_FOR_STAFF and is_studio_user(user))


def is_enabled(user: Any) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def missing_for(user: Any) -> bool:
    """Must this person use a second factor and has none yet? (Their API tokens do not work until then.)"""
    return required_for(user) and not is_enabled(user)


def _revoke_tokens(user: User, *, by: User, why: str) -> None:
    """Tokens made before the second factor changed stop working: they were made without it."""
    if ApiToken.objects.filter(user=user).delete()[0]:
        security_log.record(security_log.Kind.TOKEN_REVOKED, actor=by, subject=user, detail=f"every token: {why}")


def recovery_codes_left(user: Any) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def _clean(code: str) -> str:
    return re.sub(r"[\s-]", "", code or "").lower()


def format_code(token: str) -> str:
    return f"{token[:4]}-{token[4:]}"


def new_secret() -> str:
    """A fresh TOTP secret (hex) for a setup in progress; the page keeps it in the session until the
    first code confirms it, so an abandoned setup leaves nothing behind."""
    return default_key()


def setup_device(user: User, secret: str) -> TOTPDevice:
    """The unsaved authenticator for ``secret`` (its QR code and key are shown to the person)."""
    return TOTPDevice(user=user, key=secret, name=APP_NAME, confirmed=False)


def _new_recovery_codes(user: User) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, name=CODES_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    tokens = [StaticToken.random_token() for _ in range(settings.LOUPE_RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=t) for t in tokens])
    return [format_code(t) for t in tokens]


def _end_other_sessions(user: User) -> None:
    """Sessions opened without the second factor end; the caller keeps its own with
    ``update_session_auth_hash``."""
    User.objects.filter(pk=user.pk).update(session_epoch=F("session_epoch") + 1)
    user.refresh_from_db(fields=["session_epoch"])


@transaction.atomic
def confirm(*, user: User, secret: str, code: str) -> tuple[TOTPDevice, list[str]]:
    """Turn two-factor sign-in on with the first code the app shows for ``secret``; returns the device
    and the recovery codes, which are shown once. Other open sessions of the person end."""
    User.objects.select_for_update().get(pk=user.pk)
    if is_enabled(user):
        raise InvalidTransition("Two-factor sign-in is already on. Turn it off first to move to a new app.")
    if not re.fullmatch(r"[0-9a-f]{40}", secret or ""):
        raise RuleViolation("The setup has expired: scan the new QR code and enter its code.", field="code")
    device = setup_device(user, secret)
    if not device.verify_token(_clean(code)):
        raise RuleViolation("That code does not match. Check the time on your phone and enter the code now "
                            "shown for Loupe.", field="code")  # rolls back what django-otp saved
    device.confirmed = True
    device.save()
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    codes = _new_recovery_codes(user)
    _end_other_sessions(user)
    _revoke_tokens(user, by=user, why="two-factor sign-in turned on")
    security_log.record(security_log.Kind.TWO_FACTOR_ON, actor=user)
    return device, codes


def verify(user: Any, code: str) -> Device | None:
    """The device that accepts ``code`` (a six-digit app code, or an unused recovery code, which is
    then spent), or None. Locked rows, so two requests cannot both spend one code."""
    code = _clean(code)
    if not code:
        return None
    with transaction.atomic():
        if len(code) == 6 and code.isdigit():  # an app's code; recovery codes have 8 characters
            devices: Any = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True)
        else:
            devices = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True)
        for device in devices:
            if device.verify_token(code):
                return device
    return None


def _require_code(user: User, code: str) -> Device:
    device = verify(user, code)
    if device is None:
        raise RuleViolation(WRONG_CODE + " A recovery code works too.", field="code")
    return device


@transaction.atomic
def regenerate_codes(*, user: User, code: str) -> list[str]:
    """New recovery codes (the old ones stop working), confirmed with a current code."""
    if not is_enabled(user):
        raise InvalidTransition("Turn two-factor sign-in on first.")
    _require_code(user, code)
    codes = _new_recovery_codes(user)
    security_log.record(security_log.Kind.RECOVERY_CODES, actor=user)
    return codes


@transaction.atomic
def disable(*, user: User, code: str) -> None:
    """Turn two-factor sign-in off with a current code (or a recovery code). Refused where the studio
    requires it for the person's role: move to a new phone by asking an admin to reset it."""
    if not is_enabled(user):
        raise InvalidTransition("Two-factor sign-in is not on.")
    if required_for(user):
        raise InvalidTransition("The studio requires two-factor sign-in for your role, so it cannot be turned off. "
                                "For a new phone, ask an admin to reset it.")
    _require_code(user, code)
    remove_devices(user)
    security_log.record(security_log.Kind.TWO_FACTOR_OFF, actor=user)


def remove_devices(user: User) -> None:
    """Every second factor of ``user`` (app and recovery codes) goes."""
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()


@transaction.atomic
def reset(*, person: User, by: User) -> None:
    """An admin removes a person's second factor (a lost phone and no recovery code left). Their
    sessions end; where the role requires it they set up a new app at their next sign-in."""
    remove_devices(person)
    _end_other_sessions(person)
    _revoke_tokens(person, by=by, why="two-factor sign-in reset by an admin")
    security_log.record(security_log.Kind.TWO_FACTOR_OFF, actor=by, subject=person, detail="reset by an admin")
