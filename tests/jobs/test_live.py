"""Live pages (issue 22, agency/live.py and jobs/views_live.py): a stream is authorized like its page (another
company's order is a 404), carries only what its reader may read (a client's never a studio-only line), ids and
kinds only, and ends when the session or the review link does; services publish after their transaction commits.
The ASGI path's hub is tested over the real Redis."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from django.db import transaction
from django.test import Client as HttpClient

from agency import live
from agency.models import LiveMessage
from jobs.models import Audience
from jobs.review import shares
from tests.conftest import require_redis, web_for
from tests.factories import PASSWORD, delivered_with_previews

pytestmark = pytest.mark.django_db
KINDS = {Audience.CLIENT: "for.client", Audience.STUDIO: "for.studio", Audience.MANAGERS: "for.managers"}


def _opened(response):
    """A stream as a page holds it once open (its first bytes read: from then on nothing published is missed)."""
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    stream = iter(response.streaming_content)
    assert next(stream) == live.RETRY
    return stream


def _frames(stream, until="sentinel", limit=40):
    """The messages an open stream gives until the one whose kind is ``until`` (published last)."""
    got = []
    for _ in range(limit):
        chunk = next(stream).decode()
        if chunk.startswith(":"):
            continue
        fields = dict(line.split(": ", 1) for line in chunk.strip().splitlines())
        data = json.loads(fields["data"])
        got.append((fields["event"], data["topic"], data["kind"]))
        assert set(data) == {"topic", "kind", "ref"}  # ids and kinds only: never the audience, never a text
        if data["kind"] == until:
            return got
    raise AssertionError(f"no {until} among {got}")


def _publish_everything(cast, order):
    for audience, kind in KINDS.items():
        live.send({"topic": f"order:{order.pk}", "kind": kind, "ref": "1", "audience": audience})
    live.send({"topic": f"order:{cast.globex_order.pk}", "kind": "other.tenant", "ref": "2", "audience": Audience.CLIENT})
    live.send({"topic": f"me:{cast.globex_member.pk}", "kind": "their.bell", "ref": "3", "audience": Audience.CLIENT})
    live.send({"topic": f"order:{order.pk}", "kind": "sentinel", "ref": "4", "audience": Audience.CLIENT})


@pytest.mark.parametrize("persona, expected", [
    ("acme_member", ["for.client"]),
    ("acme_admin", ["for.client"]),
    ("account_manager", ["for.client", "for.studio", "for.managers"]),
    ("admin", ["for.client", "for.studio", "for.managers"]),
])
def test_a_stream_carries_what_its_reader_may_read_and_nothing_of_another_company(cast, persona, expected):
    order = cast.acme_order
    response = web_for(getattr(cast, persona)).get(f"/events/?topic=order:{order.pk}&topic=me")
    assert response["Cache-Control"] == "no-store"
    stream = _opened(response)
    _publish_everything(cast, order)
    got = _frames(stream)
    assert [kind for _, _, kind in got] == [*expected, "sentinel"]
    assert {event for event, _, _ in got} == {"order"}


def test_the_bell_hears_only_its_own_persons_news(cast):
    stream = _opened(web_for(cast.acme_member).get("/events/?topic=me"))
    live.send({"topic": f"me:{cast.acme_admin.pk}", "kind": "not.mine", "ref": "1", "audience": Audience.CLIENT})
    live.send({"topic": f"me:{cast.acme_member.pk}", "kind": "sentinel", "ref": "2", "audience": Audience.CLIENT})
    assert _frames(stream) == [("me", f"me:{cast.acme_member.pk}", "sentinel")]


@pytest.mark.parametrize("persona, topic, status", [
    ("globex_member", "order:{acme_order}", 404),
    ("acme_member", "order:{globex_order}", 404),
    ("acme_member", "review:{globex_delivery}", 404),
    ("acme_member", "order:not-a-uuid", 400),
    ("acme_member", "invoice:{acme_order}", 400),
    ("acme_member", "", 400),
    ("retoucher", "order:{acme_order}", 404),
])
def test_a_stream_is_authorized_like_its_page(cast, persona, topic, status):
    globex_delivery = delivered_with_previews(cast.globex, "Gems", count=1)
    topic = topic.format(acme_order=cast.acme_order.pk, globex_order=cast.globex_order.pk,
                         globex_delivery=globex_delivery.pk)
    assert web_for(getattr(cast, persona)).get(f"/events/?topic={topic}").status_code == status
    assert web_for(cast.acme_member).get("/events/?" + "&".join(["topic=me"] * 5)).status_code == 400
    assert HttpClient().get(f"/events/?topic=order:{cast.acme_order.pk}").status_code == 401  # never a redirect


def test_a_stream_ends_when_its_session_does(cast, monkeypatch):
    monkeypatch.setattr(live, "HEARTBEAT", 0)
    browser = HttpClient()
    assert browser.post("/login/", {"username": cast.acme_member.email, "password": PASSWORD}).status_code == 302
    response = browser.get("/events/?topic=me")
    stream = iter(response.streaming_content)
    assert next(stream) == live.RETRY
    assert next(stream) == live.KEEP_ALIVE  # the session lasts
    browser.post("/logout/")
    with pytest.raises(StopIteration):
        next(stream)


def test_a_guests_stream_is_their_review_with_what_the_client_reads_until_the_link_ends(cast, monkeypatch):
    delivery = delivered_with_previews(cast.acme, "Spring rings", count=1)
    link, token = shares.share_create(delivery=delivery, by=cast.acme_admin, email="dora@agency.test")
    guest = HttpClient()
    assert guest.get(f"{shares.link_path(token)}events/").status_code == 404  # not confirmed yet
    assert guest.post(shares.link_path(token), {"name": "Dora"}).status_code == 302
    stream = _opened(guest.get(f"{shares.link_path(token)}events/"))
    for audience, kind in KINDS.items():
        live.send({"topic": f"review:{delivery.pk}", "kind": kind, "ref": "1", "audience": audience})
    live.send({"topic": f"order:{delivery.order_id}", "kind": "the.order", "ref": "1", "audience": Audience.CLIENT})
    live.send({"topic": f"review:{delivery.pk}", "kind": "sentinel", "ref": "1", "audience": Audience.CLIENT})
    assert [kind for _, _, kind in _frames(stream)] == ["for.client", "sentinel"]
    monkeypatch.setattr(live, "HEARTBEAT", 0)
    stream = iter(guest.get(f"{shares.link_path(token)}events/").streaming_content)
    assert next(stream) == live.RETRY and next(stream) == live.KEEP_ALIVE
    shares.share_revoke(link=link, by=cast.acme_admin)
    with pytest.raises(StopIteration):
        next(stream)
    assert guest.get(f"{shares.link_path(token)}events/").status_code == 410


def test_services_publish_after_commit_and_never_for_a_rollback(cast, django_capture_on_commit_callbacks):
    from jobs.events import record_event

    with django_capture_on_commit_callbacks(execute=True):
        record_event(order=cast.acme_order, actor=None, verb="order.updated", message="x", audience=Audience.CLIENT)
    row = LiveMessage.objects.get()
    assert row.topic == f"order:{cast.acme_order.pk}" and json.loads(row.body)["kind"] == "order.updated"
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            record_event(order=cast.acme_order, actor=None, verb="order.updated", message="y", audience=Audience.CLIENT)
            raise RuntimeError("the change fails half-way")
    assert LiveMessage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_asgi_hub_fans_redis_messages_out_to_each_topics_streams(settings):
    """One subscriber per process: two streams of one topic and one of another, fed over the real Redis."""
    require_redis()
    settings.REDIS_URL = "redis://127.0.0.1:6379/12"

    async def scenario():
        async def opened():
            return True

        allowed = lambda message: message["audience"] == Audience.CLIENT  # noqa: E731
        streams = [live.async_stream(["order:a"], may_read=allowed, still_open=opened),
                   live.async_stream(["order:a"], may_read=allowed, still_open=opened),
                   live.async_stream(["order:b"], may_read=allowed, still_open=opened)]
        assert [await s.__anext__() for s in streams] == [live.RETRY] * 3
        waiting = [asyncio.ensure_future(s.__anext__()) for s in streams]
        for _ in range(50):  # the hub has subscribed once the first message gets through
            await asyncio.sleep(0.05)
            live.send({"topic": "order:a", "kind": "probe", "ref": "0", "audience": Audience.CLIENT})
            if waiting[0].done():
                break
        first = waiting[0].result()
        assert b'"kind":"probe"' in first
        live.send({"topic": "order:b", "kind": "secret", "ref": "1", "audience": Audience.STUDIO})
        live.send({"topic": "order:b", "kind": "for.b", "ref": "1", "audience": Audience.CLIENT})
        b = await asyncio.wait_for(waiting[2], 5)
        assert b'"kind":"for.b"' in b and b"event: order" in b
        for task in waiting[1:2]:
            assert b'"kind":"probe"' in await asyncio.wait_for(task, 5)
        assert len(live.hub().queues["order:a"]) == 2
        for stream in streams:
            await stream.aclose()
        assert "order:a" not in live.hub().queues and "order:b" not in live.hub().queues
        live.hub().task.cancel()

    # in a thread of its own: where browser tests ran before in this process, Playwright holds the main thread's loop
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the hub's scenario did not finish"
    if failure:
        raise failure[0]


def test_a_stream_is_never_sent_to_the_second_factor_setup_as_a_page_to_come_back_to(cast, settings):
    settings.LOUPE_REQUIRE_2FA_FOR_STAFF = True
    answer = web_for(cast.account_manager).get("/events/?topic=me")
    assert answer.status_code == 403 and "Location" not in answer and "two-factor" in answer.content.decode()
    assert web_for(cast.account_manager).get("/orders/").status_code == 302  # a page still goes to the setup
