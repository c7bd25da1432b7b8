"""The rigging service's job kinds: skeleton, skinning and merge, on the `rigging` pool.

Payloads name blob keys and result names, never a session's id (a bearer secret); the
handler records the result under `session` (the session's row id).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from workers.catalog.kind import JobKind

Format = Literal["glb", "fbx"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class RigInput(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One input file: its blob key and the name it has in its session."""

    key: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    name: Name


class RigPayload(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """rigging.skeleton / rigging.skinning take one input; rigging.merge two (skeleton, skin)."""

    session: str
    inputs: Annotated[list[RigInput], msgspec.Meta(min_length=1, max_length=2)]
    output_name: Name
    format: Format = "glb"


KINDS = tuple(
    JobKind(
        name=f"rigging.{verb}",
        pool="rigging",
        payload=RigPayload,
        handler=f"workers.rigging:{verb}",
        timeout_s=600,
        # The engine is deterministic: a failure repeats, so only transient errors (the
        # blob store briefly away) are worth another try.
        max_tries=2,
        backoff_s=1.0,
    )
    for verb in ("skeleton", "skinning", "merge")
)
