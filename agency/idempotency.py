"""``Idempotency-Key`` on the API's POST requests (creating orders, uploads, quotes, versions, reviews,
messages, invoices, payments, webhooks, and every action).

The same key with the same request within ``LOUPE_IDEMPOTENCY_HOURS`` replays the first answer (status,
body, ``Location``) with ``Idempotent-Replayed: true`` and does nothing again; the same key with a
different request answers 422; a second request while the first still runs answers 409 (the key's row
is claimed with a unique insert before the work starts, so two simultaneous requests execute once).
Answers of 500 and above, and refusals before any work (401, 403, 429), are not kept: the request may
be retried with the same key. Keys are per
person, so two people cannot collide or read each other's answers.

Pages get the same protection from the ``form_key`` field that ``static/js/page.js`` adds to every POST
form when it is first sent (and the disabled buttons while it is under way): a form sent twice (a double
click, a second click on a slow connection, Enter pressed again) acts once; the repeat answers as the
first did, and a redirect carries a message saying the form had already been sent. A repeat that arrives
while the first still runs waits for its answer. The same key with other values is refused (409).

An answer that carries a secret (a new API token, a webhook's signing secret: views wrap it with
``shown_once``) is never kept: the record holds a 409 that says the request succeeded and its secret was
shown once, so a replay cannot hand the secret out again and the table never stores it.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone

from agency.exceptions import problem_response
from agency.models import IdempotencyKey

HEADER = "Idempotency-Key"
FORM_KEY = "form_key"
SENT_TWICE = "That form had already been sent; it was done once, and the second time changed nothing."
OTHER_VALUES = ("This form was already sent with other values. Reload the page to see what changed, and send it "
                "again if it still needs doing.")
# How long a repeated page post waits for the first one's answer before saying it is still under way.
WAIT_FOR_FIRST_SECONDS = 20
# Refusals before any work (not signed in, CSRF, no permission, throttled) are not kept: fixed and sent
# again with the same key, the request runs.
NOT_KEPT = {401, 403, 429}
SHOWN_ONCE = ("The first request with this Idempotency-Key succeeded. Its answer held a secret, which is shown "
              "only once and is not kept; if it was lost, revoke it and make a new one.")


def shown_once(response: HttpResponse) -> HttpResponse:
    """Mark an answer that carries a secret: no cache keeps it, and neither does a replay record."""
    response["Cache-Control"] = "no-store"
    response.carries_secret = True  # type: ignore[attr-defined]
    return response


def _person(request: HttpRequest) -> Any:
    """Who sends the request: the API token's owner, else the session's person (None: the view will
    answer 401 and nothing is kept)."""
    from agency.auth import token_user

    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Token "):
        return token_user(header[6:].strip())
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


def _fingerprint(request: HttpRequest) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.get_full_path(), request.content_type or ""):
        digest.update(part.encode() + b"\0")
    digest.update(request.body)
    return digest.hexdigest()


def _page_fingerprint(request: HttpRequest) -> str:
    """A page form's values (its CSRF token aside: it may be rotated between the two posts)."""
    digest = hashlib.sha256(request.path.encode() + b"\0")
    for name, values in sorted(request.POST.lists()):
        if name != "csrfmiddlewaretoken":
            digest.update(f"{name}={values!r}".encode() + b"\0")
    for name, files in sorted(request.FILES.lists()):
        digest.update(f"{name}:{[(f.name, f.size) for f in files]!r}".encode() + b"\0")
    return digest.hexdigest()


def _page_key(request: HttpRequest) -> str | None:
    if request.content_type not in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        return None
    key = request.POST.get(FORM_KEY)
    return key if key and 1 <= len(key) <= 200 and key.isprintable() else None


def _page_replay(request: HttpRequest, record: IdempotencyKey) -> HttpResponse:
    from django.contrib import messages

    if record.location:
        messages.info(request, SENT_TWICE)
    return _replay(record)


def _replay(record: IdempotencyKey) -> HttpResponse:
    """The first answer again: its status, type, body and ``Location`` (a redirect, or a creation's 201;
    the redirect class lets clients that follow redirects follow it)."""
    if record.location:
        response: HttpResponse = HttpResponseRedirect(record.location, content=bytes(record.body),
                                                      content_type=record.content_type)
        response.status_code = record.status_code
    else:
        response = HttpResponse(bytes(record.body), status=record.status_code, content_type=record.content_type)
    response["Idempotent-Replayed"] = "true"
    return response


def forget_expired() -> int:
    """Delete keys older than the window (a periodic task)."""
    cutoff = timezone.now() - timedelta(hours=settings.LOUPE_IDEMPOTENCY_HOURS)
    return IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()[0]


class IdempotencyMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return self.get_response(request)
        if not request.path.startswith("/api/"):
            return self._page(request)
        key = request.headers.get(HEADER)
        if key is None:
            return self.get_response(request)
        if not 1 <= len(key) <= 255 or not key.isprintable() or key.strip() != key:
            return problem_response(400, "Invalid Idempotency-Key",
                                    "An Idempotency-Key has 1 to 255 visible characters (a UUID is a good choice).")
        person = _person(request)
        if person is None:
            return self.get_response(request)
        return self._once(request, person, key, _fingerprint(request), page=False)

    def _page(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        key = _page_key(request) if user is not None and user.is_authenticated else None
        if key is None:
            return self.get_response(request)
        return self._once(request, user, f"form:{key}", _page_fingerprint(request), page=True)

    def _once(self, request: HttpRequest, person: Any, key: str, fingerprint: str, *, page: bool) -> HttpResponse:
        cutoff = timezone.now() - timedelta(hours=settings.LOUPE_IDEMPOTENCY_HOURS)
        IdempotencyKey.objects.filter(user=person, key=key, created_at__lt=cutoff).delete()  # a day later: anew
        try:
            with transaction.atomic():
                record = IdempotencyKey.objects.create(user=person, key=key, fingerprint=fingerprint)
        except IntegrityError:
            first = IdempotencyKey.objects.filter(user=person, key=key).first()
            if page:
                return self._page_repeat(request, fingerprint, first)
            if first is not None and first.fingerprint != fingerprint:
                return problem_response(422, "Idempotency-Key reused",
                                        "This Idempotency-Key was sent with a different request in the last "
                                        f"{settings.LOUPE_IDEMPOTENCY_HOURS} hours. Use a new key for a new request.")
            if first is None or first.status_code is None:
                return problem_response(409, "Request in progress",
                                        "A request with this Idempotency-Key is still being processed; retry in a "
                                        "moment to get its answer.")
            return _replay(first)
        try:
            response = self.get_response(request)
        except BaseException:
            record.delete()
            raise
        if response.status_code >= 500 or response.status_code in NOT_KEPT or response.streaming:
            record.delete()
            return response
        kept = response
        if getattr(response, "carries_secret", False):
            kept = problem_response(409, "Secret shown once", SHOWN_ONCE)
        record.status_code = kept.status_code
        record.content_type = kept.get("Content-Type", "")[:100]
        record.location = kept.get("Location", "")[:500]
        record.body = kept.content
        record.save(update_fields=["status_code", "content_type", "location", "body"])
        return response

    def _page_repeat(self, request: HttpRequest, fingerprint: str, first: IdempotencyKey | None) -> HttpResponse:
        """A page form sent again: the first answer (waiting for it while it runs), never a second effect."""
        from agency.views import refused

        deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
        while first is not None and first.status_code is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the first post is still at work in another thread or process
            first = IdempotencyKey.objects.filter(pk=first.pk).first()
        if first is None:  # the first post failed and let its key go: this one may run
            return self.get_response(request)
        if first.fingerprint != fingerprint:
            return refused(request, 409, OTHER_VALUES)
        if first.status_code is None:
            return refused(request, 409, "That form is still being processed; reload the page in a moment.")
        return _page_replay(request, first)
