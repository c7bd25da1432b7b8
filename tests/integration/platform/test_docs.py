"""Offline API docs: Swagger UI from the package, the platform's page and one page per service."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from api.auth import AuthController
from api.docs import ASSET_DIR, docs_routes, openapi_config, subset
from api.error import PLATFORM_ERRORS
from api.inventory import SERVICE as INVENTORY
from api.job import JobController
from api.principal import current_principal
from api.service import Service


class Widget(msgspec.Struct):
    name: str


@get("/api/widgets")
async def list_widgets() -> list[Widget]:
    return []


# A second service whose contract puts its docs under its API root, as rigging's does.
WIDGETS: Service[Any] = Service(
    name="widgets",
    prefix="/widgets",
    routes=[list_widgets],
    errors=PLATFORM_ERRORS,
    docs_path="/api/docs",
)


def docs_app() -> Litestar:
    """Platform routes and two services with the docs wired as `api/app.py` wires them."""
    return Litestar(
        route_handlers=[
            AuthController,
            JobController,
            INVENTORY.router(),
            WIDGETS.router(),
            *docs_routes([INVENTORY, WIDGETS]),
        ],
        dependencies={"principal": Provide(current_principal)},
        openapi_config=openapi_config(),
    )


@pytest.fixture
async def client() -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(docs_app()) as c:
        yield c


def _dangling_refs(doc: dict[str, Any]) -> list[str]:
    refs = re.findall(r'"\$ref":\s*"#/components/(\w+)/([^"]+)"', msgspec.json.encode(doc).decode())
    return [f"{s}/{n}" for s, n in refs if n not in doc.get("components", {}).get(s, {})]


async def test_swagger_ui_assets_are_served_from_the_package(client: AsyncTestClient[Any]) -> None:
    js = await client.get("/docs/static/swagger-ui-bundle.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert js.content == (ASSET_DIR / "swagger-ui-bundle.js").read_bytes()
    css = await client.get("/docs/static/swagger-ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


@pytest.mark.parametrize(
    "path",
    ["/docs/static/../__init__.py", "/docs/static/%2e%2e/__init__.py", "/docs/static/nope.js"],
)
async def test_nothing_outside_the_asset_folder_is_served(
    client: AsyncTestClient[Any], path: str
) -> None:
    assert (await client.get(path)).status_code == 404


@pytest.mark.parametrize(
    ("page", "document"),
    [
        ("/docs", "/openapi.json"),
        ("/docs/", "/openapi.json"),
        ("/inventory/docs", "/inventory/openapi.json"),
        ("/widgets/api/docs", "/widgets/openapi.json"),
    ],
)
async def test_docs_pages_load_only_this_apps_files(
    client: AsyncTestClient[Any], page: str, document: str
) -> None:
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert f'url: "{document}"' in html
    # No URL to another host at all, CDN or not.
    for other in ("cdn", "unpkg", "jsdelivr", "//"):
        assert other not in html, other
    linked = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/docs/static/swagger-ui-bundle.js" in linked
    for url in [*linked, document]:
        assert (await client.get(url)).status_code == 200, url


async def test_a_service_document_has_only_its_prefix_and_what_it_references(
    client: AsyncTestClient[Any],
) -> None:
    r = await client.get("/inventory/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert "/inventory/api/v1/repositories" in doc["paths"]
    assert all(p.startswith("/inventory/") for p in doc["paths"]), sorted(doc["paths"])
    schemas = doc["components"]["schemas"]
    assert {"Repository", "RepositoryCreate", "Error"} <= set(schemas)
    assert "JobRequest" not in schemas and "Widget" not in schemas
    assert "bearer" in doc["components"]["securitySchemes"]
    assert _dangling_refs(doc) == []

    widgets = (await client.get("/widgets/openapi.json")).json()
    assert list(widgets["paths"]) == ["/widgets/api/widgets"]
    assert set(widgets["components"]["schemas"]) == {"Widget"}


async def test_the_platform_document_lists_every_route(client: AsyncTestClient[Any]) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert {
        "/jobs",
        "/auth/login",
        "/inventory/api/v1/repositories",
        "/widgets/api/widgets",
    } <= set(doc["paths"])
    assert not any("docs" in p or "openapi" in p for p in doc["paths"]), sorted(doc["paths"])
    assert _dangling_refs(doc) == []


@pytest.mark.parametrize(
    "path", ["/schema", "/schema/swagger", "/docs/swagger", "/docs/redoc", "/widgets/docs"]
)
async def test_no_other_docs_page_is_served(client: AsyncTestClient[Any], path: str) -> None:
    # Litestar's own UIs load from a CDN; none of them may be reachable.
    assert (await client.get(path)).status_code == 404


def test_subset_follows_references_through_components() -> None:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "paths": {
            "/a/x": {"get": {"responses": {"200": {"$ref": "#/components/responses/Ok"}}}},
            "/b/y": {"get": {"responses": {"200": {"$ref": "#/components/schemas/B"}}}},
        },
        "components": {
            "responses": {"Ok": {"content": {"schema": {"$ref": "#/components/schemas/A~1v1"}}}},
            "schemas": {
                "A/v1": {"properties": {"$ref": {"$ref": "#/components/schemas/Leaf"}}},
                "Leaf": {"type": "string"},
                "B": {"type": "integer"},
            },
        },
    }
    out = subset(doc, lambda path: path.startswith("/a/"))
    assert list(out["paths"]) == ["/a/x"]
    assert out["components"] == {
        "responses": {"Ok": doc["components"]["responses"]["Ok"]},
        "schemas": {"A/v1": doc["components"]["schemas"]["A/v1"], "Leaf": {"type": "string"}},
    }
    assert out["openapi"] == "3.1.0"
