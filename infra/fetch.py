"""Fetching a URL a client gave us, without letting it reach our own network (no SSRF).

Only `https` (plain http when the operator allows it), only hosts whose every address is
public (or within networks the operator allows), with a size and a time limit. The address
is checked where the connection is made, on the address actually connected to, so a name
that resolves to a public address when checked and a private one when used (DNS rebinding)
is refused too; redirects are followed by hand, each hop checked the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore

from infra.settings import StudioSettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_REDIRECTS = 5


class FetchRefused(Exception):
    """The URL may not be fetched (scheme, address, size, time) or did not answer well."""


class FetchPolicy:
    """What may be fetched: schemes, addresses, size and time."""

    def __init__(
        self,
        *,
        max_bytes: int,
        timeout_s: float,
        allow_networks: Iterable[str] = (),
        allow_http: bool = False,
    ) -> None:
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in allow_networks
        )
        self.schemes = ("https", "http") if allow_http else ("https",)

    def allows(self, address: Address) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self.networks):
            return True
        # is_global excludes loopback, private, link-local, shared (CGNAT), reserved and
        # documentation ranges; multicast is global by that rule but never a web server.
        return address.is_global and not address.is_multicast

    def check_url(self, url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of an acceptable URL, else FetchRefused."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise FetchRefused(f"not a valid URL: {exc}") from exc
        if parts.scheme not in self.schemes:
            raise FetchRefused(f"only {' or '.join(self.schemes)} URLs can be fetched")
        if not parts.hostname:
            raise FetchRefused("the URL has no host")
        if parts.username or parts.password:
            raise FetchRefused("URLs with credentials are not fetched")
        return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)

    async def resolve(self, host: str, port: int) -> list[Address]:
        """Every address of `host`; FetchRefused when any of them is not allowed."""
        try:
            literal: Address | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            found = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                raise FetchRefused(f"cannot resolve {host}: {exc}") from exc
            found = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not found:
            raise FetchRefused(f"{host} has no address")
        refused = [a for a in found if not self.allows(a)]
        if refused:
            raise FetchRefused(f"{host} resolves to a non-public address ({refused[0]})")
        return found

    async def check(self, url: str) -> None:
        """Refuse a URL whose scheme or host is not allowed (before a job is submitted)."""
        _, host, port = self.check_url(url)
        await self.resolve(host, port)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to allowed addresses, resolving the name itself."""

    def __init__(self, policy: FetchPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.policy.resolve(host, port)
        # TLS is then started on this stream with the URL's host name (SNI, certificate).
        return await self.inner.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        raise FetchRefused("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def fetch(url: str, policy: FetchPolicy) -> tuple[bytes, str]:
    """The body and content type at `url`, following up to MAX_REDIRECTS redirects."""
    deadline = time.monotonic() + policy.timeout_s
    try:
        async with asyncio.timeout(policy.timeout_s):
            async with httpcore.AsyncConnectionPool(
                network_backend=_GuardedBackend(policy), max_connections=2
            ) as pool:
                return await _follow(pool, url, policy, deadline)
    except TimeoutError as exc:
        raise FetchRefused(f"fetching {url} took longer than {policy.timeout_s:g} s") from exc
    except httpcore.TimeoutException as exc:
        raise FetchRefused(f"fetching {url} timed out") from exc
    except (httpcore.ConnectError, httpcore.ProtocolError, httpcore.NetworkError) as exc:
        raise FetchRefused(f"fetching {url} failed: {exc}") from exc


async def _follow(
    pool: httpcore.AsyncConnectionPool, url: str, policy: FetchPolicy, deadline: float
) -> tuple[bytes, str]:
    for _ in range(MAX_REDIRECTS + 1):
        policy.check_url(url)
        left = max(0.1, deadline - time.monotonic())
        timeouts = {"connect": left, "read": left, "write": left, "pool": left}
        async with pool.stream("GET", url, extensions={"timeout": timeouts}) as response:
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in response.headers}
            if response.status in (301, 302, 303, 307, 308):
                location = headers.get("location")
                if not location:
                    raise FetchRefused(f"{url} redirects without a Location")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchRefused(f"{url} answered {response.status}")
            declared = headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                raise FetchRefused(f"{url} is larger than {policy.max_bytes} bytes")
            body = bytearray()
            async for chunk in response.aiter_stream():
                body += chunk
                if len(body) > policy.max_bytes:
                    raise FetchRefused(f"{url} is larger than {policy.max_bytes} bytes")
            return bytes(body), headers.get("content-type", "")
    raise FetchRefused(f"{url}: more than {MAX_REDIRECTS} redirects")


def policy_from(settings: StudioSettings) -> FetchPolicy:
    """The fetch policy the studio's settings give."""
    return FetchPolicy(
        max_bytes=settings.fetch_max_bytes,
        timeout_s=settings.fetch_timeout_s,
        allow_networks=settings.fetch_allow_networks,
        allow_http=settings.fetch_allow_http,
    )
