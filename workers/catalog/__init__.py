"""The job catalog: one row per job kind, merged from each service's module in this package.

Adding a kind is a row in `workers/catalog/<service>.py` plus its handler in
`workers/<service>.py`; a new service module is one more group in the `_merge` below.
"""

from __future__ import annotations

from collections.abc import Iterable

from infra.settings import POOLS
from workers.catalog import inspection, platform, rigging, robodata, studio
from workers.catalog.kind import JobKind

__all__ = ["CATALOG", "JobKind", "kinds_for_pool"]


def _merge(groups: Iterable[Iterable[JobKind]]) -> dict[str, JobKind]:
    merged: dict[str, JobKind] = {}
    for kinds in groups:
        for kind in kinds:
            if kind.name in merged:
                raise ValueError(f"job kind {kind.name!r} is declared twice")
            if kind.pool not in POOLS:
                raise ValueError(f"job kind {kind.name!r} names an unknown pool {kind.pool!r}")
            merged[kind.name] = kind
    return merged


CATALOG: dict[str, JobKind] = _merge(
    [platform.KINDS, inspection.KINDS, rigging.KINDS, robodata.KINDS, studio.KINDS]
)


def kinds_for_pool(pool: str) -> list[JobKind]:
    """Kinds a worker of `pool` must be able to run."""
    if pool not in POOLS:
        raise ValueError(f"unknown pool {pool!r}; pools are {', '.join(POOLS)}")
    return [k for k in CATALOG.values() if k.pool == pool or k.any_pool]
