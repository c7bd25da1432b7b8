"""Every error the contract names, in its `{"error", "code"}` shape, and that failed requests
leave what is stored untouched."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import LiveApi, create_user
from tests.integration.inventory.sample import BASE, MINIMAL, SAMPLES, assert_error, create

BAD_BODIES = [
    ("repositories", {"url": "https://x", "type": "git"}, "name"),  # required field missing
    ("repositories", {**MINIMAL["repositories"], "type": "cvs"}, "type"),
    ("repositories", {**MINIMAL["repositories"], "language": "Cobol"}, "language"),
    ("repositories", {**MINIMAL["repositories"], "stars": 5}, "stars"),  # unknown field
    ("repositories", {**MINIMAL["repositories"], "tags": "ros"}, "tags"),
    ("repositories", {**MINIMAL["repositories"], "tags": ["ok", ""]}, "tags"),
    ("repositories", {**MINIMAL["repositories"], "name": "   "}, "name"),
    ("datasets", {**MINIMAL["datasets"], "size": -1}, "size"),
    ("datasets", {**MINIMAL["datasets"], "size": "10 GB"}, "size"),
    ("datasets", {**MINIMAL["datasets"], "format": "mcap"}, "format"),
    ("packages", {**MINIMAL["packages"], "version": "latest"}, "version"),
    ("packages", {**MINIMAL["packages"], "type": "npm"}, "type"),
    ("scenarios", {**MINIMAL["scenarios"], "config": "{not json"}, "config"),
    ("scenarios", {**MINIMAL["scenarios"], "config": {"as": "object"}}, "config"),
    ("simulators", {**MINIMAL["simulators"], "config": "[1, 2]"}, "config"),
    ("simulators", {**MINIMAL["simulators"], "type": "isaac"}, "type"),
]


@pytest.mark.parametrize(("resource", "body", "field"), BAD_BODIES)
async def test_bad_body_is_400_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, member: Any, resource: str, body: dict[str, Any], field: str
) -> None:
    alice = await member("alice")
    r = await client.post(f"{BASE}/{resource}", json=body, headers=alice["headers"])
    assert field in assert_error(r, 400, "BAD_REQUEST")["error"]
    assert (await client.get(f"{BASE}/{resource}", headers=alice["headers"])).json()["total"] == 0


async def test_bad_update_is_400_and_the_record_is_unchanged(
    client: httpx.AsyncClient, member: Any
) -> None:
    alice = await member("alice")
    h = alice["headers"]
    sim = await create(client, h, "simulators", **SAMPLES["simulators"])
    url = f"{BASE}/simulators/{sim['id']}"
    for body in ({"config": "nope"}, {"name": None}, {"type": "isaac"}, {"tags": None}):
        assert_error(await client.put(url, json=body, headers=h), 400, "BAD_REQUEST")
    assert (await client.get(url, headers=h)).json() == sim


async def test_body_that_is_not_json_is_400(client: httpx.AsyncClient, member: Any) -> None:
    alice = await member("alice")
    headers = {**alice["headers"], "Content-Type": "application/json"}
    r = await client.post(f"{BASE}/packages", content=b'{"name": "x",', headers=headers)
    assert_error(r, 400, "BAD_REQUEST")
    r = await client.post(f"{BASE}/packages", content=b"[]", headers=headers)
    assert_error(r, 400, "BAD_REQUEST")


async def test_oversized_body_is_413(client: httpx.AsyncClient, member: Any) -> None:
    alice = await member("alice")
    body = {**MINIMAL["datasets"], "description": "x" * (2 * 1024 * 1024)}
    r = await client.post(f"{BASE}/datasets", json=body, headers=alice["headers"])
    assert_error(r, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    "query",
    [
        "limit=-1",
        "limit=101",
        "limit=ten",
        "offset=-5",
        "offset=99999999999999999999",
        "sort=stars",
        "type=cvs",
    ],
)
async def test_bad_list_parameters_are_400(
    client: httpx.AsyncClient, member: Any, query: str
) -> None:
    alice = await member("alice")
    r = await client.get(f"{BASE}/repositories?{query}", headers=alice["headers"])
    assert query.split("=")[0] in assert_error(r, 400, "BAD_REQUEST")["error"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_unknown_id_is_404(client: httpx.AsyncClient, member: Any, method: str) -> None:
    alice = await member("alice")
    body = {"description": "x"} if method == "PUT" else None
    for record_id in ("42", "9223372036854775807"):
        url = f"{BASE}/packages/{record_id}"
        r = await client.request(method, url, json=body, headers=alice["headers"])
        assert record_id in assert_error(r, 404, "NOT_FOUND")["error"]


async def test_id_that_is_not_a_positive_bigint_is_400_not_a_server_error(
    client: httpx.AsyncClient, member: Any
) -> None:
    alice = await member("alice")
    for bad in ("0", "9223372036854775808", "abc"):
        r = await client.get(f"{BASE}/packages/{bad}", headers=alice["headers"])
        assert_error(r, 400, "BAD_REQUEST")


@pytest.mark.parametrize(
    "path",
    [
        "/inventory",
        "/inventory/nothing",
        "/inventory/api/v2/repositories",
        f"{BASE}/robots",
        f"{BASE}/robots/1",
        f"{BASE}/datasets/1/files",
    ],
)
async def test_unknown_route_under_the_prefix_is_404_in_contract_shape(
    client: httpx.AsyncClient, member: Any, path: str
) -> None:
    alice = await member("alice")
    assert_error(await client.get(path, headers=alice["headers"]), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "datasets/1", "GET, PUT, DELETE"),
        ("POST", "datasets/1", "GET, PUT, DELETE"),
        ("DELETE", "datasets", "GET, POST"),
        ("PUT", "scenarios", "GET, POST"),
    ],
)
async def test_wrong_method_is_405_with_allow(
    client: httpx.AsyncClient, member: Any, method: str, path: str, allow: str
) -> None:
    alice = await member("alice")
    r = await client.request(method, f"{BASE}/{path}", json={}, headers=alice["headers"])
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == allow


async def test_duplicate_name_is_409_on_create_and_on_rename(
    client: httpx.AsyncClient, member: Any
) -> None:
    alice = await member("alice")
    h = alice["headers"]
    first = await create(client, h, "packages", name="nav2")
    second = await create(client, h, "packages", name="slam")
    r = await client.post(
        f"{BASE}/packages", json={**MINIMAL["packages"], "name": "nav2"}, headers=h
    )
    assert "nav2" in assert_error(r, 409, "CONFLICT")["error"]
    r = await client.put(f"{BASE}/packages/{second['id']}", json={"name": "nav2"}, headers=h)
    assert_error(r, 409, "CONFLICT")
    listed = (await client.get(f"{BASE}/packages?sort=name", headers=h)).json()
    assert [p["name"] for p in listed["items"]] == ["nav2", "slam"]
    assert listed["items"][0] == first
    # Renaming a record to its own name is not a conflict.
    r = await client.put(f"{BASE}/packages/{first['id']}", json={"name": "nav2"}, headers=h)
    assert r.status_code == 200, r.text


async def test_concurrent_creates_of_one_name_give_one_record(
    client: httpx.AsyncClient, member: Any
) -> None:
    alice = await member("alice")
    body = {**SAMPLES["repositories"], "name": "race"}
    responses = await asyncio.gather(
        *(
            client.post(f"{BASE}/repositories", json=body, headers=alice["headers"])
            for _ in range(12)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 11, [r.text for r in responses]
    listed = (await client.get(f"{BASE}/repositories", headers=alice["headers"])).json()
    assert listed["total"] == 1 and listed["items"][0]["name"] == "race"


async def test_every_route_needs_a_token(client: httpx.AsyncClient, member: Any) -> None:
    alice = await member("alice")
    record = await create(client, alice["headers"], "datasets")
    item = f"{BASE}/datasets/{record['id']}"
    for method, url in (
        ("GET", f"{BASE}/datasets"),
        ("GET", item),
        ("POST", f"{BASE}/datasets"),
        ("PUT", item),
        ("DELETE", item),
    ):
        r = await client.request(method, url, json=MINIMAL["datasets"])
        assert_error(r, 401, "UNAUTHORIZED")
        assert r.headers["www-authenticate"] == "Bearer"
        r = await client.request(
            method, url, json=MINIMAL["datasets"], headers={"Authorization": "Bearer forged"}
        )
        assert_error(r, 401, "UNAUTHORIZED")
    assert (await client.get(item, headers=alice["headers"])).json() == record


async def test_a_token_from_auth_login_works(
    client: httpx.AsyncClient, inventory_api: LiveApi
) -> None:
    await create_user(inventory_api.settings, "carol", "correct-horse", ["user"])
    r = await client.post("/auth/login", json={"username": "carol", "password": "correct-horse"})
    assert r.status_code == 200, r.text
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    record = await create(client, headers, "simulators", name="webots-r2023b")
    assert (await client.get(f"{BASE}/simulators/{record['id']}", headers=headers)).json() == record


async def test_only_the_creator_or_an_admin_changes_a_record(
    client: httpx.AsyncClient, member: Any
) -> None:
    alice, bob, root = await member("alice"), await member("bob"), await member("root", ["admin"])
    record = await create(client, alice["headers"], "scenarios", name="alice-scenario")
    url = f"{BASE}/scenarios/{record['id']}"
    assert (await client.get(url, headers=bob["headers"])).json() == record
    r = await client.put(url, json={"description": "mine now"}, headers=bob["headers"])
    assert_error(r, 403, "FORBIDDEN")
    assert_error(await client.delete(url, headers=bob["headers"]), 403, "FORBIDDEN")
    assert (await client.get(url, headers=bob["headers"])).json() == record
    r = await client.put(url, json={"description": "by admin"}, headers=root["headers"])
    assert r.status_code == 200 and r.json()["description"] == "by admin"
    assert (await client.delete(url, headers=root["headers"])).status_code == 204


async def test_anonymous_reads_when_the_operator_opens_them(
    client: httpx.AsyncClient, member: Any, live_settings: Any
) -> None:
    live = LiveApi(live_settings(SWITCHYARD_INVENTORY_ANONYMOUS_READS="true"))
    await live.start()
    try:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as anon:
            alice = await member("alice")
            record = await create(anon, alice["headers"], "packages", name="open")
            listed = (await anon.get(f"{BASE}/packages")).json()
            assert listed["items"] == [record] and listed["total"] == 1
            assert (await anon.get(f"{BASE}/packages/{record['id']}")).json() == record
            # Writes still need a token, and a bad token is refused even on a read.
            r = await anon.post(f"{BASE}/packages", json=MINIMAL["packages"])
            assert_error(r, 401, "UNAUTHORIZED")
            assert_error(await anon.delete(f"{BASE}/packages/{record['id']}"), 401, "UNAUTHORIZED")
            r = await anon.get(f"{BASE}/packages", headers={"Authorization": "Bearer forged"})
            assert_error(r, 401, "UNAUTHORIZED")
    finally:
        await live.stop()


async def test_an_expired_token_is_refused_even_after_it_was_accepted(
    client: httpx.AsyncClient, member: Any, inventory_api: LiveApi
) -> None:
    import msgspec

    from infra.security import Principal, issue_access_token

    alice = await member("alice")
    # `exp` counts from the whole second the token was issued in, so a TTL of n seconds
    # lasts n - 1 to n seconds: 3 leaves the first request 2 s, and 4.1 s is past it.
    short = msgspec.structs.replace(inventory_api.settings.auth, access_ttl_s=3)
    token = issue_access_token(short, Principal(alice["id"], "alice", ("user",)))
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get(f"{BASE}/datasets", headers=headers)).status_code == 200
    await asyncio.sleep(4.1)
    r = await client.get(f"{BASE}/datasets", headers=headers)
    assert "expired" in assert_error(r, 401, "UNAUTHORIZED")["error"]


async def test_every_route_survives_postgres_dropping_its_connections(
    client: httpx.AsyncClient, member: Any, database_url: str
) -> None:
    import asyncpg

    from infra.db.engine import plain_dsn

    alice = await member("alice")
    h = alice["headers"]
    kept = await create(client, h, "datasets", name="kept")
    gone = await create(client, h, "datasets", name="gone")
    # Use both pools with several connections at once, so there are several to drop.
    await asyncio.gather(
        *(client.get(f"{BASE}/datasets", headers=h) for _ in range(4)),
        *(client.put(f"{BASE}/datasets/{kept['id']}", json={}, headers=h) for _ in range(3)),
    )
    admin = await asyncpg.connect(plain_dsn(database_url))
    try:
        dropped = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert dropped >= 2
    await asyncio.sleep(0.2)
    pages = await asyncio.gather(*(client.get(f"{BASE}/datasets", headers=h) for _ in range(4)))
    assert [r.status_code for r in pages] == [200] * 4, [r.text for r in pages]
    assert (await client.get(f"{BASE}/datasets/{kept['id']}", headers=h)).status_code == 200
    r = await client.put(f"{BASE}/datasets/{kept['id']}", json={"size": 1}, headers=h)
    assert r.status_code == 200 and r.json()["size"] == 1, r.text
    assert (await client.delete(f"{BASE}/datasets/{gone['id']}", headers=h)).status_code == 204
    assert (await client.get("/inventory/health")).status_code == 200
    await create(client, h, "datasets", name="after")
