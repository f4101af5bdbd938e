"""Personal review links (issue 22): a client admin, or the studio's account manager, shares a delivery with
people who have no account — a creative director, a merchandiser, an agency — by e-mail. Each person gets a
link of their own, bound to their address, with an expiry (14 days unless said, at most 90), an optional
password, what they may download (nothing, watermarked previews, or the final files once the order is paid
for, never originals) and whether they may decide (only a client admin grants that).

The link's token is shown once (in the mail, and to the API caller who made it) and stored as its SHA-256
digest. The guest opens ``/r/<token>/``, confirms their name (their e-mail is the link's, shown to them), gives
the password if there is one (wrong passwords lock the link as failed sign-ins lock an account), and sees
the delivery through ``clients.tenancy.scope``: the link is their principal, scoped by each model's
``guest_path``. Everything a guest does is written to the link's activity and to the security log.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import dateformat, timezone
from rest_framework import status

from agency import security_log
from agency.exceptions import DomainError, InvalidTransition, NotPermitted, RuleViolation
from agency.models import SecurityEvent, User
from agency.notifications import absolute_url, send_branded, studio_name
from agency.tasks import enqueue_on_commit
from jobs import permissions
from jobs.events import record_event
from jobs.models import Audience, Delivery, OrderStatus, ShareActivity, ShareDownloads, ShareLink

logger = logging.getLogger("loupe.shares")

DEFAULT_DAYS = 14
MAX_DAYS = 90
NAME_LENGTH = 100
PASSWORD_LENGTH = 8
CODE_MINUTES = 10
# An order a guest can no longer review: nothing of it is left to look at or decide.
CLOSED = {OrderStatus.CANCELLED}
Kind = ShareActivity.Kind


class LinkGone(DomainError):
    """The link was revoked or has expired (410): the page says so and whom to ask."""

    status_code = status.HTTP_410_GONE
    title = "Gone"


class LinkLocked(DomainError):
    """Too many wrong passwords: the link refuses to open until ``until`` (429, as a locked sign-in)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    title = "Too many attempts"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_path(token: str) -> str:
    return reverse("guest_review", kwargs={"token": token})


def absolute_link(token: str) -> str:
    return absolute_url(link_path(token))


def owner_of(link: ShareLink) -> str:
    """Whom a guest asks about their link: the person who sent it."""
    sender = link.created_by
    return f"{sender.full_name} ({sender.email})" if sender is not None else studio_name()


def _clean_email(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise RuleViolation("Enter the e-mail address of the person the link is for.", field="email") from exc
    return email.lower()


def _expiry(expires_at: datetime | None, now: datetime) -> datetime:
    if expires_at is None:
        return now + timedelta(days=DEFAULT_DAYS)
    if timezone.is_naive(expires_at):
        raise RuleViolation("Give the expiry with its time zone.", field="expires_at")
    if expires_at <= now:
        raise RuleViolation("The expiry must be in the future.", field="expires_at")
    if expires_at > now + timedelta(days=MAX_DAYS):
        raise RuleViolation(f"A review link works for at most {MAX_DAYS} days.", field="expires_at")
    return expires_at


def _password(password: str) -> str:
    if not password:
        return ""
    if len(password) < PASSWORD_LENGTH:
        raise RuleViolation(f"A link's password has at least {PASSWORD_LENGTH} characters.", field="password")
    if len(password) > 128:
        raise RuleViolation("A link's password has at most 128 characters.", field="password")
    return make_password(password)


@transaction.atomic
def share_create(*, delivery: Delivery, by: User, email: str, expires_at: datetime | None = None,
                 password: str = "", can_decide: bool = False,
                 downloads: str = ShareDownloads.NONE) -> tuple[ShareLink, str]:
    """Make a personal link to ``delivery`` for ``email`` and mail it (after commit). Returns the link and its
    token, which is never stored: the caller shows it once."""
    order = delivery.order
    if not permissions.can_share_delivery(by, order):
        raise NotPermitted("Only the company's admins or the studio's account managers share deliveries.")
    if can_decide and not permissions.can_let_guests_decide(by, order):
        raise NotPermitted(f"Only an admin of {order.client.name} lets a guest approve or request changes.")
    if order.status in CLOSED:
        raise InvalidTransition(f"Order {order.number} is {order.get_status_display().lower()}: "
                                "there is nothing to review.")
    if downloads not in ShareDownloads.values:
        raise RuleViolation(f"'downloads' must be one of {', '.join(ShareDownloads.values)}.", field="downloads")
    now = timezone.now()
    address = _clean_email(email)
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        delivery=delivery, email=address, digest=digest(token), prefix=token[:8], password=_password(password),
        can_decide=bool(can_decide), downloads=downloads, expires_at=_expiry(expires_at, now), created_by=by)
    what = "final files" if delivery.kind == "final" else f"delivery {delivery.number}"
    record_event(order=order, actor=by, verb="delivery.shared", audience=Audience.CLIENT,
                 message=f"Shared {what} with {address} for review", data={"share": str(link.pk)})
    security_log.record(SecurityEvent.Kind.SHARE_CREATED, actor=by, company=order.client, email=address,
                        subject=security_log.NOBODY, detail=f"review link to {what} of {order.number} for {address}")
    enqueue_on_commit("jobs.tasks.send_share_link", str(link.pk), _seal(token), group="mail")
    return link, token


def _fernet() -> Fernet:
    key = hashlib.sha256(b"loupe review link mail\0" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def _seal(token: str) -> str:
    """The token as the mail task carries it: the task queue's rows are kept, and must not hold a live link."""
    return _fernet().encrypt(token.encode()).decode()


def share_mail(*, link_id: Any, sealed: str) -> int:
    """The task's body: mail the link to its guest (nothing for a link revoked or expired meanwhile)."""
    link = ShareLink.objects.select_related("delivery__order__client", "created_by").filter(pk=link_id).first()
    try:
        token = _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        logger.warning("review link mail for %s carries no token this studio sealed", link_id)
        return 0
    if link is None or not link.is_active or digest(token) != link.digest:
        return 0
    order, studio = link.delivery.order, studio_name()
    sender = link.created_by.full_name if link.created_by else studio
    with timezone.override(order.client.time_zone or settings.TIME_ZONE):
        until = dateformat.format(timezone.localtime(link.expires_at), "l j F Y, H:i T")
    body = render_to_string("jobs/guest/share_email.txt", {
        "link": link, "order": order, "sender": sender, "url": absolute_link(token), "until": until,
        "studio": studio, "company": order.client.name,
    })
    return send_branded(f"{sender} asks for your review of {order.title or order.number}", body, [link.email])


def _revoke(links: Any, by: User) -> int:
    now = timezone.now()
    revoked = 0
    for link in links.select_related("delivery__order__client"):
        if not ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=by):
            continue  # revoked meanwhile: once is enough
        revoked += 1
        ShareActivity.objects.create(link=link, kind=Kind.REVOKED, detail=f"by {by.full_name}")
        security_log.record(SecurityEvent.Kind.SHARE_REVOKED, actor=by, company=link.delivery.order.client,
                            email=link.email, subject=security_log.NOBODY,
                            detail=f"review link for {link.email} to {link.delivery.order.number}")
    return revoked


@transaction.atomic
def share_revoke(*, link: ShareLink, by: User) -> ShareLink:
    """Revoke one link: it opens nothing from now on (revoking twice changes nothing)."""
    if not permissions.can_share_delivery(by, link.delivery.order):
        raise NotPermitted("Only the company's admins or the studio's account managers revoke review links.")
    _revoke(ShareLink.objects.filter(pk=link.pk), by)
    link.refresh_from_db()
    return link


@transaction.atomic
def share_revoke_all(*, delivery: Delivery, by: User) -> int:
    """Revoke every live link to ``delivery``; returns how many."""
    if not permissions.can_share_delivery(by, delivery.order):
        raise NotPermitted("Only the company's admins or the studio's account managers revoke review links.")
    return _revoke(ShareLink.objects.filter(delivery=delivery, revoked_at__isnull=True), by)


def guest_link(token: str) -> ShareLink:
    """The link a token opens. Unknown: ``ShareLink.DoesNotExist`` (404); revoked, expired, or its company
    suspended: ``LinkGone`` saying whom to ask."""
    link = (ShareLink.objects.select_related("delivery__order__client", "created_by")
            .get(digest=digest(token or "")))
    ask = f"Ask {owner_of(link)} for a new one."
    if link.revoked_at is not None:
        raise LinkGone(f"This review link was withdrawn. {ask}")
    if timezone.now() >= link.expires_at:
        raise LinkGone(f"This review link expired on {link.expires_at:%d %b %Y}. {ask}")
    if not link.delivery.order.client.is_active or link.delivery.order.status in CLOSED:
        raise LinkGone(f"This review is closed. {ask}")
    return link


def _note(link: ShareLink, kind: str, detail: str = "") -> None:
    ShareActivity.objects.create(link=link, kind=kind, detail=detail[:300],
                                 ip_address=security_log.client_address(security_log.current_request()))


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise RuleViolation("Tell us your name: the studio and the company see it beside your marks.", field="name")
    if len(name) > NAME_LENGTH:
        raise RuleViolation(f"A name has at most {NAME_LENGTH} characters.", field="name")
    return name


def _refuse_while_locked(link: ShareLink, now: datetime) -> None:
    if link.locked_until is not None and now < link.locked_until:
        minutes = max(1, int((link.locked_until - now).total_seconds() // 60) + 1)
        raise LinkLocked(f"Too many wrong tries. The link opens again in {minutes} minutes, or ask {owner_of(link)}.")


def _failed(link: ShareLink, kind: str, now: datetime) -> None:
    """One wrong password or code: counted on the link; at the sign-in limit the link locks for the sign-in
    cool-off (``LinkLocked``), in the link's activity and the security log."""
    with transaction.atomic():
        ShareLink.objects.filter(pk=link.pk).update(failures=F("failures") + 1)
        link.refresh_from_db(fields=["failures"])
        _note(link, kind)
        locked = link.failures >= settings.AXES_FAILURE_LIMIT
        if locked:
            until = now + settings.AXES_COOLOFF_TIME
            ShareLink.objects.filter(pk=link.pk).update(locked_until=until, failures=0)
            _note(link, Kind.LOCKED, f"until {until:%Y-%m-%d %H:%M} UTC")
            security_log.record(SecurityEvent.Kind.GUEST_LOCKED_OUT, company=link.delivery.order.client,
                                email=link.email, detail=f"review link to {link.delivery.order.number}")
    if locked:
        raise LinkLocked(f"Too many wrong tries. The link opens again in "
                         f"{int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)} minutes, or ask {owner_of(link)}.")


def guest_confirm(*, link: ShareLink, name: str, password: str = "") -> bool:
    """The guest says who they are (and the link's password, if it has one). Wrong passwords count on the link
    and lock it like failed sign-ins. Returns True when the link is open for them; False when the studio asks
    for a code mailed to the link's address first (``LOUPE_REVIEW_LINK_CODE``: a forwarded link then opens
    for nobody but its addressee), which ``guest_confirm_code`` checks."""
    now = timezone.now()
    _refuse_while_locked(link, now)
    clean = _clean_name(name)
    if link.password and not check_password(password or "", link.password):
        _failed(link, Kind.WRONG_PASSWORD, now)
        raise RuleViolation("That is not the link's password.", field="password")
    if settings.LOUPE_REVIEW_LINK_CODE:
        _send_code(link, now)
        return False
    _opened(link, clean)
    return True


def _code_digest(link: ShareLink, code: str) -> str:
    return digest(f"{link.pk}:{code}")


def _send_code(link: ShareLink, now: datetime) -> None:
    """Mail a new six-digit code to the link's address (through the queue, sealed), valid ``CODE_MINUTES``; at most
    one a minute, so reloading the page sends no flood."""
    if link.code_sent_at is not None and now - link.code_sent_at < timedelta(minutes=1):
        return
    code = f"{secrets.randbelow(10**6):06d}"
    ShareLink.objects.filter(pk=link.pk).update(code_digest=_code_digest(link, code), code_sent_at=now)
    link.code_digest, link.code_sent_at = _code_digest(link, code), now
    enqueue_on_commit("jobs.tasks.send_share_code", str(link.pk), _seal(code), group="mail")


def resend_code(*, link: ShareLink) -> None:
    """Another code for a guest past the first step (``guest_confirm`` passed): at most one a minute."""
    now = timezone.now()
    _refuse_while_locked(link, now)
    _send_code(link, now)


def code_mail(*, link_id: Any, sealed: str) -> int:
    """The task's body: mail the code (nothing for a link gone meanwhile)."""
    link = ShareLink.objects.select_related("delivery__order").filter(pk=link_id).first()
    try:
        code = _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return 0
    if link is None or not link.is_active or _code_digest(link, code) != link.code_digest:
        return 0
    order = link.delivery.order
    body = (f"Your code to open the review of {order.title or order.number}: {code}\n\n"
            f"It works for {CODE_MINUTES} minutes. If you did not ask for it, someone has your review link: tell "
            f"{owner_of(link)}.\n\n{studio_name()}\n")
    return send_branded(f"{code} is your code for {order.number}", body, [link.email])


def guest_confirm_code(*, link: ShareLink, name: str, code: str) -> ShareLink:
    """The second step when the studio asks for it: the code mailed to the link's address. Wrong codes count
    with wrong passwords; a code works ``CODE_MINUTES`` minutes."""
    now = timezone.now()
    _refuse_while_locked(link, now)
    clean = _clean_name(name)
    if not link.code_digest or link.code_sent_at is None or now >= link.code_sent_at + timedelta(minutes=CODE_MINUTES):
        raise RuleViolation("That code has expired. Open the link again for a new one.", field="code")
    if not secrets.compare_digest(_code_digest(link, (code or "").strip()), link.code_digest):
        _failed(link, Kind.WRONG_CODE, now)
        raise RuleViolation(f"That is not the code we sent to {link.email}.", field="code")
    return _opened(link, clean)


def _opened(link: ShareLink, name: str) -> ShareLink:
    with transaction.atomic():
        ShareLink.objects.filter(pk=link.pk).update(guest_name=name, failures=0, locked_until=None, code_digest="")
        link.refresh_from_db(fields=["guest_name", "failures", "locked_until", "code_digest"])
        _note(link, Kind.OPENED, f"as {name}")
        security_log.record(SecurityEvent.Kind.SHARE_OPENED, company=link.delivery.order.client, email=link.email,
                            detail=f"review link to {link.delivery.order.number} opened by {name}")
    return link


def remind_guests(*, delivery: Delivery, closes_at: datetime) -> int:
    """The day before a review closes (``jobs.review.proofing.auto_approve_due``), each guest whose live link may
    decide is mailed once, as the company's people are notified. The mail cannot carry the link (only its digest
    is kept): it names the mail that did and whom to ask. Returns how many were reminded."""
    now = timezone.now()
    reminded = 0
    for link in ShareLink.objects.filter(delivery=delivery, can_decide=True, revoked_at__isnull=True,
                                         expires_at__gt=now, reminded_at__isnull=True):
        if ShareLink.objects.filter(pk=link.pk, reminded_at__isnull=True).update(reminded_at=now):
            enqueue_on_commit("jobs.tasks.send_share_reminder", str(link.pk), closes_at.isoformat(), group="mail")
            reminded += 1
    return reminded


def reminder_mail(*, link_id: Any, closes_at: datetime) -> int:
    """The task's body: the reminder (nothing for a link revoked or expired meanwhile)."""
    link = ShareLink.objects.select_related("delivery__order__client", "created_by").filter(pk=link_id).first()
    if link is None or not link.is_active:
        return 0
    order = link.delivery.order
    with timezone.override(order.client.time_zone or settings.TIME_ZONE):
        closes = dateformat.format(timezone.localtime(closes_at), "l j F Y, H:i T")
        sent = dateformat.format(timezone.localtime(link.created_at), "j F Y")
    body = render_to_string("jobs/guest/reminder_email.txt", {
        "link": link, "order": order, "closes": closes, "sent": sent, "owner": owner_of(link),
        "automatic": link.delivery.review_by is None and bool(order.client.auto_approve_days),
        "studio": studio_name(), "company": order.client.name})
    return send_branded(f"Your review of {order.title or order.number} closes tomorrow", body, [link.email])


def noted_download(link: ShareLink, what: str) -> None:
    """A guest's download, on the link's activity and in the security log."""
    with transaction.atomic():
        _note(link, Kind.DOWNLOADED, what)
        security_log.record(SecurityEvent.Kind.SHARE_DOWNLOADED, company=link.delivery.order.client,
                            email=link.email, detail=f"{what} of {link.delivery.order.number}")


def noted_mark(link: ShareLink, what: str) -> None:
    """A guest's mark or reply (``jobs.review.annotations``), on the link's activity: the client admin and the account
    manager see who wrote what where, beside the thread itself."""
    _note(link, Kind.MARKED, what)


def noted_decisions(link: ShareLink, *, approved: list[str], revised: list[str]) -> None:
    """A guest's decisions (``jobs.review.proofing.review_submit``), on the link's activity and in the security log."""
    parts = ([f"approved {', '.join(approved)}"] if approved else []) + (
        [f"asked for changes to {', '.join(revised)}"] if revised else [])
    if not parts:
        return
    detail = "; ".join(parts)
    _note(link, Kind.DECIDED, detail)
    security_log.record(SecurityEvent.Kind.SHARE_DECIDED, company=link.delivery.order.client, email=link.email,
                        detail=f"{detail} on {link.delivery.order.number}")


def check_download(link: ShareLink, what: str) -> None:
    """May this link download ``what`` ("previews" or "finals")? Finals include previews; originals never."""
    allowed = {ShareDownloads.NONE: set(), ShareDownloads.PREVIEWS: {"previews"},
               ShareDownloads.FINALS: {"previews", "finals"}}[link.downloads]
    if what not in allowed:
        raise NotPermitted("This link lets you look, not download. "
                           f"Ask {owner_of(link)} if you need the files.")
