"""The security log: sign-ins, failed sign-ins and lockouts, second-factor changes, invitations, role
changes, seat removals, API tokens and company suspensions, each with time, actor and address.

Services call ``record``; the address and browser of the request being served come from
``SecurityContextMiddleware`` (a context variable), so no service needs the request passed down.
Sign-ins, failures and lockouts are recorded from Django's and django-axes' signals, whichever page
or endpoint made them.
"""

from __future__ import annotations

import contextvars
from typing import Any

from django.http import HttpRequest

from agency.models import SecurityEvent, User

Kind = SecurityEvent.Kind
NOBODY = object()  # ``subject`` for events about a company rather than a person

_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("loupe_security_request", default=None)


def bind_request(request: HttpRequest | None) -> contextvars.Token[HttpRequest | None]:
    return _request.set(request)


def current_request() -> HttpRequest | None:
    """The request being served, if any (a task serves none)."""
    return _request.get()


def unbind_request(token: contextvars.Token[HttpRequest | None]) -> None:
    _request.reset(token)


def client_address(request: HttpRequest | None) -> str | None:
    """The address django-axes counts failures against (it knows the proxy settings), else the peer."""
    if request is None:
        return None
    from agency.auth import client_ip  # the trusted proxy's word for it (agency.auth imports this module)

    address = getattr(request, "axes_ip_address", None) or client_ip(request) or None
    return address


def _company_of(person: Any) -> Any:
    if person is None or not getattr(person, "is_client", False):
        return None
    membership = getattr(person, "membership", None)
    return membership.client if membership is not None else None


def record(kind: str, *, actor: Any = None, subject: Any = None, company: Any = None, detail: str = "",
           email: str = "", request: HttpRequest | None = None) -> SecurityEvent:
    """Write one line. ``subject`` is the person whose access changed (default: the actor);
    ``company`` defaults to the subject's company (or the actor's); ``email`` names the address tried
    when no account matches (failed sign-ins)."""
    request = request if request is not None else _request.get()
    actor = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    subject = None if subject is NOBODY else subject if subject is not None else actor
    company = company if company is not None else (_company_of(subject) or _company_of(actor))
    user_agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
    return SecurityEvent.objects.create(
        kind=kind,
        actor=actor, actor_email=actor.email if actor is not None else "",
        subject=subject, subject_email=(subject.email if subject is not None else email)[:254],
        company_id=company.pk if company is not None else None,
        company_name=company.name[:200] if company is not None else "",
        ip_address=client_address(request), user_agent=user_agent[:200], detail=detail[:300],
    )


def person_of(email: str) -> User | None:
    return User.objects.select_related("membership__client").filter(email__iexact=email).first() if email else None
