"""Live pages without polling (issue 22): Server-Sent Events.

A service says that something changed with ``publish(topic, kind, ref=…, audience=…)`` (after its transaction
commits); every open stream of that topic hears ``{"topic", "kind", "ref"}``: ids and kinds only, the page then
fetches what its reader may see. Topics: ``order:<id>``, ``review:<delivery id>``, ``me:<user id>`` (the bell).

Across processes the news travels through Redis pub/sub where ``REDIS_URL`` is set (production: a worker's
publish reaches a browser connected to any web process), else through the ``LiveMessage`` table (the embedded
defaults of ``make run``: the worker and the web server share only the database). Each web process holds **one**
subscriber (``Hub``) that hands each message to the streams of its topic, so a thousand open pages cost a thousand
queues, not a thousand Redis connections. Under ASGI (uvicorn, gunicorn's uvicorn workers) a stream is an
asynchronous generator; under WSGI (``runserver``, the tests' live server) a thread reads the same news.

Who may open which stream, and which messages reach it (a client's stream never carries a studio-only line), is
the caller's: ``jobs.views_live`` authorizes like the pages do. A stream checks every ``HEARTBEAT`` seconds that
its reader may still read it (the session or the review link lasts) and ends when not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

logger = logging.getLogger("loupe.live")
CHANNEL = "loupe:live"
HEARTBEAT = 15.0  # seconds between keep-alives, and between checks that the reader may still read
POLL = 0.5  # seconds between reads of the table where there is no Redis
KEEP = timedelta(minutes=5)  # how long the table keeps a message
RETRY = b"retry: 3000\n\n"
KEEP_ALIVE = b": keep-alive\n\n"


def _redis_url() -> str | None:
    return getattr(settings, "REDIS_URL", None)


def publish(topic: str, kind: str, *, ref: Any = "", audience: str = "client") -> None:
    """Tell ``topic``'s streams that ``kind`` happened to ``ref``, once the current transaction commits (nothing
    when it rolls back). ``audience`` is who may hear it (``jobs.models.Audience``); it never leaves the server."""
    message = {"topic": topic, "kind": kind, "ref": str(ref), "audience": audience}
    transaction.on_commit(lambda: send(message))


def send(message: dict[str, Any]) -> None:
    """Publish now (``publish`` calls this after commit). A broker that fails loses a page's refresh, never the
    change itself: it is logged and the page's fallback poll catches up."""
    body = json.dumps(message, separators=(",", ":"))
    try:
        url = _redis_url()
        if url:
            import redis

            with redis.Redis.from_url(url) as client:
                client.publish(f"{CHANNEL}:{message['topic']}", body)
        else:
            from agency.models import LiveMessage

            row = LiveMessage.objects.create(topic=message["topic"][:80], body=body[:500])
            if row.pk % 100 == 0:  # now and then, forget what every stream has read
                LiveMessage.objects.filter(created_at__lt=timezone.now() - KEEP).delete()
    except Exception:  # noqa: BLE001 - see the docstring
        logger.warning("live message for %s not published", message.get("topic"), exc_info=True)


def frame(message: dict[str, Any], number: int) -> bytes:
    """One SSE message: its number, its topic's kind as the event's name (``order``, ``review``, ``me``: what a
    page's parts listen for, ``hx-trigger="sse:order"``), and the ids and kind (never the audience)."""
    data = json.dumps({k: message[k] for k in ("topic", "kind", "ref")}, separators=(",", ":"))
    name = message["topic"].split(":", 1)[0]
    return f"id: {number}\nevent: {name}\ndata: {data}\n\n".encode()


def _latest_id() -> int:
    from agency.models import LiveMessage

    return LiveMessage.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _read_table(topics: list[str], after: int) -> list[tuple[int, str]]:
    from agency.models import LiveMessage

    return list(LiveMessage.objects.filter(id__gt=after, topic__in=topics).order_by("id").values_list("id", "body"))


# --- under ASGI: one subscriber per process, a queue per stream ------------------------------------------------------

class Hub:
    """The process's one subscriber (Redis pub/sub, or the table), handing each message to its topic's queues."""

    def __init__(self) -> None:
        self.queues: dict[str, set[asyncio.Queue[Any]]] = defaultdict(set)
        self.task: asyncio.Task[None] | None = None
        self.number = 0  # the process's message count: each message is read and framed once, whatever its readers

    def join(self, topics: list[str]) -> asyncio.Queue[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1000)
        for topic in topics:
            self.queues[topic].add(queue)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return queue

    def leave(self, topics: list[str], queue: asyncio.Queue[Any]) -> None:
        for topic in topics:
            self.queues[topic].discard(queue)
            if not self.queues[topic]:
                del self.queues[topic]

    def _hand(self, topic: str, body: str | bytes) -> None:
        readers = self.queues.get(topic)
        if not readers:
            return
        message = json.loads(body)
        self.number += 1
        news = (message, frame(message, self.number))
        for queue in list(readers):
            if not queue.full():
                queue.put_nowait(news)

    async def _run(self) -> None:
        try:
            url = _redis_url()
            if url:
                await self._listen(url)
            else:
                await self._poll()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the streams end; browsers reconnect, or fall back to polling
            logger.warning("live subscriber stopped", exc_info=True)
            for queues in list(self.queues.values()):
                for queue in list(queues):
                    if not queue.full():
                        queue.put_nowait(None)

    async def _listen(self, url: str) -> None:
        import redis.asyncio as redis

        client = redis.Redis.from_url(url)
        pubsub = client.pubsub()
        await pubsub.psubscribe(f"{CHANNEL}:*")
        try:
            async for message in pubsub.listen():
                if message.get("type") == "pmessage":
                    channel = message["channel"].decode() if isinstance(message["channel"], bytes) else message["channel"]
                    self._hand(channel[len(CHANNEL) + 1:], message["data"])
        finally:
            await pubsub.aclose()
            await client.aclose()

    async def _poll(self) -> None:
        from asgiref.sync import sync_to_async

        after = await sync_to_async(_latest_id)()
        while True:
            await asyncio.sleep(POLL)
            topics = list(self.queues)
            if not topics:
                continue
            for number, body in await sync_to_async(_read_table)(topics, after):
                after = number
                self._hand(json.loads(body)["topic"], body)


_hubs: dict[int, Hub] = {}


def hub() -> Hub:
    """This event loop's hub (uvicorn runs one loop per worker process)."""
    loop = id(asyncio.get_running_loop())
    if loop not in _hubs:
        _hubs[loop] = Hub()
    return _hubs[loop]


async def async_stream(topics: list[str], *, may_read: Callable[[dict[str, Any]], bool],
                       still_open: Callable[[], Awaitable[bool]]) -> AsyncIterator[bytes]:
    """The stream of ``topics`` for one reader (ASGI)."""
    center = hub()
    queue = center.join(topics)
    try:
        yield RETRY
        checked = time.monotonic()
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT):
                    news = await queue.get()
            except TimeoutError:
                news = ()
            if news is None:
                return
            if news:  # under load several wait: one write for all of them (a busy page costs one send, not many)
                batch = [news]
                while not queue.empty() and len(batch) < 100:
                    batch.append(queue.get_nowait())
                if None in batch:
                    return
                chunk = b"".join(item[1] for item in batch if may_read(item[0]))
                if chunk:
                    yield chunk
            if time.monotonic() - checked >= HEARTBEAT:
                if not await still_open():
                    return
                checked = time.monotonic()
                yield KEEP_ALIVE
    finally:
        center.leave(topics, queue)


# --- under WSGI: a thread per stream ----------------------------------------------------------------------------------

def sync_stream(topics: list[str], *, may_read: Callable[[dict[str, Any]], bool],
                still_open: Callable[[], bool]) -> Iterator[bytes]:
    """The stream of ``topics`` for one reader (WSGI: ``runserver`` and the tests' live server hold a thread each)."""
    url = _redis_url()
    number = 0
    if url:  # subscribed before the first byte: nothing published after the page hears "retry" is missed
        import redis

        client = redis.Redis.from_url(url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(*[f"{CHANNEL}:{t}" for t in topics])
        read = lambda: [m["data"] for m in [pubsub.get_message(timeout=POLL)] if m]  # noqa: E731
    else:
        after = _latest_id()

        def read() -> list[str]:
            nonlocal after
            rows = _read_table(topics, after)
            if rows:
                after = rows[-1][0]
            else:
                time.sleep(POLL)
            return [body for _, body in rows]
    yield RETRY
    checked = time.monotonic()
    try:
        while True:
            try:
                news = read()
            except (DatabaseError, RuntimeError):  # the database went away under the stream (a restart, a test's
                logger.info("live stream of %s ended: its database is gone", topics)  # end): the page reconnects
                return
            for body in news:
                message = json.loads(body)
                if may_read(message):
                    number += 1
                    yield frame(message, number)
            if time.monotonic() - checked >= HEARTBEAT:
                if not still_open():
                    return
                checked = time.monotonic()
                yield KEEP_ALIVE
    finally:
        if url:
            pubsub.close()
            client.close()
