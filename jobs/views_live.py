"""The event streams of live pages (``agency.live``): ``GET /events/?topic=order:<id>|review:<delivery id>|me``
for people signed in, ``GET /r/<token>/events/`` for a guest's review. A stream is authorized like the page it
serves: its topics through the scoped selectors (another company's order answers 404), each message against the
audiences the reader may read (a client's stream never carries a studio-only line), and it ends when the session
or the review link does. Messages carry ids and kinds; the page fetches what changed through its own routes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.base import SessionBase
from django.core.handlers.asgi import ASGIRequest
from django.db import connection
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.module_loading import import_string
from django.views.decorators.http import require_GET

from agency import live
from agency.exceptions import RuleViolation
from jobs import permissions, selectors
from jobs.models import Audience, ShareLink
from jobs.views_guest import SESSION_KEY, _guest, guest_page

MAX_TOPICS = 4


def _uuid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise RuleViolation("A topic is order:<id>, review:<delivery id> or me.", field="topic") from None


def topics_for(user: Any, asked: list[str]) -> list[str]:
    """The topics ``user`` asked for, each one they may read (404 otherwise, as the page would answer)."""
    if not asked or len(asked) > MAX_TOPICS:
        raise RuleViolation(f"Ask for 1 to {MAX_TOPICS} topics: order:<id>, review:<delivery id> or me.", field="topic")
    topics = []
    for raw in asked:
        kind, _, ident = raw.partition(":")
        if raw == "me":
            topics.append(f"me:{user.pk}")
        elif kind == "order":
            topics.append(f"order:{selectors.order_get(user, _uuid(ident)).pk}")
        elif kind == "review":
            topics.append(f"review:{selectors.delivery_get(user, _uuid(ident)).pk}")
        else:
            raise RuleViolation("A topic is order:<id>, review:<delivery id> or me.", field="topic")
    return list(dict.fromkeys(topics))


def _respond(request: HttpRequest, topics: list[str], may_read: Callable[[dict[str, Any]], bool],
             still_open: Callable[[], bool]) -> StreamingHttpResponse:
    if isinstance(request, ASGIRequest):
        # a stream lasts for hours: it holds no database connection between its checks (a thousand open pages
        # must not hold a thousand connections; agency.middleware.EventStreamMiddleware gives the request's back)
        def checked() -> bool:
            try:
                return still_open()
            finally:
                connection.close()

        stream: Any = live.async_stream(topics, may_read=may_read, still_open=sync_to_async(checked))
    else:
        stream = live.sync_stream(topics, may_read=may_read, still_open=still_open)
    response = StreamingHttpResponse(stream, content_type="text/event-stream")
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must pass each message on at once
    return response


def _store() -> Any:
    from django.conf import settings

    return import_string(f"{settings.SESSION_ENGINE}.SessionStore")


def _session_lasts(session: SessionBase, user_id: Any) -> Callable[[], bool]:
    """Does the reader's session still exist (signed out, expired or cut by a password change: the stream ends)?"""
    from agency.models import User

    store, key = _store(), session.session_key

    def lasts() -> bool:
        return bool(key) and store().exists(key) and User.objects.filter(pk=user_id, is_active=True).exists()

    return lasts


@require_GET
def events(request: HttpRequest) -> HttpResponse:
    """A signed-in person's stream. Signed out: 401, never a redirect (the sign-in page is no stream, and must not
    remember a stream as the page to come back to)."""
    user = request.user
    if not user.is_authenticated:
        return HttpResponse("Sign in to follow this page.", status=401, content_type="text/plain")
    topics = topics_for(user, request.GET.getlist("topic"))
    audiences = permissions.readable_audiences(user)
    mine = f"me:{user.pk}"
    return _respond(request, topics, lambda m: m["topic"] == mine or m["audience"] in audiences,
                    _session_lasts(request.session, user.pk))


@require_GET
@guest_page
def guest_events(request: HttpRequest, token: str) -> StreamingHttpResponse:
    """A guest's review page's stream: their delivery's pictures only, what the client reads; it ends when the link
    is revoked or expires, or the browser's confirmation goes with its session."""
    link = _guest(request, token)
    store = _store()
    key, confirmed, session_key = str(link.pk), link.digest[:16], request.session.session_key

    def lasts() -> bool:
        fresh = ShareLink.objects.filter(pk=link.pk).first()
        return (fresh is not None and fresh.is_active
                and store(session_key).get(SESSION_KEY, {}).get(key) == confirmed)

    return _respond(request, [f"review:{link.delivery_id}"], lambda m: m["audience"] == Audience.CLIENT, lasts)
