"""Who may read: a bearer token, or anyone when the operator opened reads to anonymous clients."""

from __future__ import annotations

import base64
import time
from typing import Any

import msgspec
from litestar import Request

from api.auth import bearer_token, current_principal
from api.state import from_request
from infra.security import Principal

_VERIFIED = "inventory.verified_tokens"
_MAX_VERIFIED = 10_000


class _Expiry(msgspec.Struct):
    exp: float


async def reader(request: Request[Any, Any, Any]) -> Principal | None:
    """The caller for a read; None for an anonymous caller when `anonymous_reads` is on.

    A token that is sent is always checked, so a bad one is a 401 even when reads are open.
    Verifying a JWT costs as much as the list query itself, so a token that verified is
    remembered, per app, until it expires: the same string always verifies the same way,
    and access tokens cannot be revoked before they expire.
    """
    token = bearer_token(request)
    res = from_request(request)
    if token is None and res.settings.inventory.anonymous_reads:
        return None
    verified: dict[str, tuple[Principal, float]] = res.extra.setdefault(_VERIFIED, {})
    if token is not None and (hit := verified.get(token)) is not None:
        if hit[1] > time.time():
            return hit[0]
        del verified[token]
    principal = await current_principal(request)
    if token is not None:
        if len(verified) >= _MAX_VERIFIED:
            verified.clear()
        verified[token] = (principal, _expiry(token))
    return principal


def _expiry(token: str) -> float:
    """The `exp` claim of a token whose signature was just checked."""
    payload = token.split(".")[1]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return msgspec.json.decode(raw, type=_Expiry).exp
