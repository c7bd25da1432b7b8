"""One row of the job catalog: what a job kind is and how it runs."""

from __future__ import annotations

import msgspec


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
    # May clients submit it through `POST /jobs`? A service's kinds are submitted by its own
    # routes, which check the caller's paths, records and ownership before they do; their
    # payloads name files and blob keys that the handlers take as checked.
    public: bool = False
    # "module:function" a worker of the pool awaits once at start, with the settings, to load
    # what the kind's jobs share (a model); jobs that arrive meanwhile wait for it themselves.
    warm: str | None = None
