"""Writes on studio-wide objects: a user's own profile and API tokens."""

from __future__ import annotations

from django.db import transaction

from agency import security_log
from agency.exceptions import RuleViolation
from agency.models import ApiToken, User


@transaction.atomic
def user_update_profile(*, user: User, full_name: str, time_zone: str) -> User:
    """Change one's display name and display time zone (empty = the company's or studio's zone)."""
    user.full_name = full_name
    user.time_zone = time_zone
    user.full_clean(exclude=["password"])
    user.save(update_fields=["full_name", "time_zone"])
    return user


@transaction.atomic
def token_issue(*, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Issue an API token for a script that signed in with e-mail and password (and its second factor);
    the clear key is returned once and never stored."""
    token, key = ApiToken.issue(user, name=name)
    security_log.record(security_log.Kind.TOKEN_CREATED, actor=user, detail=f"{token.prefix}… from e-mail and password")
    return token, key


MAX_TOKENS = 20


@transaction.atomic
def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A named personal token for scripts and integrations (the key is shown once). It expires after
    ``LOUPE_API_TOKEN_DAYS`` and dies with a password change, a removed seat or a deactivated company."""
    name = " ".join(name.split())
    if not name:
        raise RuleViolation("Name the token after what will use it, e.g. \"PIM sync\".", field="name")
    if len(name) > 100:
        raise RuleViolation("A token's name has at most 100 characters.", field="name")
    User.objects.select_for_update().get(pk=user.pk)
    if ApiToken.objects.live().filter(user=user).count() >= MAX_TOKENS:
        raise RuleViolation(f"You have {MAX_TOKENS} live tokens; revoke one you no longer use first.", field="name")
    token, key = ApiToken.issue(user, name=name)
    security_log.record(security_log.Kind.TOKEN_CREATED, actor=user, detail=f"“{name}” ({token.prefix}…)")
    return token, key


@transaction.atomic
def token_revoke(*, token: ApiToken, by: User) -> None:
    """Revoke one of one's own tokens (selectors give nobody another person's token)."""
    if ApiToken.objects.filter(pk=token.pk, user=by).delete()[0]:
        label = f"“{token.name}” ({token.prefix}…)" if token.name else f"{token.prefix}…"
        security_log.record(security_log.Kind.TOKEN_REVOKED, actor=by, detail=label)
