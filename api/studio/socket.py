"""`/studio/ws/{session_id}`: a session's step progress in the contract's frames.

Only the session's owner reads it: with a token in the query or in the first message, or,
for a browser that holds no token, through the signed, short-lived URL the session
endpoints return. `?since=<event_id>` replays what a reconnecting client missed.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from typing import Any, Final
from urllib.parse import urlencode

import msgspec
from litestar import Request, WebSocket, websocket
from litestar.params import FromPath, FromQuery

from api.state import Resources
from api.ws import serve_topics
from events.model import Event
from infra.blob.error import InvalidSignature
from infra.blob.signature import sign, verify
from infra.db import studio as repo
from infra.security import Principal

SCOPE: Final = "studio"
# Signed into socket links only, so a socket link never opens a blob or a route.
_TAG: Final = "switchyard-studio-socket"
# The session a verified signed link opened, for the topic check in the same task.
_granted: contextvars.ContextVar[str | None] = contextvars.ContextVar("studio_socket", default=None)

_STEPS = {
    "studio.generate_images": "image_generation",
    "studio.approve": "approval",
    "studio.generate_clips": "clip_generation",
    "studio.compose": "composition",
}
_PHASES = {
    "job.started": "started",
    "job.progress": "progress",
    "job.retrying": "retrying",
    "job.completed": "completed",
    "job.failed": "failed",
    "job.cancelled": "cancelled",
}


def session_topic(session_id: str) -> str:
    return f"{SCOPE}:{session_id}"


def socket_url(request: Request[Any, Any, Any], session_id: str, ttl_s: int) -> str:
    """A `ws(s)://` link to the session's socket that opens without a token for `ttl_s`."""
    settings = request.app.state.resources.settings
    exp = int(time.time()) + ttl_s
    sig = sign(settings.blob.signing_secret, "GET", f"/studio/ws/{session_id}", exp, _TAG)
    base = settings.api.public_url or str(request.base_url)
    base = base.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return f"{base}/studio/ws/{session_id}?{urlencode({'exp': exp, 'sig': sig})}"


async def may_read(res: Resources, principal: Principal | None, session_id: str) -> bool:
    """The owner reads a session's topic; a signed link opens its one session."""
    if principal is None:
        return _granted.get() == session_id
    try:
        sid = uuid.UUID(session_id)
    except ValueError:
        return False
    async with res.autocommit.connect() as conn:
        owner = await repo.session_owner(conn, sid)
    return owner is not None and str(owner) == principal.id


def _frame(session_id: str) -> Any:
    def frame(event: Event) -> dict[str, Any] | None:
        phase = _PHASES.get(event.type)
        if phase is None:
            return None
        data = msgspec.json.decode(event.data)
        step = _STEPS.get(data.get("kind", ""), "step")
        done = event.type == "job.completed"
        return {
            "event": f"{step}_{phase}",
            "session_id": session_id,
            "progress": 1.0 if done else round(data.get("progress", 0) / 100, 4),
            "message": data.get("message") or phase,
            "status": data.get("status"),
            "job_id": data.get("job_id"),
            "event_id": event.id,
        }

    return frame


@websocket("/ws/{session_id:str}")
async def session_socket(
    socket: WebSocket[Any, Any, Any],
    session_id: FromPath[str],
    since: FromQuery[str | None] = None,
    exp: FromQuery[str | None] = None,
    sig: FromQuery[str | None] = None,
) -> None:
    signed = False
    if sig is not None:
        secret = socket.app.state.resources.settings.blob.signing_secret
        try:
            verify(secret, "GET", f"/studio/ws/{session_id}", exp, sig, content_type=_TAG)
            signed = True
        except InvalidSignature:
            # An expired or altered link opens nothing; a token may still.
            signed = False
    _granted.set(session_id if signed else None)
    await serve_topics(
        socket,
        [session_topic(session_id)],
        _frame(session_id),
        since=since,
        greeting={"type": "connection", "status": "connected", "session_id": session_id},
        auth_first=not signed,
    )
