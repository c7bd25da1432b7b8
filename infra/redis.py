"""Redis clients built from settings."""

from __future__ import annotations

from redis.asyncio import Redis

from events.stream import StreamKeys
from infra.settings import RedisSettings


def make_redis(settings: RedisSettings) -> Redis:
    """A pooled client; health checks so a restarted Redis is reconnected transparently."""
    if not settings.url:
        raise RuntimeError("REDIS_URL is not set (switchyard up sets it for the embedded server)")
    client: Redis = Redis.from_url(
        settings.url,
        health_check_interval=10,
        socket_keepalive=True,
        retry_on_timeout=True,
    )
    return client


def stream_keys(settings: RedisSettings) -> StreamKeys:
    return StreamKeys(prefix=settings.prefix)


def restarts_key(prefix: str) -> str:
    """The hash in which `switchyard up` counts its children's restarts, for /metrics."""
    return f"{prefix}:up:restarts"
