"""Webhooks (issue 10, SECURITY.md A3, A8, A9, T3): registering endpoints, what each event sends and to
whom, signatures (also across a secret rotation), retries, giving up, redelivery, and SSRF refusals at
save and at send time with a socket spy. Real deliveries go to a receiver on 127.0.0.1 (the allowance
the suite sets in ``LOUPE_WEBHOOK_ALLOWED_HOSTS``)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.utils import timezone

from agency.exceptions import NotPermitted, RuleViolation
from clients import tasks, webhooks
from clients.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from jobs import workflow
from tests.conftest import api_for, web_for

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP server on 127.0.0.1 that records each POST and answers what the test asks. An answer
    that is ``held`` waits until the test calls ``release()`` (a receiver slower than any timeout)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str], bool]] = []
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                status, headers, held = receiver.answers.pop(0) if receiver.answers else (200, {}, False)
                if held:
                    receiver.released.wait(timeout=60)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/loupe"
        # a short poll: shutting the server down at the end of a test waits for it (0.5 s by default)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def answer(self, status: int, headers: dict[str, str] | None = None, held: bool = False) -> None:
        self.answers.append((status, headers or {}, held))

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.release()
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def connections(monkeypatch) -> list[tuple[str, int]]:
    """Every address a socket connects to during the test (the socket spy of SECURITY.md A9)."""
    seen: list[tuple[str, int]] = []
    real = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> Any:
        seen.append(address if isinstance(address, tuple) else (str(address), 0))
        return real(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return seen


def _endpoint(client, url, events=("order.submitted",), by=None) -> tuple[WebhookEndpoint, str]:
    return webhooks.endpoint_create(by=by, client=client, url=url, events=list(events))


def _resolving(monkeypatch, mapping: dict[str, str | list[str]]) -> None:
    """Names this machine cannot look up (no DNS here) resolve as a public resolver would answer (a
    list: a name with several addresses, in that order)."""
    real = socket.getaddrinfo

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in mapping:
            addresses = mapping[host] if isinstance(mapping[host], list) else [mapping[host]]
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                    for a in addresses]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


# --- registering -------------------------------------------------------------------------------


def test_a_client_admin_registers_an_endpoint_and_sees_the_secret_once(cast, receiver):
    api = api_for(cast.acme_admin)
    made = api.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["order.submitted", "invoice.issued"],
                                          "description": "PIM sync"}, format="json")
    assert made.status_code == 201
    body = made.json()
    assert body["secret"].startswith("whsec_") and body["client"] == str(cast.acme.pk)
    assert sorted(body["events"]) == ["invoice.issued", "order.submitted"]
    listed = api.get("/api/v1/webhooks/").json()["results"]
    assert [row["url"] for row in listed] == [receiver.url] and "secret" not in listed[0]
    assert api_for(cast.globex_admin).get(f"/api/v1/webhooks/{body['id']}/").status_code == 404
    assert api_for(cast.globex_admin).get("/api/v1/webhooks/").json()["results"] == []
    assert api_for(cast.acme_member).get("/api/v1/webhooks/").status_code == 403


@pytest.mark.parametrize("body,field,reason", [
    ({"events": []}, "events", "at least"),
    ({"events": ["order.exploded"]}, "events", "not a valid choice"),
    ({"url": "x" * 501}, "url", "500"),
    ({"description": "d" * 201}, "description", "200"),
])
def test_bad_registrations_are_refused(cast, receiver, body, field, reason):
    response = api_for(cast.acme_admin).post("/api/v1/webhooks/", {"url": receiver.url, "events": ["order.submitted"],
                                                                    **body}, format="json")
    assert response.status_code == 400 and reason in json.dumps(response.json()["errors"][field])
    assert not WebhookEndpoint.objects.exists()


def test_a_client_admin_cannot_make_a_studio_endpoint_or_another_company_s(cast, receiver):
    api = api_for(cast.acme_admin)
    other = api.post("/api/v1/webhooks/", {"url": receiver.url, "events": ["order.submitted"],
                                           "client": str(cast.globex.pk)}, format="json")
    assert other.status_code == 400 and not WebhookEndpoint.objects.exists()
    from agency.exceptions import NotPermitted

    with pytest.raises(NotPermitted):
        webhooks.endpoint_create(by=cast.acme_admin, client=None, url=receiver.url, events=["order.submitted"])


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://[::1]/hook", "https://169.254.169.254/latest/meta-data/",
    "https://10.1.2.3/hook", "https://192.168.1.20/hook", "https://172.16.0.4/hook", "https://[::ffff:127.0.0.1]/h",
    "https://localhost/hook", "https://internal.example.test/hook", "https://0.0.0.0/hook",
])
def test_private_addresses_are_refused_at_save(cast, settings, monkeypatch, connections, url):
    settings.LOUPE_WEBHOOK_ALLOWED_HOSTS = []
    _resolving(monkeypatch, {"internal.example.test": "10.0.0.8"})
    response = api_for(cast.acme_admin).post("/api/v1/webhooks/", {"url": url, "events": ["order.submitted"]},
                                             format="json")
    assert response.status_code == 400 and "public" in response.json()["errors"]["url"][0]
    assert not WebhookEndpoint.objects.exists() and connections == []


@pytest.mark.parametrize("url,reason", [
    ("http://hooks.example.test/x", "https://"), ("ftp://hooks.example.test/x", "https://"),
    ("https://user:pw@hooks.example.test/x", "password"), ("https://no-such-host.invalid/x", "does not resolve"),
    ("https://hooks.example.test:99999/x", "port"),
])
def test_other_bad_urls_are_refused(cast, settings, monkeypatch, url, reason):
    settings.LOUPE_WEBHOOK_ALLOWED_HOSTS = []
    _resolving(monkeypatch, {"hooks.example.test": "93.184.216.34"})
    response = api_for(cast.acme_admin).post("/api/v1/webhooks/", {"url": url, "events": ["order.submitted"]},
                                             format="json")
    assert response.status_code == 400 and reason in response.json()["errors"]["url"][0]


# Each form an address deliveries must never reach may take, named by what it is.
FORBIDDEN = {
    "carrier-grade NAT": "100.64.0.1", "carrier-grade NAT, top": "100.127.255.254", "benchmarking": "198.18.0.1",
    "documentation": "192.0.2.10", "IETF protocol": "192.0.0.8", "6to4 relay": "192.88.99.1", "reserved": "240.0.0.1",
    "multicast": "224.0.0.251", "broadcast": "255.255.255.255", "this network": "0.1.2.3",
    "NAT64 of 10.0.0.1": "64:ff9b::a00:1", "NAT64 of a public address": "64:ff9b::5db8:d822",
    "6to4 of 10.0.0.1": "2002:a00:1::1", "Teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "IPv4-compatible": "::10.0.0.1", "IPv4-mapped loopback": "::ffff:127.0.0.1", "unique local": "fd00::1",
    "link-local v6": "fe80::1", "site-local v6": "fec0::1", "documentation v6": "2001:db8::1", "discard v6": "100::1",
}


@pytest.mark.parametrize("address", FORBIDDEN.values(), ids=FORBIDDEN.keys())
def test_every_non_public_form_of_an_address_is_refused_at_save_and_at_send(cast, settings, monkeypatch, connections,
                                                                            address):
    settings.LOUPE_WEBHOOK_ALLOWED_HOSTS = []
    _resolving(monkeypatch, {"hooks.example.test": address})
    response = api_for(cast.acme_admin).post("/api/v1/webhooks/", {"url": "https://hooks.example.test/loupe",
                                                                    "events": ["order.submitted"]}, format="json")
    assert response.status_code == 400 and "public" in response.json()["errors"]["url"][0]
    assert not WebhookEndpoint.objects.exists()
    with pytest.raises(webhooks.Unsafe):
        webhooks.resolve("https://hooks.example.test/loupe")
    assert connections == []


@pytest.mark.parametrize("addresses", [["93.184.216.34", "10.0.0.5"], ["10.0.0.5", "93.184.216.34"],
                                       ["2606:2800:220:1::1", "::1"], ["93.184.216.34", "100.64.0.9"]],
                         ids=["public-then-private", "private-then-public", "v6-public-then-loopback", "public-then-cgnat"])
def test_a_name_with_several_addresses_is_refused_if_any_is_not_public(cast, settings, monkeypatch, connections,
                                                                       addresses):
    settings.LOUPE_WEBHOOK_ALLOWED_HOSTS = []
    _resolving(monkeypatch, {"hooks.example.test": addresses})
    response = api_for(cast.acme_admin).post("/api/v1/webhooks/", {"url": "https://hooks.example.test/loupe",
                                                                    "events": ["order.submitted"]}, format="json")
    assert response.status_code == 400 and not WebhookEndpoint.objects.exists() and connections == []


@pytest.mark.parametrize("url", ["https://hooks.example.test/lo upe", "https://hooks.example.test/loupe\x00",
                                 "https://hooks.example.test/\r\nX-Injected: 1", "https://hooks.example\t.test/",
                                 "https://hooks.example.test/\u200bloupe"])
def test_whitespace_and_control_characters_are_refused(cast, settings, monkeypatch, url):
    settings.LOUPE_WEBHOOK_ALLOWED_HOSTS = []
    _resolving(monkeypatch, {"hooks.example.test": "93.184.216.34"})
    with pytest.raises(RuleViolation):
        webhooks.endpoint_create(by=cast.acme_admin, client=cast.acme, url=url, events=["order.submitted"])
    assert not WebhookEndpoint.objects.exists()
    with pytest.raises(webhooks.Unsafe):
        webhooks.resolve(url)


def test_a_public_https_url_is_accepted(cast, settings, monkeypatch):
    settings.LOUPE_WEBHOOK_ALLOWED_HOSTS = []
    _resolving(monkeypatch, {"hooks.example.test": "93.184.216.34"})
    response = api_for(cast.acme_admin).post("/api/v1/webhooks/", {"url": "https://hooks.example.test/loupe",
                                                                    "events": ["order.submitted"]}, format="json")
    assert response.status_code == 201


# --- events and deliveries ---------------------------------------------------------------------


def test_an_order_event_goes_to_its_company_and_the_studio_only(cast, receiver, django_capture_on_commit_callbacks):
    acme, acme_secret = _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    studio, studio_secret = _endpoint(None, receiver.url + "?studio=1", events=webhooks.SUBSCRIBABLE,
                                      by=cast.account_manager)
    globex, _ = _endpoint(cast.globex, receiver.url + "?globex=1", by=cast.globex_admin)
    from tests.factories import add_images

    add_images(cast.acme_order, {"standard": 1})
    with django_capture_on_commit_callbacks(execute=True):
        workflow.order_submit(order_id=cast.acme_order.pk, by=cast.acme_member)
    assert {d.endpoint_id for d in WebhookDelivery.objects.all()} == {acme.pk, studio.pk}
    assert sorted(r["path"] for r in receiver.requests) == ["/hooks/loupe", "/hooks/loupe?studio=1"]
    event_ids = {d.event_id for d in WebhookDelivery.objects.all()}
    assert len(event_ids) == 1  # one event, the same id for every endpoint
    for request in receiver.requests:
        secret = studio_secret if "studio" in request["path"] else acme_secret
        headers = request["headers"]
        assert webhooks.verify_signature(secret, headers["Loupe-Signature"], request["body"])
        assert not webhooks.verify_signature("whsec_wrong", headers["Loupe-Signature"], request["body"])
        assert headers["Loupe-Event"] == "order.submitted" and headers["Content-Type"] == "application/json"
        event = json.loads(request["body"])
        assert sorted(event) == ["created_at", "data", "id", "type"] and event["id"] == str(*event_ids)
        assert abs(datetime.fromisoformat(event["created_at"]) - timezone.now()) < timedelta(minutes=1)
        assert event["type"] == "order.submitted"
        base = settings.LOUPE_BASE_URL.rstrip("/")  # the order as an integration reads it, field by field
        order = cast.acme_order
        assert event["data"] == {"order": {
            "id": str(order.pk), "number": order.number, "title": order.title, "status": "submitted",
            "client": str(cast.acme.pk), "url": f"{base}/orders/{order.pk}/", "api_url": f"{base}/api/v1/orders/{order.pk}/"}}
        assert "CANARY" not in request["body"]
    delivered = WebhookDelivery.objects.get(endpoint=acme)
    assert delivered.status == "delivered" and delivered.attempts == 1 and delivered.last_status_code == 200
    assert delivered.last_latency_ms is not None and delivered.attempt_log.count() == 1


def test_a_failing_receiver_is_retried_later_and_given_up_after_a_day(cast, receiver,
                                                                      django_capture_on_commit_callbacks):
    endpoint, _ = _endpoint(cast.acme, receiver.url, events=["order.submitted"], by=cast.acme_admin)
    receiver.answer(500)
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 500
    assert timedelta(seconds=50) < delivery.next_attempt_at - timezone.now() < timedelta(seconds=70)
    tasks.retry_webhooks()  # not due yet: nothing is sent
    assert len(receiver.requests) == 1
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())
    receiver.answer(503)
    tasks.retry_webhooks()
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and timedelta(seconds=110) < delivery.next_attempt_at - timezone.now()
    # a day later the last try fails too: the delivery is given up and the endpoint switched off
    WebhookDelivery.objects.update(next_attempt_at=timezone.now(), created_at=timezone.now() - timedelta(hours=23, minutes=59))
    receiver.answer(500)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.retry_webhooks()
    delivery.refresh_from_db()
    endpoint.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 3
    assert not endpoint.is_active and "24 hours" in endpoint.disabled_reason
    assert mail.outbox[-1].to == [cast.acme_admin.email] and "switched off" in mail.outbox[-1].subject
    # nothing more is sent to a switched-off endpoint, until it is switched on and redelivered
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    assert len(receiver.requests) == 3
    api = api_for(cast.acme_admin)
    refused = api.post(f"/api/v1/webhooks/{endpoint.pk}/redeliver/", {"delivery": str(delivery.pk)}, format="json")
    assert refused.status_code == 409
    api.patch(f"/api/v1/webhooks/{endpoint.pk}/", {"is_active": True}, format="json")
    with django_capture_on_commit_callbacks(execute=True):
        again = api.post(f"/api/v1/webhooks/{endpoint.pk}/redeliver/", {"delivery": str(delivery.pk)}, format="json")
    assert again.status_code == 202
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 4 and len(receiver.requests) == 4
    log = api.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").json()["results"]
    assert [row["status"] for row in log] == ["delivered"]


def test_a_redirect_is_not_followed(cast, receiver, connections, django_capture_on_commit_callbacks):
    _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    receiver.answer(302, {"Location": "http://169.254.169.254/latest/meta-data/"})
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and "redirect" in delivery.last_error
    assert {address[0] for address in connections} == {"127.0.0.1"} and len(receiver.requests) == 1


def test_the_address_is_checked_again_when_sending(cast, settings, monkeypatch, connections):
    settings.LOUPE_WEBHOOK_ALLOWED_HOSTS = []
    _resolving(monkeypatch, {"hooks.example.test": "93.184.216.34"})
    _endpoint(cast.acme, "https://hooks.example.test/loupe", by=cast.acme_admin)
    _resolving(monkeypatch, {"hooks.example.test": "169.254.169.254"})  # the name now points inside
    webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    delivery = webhooks.attempt(WebhookDelivery.objects.get().pk)
    assert delivery.status == "pending" and "private" in delivery.last_error and connections == []


def test_a_slow_receiver_times_out(cast, receiver, settings, django_capture_on_commit_callbacks):
    settings.LOUPE_WEBHOOK_TIMEOUT = 0.3
    _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    receiver.answer(200, held=True)  # answers only after the sender gave up
    with django_capture_on_commit_callbacks(execute=True):
        webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    receiver.release()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "pending" and "no answer within 0.3 seconds" in delivery.last_error


def test_a_secret_rotated_while_deliveries_wait_signs_with_both(cast, receiver):
    endpoint, old = _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))  # queued
    response = api_for(cast.acme_admin).post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/")
    new = response.json()["secret"]
    assert response.status_code == 200 and new != old and response["Cache-Control"] == "no-store"
    webhooks.attempt(WebhookDelivery.objects.get().pk)
    request = receiver.requests[0]
    header = request["headers"]["Loupe-Signature"]
    assert header.count("v1=") == 2
    assert webhooks.verify_signature(new, header, request["body"]) and webhooks.verify_signature(old, header, request["body"])
    # a day later only the new secret signs
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret_rotated_at=timezone.now() - timedelta(hours=25))
    endpoint.refresh_from_db()
    later = webhooks.signature_header(endpoint, "{}")
    assert later.count("v1=") == 1 and webhooks.verify_signature(new, later, "{}")


def test_an_old_signature_is_refused_by_the_documented_check():
    header = f"t={int(time.time()) - 600},v1={webhooks.sign('whsec_x', int(time.time()) - 600, '{}')}"
    assert not webhooks.verify_signature("whsec_x", header, "{}")
    assert not webhooks.verify_signature("whsec_x", "v1=abc", "{}")


def test_the_documented_check_at_its_edges():
    stamp = 1_800_000_000
    good = f"t={stamp},v1={webhooks.sign('whsec_x', stamp, '{}')}"
    # five minutes either way is recent, a second more is not; the receiver's own clock when it gives none
    for offset, recent in ((300, True), (-300, True), (301, False), (-301, False)):
        assert webhooks.verify_signature("whsec_x", good, "{}", now=stamp + offset) is recent
        with time_machine.travel(stamp + offset, tick=False):
            assert webhooks.verify_signature("whsec_x", good, "{}") is recent
    # fields are split at their first "=" only: a value with "=" in it is that field's value
    assert webhooks.verify_signature("whsec_x", f"{good},v2=a=b", "{}", now=stamp)
    assert not webhooks.verify_signature("whsec_x", f"{good},t=1=2", "{}", now=stamp)  # a second time stamp
    assert not webhooks.verify_signature("whsec_x", f"{good},t={stamp}", "{}", now=stamp)
    assert webhooks.verify_signature("whsec_x", f"t={stamp}, v1=nope, v1={webhooks.sign('whsec_x', stamp, '{}')}", "{}",
                                     now=stamp)  # any v1 that matches


def test_a_delivery_is_sent_once_however_often_its_task_runs(cast, receiver):
    """SECURITY.md T3 and A8: the task claims its row; a delivered, unknown or foreign id sends nothing."""
    _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    delivery_id = str(WebhookDelivery.objects.get().pk)
    for _ in range(3):  # (at once, on PostgreSQL: tests/integration/test_postgres_concurrency.py)
        tasks.deliver_webhook(delivery_id)
    tasks.deliver_webhook("00000000-0000-0000-0000-000000000000")
    assert len(receiver.requests) == 1 and WebhookDelivery.objects.get().attempts == 1


def test_an_invoice_event(cast, receiver, django_capture_on_commit_callbacks, settings):
    from tests.billing.invoicing_setup import address, billing_profile, issued_invoice
    from tests.factories import default_price_list

    _endpoint(cast.acme, receiver.url, events=["invoice.issued"], by=cast.acme_admin)
    default_price_list()
    billing_profile()
    address(cast.acme)
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issued_invoice(cast.acme, cast)
    event = json.loads(receiver.requests[0]["body"])
    assert event["type"] == "invoice.issued"
    assert event["data"] == {"invoice": {
        "id": str(invoice.pk), "number": invoice.number, "kind": "invoice", "currency": "EUR", "total": str(invoice.total),
        "due_date": invoice.due_date.isoformat(), "client": str(cast.acme.pk),
        "url": f"{settings.LOUPE_BASE_URL}/invoices/{invoice.pk}/",
        "api_url": f"{settings.LOUPE_BASE_URL}/api/v1/invoices/{invoice.pk}/"}}


def test_ping_and_the_pages(cast, receiver, django_capture_on_commit_callbacks):
    web = web_for(cast.acme_admin)
    page = web.post("/webhooks/", {"url": receiver.url, "events": ["order.submitted"], "description": "PIM"})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    assert 'id="webhook-secret">whsec_' in page.content.decode()
    endpoint = WebhookEndpoint.objects.get()
    assert "whsec_" not in web.get("/webhooks/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        assert web.post(f"/webhooks/{endpoint.pk}/", {"action": "ping"}).status_code == 302
    assert json.loads(receiver.requests[0]["body"])["type"] == "ping"
    detail = web.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert "ping" in detail and "Delivered" in detail and "Send again" in detail
    assert web.post(f"/webhooks/{endpoint.pk}/", {"action": "update", "url": receiver.url, "events": ["order.delivered"],
                                                 "description": "DAM"}).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.events == ["order.delivered"] and endpoint.description == "DAM"
    bad = web.post(f"/webhooks/{endpoint.pk}/", {"action": "update", "url": "https://10.0.0.1/x", "events": ["ping"]})
    assert bad.status_code == 400
    assert web.post(f"/webhooks/{endpoint.pk}/", {"action": "disable"}).status_code == 302
    assert not WebhookEndpoint.objects.get().is_active
    assert "whsec_" in web.post(f"/webhooks/{endpoint.pk}/", {"action": "rotate"}).content.decode()
    assert web.post(f"/webhooks/{endpoint.pk}/", {"action": "delete"}).status_code == 302
    assert not WebhookEndpoint.objects.exists()
    assert web_for(cast.acme_member).get("/webhooks/").status_code == 403


@pytest.mark.parametrize("address,public", [("fe80::1%eth0", False), ("::ffff:8.8.8.8", True),
                                            ("::ffff:10.0.0.1", False), ("2001:4860:4860::8888%2", True),
                                            ("::ffff:100.64.0.1", False)])  # Python calls it global in IPv6 form
def test_addresses_in_their_ipv6_spellings(address, public):
    assert webhooks._public(address) is public


def test_retries_wait_twice_as_long_each_time_up_to_six_hours():
    waits = [webhooks._next_delay(attempts) for attempts in range(0, 12)]
    assert [int(w.total_seconds() // 60) for w in waits] == [1, 1, 2, 4, 8, 16, 32, 64, 128, 256, 360, 360]


def test_giving_up_switches_off_that_endpoint_once_and_mails_its_owner_once(cast, monkeypatch, settings):
    queued = []
    monkeypatch.setattr(webhooks, "enqueue_on_commit", lambda func, *args, group: queued.append((func, *args, group)))
    _resolving(monkeypatch, {"hooks.acme.test": "93.184.216.34"})
    failing, _ = _endpoint(cast.acme, "https://hooks.acme.test/a", by=cast.acme_admin)
    other, _ = _endpoint(cast.acme, "https://hooks.acme.test/b", by=cast.acme_admin)
    webhooks._give_up(failing, "timed out " + "x" * 300)
    webhooks._give_up(failing, "again")
    failing.refresh_from_db()
    assert (failing.is_active, failing.disabled_reason) == (
        False, f"switched off after failing for 24 hours (timed out {'x' * 190})")
    assert WebhookEndpoint.objects.get(pk=other.pk).is_active
    assert queued == [("clients.tasks.mail_webhook_switched_off", str(failing.pk), "mail")]
    assert webhooks.mail_switched_off(endpoint_id=failing.pk) == 1
    sent = mail.outbox[-1]
    assert (sent.subject, sent.to) == ("Webhook switched off: https://hooks.acme.test/a", [cast.acme_admin.email])
    assert sent.body == ("Loupe could not deliver events to https://hooks.acme.test/a for 24 hours "
                         f"({failing.disabled_reason}). Fix the receiver, switch it on again and send the failed "
                         f"deliveries again:\n{settings.LOUPE_BASE_URL}/webhooks/{failing.pk}/\n")


def test_the_switched_off_mail_goes_only_to_an_active_owner_of_an_endpoint_still_off(cast, monkeypatch):
    _resolving(monkeypatch, {"hooks.acme.test": "93.184.216.34"})
    endpoint, _ = _endpoint(cast.acme, "https://hooks.acme.test/a", by=cast.acme_admin)
    assert webhooks.mail_switched_off(endpoint_id=endpoint.pk) == 0  # switched on again meanwhile
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    type(cast.acme_admin).objects.filter(pk=cast.acme_admin.pk).update(is_active=False)
    assert webhooks.mail_switched_off(endpoint_id=endpoint.pk) == 0
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(created_by=None)
    assert webhooks.mail_switched_off(endpoint_id=endpoint.pk) == 0
    assert mail.outbox == []


def test_due_deliveries_are_pending_due_and_for_active_endpoints_500_at_a_time(cast, monkeypatch):
    from clients.models import DeliveryStatus as W

    _resolving(monkeypatch, {"hooks.acme.test": "93.184.216.34"})
    now = timezone.now().replace(microsecond=0)
    endpoint, _ = _endpoint(cast.acme, "https://hooks.acme.test/a", by=cast.acme_admin)
    off, _ = _endpoint(cast.acme, "https://hooks.acme.test/off", by=cast.acme_admin)
    WebhookEndpoint.objects.filter(pk=off.pk).update(is_active=False)

    def delivery(target, **fields):
        return WebhookDelivery(endpoint=target, event_type="order.submitted", body="{}", **fields)

    WebhookDelivery.objects.bulk_create(
        [delivery(endpoint, next_attempt_at=now)] + [delivery(endpoint, next_attempt_at=now + timedelta(seconds=1)),
                                                     delivery(endpoint, next_attempt_at=now, status=W.DELIVERED),
                                                     delivery(endpoint, next_attempt_at=now, status=W.FAILED),
                                                     delivery(off, next_attempt_at=now)])
    due = WebhookDelivery.objects.get(endpoint=endpoint, next_attempt_at=now, status=W.PENDING)
    with time_machine.travel(now, tick=False):
        assert webhooks.due_deliveries() == [str(due.pk)]
        WebhookDelivery.objects.bulk_create([delivery(endpoint, next_attempt_at=now) for _ in range(500)])
        assert len(webhooks.due_deliveries()) == 500


@pytest.mark.parametrize("status,error", [(200, ""), (299, ""), (300, "answered with a redirect, which is not followed"),
                                          (399, "answered with a redirect, which is not followed"),
                                          (400, "answered 400"), (199, "answered 199"), (500, "answered 500")])
def test_what_counts_as_delivered(cast, receiver, status, error):
    endpoint, _ = _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    receiver.answer(status)
    delivery = webhooks.attempt(WebhookDelivery.objects.get().pk)
    assert (delivery.last_status_code, delivery.last_error) == (status, error)
    assert delivery.status == ("delivered" if not error else "pending")
    headers = receiver.requests[0]["headers"]
    assert (headers["User-Agent"], headers["Loupe-Delivery"], headers["Loupe-Event"], headers["Content-Type"]) == (
        "Loupe-Webhooks/1", str(delivery.pk), "order.submitted", "application/json")


def test_a_delivery_is_claimed_for_three_timeouts_and_half_a_minute(cast, receiver, settings, monkeypatch):
    """While one worker sends, the row is claimed until then; another worker's try does nothing, and a
    claim that has run out is taken over. Only this delivery's endpoint being off stops it."""
    endpoint, _ = _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    other, _ = _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    WebhookEndpoint.objects.filter(pk=other.pk).update(is_active=False)
    webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    now = timezone.now().replace(microsecond=0)
    seen = []

    def post(url, body, headers):
        seen.append(WebhookDelivery.objects.get(pk=delivery.pk).claimed_until)
        return 200

    monkeypatch.setattr(webhooks, "_post", post)
    with time_machine.travel(now, tick=False):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_until=now, next_attempt_at=now)  # due now, and
        # the claim of a worker that stalled runs out this very second
        assert webhooks.attempt(delivery.pk) is None  # "lt": not yet
        WebhookDelivery.objects.filter(pk=delivery.pk).update(claimed_until=now - timedelta(seconds=1))
        assert webhooks.attempt(delivery.pk).status == "delivered"
    assert seen == [now + timedelta(seconds=settings.LOUPE_WEBHOOK_TIMEOUT * 3 + 30)]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="pending", claimed_until=None,
                                                          next_attempt_at=now + timedelta(seconds=1))
    with time_machine.travel(now, tick=False):
        assert webhooks.attempt(delivery.pk) is None  # not due yet
    assert len(seen) == 1


def test_the_events_an_endpoint_asks_for_are_checked(cast, receiver):
    for events, message in (([], "Choose at least one event."), ("order.submitted", "Choose at least one event."),
                            (["order.submitted", "order.eaten", 7],
                             f"Unknown events: order.eaten, 7. Known: {', '.join(webhooks.SUBSCRIBABLE)}.")):
        with pytest.raises(RuleViolation) as refused:
            webhooks.endpoint_create(by=cast.acme_admin, client=cast.acme, url=receiver.url, events=events)
        assert (refused.value.message, refused.value.field) == (message, "events")
    assert not WebhookEndpoint.objects.exists()


def test_a_signature_covers_the_body_and_its_own_time(cast, receiver):
    endpoint, secret = _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    header = webhooks.signature_header(endpoint, '{"a": 1}', now=1_800_000_000)
    assert header.startswith("t=1800000000,v1=")
    assert webhooks.verify_signature(secret, header, '{"a": 1}', now=1_800_000_000)
    assert not webhooks.verify_signature(secret, header, '{"a": 2}', now=1_800_000_000)


def test_the_previous_secret_signs_for_exactly_a_day_after_rotation(cast, receiver):
    endpoint, _ = _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    rotated = timezone.now().replace(microsecond=0)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret="whsec_old", secret_rotated_at=rotated)
    endpoint.refresh_from_db()
    with time_machine.travel(rotated + timedelta(hours=24) - timedelta(seconds=1), tick=False):
        assert webhooks.signature_header(endpoint, "{}").count("v1=") == 2
    with time_machine.travel(rotated + timedelta(hours=24), tick=False):
        assert webhooks.signature_header(endpoint, "{}").count("v1=") == 1


def test_a_description_is_one_line_of_at_most_200_characters(cast, receiver):
    endpoint, secret = webhooks.endpoint_create(by=cast.acme_admin, client=cast.acme, url=receiver.url,
                                                events=["order.submitted"], description="  Shop\n  sync " + "x" * 190)
    assert endpoint.description == "Shop sync " + "x" * 190  # 200 characters
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret)
    with pytest.raises(RuleViolation) as refused:
        webhooks.endpoint_create(by=cast.acme_admin, client=cast.acme, url=receiver.url, events=["order.submitted"],
                                 description="x" * 201)
    assert (refused.value.message, refused.value.field) == ("A description has at most 200 characters.", "description")
    assert WebhookEndpoint.objects.count() == 1
    assert _endpoint(cast.acme, receiver.url, by=cast.acme_admin)[0].description == ""


def test_a_delivery_body_is_compact_json_with_sorted_keys(cast, receiver):
    _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    webhooks.emit("order.submitted", client_id=cast.acme.pk, data={"b": 1, "a": [1, 2]})
    body = WebhookDelivery.objects.get().body
    assert body == json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True)
    assert ": " not in body and ", " not in body and body.index('"a"') < body.index('"b"')


URL_REFUSALS = [
    ("", "Webhook URLs must use https://."),
    ("https://hooks.example.test/a b", "The URL contains a space or a control character."),
    ("http://hooks.example.test/", "Webhook URLs must use https://."),
    ("https://user@hooks.example.test/", "Put no user name or password in the URL; deliveries are signed instead."),
    ("https:///only/a/path", "The URL has no host name."),
    ("https://hooks.example.test:99999/", "The URL's port is not a number from 1 to 65535."),
    ("https://10.0.0.1/", "10.0.0.1 points to a private, loopback, link-local or reserved address; webhooks only go "
                          "to public internet addresses."),
    ("https://hooks.example.test/" + "x" * 474, "A webhook URL has at most 500 characters."),  # 501
]


@pytest.mark.parametrize("url,message", URL_REFUSALS, ids=[m for _, m in URL_REFUSALS])
def test_each_refused_url_says_why(cast, monkeypatch, url, message):
    _resolving(monkeypatch, {"hooks.example.test": "93.184.216.34"})
    with pytest.raises(RuleViolation) as refused:
        webhooks.endpoint_create(by=cast.acme_admin, client=cast.acme, url=url, events=["order.submitted"])
    assert (refused.value.message, refused.value.field) == (message, "url")
    assert not WebhookEndpoint.objects.exists()


def test_a_url_of_500_characters_and_the_ports_it_goes_to(cast, monkeypatch, settings):
    _resolving(monkeypatch, {"hooks.example.test": "93.184.216.34"})
    url = "https://hooks.example.test/" + "x" * 473
    assert len(url) == 500 and webhooks.endpoint_create(by=cast.acme_admin, client=cast.acme, url=url,
                                                        events=["order.submitted"])[0].url == url
    assert webhooks.resolve("https://hooks.example.test/") == ("https", "hooks.example.test", 443, "93.184.216.34")
    settings.LOUPE_WEBHOOK_ALLOWED_HOSTS = ["Hooks.Internal.Test", "127.0.0.1"]
    _resolving(monkeypatch, {"hooks.internal.test": "10.1.2.3"})
    assert webhooks.resolve("http://HOOKS.internal.test/x") == ("http", "hooks.internal.test", 80, "10.1.2.3")


def test_a_delivery_of_a_switched_off_endpoint_is_not_sent_while_another_endpoint_is_on(cast, receiver):
    endpoint, _ = _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    _endpoint(cast.acme, receiver.url, events=("order.completed",), by=cast.acme_admin)  # on, with nothing due
    assert webhooks.attempt(delivery.pk) is None
    assert receiver.requests == [] and WebhookDelivery.objects.get(pk=delivery.pk).attempts == 0


def test_an_address_nobody_listens_on_is_named_as_such_and_its_latency_measured(cast, receiver, monkeypatch):
    endpoint, _ = _endpoint(cast.acme, receiver.url, by=cast.acme_admin)
    receiver.server.shutdown()
    receiver.server.server_close()  # the port is closed: connecting is refused at once
    webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    clock = iter([1000.0, 1001.5])  # the attempt reads the clock before and after sending: 1,500 ms
    monkeypatch.setattr(webhooks.time, "perf_counter", lambda: next(clock))
    delivery = webhooks.attempt(WebhookDelivery.objects.get().pk)
    assert (delivery.status, delivery.last_status_code, delivery.last_error, delivery.last_latency_ms) == (
        "pending", None, "could not connect: ConnectionRefusedError", 1500)
    assert WebhookAttempt.objects.get(delivery=delivery).latency_ms == 1500


def test_a_url_without_a_path_is_sent_to_the_root(cast, receiver):
    endpoint, _ = _endpoint(cast.acme, receiver.url.removesuffix("/hooks/loupe"), by=cast.acme_admin)
    webhooks.emit("order.submitted", client_id=cast.acme.pk, data=webhooks.order_data(cast.acme_order))
    webhooks.attempt(WebhookDelivery.objects.get(endpoint=endpoint).pk)
    assert [r["path"] for r in receiver.requests] == ["/"]


def test_who_manages_webhooks_is_said_in_full(cast):
    with pytest.raises(NotPermitted) as refused:
        _endpoint(cast.acme, "https://hooks.example.test/loupe", by=cast.acme_member)
    assert refused.value.message == (
        "Only the company's admins (for the company) or the studio's managers manage webhooks.")
    assert not WebhookEndpoint.objects.exists()


def test_a_payload_that_costs_queries_is_made_only_when_an_endpoint_wants_the_event(cast):
    """``review.decided`` counts every reviewer's answer for its payload: nobody subscribed, nothing is counted."""
    made = []

    def payload() -> dict[str, Any]:
        made.append(1)
        return webhooks.order_data(cast.acme_order)

    assert webhooks.emit("review.decided", client_id=cast.acme.pk, data=payload) == 0 and made == []
    WebhookEndpoint.objects.create(client=cast.acme, url="http://127.0.0.1:9/hook", events=["order.submitted"],
                                   secret="s" * 32)
    assert webhooks.emit("review.decided", client_id=cast.acme.pk, data=payload) == 0 and made == []  # not this event
    WebhookEndpoint.objects.create(client=None, url="http://127.0.0.1:9/studio", events=["review.decided"],
                                   secret="s" * 32)
    assert webhooks.emit("review.decided", client_id=cast.acme.pk, data=payload) == 1 and made == [1]
    body = json.loads(WebhookDelivery.objects.get(event_type="review.decided").body)
    assert body["data"]["order"]["number"] == cast.acme_order.number
