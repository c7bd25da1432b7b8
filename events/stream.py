"""Event streams on Redis: one stream per topic for replay, one fan-out stream for live relay.

Publishing writes the event to each of its topic streams and then one entry to the fan-out
stream that names the (topic, id) pairs, all inside one Lua script, so a hub never sees a live
event whose replay copy does not exist yet, and the ids a client sees are the topic streams' own
(what it sends back as `since`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from redis.asyncio import Redis

from events.model import EVENT_VERSION, Event

_PUBLISH = """
local n = #KEYS - 1
local out = {}
for i = 1, n do
  local id = redis.call('XADD', KEYS[i + 1], 'MAXLEN', '~', ARGV[4], '*',
                        't', ARGV[1], 'd', ARGV[2], 'v', ARGV[3])
  redis.call('EXPIRE', KEYS[i + 1], ARGV[6])
  out[i] = ARGV[6 + i] .. ' ' .. id
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*',
           't', ARGV[1], 'd', ARGV[2], 'v', ARGV[3], 'ids', table.concat(out, '\\n'))
return out
"""

_encode = msgspec.json.encode


class StreamKeys(msgspec.Struct, frozen=True):
    """Every Redis key the platform uses, under one prefix."""

    prefix: str = "sy"

    def command(self, pool: str) -> str:
        return f"{self.prefix}:cmd:{pool}"

    def topic(self, topic: str) -> str:
        return f"{self.prefix}:ev:{topic}"

    @property
    def fanout(self) -> str:
        return f"{self.prefix}:ev:fanout"

    @property
    def cancel_channel(self) -> str:
        return f"{self.prefix}:cancel"

    def worker(self, pool: str, worker_id: str) -> str:
        return f"{self.prefix}:worker:{pool}:{worker_id}"

    def workers_pattern(self, pool: str) -> str:
        return f"{self.prefix}:worker:{pool}:*"

    def arq_queue(self, pool: str, worker_id: str) -> str:
        return f"{self.prefix}:arq:{pool}:{worker_id}"

    def rate(self, name: str) -> str:
        return f"{self.prefix}:rate:{name}"


class EventPublisher:
    """Appends events to their topics' streams and to the fan-out stream."""

    def __init__(
        self,
        redis: Redis,
        keys: StreamKeys,
        *,
        retention_s: int = 3600,
        maxlen: int = 10_000,
        fanout_maxlen: int = 100_000,
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._retention_s = retention_s
        self._maxlen = maxlen
        self._fanout_maxlen = fanout_maxlen

    @property
    def redis(self) -> Redis:
        return self._redis

    def _eval_args(self, type_: str, data: Any, topics: Sequence[str]) -> list[Any]:
        """EVAL's arguments: the script, its keys, then its ARGV.

        EVAL with the script text rather than redis-py's registered Script: inside a pipeline
        a Script costs a SCRIPT EXISTS round trip on every execute, while Redis caches an
        EVALed script by its hash (and reloads it by itself after a restart)."""
        return [
            _PUBLISH,
            1 + len(topics),
            self._keys.fanout,
            *(self._keys.topic(t) for t in topics),
            type_,
            _encode(data),
            EVENT_VERSION,
            self._maxlen,
            self._fanout_maxlen,
            self._retention_s,
            *topics,
        ]

    async def publish(self, type_: str, data: Any, topics: Sequence[str]) -> dict[str, str]:
        """Publish one event; returns {topic: entry id}."""
        pairs: list[bytes] = await self._redis.eval(*self._eval_args(type_, data, topics))  # type: ignore[misc]
        return dict(_split_pair(p) for p in pairs)

    async def publish_many(self, events: Sequence[tuple[str, Any, Sequence[str]]]) -> None:
        """Publish several events in one round trip, in order."""
        if not events:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for type_, data, topics in events:
                self.add_to(pipe, type_, data, topics)
            await pipe.execute()

    def add_to(self, pipe: Any, type_: str, data: Any, topics: Sequence[str]) -> None:
        """Queue one event on a caller's pipeline, so it travels with the caller's commands."""
        pipe.eval(*self._eval_args(type_, data, topics))


def _split_pair(raw: bytes | str) -> tuple[str, str]:
    text = raw.decode() if isinstance(raw, bytes) else raw
    topic, _, entry_id = text.rpartition(" ")
    return topic, entry_id


def _field(fields: dict[Any, Any], name: str) -> Any:
    value = fields.get(name.encode(), fields.get(name))
    return value


def decode_fanout(fields: dict[Any, Any]) -> list[Event]:
    """One fan-out entry → one Event per topic it was published to."""
    type_ = _field(fields, "t")
    type_ = type_.decode() if isinstance(type_, bytes) else type_
    data = msgspec.Raw(_field(fields, "d"))
    v = int(_field(fields, "v") or EVENT_VERSION)
    ids = _field(fields, "ids")
    ids = ids.decode() if isinstance(ids, bytes) else ids
    out = []
    for line in ids.split("\n"):
        if line:
            topic, entry_id = _split_pair(line)
            out.append(Event(id=entry_id, topic=topic, type=type_, data=data, v=v))
    return out


async def read_topic(
    redis: Redis, keys: StreamKeys, topic: str, after: str | None, count: int = 1000
) -> list[Event]:
    """Events on `topic` strictly after `after` (all retained ones when None), oldest first."""
    start = f"({after}" if after else "-"
    entries = await redis.xrange(keys.topic(topic), min=start, max="+", count=count)
    out = []
    for entry_id, fields in entries:
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        type_ = _field(fields, "t")
        out.append(
            Event(
                id=eid,
                topic=topic,
                type=type_.decode() if isinstance(type_, bytes) else type_,
                data=msgspec.Raw(_field(fields, "d")),
                v=int(_field(fields, "v") or EVENT_VERSION),
            )
        )
    return out


async def oldest_id(redis: Redis, keys: StreamKeys, topic: str) -> str | None:
    """The oldest retained entry id on a topic, to tell a client its replay has a gap."""
    first = await redis.xrange(keys.topic(topic), min="-", max="+", count=1)
    if not first:
        return None
    entry_id = first[0][0]
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id
