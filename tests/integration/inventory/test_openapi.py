"""What a frontend sees before its first call: the OpenAPI document, CORS and health."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.integration.inventory.sample import BASE, RESOURCES, assert_error

VIEWS = {
    "repositories": "Repository",
    "datasets": "Dataset",
    "packages": "Package",
    "scenarios": "Scenario",
    "simulators": "Simulator",
}


def _ref(content: dict[str, Any]) -> str:
    ref: str = content["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


async def test_openapi_lists_the_25_inventory_routes_with_their_schemas(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get("/openapi.json")).json()
    ops = {
        (path, method): op
        for path, item in doc["paths"].items()
        if path.startswith(f"{BASE}/")
        for method, op in item.items()
        if method in ("get", "post", "put", "delete", "patch")
    }
    assert len(ops) == 25, sorted(ops)
    schemas = doc["components"]["schemas"]
    for resource in RESOURCES:
        view, coll, item = VIEWS[resource], f"{BASE}/{resource}", f"{BASE}/{resource}/{{id}}"
        listing = ops[(coll, "get")]
        assert _ref(listing["responses"]["200"]["content"]) == f"{view}Page"
        params = {p["name"] for p in listing["parameters"]}
        assert {"limit", "offset", "type", "tag", "q", "sort"} <= params
        assert _ref(ops[(coll, "post")]["requestBody"]["content"]) == f"{view}Create"
        assert _ref(ops[(coll, "post")]["responses"]["201"]["content"]) == view
        assert _ref(ops[(item, "get")]["responses"]["200"]["content"]) == view
        assert _ref(ops[(item, "put")]["requestBody"]["content"]) == f"{view}Update"
        assert _ref(ops[(item, "put")]["responses"]["200"]["content"]) == view
        assert "204" in ops[(item, "delete")]["responses"]
        assert _ref(ops[(item, "delete")]["responses"]["404"]["content"]) == "Error"
        id_param = next(p for p in ops[(item, "get")]["parameters"] if p["name"] == "id")
        assert id_param["in"] == "path" and id_param["schema"]["type"] == "integer"
        # Creates require the contract's required fields; updates require nothing.
        assert "name" in schemas[f"{view}Create"]["required"]
        assert not schemas[f"{view}Update"].get("required")
        assert set(schemas[view]["properties"]) >= {"id", "name", "tags", "created_at"}
    language = str(schemas["Repository"]["properties"]["language"])
    assert "TypeScript" in language
    assert "bag" in str(schemas["Dataset"]["properties"]["format"])
    assert set(schemas["Error"]["properties"]) == {"error", "code"}


async def test_cors_preflight_allows_the_configured_frontend(client: httpx.AsyncClient) -> None:
    r = await client.options(
        f"{BASE}/repositories/1",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert r.status_code in (200, 204), r.text
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    methods = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT", "DELETE", "OPTIONS"} <= methods
    allowed = r.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    # Another origin gets no grant, and the refusal is an error in the contract's shape.
    r = await client.options(
        f"{BASE}/repositories",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in r.headers
    assert "origin not allowed" in assert_error(r, 400, "BAD_REQUEST")["error"]


async def test_cors_refuses_a_method_or_header_not_configured(client: httpx.AsyncClient) -> None:
    origin = {"Origin": "http://localhost:3000"}
    r = await client.options(
        f"{BASE}/repositories", headers={**origin, "Access-Control-Request-Method": "PATCH"}
    )
    assert "method not allowed" in assert_error(r, 400, "BAD_REQUEST")["error"]
    r = await client.options(
        f"{BASE}/repositories",
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Secret",
        },
    )
    assert "headers not allowed" in assert_error(r, 400, "BAD_REQUEST")["error"]


async def test_cors_origins_are_a_setting(client: httpx.AsyncClient, live_settings: Any) -> None:
    from tests.conftest import LiveApi

    live = LiveApi(live_settings(SWITCHYARD_INVENTORY_CORS_ORIGINS="https://hub.example"))
    await live.start()
    try:
        async with httpx.AsyncClient(base_url=live.url) as other:
            r = await other.options(
                f"{BASE}/datasets",
                headers={"Origin": "https://hub.example", "Access-Control-Request-Method": "POST"},
            )
            assert r.headers["access-control-allow-origin"] == "https://hub.example"
            r = await other.options(
                f"{BASE}/datasets",
                headers={
                    "Origin": "http://localhost:3000",
                    "Access-Control-Request-Method": "POST",
                },
            )
            assert "access-control-allow-origin" not in r.headers
    finally:
        await live.stop()


async def test_health_answers_without_a_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/inventory/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "healthy"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])


async def test_health_says_unhealthy_when_the_database_is_gone(
    client: httpx.AsyncClient, live_settings: Any, database_url: str
) -> None:
    from sqlalchemy.engine import make_url

    from tests.conftest import LiveApi

    gone = make_url(database_url).set(database="sy_no_such_database")
    live = LiveApi(live_settings(DATABASE_URL=gone.render_as_string(hide_password=False)))
    await live.start()
    try:
        async with httpx.AsyncClient(base_url=live.url) as other:
            r = await other.get("/inventory/health")
            assert r.status_code == 503
            assert r.json()["status"] == "unhealthy"
    finally:
        await live.stop()
