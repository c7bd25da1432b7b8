"""Access policies: listed networks (without trusting a client's X-Forwarded-For), signed
links that break when altered or late, and bearer tokens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx
import msgspec
import pytest

from infra.security import Principal, issue_access_token
from infra.settings import Settings
from tests.integration.platform.limit_app import live_app


def with_networks(settings: Settings, *cidrs: str) -> Settings:
    api = msgspec.structs.replace(settings.api, open_networks=cidrs)
    return msgspec.structs.replace(settings, api=api)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with live_app(settings) as live, httpx.AsyncClient(base_url=live.url, timeout=30) as c:
        yield c


async def test_open_networks_let_loopback_in_by_default(app: httpx.AsyncClient) -> None:
    r = await app.get("/open")
    assert r.status_code == 200
    assert r.json() == {"open": True}


async def test_a_caller_outside_the_open_networks_is_refused(settings: Settings) -> None:
    # No trusted proxy: the peer address is all that counts.
    async with (
        live_app(with_networks(settings, "10.0.0.0/8"), proxy_headers=False) as live,
        httpx.AsyncClient(base_url=live.url) as c,
    ):
        refused = await c.get("/open")
        # A client cannot talk its way in by claiming another address.
        claimed = await c.get("/open", headers={"X-Forwarded-For": "10.1.2.3"})
    for r in (refused, claimed):
        assert r.status_code == 403
        assert r.json()["code"] == "NETWORK_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("trusted", "forwarded", "status"),
    [
        ("127.0.0.1", "10.1.2.3", 200),
        # The hop the proxy itself appended counts, not what the client wrote before it.
        ("127.0.0.1", "10.1.2.3, 192.168.1.9", 403),
        ("192.0.2.1", "10.1.2.3", 403),
    ],
)
async def test_forwarded_for_counts_only_from_a_trusted_proxy(
    settings: Settings, trusted: str, forwarded: str, status: int
) -> None:
    async with (
        live_app(with_networks(settings, "10.0.0.0/8"), forwarded_allow_ips=trusted) as live,
        httpx.AsyncClient(base_url=live.url) as c,
    ):
        r = await c.get("/open", headers={"X-Forwarded-For": forwarded})
    assert r.status_code == status


async def link(app: httpx.AsyncClient, name: str = "report", ttl_s: int = 60) -> str:
    r = await app.get(f"/link/{name}", params={"ttl_s": ttl_s})
    assert r.status_code == 200, r.text
    url: str = r.json()["url"]
    return url


def altered(url: str, path: str | None = None, **params: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for k, v in params.items():
        if v is None:
            query.pop(k, None)
        else:
            query[k] = v
    return parts._replace(path=path or parts.path, query=urlencode(query)).geturl()


@pytest.mark.parametrize("name", ["report", "q3 results+final"])
async def test_a_signed_link_opens_without_a_header(app: httpx.AsyncClient, name: str) -> None:
    url = await link(app, name)
    assert unquote(urlsplit(url).path) == f"/download/{name}"
    r = await app.get(url)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": name}


async def test_an_altered_signed_link_is_refused(app: httpx.AsyncClient) -> None:
    url = await link(app)
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    other_sig = parse_qs(urlsplit(await link(app, "other")).query)["sig"][0]
    tampered = [
        altered(url, path="/download/other"),
        altered(url, **{"as": "json"}),
        altered(url, extra="1"),
        altered(url, **{"as": None}),
        altered(url, sig=other_sig),
        altered(url, sig=sig[:-2] + ("AA" if not sig.endswith("AA") else "BB")),
        altered(url, sig=None),
        altered(url, exp=str(int(parse_qs(urlsplit(url).query)["exp"][0]) + 3600)),
    ]
    for bad in tampered:
        r = await app.get(bad)
        assert r.status_code == 403, bad
        assert r.json()["code"] == "BAD_SIGNATURE", bad


async def test_an_expired_signed_link_is_refused(app: httpx.AsyncClient) -> None:
    url = await link(app, ttl_s=1)
    await asyncio.sleep(2.1)
    r = await app.get(url)
    assert r.status_code == 403
    assert r.json()["code"] == "URL_EXPIRED"


async def test_bearer_needs_a_valid_token(app: httpx.AsyncClient, settings: Settings) -> None:
    missing = await app.get("/mine")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (await app.get("/mine", headers={"Authorization": "Bearer nope"})).status_code == 401
    token = issue_access_token(settings.auth, Principal(str(uuid.uuid4()), "alice", ("user",)))
    ok = await app.get("/mine", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert ok.json() == {"mine": True}
