"""`GET /ws`: the platform's event stream for clients.

Protocol (JSON text frames):
  client → {"type": "auth", "token": T}            (first message, unless ?token=T was given;
                                                    later: a newer token renews the socket)
  client → {"type": "subscribe", "topics": [...], "since": {"<topic>": "<last id>"}}
  client → {"type": "unsubscribe", "topics": [...]}
  client → {"type": "ping"} / {"type": "pong"}
  server → {"id", "topic", "type", "data"}          one event (type "job.progress", ...)
  server → {"type": "subscribed", "topics": [...], "gaps": [...]}
  server → {"type": "authenticated", "expires_at": <unix time>}   (a renewal was taken)
  server → {"type": "error", "code", "detail"} / {"type": "ping"} / {"type": "pong"}
Close codes: 4401 bad, missing or expired token (a socket closes when its token expires,
unless renewed), 4403 a topic the caller may not read, 4008 too slow to keep up (reconnect
with `since`).

`serve_topics` serves a contract's own socket (e.g. `/rigging/ws?session=…`) on the same hub:
the service names the topics, authorizes them through its topic authorizer, and translates
each event into its contract's frame; replay, pings and the slow-consumer rule are the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from api.state import Resources, resources
from events.hub import Subscriber
from events.model import Event
from infra.db import job as repo
from infra.security import InvalidToken, Principal, decode_access_token

log = logging.getLogger("switchyard.ws")

PING_EVERY_S = 20.0
MAX_TOPICS = 1000


class ClientMessage(msgspec.Struct, kw_only=True):
    type: str
    token: str | None = None
    topics: list[str] = msgspec.field(default_factory=list)
    since: dict[str, str] = msgspec.field(default_factory=dict)


_decode = msgspec.json.Decoder(ClientMessage).decode
_encode = msgspec.json.encode


async def _job_owner(res: Resources, principal: Principal, job_id: str) -> bool:
    try:
        jid = uuid.UUID(job_id)
    except ValueError:
        return False
    async with res.autocommit.connect() as conn:
        row = await repo.get_job(conn, jid, uuid.UUID(principal.id))
    return row is not None


# One event → the frame a client is sent; None skips the event.
Frame = Callable[[Event], Any | None]


def platform_frame(event: Event) -> dict[str, Any]:
    return {"id": event.id, "topic": event.topic, "type": event.type, "data": event.data}


async def authorize_topic(res: Resources, principal: Principal | None, topic: str) -> bool:
    """May this caller (None: anonymous) read this topic? Admins read everything."""
    scope, _, ident = topic.partition(":")
    if not ident:
        return False
    if principal is None:
        # Only a service's own scopes can be open to callers without a token.
        checker = res.topic_authorizers.get(scope)
        return checker is not None and await checker(res, None, ident)
    if principal.is_admin:
        return scope in ("job", "user") or scope in res.topic_authorizers
    if scope == "user":
        return ident == principal.id
    if scope == "job":
        return await _job_owner(res, principal, ident)
    checker = res.topic_authorizers.get(scope)
    return checker is not None and await checker(res, principal, ident)


def _valid_id(value: str) -> bool:
    ms, _, seq = value.partition("-")
    return ms.isdigit() and (not seq or seq.isdigit())


@websocket("/ws")
async def events_socket(socket: WebSocket[Any, Any, Any]) -> None:
    """Relay job and session events to an authenticated client."""
    res = resources(socket.app.state)
    await socket.accept()
    login = await _authenticate(socket, res)
    if login is None:
        return
    principal = login.principal
    hub = res.hub
    sub = hub.connect(principal.id)
    tasks = [
        asyncio.create_task(_send_loop(socket, sub, platform_frame)),
        asyncio.create_task(_expire(socket, login)),
    ]
    try:
        await _receive_loop(socket, res, login, sub)
    except WebSocketDisconnect:
        pass
    finally:
        hub.disconnect(sub)
        await _stop(tasks)


class Login:
    """Who is on a socket, and until when: its access token's expiry, renewed by an
    `{"type": "auth", "token": ...}` message carrying a newer token of the same user."""

    def __init__(self, principal: Principal, token: str) -> None:
        self.principal = principal
        self.expires_at = _expiry(token)
        self.renewed = asyncio.Event()

    def renew(self, res: Resources, token: str) -> str | None:
        """Take a newer token; the reason it was refused, or None."""
        try:
            principal = decode_access_token(res.settings.auth, token)
        except InvalidToken as exc:
            return str(exc)
        if principal.id != self.principal.id:
            return "a token of another user"
        self.principal, self.expires_at = principal, _expiry(token)
        self.renewed.set()
        return None


def _expiry(token: str) -> float:
    # Read after decode_access_token verified the signature and that `exp` is there.
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])


async def _expire(socket: WebSocket[Any, Any, Any], login: Login) -> None:
    """Close the socket once its token expired (4401), unless a newer token renewed it: a
    token is checked when it arrives, and events must not outlive it."""
    while (left := login.expires_at - time.time()) > 0:
        login.renewed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(login.renewed.wait(), left)
    await _close(socket, 4401, "token expired; reconnect with a fresh token")


async def _stop(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _authenticate(socket: WebSocket[Any, Any, Any], res: Resources) -> Login | None:
    token = socket.query_params.get("token")
    if token is None:
        try:
            first = _decode(await asyncio.wait_for(socket.receive_data(mode="text"), 10))
        except (TimeoutError, msgspec.ValidationError, msgspec.DecodeError, WebSocketDisconnect):
            first = None
        if first is None or first.type != "auth" or not first.token:
            await _close(socket, 4401, 'send {"type": "auth", "token": ...} first')
            return None
        token = first.token
    try:
        return Login(decode_access_token(res.settings.auth, token), token)
    except InvalidToken as exc:
        await _close(socket, 4401, str(exc))
        return None


_CLOSE_CODES = {4400: "BAD_MESSAGE", 4401: "UNAUTHORIZED", 4403: "FORBIDDEN"}


async def _close(socket: WebSocket[Any, Any, Any], code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await socket.send_data(
            _encode(
                {
                    "type": "error",
                    "code": _CLOSE_CODES.get(code, "CLOSED"),
                    "detail": reason,
                }
            ).decode(),
            mode="text",
        )
        await socket.close(code=code, reason=reason[:120])


async def _send(socket: WebSocket[Any, Any, Any], message: Any) -> None:
    await socket.send_data(_encode(message).decode(), mode="text")


async def _send_loop(socket: WebSocket[Any, Any, Any], sub: Subscriber, frame: Frame) -> None:
    while True:
        if sub.overflowed.is_set():
            log.info("ws: closing slow consumer (user %s)", sub.user_id)
            await _close(socket, 4008, "too slow: reconnect with since to resume")
            return
        if sub.queue.empty():
            sub.ready.clear()
            try:
                await asyncio.wait_for(sub.ready.wait(), PING_EVERY_S)
            except TimeoutError:
                await _send(socket, {"type": "ping"})
            continue
        message = frame(sub.queue.get_nowait())
        if message is not None:
            await _send(socket, message)


async def _receive_loop(
    socket: WebSocket[Any, Any, Any], res: Resources, login: Login, sub: Subscriber
) -> None:
    while True:
        raw = await socket.receive_data(mode="text")
        try:
            msg = _decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            await _send(socket, {"type": "error", "code": "BAD_MESSAGE", "detail": str(exc)})
            continue
        if msg.type == "ping":
            await _send(socket, {"type": "pong"})
        elif msg.type == "auth":
            refused = login.renew(res, msg.token or "")
            if refused is not None:
                await _close(socket, 4401, refused)
                return
            await _send(socket, {"type": "authenticated", "expires_at": int(login.expires_at)})
        elif msg.type == "pong":
            continue
        elif msg.type == "unsubscribe":
            res.hub.unsubscribe(sub, msg.topics)
            await _send(socket, {"type": "unsubscribed", "topics": msg.topics})
        elif msg.type == "subscribe":
            await _subscribe(socket, res, login.principal, sub, msg)
        else:
            await _send(
                socket,
                {
                    "type": "error",
                    "code": "BAD_MESSAGE",
                    "detail": f"unknown message type {msg.type!r}",
                },
            )


async def _subscribe(
    socket: WebSocket[Any, Any, Any],
    res: Resources,
    principal: Principal,
    sub: Subscriber,
    msg: ClientMessage,
) -> None:
    if not msg.topics or len(msg.topics) + len(sub.topics) > MAX_TOPICS:
        await _send(
            socket,
            {
                "type": "error",
                "code": "BAD_MESSAGE",
                "detail": f"subscribe needs 1 to {MAX_TOPICS} topics",
            },
        )
        return
    bad_since = [t for t, v in msg.since.items() if not _valid_id(v)]
    if bad_since:
        await _send(
            socket,
            {
                "type": "error",
                "code": "BAD_MESSAGE",
                "detail": f"since: not a stream id for {', '.join(bad_since)}",
            },
        )
        return
    denied = [t for t in msg.topics if not await authorize_topic(res, principal, t)]
    if denied:
        # All or nothing, and "not found" rather than "forbidden": topic names leak nothing.
        await _send(
            socket,
            {
                "type": "error",
                "code": "FORBIDDEN",
                "detail": f"no such topic or not yours: {', '.join(denied)}",
            },
        )
        return
    gaps = await res.hub.subscribe(sub, msg.topics, msg.since)
    await _send(socket, {"type": "subscribed", "topics": msg.topics, "gaps": gaps})


async def serve_topics(
    socket: WebSocket[Any, Any, Any],
    topics: list[str],
    frame: Frame,
    *,
    since: str | None = None,
    greeting: Any = None,
    auth_first: bool = False,
) -> None:
    """Serve a contract's socket: the caller (a `?token=` when it sends one, else anonymous)
    may read `topics` (else close 4403), it is sent what came after `since` (an event id it
    saw) and then every new event, each through `frame`, until it goes away. With
    `auth_first`, a caller without `?token=` must send `{"type": "auth", "token": ...}` first."""
    res = resources(socket.app.state)
    await socket.accept()
    login = None
    token = socket.query_params.get("token")
    if token:
        try:
            login = Login(decode_access_token(res.settings.auth, token), token)
        except InvalidToken as exc:
            await _close(socket, 4401, str(exc))
            return
    elif auth_first:
        login = await _authenticate(socket, res)
        if login is None:
            return
    principal = login.principal if login else None
    if since is not None and not _valid_id(since):
        await _close(socket, 4400, "since: not an event id")
        return
    denied = [t for t in topics if not await authorize_topic(res, principal, t)]
    if denied:
        await _close(socket, 4403, f"no such topic or not yours: {', '.join(denied)}")
        return
    sub = res.hub.connect(principal.id if principal else "anonymous")
    tasks: list[asyncio.Task[None]] = []
    try:
        await res.hub.subscribe(sub, topics, {t: since for t in topics} if since else None)
        if greeting is not None:
            await _send(socket, greeting)
        tasks.append(asyncio.create_task(_send_loop(socket, sub, frame)))
        if login is not None:
            # What the token let it read must not outlive the token.
            tasks.append(asyncio.create_task(_expire(socket, login)))
        while True:
            raw = await socket.receive_data(mode="text")
            # Contract clients send nothing we must act on, except a keep-alive ping.
            with contextlib.suppress(msgspec.ValidationError, msgspec.DecodeError):
                if _decode(raw).type == "ping":
                    await _send(socket, {"type": "pong"})
    except WebSocketDisconnect:
        pass
    finally:
        res.hub.disconnect(sub)
        await _stop(tasks)
