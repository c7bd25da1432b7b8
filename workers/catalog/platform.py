"""The platform's own job kinds: they exercise the job machinery without any service."""

from __future__ import annotations

from typing import Annotated

import msgspec

from workers.catalog.kind import JobKind


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


KINDS = (
    JobKind(
        name="platform.noop",
        pool="indexing",
        payload=NoopPayload,
        handler="workers.platform:noop",
        timeout_s=30,
        max_tries=3,
        any_pool=True,
        public=True,
    ),
    JobKind(
        name="platform.sleep",
        pool="indexing",
        payload=SleepPayload,
        handler="workers.platform:sleep",
        timeout_s=3600,
        max_tries=5,
        backoff_s=0.2,
        backoff_max_s=5,
        any_pool=True,
        public=True,
    ),
)
