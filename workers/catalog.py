"""The job catalog: one row per job kind. Adding a kind is a row here plus its handler."""

from __future__ import annotations

from typing import Annotated

import msgspec

from infra.settings import POOLS


class JobKind(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    pool: str
    payload: type[msgspec.Struct]
    handler: str  # "module:function", imported only by the worker that runs it
    timeout_s: float = 300.0
    max_tries: int = 3
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    cancellable: bool = True
    # Platform kinds may run on any pool: a job request's `pool` field picks one.
    any_pool: bool = False


class NoopPayload(msgspec.Struct, forbid_unknown_fields=True):
    """platform.noop takes nothing."""


class SleepPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """platform.sleep: sleep `seconds` in `steps`, failing `fail_times` times first."""

    seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 1.0
    steps: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 10
    fail_times: Annotated[int, msgspec.Meta(ge=0, le=100)] = 0
    fail_permanently: bool = False
    # Sleep in a worker thread (to exercise cooperative cancellation of thread work).
    in_thread: bool = False


CATALOG: dict[str, JobKind] = {
    k.name: k
    for k in (
        JobKind(
            name="platform.noop",
            pool="indexing",
            payload=NoopPayload,
            handler="workers.platform_jobs:noop",
            timeout_s=30,
            max_tries=3,
            any_pool=True,
        ),
        JobKind(
            name="platform.sleep",
            pool="indexing",
            payload=SleepPayload,
            handler="workers.platform_jobs:sleep",
            timeout_s=3600,
            max_tries=5,
            backoff_s=0.2,
            backoff_max_s=5,
            any_pool=True,
        ),
    )
}


def kinds_for_pool(pool: str) -> list[JobKind]:
    """Kinds a worker of `pool` must be able to run."""
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; pools are {', '.join(POOLS)}")
    return [k for k in CATALOG.values() if k.pool == pool or k.any_pool]
