"""Access policies a route picks from, declared as Litestar guards.

    @get("/me", guards=[bearer])                       # the platform's users (401 without)
    @get("/metrics", guards=[networks()])              # callers on `api.open_networks`
    @get("/export/{id:str}", guards=[signed], security=[{}])   # a link from `signed_url`

`signed` reuses the blob store's HMAC scheme (`infra.blob.signature`) over the route's path
and query, so a route can hand out an expiring link to itself that a browser opens without a
header; an altered path, query, expiry or signature, or an expired link, is a 403.

`networks` reads the caller's address from the ASGI scope. Behind a reverse proxy that
address is the proxy's unless the server trusts it (see `client_address`); a proxy on the
same host that does not set X-Forwarded-For makes every caller look like loopback.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final
from urllib.parse import parse_qsl, quote, urlencode

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.error import Forbidden
from api.principal import current_principal
from api.state import from_request
from infra.blob.error import InvalidSignature, SignatureExpired
from infra.blob.signature import sign, verify

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Signed into every route link where a blob link has its (always empty for GET) content type,
# so a route link never opens a blob and a blob link never opens a route.
_ROUTE_TAG: Final = "switchyard-route"
_SIGNATURE_PARAMS: Final = frozenset({"exp", "sig"})


def _request(connection: ASGIConnection[Any, Any, Any, Any]) -> Request[Any, Any, Any]:
    # Guards of HTTP routes are handed the Request itself; anything else is wrapped.
    if isinstance(connection, Request):
        return connection
    return Request(connection.scope, connection.receive)


async def bearer(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The platform's users: a valid bearer access token, else 401."""
    await current_principal(_request(connection))


@lru_cache(maxsize=64)
def parse_networks(cidrs: tuple[str, ...]) -> tuple[Network, ...]:
    """CIDR strings as networks; a bare address is a network of one."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def within(address: str, networks: Iterable[Network]) -> bool:
    """Whether `address` lies in one of `networks` (an unparsable address lies in none)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    # An IPv4 client reached over an IPv6 socket arrives as ::ffff:a.b.c.d.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks)


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The caller's address as the ASGI server reports it; never a header the client wrote.

    uvicorn replaces it with the X-Forwarded-For hop only when the direct peer is in its
    trusted-proxy list (`--forwarded-allow-ips` / `FORWARDED_ALLOW_IPS`, 127.0.0.1 unless set),
    so that list is what decides whether a proxy's header counts.
    """
    client = connection.scope.get("client")
    return client[0] if client else None


def networks(cidrs: Sequence[str] | None = None) -> Guard:
    """Open to callers within `cidrs` (default: the `api.open_networks` setting), else 403."""
    fixed = parse_networks(tuple(cidrs)) if cidrs is not None else None

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        allowed = fixed
        if allowed is None:
            allowed = parse_networks(from_request(_request(connection)).settings.api.open_networks)
        address = client_address(connection)
        if address is None or not within(address, allowed):
            raise Forbidden(
                f"this route is open only to listed networks, not to {address or 'unknown'}",
                code="NETWORK_NOT_ALLOWED",
            )

    return guard


def _canonical(path: str, params: Iterable[tuple[str, str]]) -> str:
    """What a route link signs: the path and its query, sorted, without exp and sig."""
    kept = sorted((k, v) for k, v in params if k not in _SIGNATURE_PARAMS)
    return f"{path}?{urlencode(kept)}"


def signed_url(
    request: Request[Any, Any, Any],
    path: str,
    params: Mapping[str, str] | None = None,
    *,
    ttl_s: int | None = None,
) -> str:
    """An absolute link to `path` (with `params`) that the `signed` guard opens for `ttl_s`
    seconds (default: the blob setting `url_ttl_s`)."""
    settings = from_request(request).settings
    ttl = settings.blob.url_ttl_s if ttl_s is None else ttl_s
    if ttl <= 0:
        raise ValueError("ttl_s must be positive")
    exp = int(time.time()) + ttl
    query = dict(params or {})
    sig = sign(
        settings.blob.signing_secret, "GET", _canonical(path, query.items()), exp, _ROUTE_TAG
    )
    base = settings.api.public_url or str(request.base_url)
    return f"{base.rstrip('/')}{quote(path)}?{urlencode({**query, 'exp': exp, 'sig': sig})}"


async def signed(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A link from `signed_url`, unaltered and unexpired (GET or HEAD), else 403."""
    request = _request(connection)
    if request.method not in ("GET", "HEAD"):
        raise Forbidden("signed links open GET and HEAD only", code="BAD_SIGNATURE")
    query = request.scope.get("query_string", b"").decode("latin-1")
    params = parse_qsl(query, keep_blank_values=True)
    values = dict(params)
    try:
        verify(
            from_request(request).settings.blob.signing_secret,
            request.method,
            _canonical(request.url.path, params),
            values.get("exp"),
            values.get("sig"),
            content_type=_ROUTE_TAG,
        )
    except SignatureExpired as exc:
        raise Forbidden(str(exc), code="URL_EXPIRED") from exc
    except InvalidSignature as exc:
        raise Forbidden(str(exc), code="BAD_SIGNATURE") from exc
