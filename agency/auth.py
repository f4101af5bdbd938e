"""API token authentication and the login-lockout hooks of django-axes."""

from __future__ import annotations

import ipaddress
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from rest_framework import authentication, exceptions

from agency import throttle, two_factor
from agency.exceptions import problem_response
from agency.middleware import zone_of
from agency.models import ApiToken, User

ADDRESS_SCOPE = "login-address"


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(proxy, strict=False) for proxy in settings.LOUPE_TRUSTED_PROXIES)


def client_ip(request: HttpRequest) -> str:
    """The address the request came from: the peer, or, when the peer is one of LOUPE_TRUSTED_PROXIES,
    the last address in X-Forwarded-For that is not one of them (what the load balancer saw)."""
    peer = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if not forwarded or not _trusted(peer):
        return peer
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _trusted(hop):
            return hop
    return peer


def address_throttled(request: HttpRequest) -> bool:
    """Far more failed sign-ins from this address than one person makes (any accounts)."""
    return throttle.seen(ADDRESS_SCOPE, client_ip(request)) >= settings.LOUPE_LOGIN_ADDRESS_LIMIT


def count_failed_sign_in(request: HttpRequest | None) -> None:
    if request is not None:
        throttle.hit(ADDRESS_SCOPE, client_ip(request), window_seconds=int(settings.AXES_COOLOFF_TIME.total_seconds()))


def is_locked_out(request: HttpRequest, credentials: dict[str, Any]) -> bool:
    """The account (or its pair with this address) is locked, or the address is throttled."""
    return AxesProxyHandler.is_locked(request, credentials) or address_throttled(request)


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' check of the account, and the address throttle, before any password is tried."""

    def authenticate(self, request: HttpRequest, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> None:
        if request is not None and address_throttled(request):
            request.axes_locked_out = True  # type: ignore[attr-defined]
            raise AxesBackendPermissionDenied("too many failed sign-ins from this address")
        return super().authenticate(request, username, password, **kwargs)


class UserBackend(ModelBackend):
    """Django's model backend, loading the user with their seat and company in one query, so the
    middleware that picks the viewer's time zone (and every page's header) adds no query."""

    def user_can_authenticate(self, user: Any) -> bool:
        """Active, and for a client user a seat in an active company (deactivating a company locks
        its people out at once: sessions, tokens and sign-in)."""
        return super().user_can_authenticate(user) and user.company_allows_access()

    def get_user(self, user_id: Any) -> User | None:
        user = User.objects.select_related("membership__client").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


COMPANY_SUSPENDED = "Your company's access to Loupe is suspended. Ask your account manager at the studio."


def suspended_company_user(email: str, password: str) -> User | None:
    """The person whose sign-in failed only because the studio deactivated their company: the right
    password of an active person whose company is inactive. The page and the token endpoint both say
    so (only someone who knows the password learns it); every other failure gets the generic answer."""
    user = User.objects.select_related("membership__client").filter(email__iexact=email or "").first()
    if user is not None and user.is_active and not user.company_allows_access() and user.check_password(password):
        return user
    return None


SECOND_FACTOR_FIRST = ("Your role needs two-factor sign-in: set it up in Loupe (Profile, Two-factor sign-in); "
                       "tokens work again once it is on.")


class ExpiringTokenAuthentication(authentication.TokenAuthentication):
    """``Authorization: Token <key>``; refuses expired tokens, inactive users and tokens issued
    before the last password change. A client user without a membership has no access either."""

    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = ApiToken.find(key)
        if token is None or not token.is_valid():
            raise exceptions.AuthenticationFailed("Invalid or expired token.")
        if two_factor.missing_for(token.user):
            raise exceptions.AuthenticationFailed(SECOND_FACTOR_FIRST)
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        # The web's TimezoneMiddleware ran before DRF knew who this is: show times in their zone now.
        zone = zone_of(token.user)
        if zone is not None:
            timezone.activate(zone)
        return token.user, token


def token_user(key: str) -> User | None:
    """The person a valid API token belongs to, or None (used before DRF authenticates)."""
    token = ApiToken.find(key) if key else None
    valid = token is not None and token.is_valid() and not two_factor.missing_for(token.user)
    return token.user if valid else None


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The e-mail address a login attempt was made for, lower-cased, whichever form sent it."""
    credentials = credentials or {}
    value = credentials.get("email") or credentials.get("username")
    if not value and request is not None and request.method == "POST":
        value = request.POST.get("username") or request.POST.get("email")
    return (value or "").strip().lower()


def lockout_response(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    message = "Too many failed logins. Try again in 15 minutes or ask your account manager."
    if request.path.startswith("/api/"):
        return problem_response(429, "Too many login attempts", message)
    return render(request, "registration/locked_out.html", {"message": message}, status=429)
