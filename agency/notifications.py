"""The bell and its mails (DESIGN.md §1: notifications live in ``agency``).

Apps register the kinds they send, with the roles that receive them (``register``); ``notify`` makes one
``Notification`` per person and source (a unique row, so a task delivered twice notifies once) and
mails each person who has not opted out of that kind: claim the row, send, release the claim if the
mail fails (the task's retry sends it). Called from django-q2 tasks, after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.mail import send_mail
from django.http import Http404
from django.utils import timezone

from agency import live
from agency.exceptions import RuleViolation
from agency.middleware import zone_of
from agency.models import Notification, NotificationPreference, User
from agency.permissions import receives_kind
from agency.timefmt import render_times

logger = logging.getLogger("loupe.notifications")


@dataclass(frozen=True)
class Kind:
    code: str
    label: str
    roles: frozenset[str]


KINDS: dict[str, Kind] = {}


def register(code: str, label: str, roles: Iterable[str]) -> None:
    KINDS[code] = Kind(code, label, frozenset(roles))


def kinds_for(user: User) -> list[Kind]:
    return [kind for kind in KINDS.values() if receives_kind(user, kind.roles)]


def header_safe(text: str) -> str:
    """Text that reaches a mail header: line breaks would end the header (or inject another one)."""
    return " ".join(str(text).split())[:200]


def send_branded(subject: str, body: str, to: list[str]) -> int:
    """Every mail Loupe sends goes through here: from the studio's sender (``agency.brand``), its subject header-safe,
    the brand's footer line under the text."""
    from agency import brand

    shown = brand.current()
    footer = f"\n-- \n{shown.footer}\n" if shown.footer else ""
    return send_mail(header_safe(subject), f"{body.rstrip()}\n{footer}", shown.sender, to)


def notify(users: Iterable[User], *, kind: str, source: str, title: str, body: str = "", url: str = "",
           actor: User | None = None) -> int:
    """Tell ``users`` (the actor excluded, inactive people skipped) about one thing, once each.
    Returns the number of mails sent."""
    people = {u.pk: u for u in users if u.is_active and (actor is None or u.pk != actor.pk)}
    if not people:
        return 0
    prefs = {p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=people, kind=kind)}
    now = timezone.now()
    rows = [Notification(user_id=pk, kind=kind, source=source[:64], title=title[:200], body=body[:2000], url=url[:300],
                         read_at=None if prefs.get(pk) is None or prefs[pk].bell else now) for pk in people]
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    for pk in people:  # the bell of each open page of theirs
        live.publish(f"me:{pk}", "notification", ref=source[:64])
    wanted = [pk for pk in people if prefs.get(pk) is None or prefs[pk].email]
    sent = 0
    for note in Notification.objects.filter(source=source[:64], user_id__in=wanted, emailed_at__isnull=True):
        if not Notification.objects.filter(pk=note.pk, emailed_at__isnull=True).update(emailed_at=timezone.now()):
            continue  # another delivery of this task sent it
        link = f"\n\n{absolute_url(note.url)}" if note.url else ""
        try:
            person = people[note.user_id]
            with timezone.override(zone_of(person)):
                title = render_times(note.title, name_zone=True)
                text = render_times(note.body or note.title, name_zone=True)
            send_branded(f"[{studio_name()}] {title}", f"{text}{link}\n", [person.email])
        except Exception:
            Notification.objects.filter(pk=note.pk).update(emailed_at=None)
            logger.warning("mail for notification %s failed; released for a retry", note.pk)
            raise
        sent += 1
    return sent


def unread_count(user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def absolute_url(path: str) -> str:
    """A link that works outside the browser (a mail, a webhook body): the studio's domain (``agency.brand``: its
    custom domain, else ``LOUPE_BASE_URL``) + ``path``."""
    from agency import brand

    return f"{brand.current().base_url}{path}"


def studio_name() -> str:
    """The studio's name as every page and mail says it (``agency.brand``)."""
    from agency import brand

    return brand.current().name


def mark_read(user: User, ids: Iterable[str] | None = None) -> int:
    """Mark the user's notifications read (all of them, or those ``ids``, which must all be theirs: any
    other id answers 404 and nothing changes); returns how many changed."""
    qs = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        ids = {str(i) for i in ids}
        if Notification.objects.filter(user=user, pk__in=ids).count() != len(ids):
            # someone else's (or no) notification: say nothing about it and change nothing
            raise Http404("No such notification of yours.")
        qs = qs.filter(pk__in=ids)
    return qs.update(read_at=timezone.now())


def set_preference(user: User, *, kind: str, email: bool, bell: bool) -> NotificationPreference:
    if kind not in KINDS or not receives_kind(user, KINDS[kind].roles):
        raise RuleViolation(f"{kind!r} is not a kind of notification you receive.", field="kind")
    pref, _ = NotificationPreference.objects.update_or_create(user=user, kind=kind,
                                                              defaults={"email": email, "bell": bell})
    return pref
