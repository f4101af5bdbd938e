"""Webhooks: endpoints a client admin (for the company) or the studio registers, the events sent to
them, and their signed, retried, logged deliveries.

Rules that matter for safety:
- **Where to**: HTTPS only, and every address the host name resolves to must be public (no loopback,
  private, link-local, metadata, multicast or reserved ranges), checked when the URL is saved *and*
  again at each send; the connection then goes to the address that was checked (no second lookup, so a
  name cannot be re-pointed in between). Redirects are never followed. ``LOUPE_WEBHOOK_ALLOWED_HOSTS``
  lets named hosts through (plain HTTP and private addresses) for development and the test suite.
- **Signature**: ``Loupe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the
  endpoint's secret (and, for a day after a rotation, a second ``v1`` with the previous secret, so
  receivers can switch without losing deliveries). ``verify_signature`` is the receiver's side.
- **Tenancy**: an event about a company's order or invoice goes to that company's endpoints and the
  studio's, never to another company's; the body holds ids and links, not the documents.
- **Retries**: a failed attempt is tried again after 1, 2, 4, … minutes (at most 6 hours apart) until
  24 hours have passed; then the delivery is given up and the endpoint, which kept failing for a day,
  is disabled and its owner told by mail. A delivery can be sent again by hand.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
import socket
import ssl
import time
import unicodedata
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agency.exceptions import InvalidTransition, RuleViolation
from agency.notifications import absolute_url, send_branded
from agency.permissions import require
from agency.statemachine import StateTable
from agency.tasks import enqueue_on_commit
from clients.models import Client, DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from clients.permissions import can_manage_webhooks

logger = logging.getLogger("loupe.webhooks")

SUBSCRIBABLE = [e for e in WebhookEvent.values if e != WebhookEvent.PING]
RETRY_FOR = timedelta(hours=24)
MAX_DELAY = timedelta(hours=6)

W = DeliveryStatus
# A delivery waits (``pending``) through its retries until the receiver answers 2xx or a day has passed.
WEBHOOK_DELIVERIES = StateTable("webhook delivery", dict(W.choices))
WEBHOOK_DELIVERIES.add("deliver", {W.PENDING}, W.DELIVERED)
WEBHOOK_DELIVERIES.add("give_up", {W.PENDING}, W.FAILED)
ROTATION_GRACE = timedelta(hours=24)
MAX_ENDPOINTS = 10


class Unsafe(Exception):
    """The URL may not be called (scheme, credentials, or an address that is not public)."""


# --- where deliveries may go -------------------------------------------------------------------------

def _allowed_host(host: str) -> bool:
    return host.lower() in {h.lower() for h in settings.LOUPE_WEBHOOK_ALLOWED_HOSTS}


# Where deliveries never go, written out rather than left to ``ipaddress.is_global`` (whose answers have
# changed between Python versions): private, loopback, link-local (cloud metadata), shared carrier-grade
# NAT, benchmarking, documentation, reserved, multicast and broadcast ranges; and the IPv6 forms that
# carry an IPv4 address inside them (NAT64, 6to4, Teredo, IPv4-compatible), which would reach any of those.
BLOCKED_NETWORKS = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4",
    "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7",
    "fe80::/10", "fec0::/10", "ff00::/8",
))


def _public(address: str) -> bool:
    """Is ``address`` a public internet address deliveries may go to?"""
    ip = ipaddress.ip_address(address)  # a scoped IPv6 address ("fe80::1%eth0") parses as it is
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not any(ip in network for network in BLOCKED_NETWORKS if network.version == ip.version)


def _plain(url: str) -> bool:
    """No whitespace or control character anywhere: what is checked is exactly what is called."""
    return not any(char.isspace() or unicodedata.category(char) in {"Cc", "Cf"} for char in url)


def resolve(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) for a URL deliveries may go to; ``Unsafe`` with the
    reason otherwise. Every address the name has must be public, not only the first."""
    if not _plain(url):
        raise Unsafe("The URL contains a space or a control character.")
    parts = urlsplit(url)
    host = parts.hostname or ""
    allowed = _allowed_host(host)
    if parts.scheme != "https" and not (parts.scheme == "http" and allowed):
        raise Unsafe("Webhook URLs must use https://.")
    if parts.username or parts.password:
        raise Unsafe("Put no user name or password in the URL; deliveries are signed instead.")
    if not host:
        raise Unsafe("The URL has no host name.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise Unsafe("The URL's port is not a number from 1 to 65535.") from exc
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unsafe(f"The host name {host} does not resolve.") from exc
    addresses = [info[4][0] for info in infos]
    if not allowed and not all(_public(a) for a in addresses):
        raise Unsafe(f"{host} points to a private, loopback, link-local or reserved address; webhooks only go "
                     "to public internet addresses.")
    return parts.scheme, host, port, addresses[0]


def _check_url(url: str) -> str:
    url = url or ""
    if len(url) > 500:
        raise RuleViolation("A webhook URL has at most 500 characters.", field="url")
    try:
        resolve(url)
    except Unsafe as exc:
        raise RuleViolation(str(exc), field="url") from exc
    return url


def _check_events(events: Any) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise RuleViolation("Choose at least one event.", field="events")
    unknown = [e for e in events if e not in SUBSCRIBABLE]
    if unknown:
        raise RuleViolation(f"Unknown events: {', '.join(map(str, unknown))}. Known: {', '.join(SUBSCRIBABLE)}.",
                            field="events")
    return sorted(set(events))


def _check_description(description: str) -> str:
    description = " ".join((description or "").split())
    if len(description) > 200:
        raise RuleViolation("A description has at most 200 characters.", field="description")
    return description


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# --- endpoints -------------------------------------------------------------------------------------

def _require_manager(by: Any, client: Client | None) -> None:
    require(can_manage_webhooks(by, client),
            "Only the company's admins (for the company) or the studio's managers manage webhooks.")


@transaction.atomic
def endpoint_create(*, by: Any, client: Client | None, url: str, events: list[str],
                    description: str = "") -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret, which is shown this once."""
    _require_manager(by, client)
    url, events, description = _check_url(url), _check_events(events), _check_description(description)
    if WebhookEndpoint.objects.filter(client=client).count() >= MAX_ENDPOINTS:
        raise RuleViolation(f"At most {MAX_ENDPOINTS} endpoints; delete one you no longer use.", field="url")
    secret = _new_secret()
    endpoint = WebhookEndpoint.objects.create(client=client, url=url, events=events, description=description,
                                              secret=secret, created_by=by)
    return endpoint, secret


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, by: Any, **fields: Any) -> WebhookEndpoint:
    """Change the URL, events, description, or switch it on or off (switching on clears the reason it
    was disabled)."""
    _require_manager(by, endpoint.client)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if "url" in fields:
        endpoint.url = _check_url(fields["url"])
    if "events" in fields:
        endpoint.events = _check_events(fields["events"])
    if "description" in fields:
        endpoint.description = _check_description(fields["description"])
    if "is_active" in fields:
        endpoint.is_active = bool(fields["is_active"])
        endpoint.disabled_reason = "" if endpoint.is_active else "switched off by hand"
    endpoint.save()
    return endpoint


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: WebhookEndpoint, by: Any) -> str:
    """A new secret (shown once). For a day, deliveries carry signatures with both the new and the
    previous secret, so the receiver can switch over without refusing any."""
    _require_manager(by, endpoint.client)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    endpoint.previous_secret, endpoint.secret = endpoint.secret, _new_secret()
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save(update_fields=["secret", "previous_secret", "secret_rotated_at"])
    return endpoint.secret


def endpoint_delete(*, endpoint: WebhookEndpoint, by: Any) -> None:
    _require_manager(by, endpoint.client)
    endpoint.delete()


# --- events ----------------------------------------------------------------------------------------

def order_data(order: Any) -> dict[str, Any]:
    return {"order": {"id": str(order.pk), "number": order.number, "title": order.title, "status": order.status,
                      "client": str(order.client_id), "url": absolute_url(f"/orders/{order.pk}/"),
                      "api_url": absolute_url(f"/api/v1/orders/{order.pk}/")}}


def invoice_data(invoice: Any) -> dict[str, Any]:
    return {"invoice": {"id": str(invoice.pk), "number": invoice.number, "kind": invoice.kind,
                        "currency": invoice.currency, "total": str(invoice.total),
                        "due_date": invoice.due_date.isoformat() if invoice.due_date else None,
                        "client": str(invoice.client_id), "url": absolute_url(f"/invoices/{invoice.pk}/"),
                        "api_url": absolute_url(f"/api/v1/invoices/{invoice.pk}/")}}


def _body(event_id: uuid.UUID, event_type: str, data: dict[str, Any]) -> str:
    return json.dumps({"id": str(event_id), "type": event_type, "created_at": timezone.now().isoformat(),
                       "data": data}, separators=(",", ":"), sort_keys=True)


def emit(event_type: str, *, client_id: Any, data: dict[str, Any] | Callable[[], dict[str, Any]]) -> int:
    """Queue ``event_type`` for the company's endpoints and the studio's that want it (after commit).
    ``data`` may be a function: a payload that costs queries (``review.decided``'s tallies) is then made only
    when some endpoint wants the event. Returns the number of deliveries made."""
    endpoints = [e for e in WebhookEndpoint.objects.filter(Q(client_id=client_id) | Q(client__isnull=True),
                                                           is_active=True)
                 if event_type in e.events]
    if not endpoints:
        return 0
    event_id = uuid.uuid4()
    body = _body(event_id, event_type, data() if callable(data) else data)
    made = WebhookDelivery.objects.bulk_create([
        WebhookDelivery(endpoint=e, event_id=event_id, event_type=event_type, body=body) for e in endpoints])
    for delivery in made:
        enqueue_on_commit("clients.tasks.deliver_webhook", str(delivery.pk), group="webhooks")
    return len(made)


@transaction.atomic
def ping(*, endpoint: WebhookEndpoint, by: Any) -> WebhookDelivery:
    """A test delivery, to check the receiver and its signature check."""
    _require_manager(by, endpoint.client)
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event_id=event_id, event_type=WebhookEvent.PING,
                                              body=_body(event_id, "ping", {"endpoint": str(endpoint.pk)}))
    enqueue_on_commit("clients.tasks.deliver_webhook", str(delivery.pk), group="webhooks")
    return delivery


@transaction.atomic
def redeliver(*, delivery: WebhookDelivery, by: Any) -> WebhookDelivery:
    """Send a delivery again now (after fixing the receiver), whatever its state; its retries start over."""
    _require_manager(by, delivery.endpoint.client)
    if not delivery.endpoint.is_active:
        raise InvalidTransition("The endpoint is switched off; switch it on first.")
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.PENDING, next_attempt_at=timezone.now(), created_at=timezone.now(), claimed_until=None)
    enqueue_on_commit("clients.tasks.deliver_webhook", str(delivery.pk), group="webhooks")
    delivery.refresh_from_db()
    return delivery


# --- sending ---------------------------------------------------------------------------------------

def sign(secret: str, timestamp: int, body: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def signature_header(endpoint: WebhookEndpoint, body: str, *, now: float | None = None) -> str:
    timestamp = int(now if now is not None else time.time())
    values = [f"t={timestamp}", f"v1={sign(endpoint.secret, timestamp, body)}"]
    if (endpoint.previous_secret and endpoint.secret_rotated_at
            and timezone.now() - endpoint.secret_rotated_at < ROTATION_GRACE):
        values.append(f"v1={sign(endpoint.previous_secret, timestamp, body)}")
    return ",".join(values)


def verify_signature(secret: str, header: str, body: str, *, tolerance: int = 300, now: float | None = None) -> bool:
    """The receiver's check (documented in docs/webhooks.md): one ``v1`` matches and the time stamp is
    recent (a replayed old delivery is refused)."""
    fields = [part.split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [v for k, v in fields if k.strip() == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, v.strip()) for k, v in fields if k.strip() == "v1")


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to the address that was checked, with the certificate checked for the host name."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def _post(url: str, body: str, headers: dict[str, str]) -> int:
    """POST and return the status code; ``Unsafe`` before any connection if the URL's addresses are
    not public now."""
    scheme, host, port, address = resolve(url)
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    timeout = settings.LOUPE_WEBHOOK_TIMEOUT
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(host, address, port, timeout)
    try:
        connection.request("POST", path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


def _next_delay(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_DELAY)


def attempt(delivery_id: Any) -> WebhookDelivery | None:
    """One try of a delivery, claimed so two workers never send it at once; records the attempt, then
    schedules the next one, gives up after 24 hours (disabling the endpoint) or marks it delivered."""
    now = timezone.now()
    if not WebhookEndpoint.objects.filter(deliveries=delivery_id, is_active=True).exists():
        return None
    # Only the row's own columns in the claim: an UPDATE filtered through a join becomes "id IN
    # (subquery)", which PostgreSQL does not re-check after waiting for a concurrent claim (two workers
    # would both win, as the race test showed).
    claimed = WebhookDelivery.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now), pk=delivery_id, status=DeliveryStatus.PENDING,
        next_attempt_at__lte=now,
    ).update(claimed_until=now + timedelta(seconds=settings.LOUPE_WEBHOOK_TIMEOUT * 3 + 30))
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    headers = {"Content-Type": "application/json", "User-Agent": "Loupe-Webhooks/1",
               "Loupe-Event": delivery.event_type, "Loupe-Delivery": str(delivery.pk),
               "Loupe-Signature": signature_header(endpoint, delivery.body)}
    started = time.perf_counter()
    status_code, error = None, ""
    try:
        status_code = _post(endpoint.url, delivery.body, headers)
        if status_code // 100 == 3:
            error = "answered with a redirect, which is not followed"
        elif status_code // 100 != 2:
            error = f"answered {status_code}"
    except Unsafe as exc:
        error = str(exc)
    except TimeoutError:
        error = f"no answer within {settings.LOUPE_WEBHOOK_TIMEOUT} seconds"
    except (OSError, http.client.HTTPException) as exc:
        error = f"could not connect: {type(exc).__name__}"
    latency = int((time.perf_counter() - started) * 1000)
    return _record(delivery, status_code=status_code, error=error, latency=latency)


@transaction.atomic
def _record(delivery: WebhookDelivery, *, status_code: int | None, error: str, latency: int) -> WebhookDelivery:
    now = timezone.now()
    WebhookAttempt.objects.create(delivery=delivery, at=now, status_code=status_code, latency_ms=latency,
                                  error=error[:300])
    delivery.attempts += 1
    delivery.last_status_code, delivery.last_latency_ms, delivery.last_error = status_code, latency, error[:300]
    delivery.claimed_until = None
    if not error:
        WEBHOOK_DELIVERIES.move(delivery, "deliver")
        delivery.delivered_at = now
    else:
        following = now + _next_delay(delivery.attempts)
        if following - delivery.created_at > RETRY_FOR:
            WEBHOOK_DELIVERIES.move(delivery, "give_up")
            _give_up(delivery.endpoint, error)
        else:
            delivery.next_attempt_at = following
    delivery.save()
    logger.info("webhook delivery %s attempt %s: %s", delivery.pk, delivery.attempts, error or status_code)
    return delivery


def _give_up(endpoint: WebhookEndpoint, error: str) -> None:
    """The endpoint kept failing for a day: switch it off and tell whoever registered it."""
    updated = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, disabled_reason=f"switched off after failing for 24 hours ({error[:200]})")
    if updated:
        enqueue_on_commit("clients.tasks.mail_webhook_switched_off", str(endpoint.pk), group="mail")


def mail_switched_off(*, endpoint_id: Any) -> int:
    """Tell whoever registered an endpoint that it was switched off (the task's body; after commit)."""
    endpoint = WebhookEndpoint.objects.select_related("created_by").get(pk=endpoint_id)
    owner = endpoint.created_by
    if endpoint.is_active or owner is None or not owner.is_active:
        return 0
    url = absolute_url(f"/webhooks/{endpoint.pk}/")
    return send_branded(
        f"Webhook switched off: {endpoint.url}",
        f"Loupe could not deliver events to {endpoint.url} for 24 hours ({endpoint.disabled_reason}). Fix the "
        f"receiver, switch it on again and send the failed deliveries again:\n{url}\n", [owner.email])


def due_deliveries() -> list[str]:
    """Pending deliveries whose next try is due (the periodic retry task sends them)."""
    return [str(pk) for pk in WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now(), endpoint__is_active=True,
    ).values_list("pk", flat=True)[:500]]
