"""Which URLs the server may fetch for a client (no server-side request forgery)."""

from __future__ import annotations

import ipaddress

import pytest

from infra.fetch import FetchPolicy, FetchRefused

POLICY = FetchPolicy(max_bytes=1000, timeout_s=1)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.9.9.9",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "192.0.2.1",
    ],
)
def test_internal_addresses_are_not_allowed(address: str) -> None:
    assert not POLICY.allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert POLICY.allows(ipaddress.ip_address(address))


def test_an_allowed_network_is_let_in_and_nothing_beside_it() -> None:
    policy = FetchPolicy(max_bytes=1, timeout_s=1, allow_networks=["10.1.0.0/16"])
    assert policy.allows(ipaddress.ip_address("10.1.2.3"))
    assert not policy.allows(ipaddress.ip_address("10.2.0.1"))


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.mp3",
        "ftp://example.com/a.mp3",
        "file:///etc/passwd",
        "https:///nohost",
        "https://user:pw@example.com/",
        "https://example.com:99999/",
    ],
)
def test_only_plain_https_urls_are_taken(url: str) -> None:
    with pytest.raises(FetchRefused):
        POLICY.check_url(url)


async def test_names_and_literals_that_resolve_inside_are_refused() -> None:
    for host in ("localhost", "127.0.0.1", "[::1]", "169.254.169.254"):
        with pytest.raises(FetchRefused):
            await POLICY.check(f"https://{host}/a.mp3")
