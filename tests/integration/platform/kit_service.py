"""A service of the tests' own, declared the way the contract services are: it exercises the
kit (submit and wait, a contract socket, session topics, an error shape) on platform.sleep."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, Response, WebSocket, get, post, websocket
from litestar.params import FromQuery, JSONBody, SkipValidation

from api.error import ErrorShape
from api.service import Service
from api.state import Resources
from api.submit import run
from api.ws import serve_topics
from events.model import Event, session_topic
from infra.security import Principal


class KitError(msgspec.Struct):
    error: str
    code: str


ERRORS = ErrorShape(
    body=lambda message, code: KitError(error=message, code=code),
    codes={400: "BAD_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND", 500: "INTERNAL_ERROR"},
    schema=KitError,
)


class SleepBody(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    seconds: float = 0.2
    fail: bool = False
    deadline_s: float = 20.0
    session: str | None = None


@post("/sleep", status_code=200)
async def sleep(
    request: Request[Any, Any, Any],
    data: JSONBody[SleepBody],
    principal: SkipValidation[Principal],
) -> Response[Any]:
    outcome = await run(
        request,
        principal,
        "platform.sleep",
        {"seconds": data.seconds, "steps": 4, "fail_permanently": data.fail},
        deadline_s=data.deadline_s,
        topics=[session_topic(data.session)] if data.session else (),
        job_errors={"ASKED_TO_FAIL": 422},
    )
    if isinstance(outcome, Response):
        return outcome
    return Response({"job_id": str(outcome.id), "slept_s": outcome.result["slept_s"]})


def frame(event: Event) -> dict[str, Any] | None:
    """The contract's frame for a platform event; the creation of a job is not shown."""
    if event.type == "job.created":
        return None
    data = msgspec.json.decode(event.data)
    return {
        "type": event.type.replace(".", "_"),
        "job_id": data["job_id"],
        "status": data["status"],
        "progress": data["progress"],
        "event_id": event.id,
    }


@websocket("/ws")
async def socket(
    socket: WebSocket[Any, Any, Any], session: FromQuery[str], since: FromQuery[str | None] = None
) -> None:
    await serve_topics(
        socket,
        [session_topic(session)],
        frame,
        since=since,
        greeting={"type": "connection", "status": "connected"},
    )


async def may_read_session(_: Resources, principal: Principal | None, session: str) -> bool:
    """Sessions named open-… are anyone's; own-<username> only its user's."""
    if session.startswith("open-"):
        return True
    return principal is not None and session == f"own-{principal.username}"


class KitState:
    """What the service's lifespan opens for its routes (a model, a client, ...)."""

    def __init__(self, redis_prefix: str) -> None:
        self.redis_prefix = redis_prefix
        self.open = True


@contextlib.asynccontextmanager
async def lifespan(res: Resources) -> AsyncIterator[KitState]:
    state = KitState(res.settings.redis.prefix)
    try:
        yield state
    finally:
        state.open = False


@get("/state")
async def state(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """What this process's lifespan gave the service, read through its declaration."""
    kit = SERVICE.state(request)
    return {"redis_prefix": kit.redis_prefix, "open": kit.open}


SERVICE: Service[KitState] = Service(
    name="kit",
    prefix="/kit",
    routes=[sleep, socket, state],
    errors=ERRORS,
    topics={"session": may_read_session},
    lifespan=lifespan,
)
