"""Request-level security: body size limit, absolute session lifetime, per-user time zone, CSP."""

from __future__ import annotations

import time
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from agency.exceptions import DomainError, problem_response
from agency.permissions import is_client_user

Handler = Callable[[HttpRequest], HttpResponse]
SESSION_STARTED_KEY = "loupe_login_at"


class EventStreamMiddleware:
    """The outermost layer: an event stream (``agency.live``) gives its database connection back once the page's
    middleware and view are done with it, before streaming for hours (Django would close it only when the stream
    ends). Under ASGI the request's middleware and view share one thread, so this is the connection they opened."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (isinstance(request, ASGIRequest) and response.streaming
                and response.get("Content-Type", "").startswith("text/event-stream")):
            connections.close_all()  # (under WSGI the stream's own thread reads on with it)
        return response


class RequestSizeLimitMiddleware:
    """Refuses bodies above ``DATA_UPLOAD_MAX_MEMORY_SIZE`` before anything reads them.

    Django checks that limit only when form data or ``request.body`` is read; DRF's parsers read the
    stream directly, so without this a JSON endpoint would accept any size.
    """

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    # The local-storage upload route streams bodies to disk with its own byte count (agency.uploads).
    EXEMPT_PREFIXES = ("/api/v1/uploads/local/",)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(self.EXEMPT_PREFIXES):
            return self.get_response(request)
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return problem_response(400, "Bad request", "The Content-Length header is not a number.")
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length > limit:
            detail = f"The request body of {length} bytes exceeds the limit of {limit} bytes."
            return problem_response(413, "Request body too large", detail)
        return self.get_response(request)


class SessionLifetimeMiddleware:
    """Ends a browser session 12 hours after login whatever the activity (the idle limit is
    ``SESSION_COOKIE_AGE`` with ``SESSION_SAVE_EVERY_REQUEST``)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session") and request.session.session_key:
            started = request.session.get(SESSION_STARTED_KEY)
            now = time.time()
            if started is None:
                request.session[SESSION_STARTED_KEY] = now
            elif now - float(started) > settings.LOUPE_SESSION_ABSOLUTE_SECONDS:
                logout(request)
                if request.path.startswith("/api/"):
                    return problem_response(401, "Session expired", "Your session has expired. Log in again.")
                return redirect_to_login(request.get_full_path())
        return self.get_response(request)


class TimezoneMiddleware:
    """Shows times in the viewer's zone: their own setting, else their company's, else the studio's."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = zone_of(getattr(request, "user", None))
        if zone is not None:
            timezone.activate(zone)
        else:
            timezone.deactivate()
        return self.get_response(request)


def zone_of(user: Any) -> zoneinfo.ZoneInfo | None:
    """A person's zone: their own setting, else their company's; None for the studio's default."""
    zone_name = ""
    if user is not None and user.is_authenticated:
        zone_name = user.time_zone
        if not zone_name and is_client_user(user):
            membership = getattr(user, "membership", None)
            zone_name = membership.client.time_zone if membership else ""
    try:
        return zoneinfo.ZoneInfo(zone_name) if zone_name else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def content_security_policy(storage_origins: list[str]) -> str:
    """Scripts only from Loupe itself; the browser may also talk to the storage bucket (uploads,
    presigned downloads and thumbnails)."""
    storage = " ".join(storage_origins)
    return (
        f"default-src 'self'; img-src 'self' data: blob: {storage}; style-src 'self' 'unsafe-inline'; "
        f"script-src 'self'; connect-src 'self' {storage}; font-src 'self' data:; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ).replace("  ", " ")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.policy = content_security_policy(settings.LOUPE_STORAGE_ORIGINS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response


class DomainErrorMiddleware:
    """Pages let a service's refusal propagate: ``NotPermitted`` answers 403, ``InvalidTransition`` 409
    and ``RuleViolation`` 400, each with its message on the page (the API's handler does the same as
    problem+json). One place, so no view re-codes the mapping or hides a refusal behind a redirect."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DomainError):
            return None
        from agency.views import refused

        if request.path.startswith("/api/"):
            return problem_response(exception.status_code, exception.title, exception.message)
        return refused(request, exception.status_code, exception.message)


class SecondFactorMiddleware:
    """Where the studio requires a second factor (staff roles), a signed-in person who has not used one
    is sent to set it up before anything else: pages redirect, the API answers 403 with the reason.
    Token-authenticated API calls are checked when the token is issued (``agency.api.TokenView``)."""

    OPEN_PREFIXES = ("/profile/two-factor/", "/logout/", "/static/", "/healthz/", "/readyz/", "/favicon.ico", "/login/")
    NOT_PAGES = ("/events/", "/notifications/bell/")

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from agency import two_factor

        user = getattr(request, "user", None)
        if (user is not None and two_factor.required_for(user) and not user.is_verified()
                and not request.path.startswith(self.OPEN_PREFIXES)):
            message = "Your role needs two-factor sign-in: set it up at /profile/two-factor/ first."
            if request.path.startswith("/api/"):
                return problem_response(403, "Two-factor sign-in required", message)
            if request.path.startswith(self.NOT_PAGES):  # a live page's stream is no page to come back to
                return HttpResponse(message, status=403, content_type="text/plain")
            return redirect_to_login(request.get_full_path(), login_url=reverse("two_factor_setup"))
        return self.get_response(request)


class SecurityContextMiddleware:
    """Lets services record the address and browser of the request they serve in the security log."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from agency import security_log

        token = security_log.bind_request(request)
        try:
            return self.get_response(request)
        finally:
            security_log.unbind_request(token)
