"""Writes for clients, memberships and style guides. Keyword-only, transactional; each checks the
actor's permission itself so pages, API and admin actions cannot skip it."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Replace
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from agency import security_log
from agency.exceptions import InvalidTransition, NotPermitted, RuleViolation
from agency.models import CLIENT_ROLES, ApiToken, Role, SecurityEvent, User
from agency.notifications import absolute_url, send_branded, studio_name
from agency.tasks import enqueue_on_commit
from clients.models import Client, Membership, StyleGuide
from clients.permissions import can_edit_style_guide, can_manage_clients, can_manage_team

logger = logging.getLogger("loupe.clients")
Kind = SecurityEvent.Kind



def _require_manager(by: User) -> None:
    if not can_manage_clients(by):
        raise NotPermitted("Only account managers and admins manage client companies.")


@transaction.atomic
def client_create(*, by: User, **fields: Any) -> Client:
    """Create a company. Refused for roles other than account manager and admin."""
    _require_manager(by)
    client = Client(**{k: v for k, v in fields.items() if k in Client.TERMS_FIELDS})
    client.full_clean()
    client.save()
    return client


@transaction.atomic
def client_update(*, client: Client, by: User, **fields: Any) -> Client:
    """Change a company's details and contract terms. Deactivating it locks its people out at once
    (``company_lock_out``); reactivating lets them sign in again."""
    _require_manager(by)
    client = Client.objects.select_for_update().get(pk=client.pk)
    was_active = client.is_active
    for key, value in fields.items():
        if key in Client.TERMS_FIELDS:
            setattr(client, key, value)
    client.full_clean()
    client.save()
    if was_active and not client.is_active:
        company_lock_out(client)
        security_log.record(Kind.COMPANY_DEACTIVATED, actor=by, subject=security_log.NOBODY, company=client)
    elif client.is_active and not was_active:
        security_log.record(Kind.COMPANY_REACTIVATED, actor=by, subject=security_log.NOBODY, company=client)
    return client


def company_lock_out(client: Client) -> None:
    """End every session and token of the company's people and kill pending invitations (their
    one-time links die with the password hash they were made from). Sign-in is refused while the
    company is inactive (``User.company_allows_access``); after reactivation people sign in anew."""
    people = User.objects.filter(membership__client=client)
    people.update(session_epoch=F("session_epoch") + 1)
    ApiToken.objects.filter(user__in=people).delete()
    for user in people.filter(password__startswith=UNUSABLE_PASSWORD_PREFIX):
        user.set_unusable_password()
        user.save(update_fields=["password"])


def _require_team(by: User, client: Client) -> None:
    if not can_manage_team(by, client):
        raise NotPermitted("Only the company's admins or the studio's account managers change the team.")


@transaction.atomic
def member_add(*, client: Client, by: User, email: str, full_name: str, role: str,
               password: str | None = None, invite: bool = True) -> Membership:
    """Give a person a seat in ``client``. Without a password, they get an e-mail with a one-time link
    (valid ``PASSWORD_RESET_TIMEOUT``, 72 h) to set one. An address already in use is refused without
    saying by whom."""
    _require_team(by, client)
    if role not in CLIENT_ROLES:
        raise RuleViolation("A company's users are client admins or client members.", field="role")
    email = email.strip().lower()
    full_name = " ".join(full_name.split())
    if not full_name or len(full_name) > 150:
        raise RuleViolation("Give the person's name (at most 150 characters).", field="full_name")
    existing = User.objects.filter(email__iexact=email).select_related("membership").first()
    if existing is not None:
        if getattr(existing, "membership", None) is not None and existing.membership.client_id == client.pk:
            raise RuleViolation(f"{email} is already in the team.", field="email")
        raise RuleViolation("This address cannot be invited. Ask the person for another address, or ask the studio.",
                            field="email")
    user = User.objects.create_user(email, password, full_name=full_name, role=role)
    membership = Membership.objects.create(user=user, client=client)
    if invite and password is None:
        enqueue_on_commit("clients.tasks.send_invitation", str(user.pk), str(by.pk), group="mail")
        security_log.record(Kind.INVITATION_SENT, actor=by, subject=user, company=client,
                            detail=f"as {Role(role).label.lower()}")
    return membership


INVITED_AS = {True: "one of its admins (you also answer quotes and manage the team)", False: "a member of its team"}


def invitation_send(*, user_id: Any, invited_by_id: Any = None) -> int:
    """Mail a pending invitation's one-time link (the task's body, after commit): who invited the person,
    to which company, and until when the link works (in the person's zone). Nothing is sent to someone
    who accepted meanwhile, lost their seat or whose company was deactivated."""
    from django.conf import settings

    from agency.middleware import zone_of

    user = User.objects.select_related("membership__client").filter(pk=user_id, is_active=True).first()
    membership = getattr(user, "membership", None)  # None for nobody and for studio staff
    if membership is None or user.has_usable_password() or not membership.client.is_active:
        return 0
    client, studio = membership.client, studio_name()
    path = reverse("password_reset_confirm", kwargs={
        "uidb64": urlsafe_base64_encode(force_bytes(user.pk)), "token": default_token_generator.make_token(user),
    })
    # Django's links live PASSWORD_RESET_TIMEOUT seconds from now; the mail names the minute, not later
    until = timezone.now() + timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT)
    inviter = User.objects.filter(pk=invited_by_id).first()  # None when the studio sent it
    if inviter is None:
        who = studio
    elif getattr(getattr(inviter, "membership", None), "client_id", None) == client.pk:
        who = f"{inviter.full_name} of {client.name}"
    else:
        who = f"{inviter.full_name} of {studio}"
    with timezone.override(zone_of(user)):
        until_words = dateformat.format(timezone.localtime(until), "l j F Y, H:i T")
    body = render_to_string("registration/invitation_email.txt", {
        "user": user, "client_name": client.name, "path": absolute_url(path), "studio": studio, "who": who,
        "until": until_words, "role": INVITED_AS[can_manage_team(user, client)],
    })
    sent = send_branded(f"{who} invited you to {studio}", body, [user.email])
    logger.info("invitation sent to user %s", user.pk)
    return sent


def _admins_left(client: Client, without: Any) -> int:
    return (Membership.objects.filter(client=client, user__role=Role.CLIENT_ADMIN, user__is_active=True)
            .exclude(pk=without).count())


@transaction.atomic
def member_remove(*, membership: Membership, by: User) -> None:
    """End a client user's access at once: the seat goes, the account is deactivated, its sessions end
    and its API tokens are deleted. A pending invitation is cancelled the same way. The company always
    keeps an admin."""
    _require_team(by, membership.client)
    person = User.objects.select_for_update().get(pk=membership.user_id)
    if person.pk == by.pk:
        raise RuleViolation("You cannot remove your own seat.")
    Client.objects.select_for_update().get(pk=membership.client_id)  # one team change at a time
    if person.role == Role.CLIENT_ADMIN and not _admins_left(membership.client, membership.pk):
        raise InvalidTransition(f"{person.full_name or person.email} is the company's last admin; make someone else an "
                                "admin first.")
    pending = not person.has_usable_password()
    membership.delete()
    person.is_active = False
    person.session_epoch += 1
    person.save(update_fields=["is_active", "session_epoch"])
    ApiToken.objects.filter(user=person).delete()
    security_log.record(Kind.SEAT_REMOVED, actor=by, subject=person, company=membership.client,
                        detail="invitation cancelled" if pending else "sessions and tokens ended")


# Sent inside an erasure's transaction, after the person's own row is anonymised: apps above ``clients`` replace
# the old name and address in the texts they keep for the company (``jobs.receivers``: timeline, messages, marks).
person_erased = Signal()
ERASED_DOMAIN = "erased.invalid"


def replace_in_texts(queryset: Any, field: str, pairs: list[tuple[str, str]]) -> None:
    """Replace each (old, new) in ``field`` of the rows that hold it (one UPDATE per pair, in the database)."""
    for old, new in pairs:
        queryset.filter(**{f"{field}__contains": old}).update(**{field: Replace(F(field), Value(old), Value(new))})


def erasure_pairs(old_name: str, old_email: str, new_name: str, new_email: str) -> list[tuple[str, str]]:
    """What an erasure replaces in kept texts: the address always, the name when it cannot be part of other
    words (four characters or more)."""
    pairs = [(old_email, new_email)]
    if len(old_name.strip()) >= 4:
        pairs.append((old_name.strip(), new_name))
    return pairs


@transaction.atomic
def member_erase(*, membership: Membership, by: User) -> User:
    """Remove a person's seat (the same refusals as a removal) and erase them: their name and e-mail address
    are replaced by "Former member 1a2b3c" and an address that cannot receive mail, in their account, in the
    security log and, through ``person_erased``, in the timeline, messages and marks they appear in; their
    second factors and notifications go. What they did stays, now by the former member; invoices and their
    documents are not touched (they name companies, never people)."""
    _require_team(by, membership.client)
    client = membership.client
    member_remove(membership=membership, by=by)
    person = User.objects.select_for_update().get(pk=membership.user_id)
    old_name, old_email = person.full_name, person.email
    person.full_name = f"Former member {person.pk.hex[:6]}"
    person.email = f"erased-{person.pk.hex}@{ERASED_DOMAIN}"
    person.set_unusable_password()
    person.save(update_fields=["full_name", "email", "password"])
    from agency.models import Notification
    from agency.two_factor import remove_devices

    remove_devices(person)
    Notification.objects.filter(user=person).delete()
    pairs = erasure_pairs(old_name, old_email, person.full_name, person.email)
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for sign_ins in (AccessAttempt, AccessLog, AccessFailureLog):  # django-axes keeps the address signed in with
        sign_ins.objects.filter(username=old_email).update(username=person.email)
    SecurityEvent.objects.filter(actor_email=old_email).update(actor_email=person.email)
    SecurityEvent.objects.filter(subject_email=old_email).update(subject_email=person.email)
    for field in ("title", "body"):
        replace_in_texts(Notification.objects.all(), field, pairs)
    person_erased.send(sender=Client, client=client, pairs=pairs)
    security_log.record(Kind.PERSON_ERASED, actor=by, subject=person, company=client,
                        detail="name and e-mail address anonymised")
    return person


@transaction.atomic
def member_set_role(*, membership: Membership, by: User, role: str) -> Membership:
    """Make a member an admin or an admin a member; their open sessions end (they sign in with the new
    role). The company always keeps an admin."""
    _require_team(by, membership.client)
    if role not in CLIENT_ROLES:
        raise RuleViolation("A company's users are client admins or client members.", field="role")
    Client.objects.select_for_update().get(pk=membership.client_id)
    person = User.objects.select_for_update().get(pk=membership.user_id)
    if person.role == role:
        return membership
    if person.role == Role.CLIENT_ADMIN and not _admins_left(membership.client, membership.pk):
        raise InvalidTransition(f"{person.full_name or person.email} is the company's last admin; make someone else an "
                                "admin first.")
    before = person.get_role_display()
    person.role = role
    person.session_epoch += 1
    person.save(update_fields=["role", "session_epoch"])
    ApiToken.objects.filter(user=person).delete()
    security_log.record(Kind.ROLE_CHANGED, actor=by, subject=person, company=membership.client,
                        detail=f"{before} → {person.get_role_display()}")
    membership.user = person
    return membership


def member_resend(*, membership: Membership, by: User) -> None:
    """Send a pending invitation again (a fresh one-time link; earlier links stay valid until used or
    expired). Refused once the person has set a password."""
    _require_team(by, membership.client)
    person = membership.user
    if person.has_usable_password():
        raise InvalidTransition(f"{person.email} has accepted the invitation already.")
    if not membership.client.is_active:
        raise InvalidTransition("The company is deactivated; reactivate it first.")
    enqueue_on_commit("clients.tasks.send_invitation", str(person.pk), str(by.pk), group="mail")
    security_log.record(Kind.INVITATION_SENT, actor=by, subject=person, detail="sent again")  # their company


def _clean_content(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k in StyleGuide.CONTENT_FIELDS}


@transaction.atomic
def style_guide_create(*, client: Client, by: User, **fields: Any) -> StyleGuide:
    """Create version 1 of a new style guide for ``client``."""
    if not can_edit_style_guide(by, client):
        raise NotPermitted("You cannot create style guides for this company.")
    guide = StyleGuide(client=client, created_by=by, **_clean_content(fields))
    guide.full_clean()
    guide.save()
    return guide


@transaction.atomic
def style_guide_update(*, guide: StyleGuide, by: User, **fields: Any) -> StyleGuide:
    """Edit a style guide. An unlocked version is edited in place; a locked one (an order uses it) is
    kept as it is and a new current version is made, so orders keep the instructions they were made
    with. Only the current version can be edited."""
    return _revise(guide, by, _clean_content(fields))


@transaction.atomic
def style_guide_set_reference(*, guide: StyleGuide, by: User, key: str, label: str) -> StyleGuide:
    """Make a stored picture the guide's golden reference (a new version when the guide is in use)."""
    return _revise(guide, by, {"reference_key": key[:300], "reference_label": label[:255]})


def style_guide_amend(*, guide: StyleGuide, note: str) -> StyleGuide:
    """Add ``note`` to the current version of ``guide``'s family as the studio's rule requires (an approved pilot's
    changes, ``jobs.production.pilots``): a new version when the current one is in use, and locked, since the order
    that asked for it follows it. No person's permission is asked: the client's approval is the reason."""
    current = StyleGuide.objects.select_for_update().get(family=guide.family, is_current=True)
    notes = f"{current.notes}\n\n{note}".strip() if current.notes else note
    amended = _new_version(current, None, {"notes": notes[:StyleGuide._meta.get_field("notes").max_length]})
    style_guide_lock(guide=amended)
    amended.refresh_from_db(fields=["locked_at"])
    return amended


def _revise(guide: StyleGuide, by: User, content: dict[str, Any]) -> StyleGuide:
    if not can_edit_style_guide(by, guide.client):
        raise NotPermitted("You cannot edit this company's style guides.")
    guide = StyleGuide.objects.select_for_update().get(pk=guide.pk)
    return _new_version(guide, by, content)


def _new_version(guide: StyleGuide, by: User | None, content: dict[str, Any]) -> StyleGuide:
    if not guide.is_current:
        raise InvalidTransition(f"Version {guide.version} has been replaced by a newer version; edit that one.")
    if not guide.is_locked:
        for key, value in content.items():
            setattr(guide, key, value)
        guide.full_clean()
        guide.save()
        return guide
    new = StyleGuide(client=guide.client, family=guide.family, version=guide.version + 1, created_by=by,
                     **{name: getattr(guide, name) for name in StyleGuide.COPIED_FIELDS})
    for key, value in content.items():
        setattr(new, key, value)
    new.full_clean(validate_constraints=False)
    StyleGuide.objects.filter(pk=guide.pk).update(is_current=False)
    new.save()
    return new


def style_guide_lock(*, guide: StyleGuide) -> None:
    """Freeze a version because an order now uses it (idempotent; a conditional update)."""
    StyleGuide.objects.filter(pk=guide.pk, locked_at__isnull=True).update(locked_at=timezone.now())
