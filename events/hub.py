"""The WebSocket hub: one fan-out reader per API process, many subscribers.

Replay and live delivery meet without gap or duplicate: while a topic replays, live events for
it are held back; afterwards both go through the same per-topic "last id delivered" filter.
Stream ids only grow, so that filter is a comparison.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

from events.model import Event, stream_id_key
from events.stream import StreamKeys, decode_fanout, oldest_id, read_topic

log = logging.getLogger("switchyard.hub")


class Subscriber:
    """One connection's view: its topics, what it has been sent, and a bounded queue."""

    def __init__(self, user_id: str, queue_size: int) -> None:
        self.user_id = user_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=queue_size)
        self.last: dict[str, tuple[int, int] | None] = {}
        self.held: dict[str, list[Event]] = {}
        self.overflowed = asyncio.Event()
        # Set whenever something is queued (or the subscriber overflows): the sender sleeps
        # on this instead of a task per message.
        self.ready = asyncio.Event()

    @property
    def topics(self) -> set[str]:
        return set(self.last)

    def offer(self, event: Event) -> None:
        """Queue an event unless already delivered; a full queue marks the subscriber slow."""
        if event.topic in self.held:
            self.held[event.topic].append(event)
            return
        if event.topic not in self.last:
            return
        key = stream_id_key(event.id)
        last = self.last[event.topic]
        if last is not None and key <= last:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # Dropping silently would break "exactly what it missed"; the client reconnects
            # with its last ids and replays instead.
            self.overflowed.set()
            self.ready.set()
            return
        self.last[event.topic] = key
        self.ready.set()


class Hub:
    """Reads the fan-out stream and routes events to subscribers by topic."""

    def __init__(
        self,
        redis: Redis,
        keys: StreamKeys,
        *,
        queue_size: int = 1000,
        block_ms: int = 2000,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._queue_size = queue_size
        self._block_ms = block_ms
        self._by_topic: dict[str, set[Subscriber]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.connections = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="hub-fanout")
        await self._ready.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def connect(self, user_id: str) -> Subscriber:
        self.connections += 1
        return Subscriber(user_id, self._queue_size)

    def disconnect(self, sub: Subscriber) -> None:
        self.connections -= 1
        for topic in sub.topics:
            self._remove(sub, topic)

    def _remove(self, sub: Subscriber, topic: str) -> None:
        subs = self._by_topic.get(topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_topic[topic]
        sub.last.pop(topic, None)
        sub.held.pop(topic, None)

    def unsubscribe(self, sub: Subscriber, topics: Iterable[str]) -> None:
        for topic in topics:
            self._remove(sub, topic)

    async def subscribe(
        self, sub: Subscriber, topics: Iterable[str], since: Mapping[str, str] | None = None
    ) -> list[str]:
        """Subscribe, replaying what came after `since[topic]`; returns topics with a gap."""
        since = since or {}
        replay: list[str] = []
        for topic in topics:
            self._by_topic[topic].add(sub)
            after = since.get(topic)
            if after is None:
                sub.last.setdefault(topic, None)
                continue
            sub.last[topic] = stream_id_key(after) if after not in ("0", "0-0") else None
            sub.held[topic] = []
            replay.append(topic)
        gaps = []
        for topic in replay:
            after = since[topic]
            oldest = await oldest_id(self._redis, self._keys, topic)
            if (
                oldest is not None
                and after not in ("0", "0-0")
                and stream_id_key(oldest) > stream_id_key(after)
            ):
                # `after` itself was trimmed: the retention window may not hold all it missed.
                gaps.append(topic)
            events: list[Event] = []
            cursor: str | None = after if after not in ("0", "0-0") else None
            while True:
                page = await read_topic(self._redis, self._keys, topic, cursor)
                events.extend(page)
                if len(page) < 1000:
                    break
                cursor = page[-1].id
            # No await between here and the end of the loop body: nothing can interleave.
            held = sub.held.pop(topic, [])
            for event in events:
                sub.offer(event)
            for event in held:
                sub.offer(event)
        return gaps

    async def _run(self) -> None:
        last = "$"
        delay = 0.1
        while True:
            try:
                if last == "$":
                    # Pin the starting point to a real id so a reconnect resumes exactly there.
                    info: Any = await self._redis.xinfo_stream(self._keys.fanout)
                    last = _text(info["last-generated-id"])
                self._ready.set()
                resp = await self._redis.xread(
                    {self._keys.fanout: last}, count=1000, block=self._block_ms
                )
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if "no such key" in str(exc).lower():
                    await self._redis.xadd(self._keys.fanout, {"t": "hub.init"}, maxlen=100_000)
                    continue
                self._ready.set()
                log.warning("hub: fan-out read failed, retrying in %.1fs: %s", delay, exc)
                await asyncio.sleep(delay)
                delay = min(5.0, delay * 2)
                continue
            for _stream, entries in resp or ():
                for entry_id, fields in entries:
                    last = _text(entry_id)
                    if b"ids" not in fields and "ids" not in fields:
                        continue
                    for event in decode_fanout(fields):
                        for sub in tuple(self._by_topic.get(event.topic, ())):
                            sub.offer(event)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
