"""API docs that work offline: Swagger UI served from a Python package, one page per service.

`/docs` browses the platform's whole `/openapi.json`; each service gets `<prefix><docs_path>`
backed by `<prefix>/openapi.json`, the same document cut down to the paths under its prefix.
The Swagger UI files come from the `swagger-ui-bundle-v2` wheel, so a machine without internet
(or behind a proxy that blocks CDNs) still gets a working page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.enums import MediaType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, OpenAPI, Schema, SecurityScheme
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler
from litestar.typing import FieldDefinition
from swagger_ui_bundle import swagger_ui_path

from api.service import Service

ASSETS_PATH = "/docs/static"
PLATFORM_DOCS = "/docs"
PLATFORM_OPENAPI = "/openapi.json"
# The wheel's dist folder (swagger-ui-bundle.js, swagger-ui.css, ...), versioned in its name.
ASSET_DIR = Path(str(swagger_ui_path))

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: {url}, dom_id: "#swagger-ui", deepLinking: true}});
</script>
</body>
</html>
"""


def openapi_config() -> OpenAPIConfig:
    """The app's OpenAPI document, served by Litestar at `/openapi.json` and nothing else."""
    return OpenAPIConfig(
        title="Switchyard",
        version="0.1.0",
        description="One job platform for the robodata, inventory, inspection, rigging "
        "and studio services.",
        # Litestar mounts its OpenAPI router at `path` whatever the plugins; an empty plugin
        # list would turn on every CDN-backed UI it has. Mounted at the document's own URL
        # with only the JSON plugin, it serves the cached document and no page of its own.
        path=PLATFORM_OPENAPI,
        render_plugins=[JsonRenderPlugin(path="/", media_type=MediaType.JSON)],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
            }
        ),
        security=[{"bearer": []}],
    )


def docs_routes(services: Sequence[Service[Any]]) -> list[ControllerRouterHandler]:
    """The Swagger UI assets, the platform's `/docs` and each service's docs page and document."""
    routes: list[ControllerRouterHandler] = [
        create_static_files_router(
            path=ASSETS_PATH,
            directories=[ASSET_DIR],
            name="docs-assets",
            include_in_schema=False,
        ),
        _page(PLATFORM_DOCS, PLATFORM_OPENAPI, "Switchyard API"),
    ]
    for service in services:
        openapi = f"{service.prefix}/openapi.json"
        routes += [
            _page(service.prefix + service.docs_path, openapi, f"Switchyard API: {service.name}"),
            _service_openapi(openapi, service.owns),
        ]
    return routes


def _page(path: str, openapi_url: str, title: str) -> HTTPRouteHandler:
    """A Swagger UI page that loads `openapi_url` and only this app's own assets."""
    # json.dumps makes a JS string literal; "<" escaped so no "</script>" can close the block.
    url = json.dumps(openapi_url).replace("<", "\\u003c")
    body = _PAGE.format(title=html.escape(title), assets=ASSETS_PATH, url=url)

    @get(path, include_in_schema=False, media_type=MediaType.HTML, sync_to_thread=False)
    def docs_page() -> str:
        return body

    return docs_page


def _service_openapi(path: str, owns: Callable[[str], bool]) -> HTTPRouteHandler:
    """`path` serves the app's OpenAPI document cut down to the paths `owns` accepts."""

    # The app's document is built once and kept by Litestar; converting it to a dict is the
    # slow part, so the subset is kept for as long as the app keeps that same document.
    cached: list[tuple[OpenAPI, dict[str, Any]]] = []

    @get(path, include_in_schema=False, sync_to_thread=False)
    def service_openapi(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
        schema = request.app.openapi_schema
        if not cached or cached[0][0] is not schema:
            cached[:] = [(schema, subset(schema.to_schema(), owns))]
        return Response(cached[0][1])

    return service_openapi


def subset(document: Mapping[str, Any], owns: Callable[[str], bool]) -> dict[str, Any]:
    """The OpenAPI `document` with only the paths `owns` accepts and the components they use."""
    paths = {path: item for path, item in document.get("paths", {}).items() if owns(path)}
    components: Mapping[str, Mapping[str, Any]] = document.get("components", {})
    kept: dict[str, dict[str, Any]] = {}
    pending = list(_refs(paths))
    while pending:
        section, _, name = pending.pop().removeprefix("#/components/").partition("/")
        # JSON pointer escapes in a component's name (RFC 6901).
        name = name.replace("~1", "/").replace("~0", "~")
        target = components.get(section, {}).get(name)
        if target is None or name in kept.get(section, {}):
            continue
        kept.setdefault(section, {})[name] = target
        pending.extend(_refs(target))
    # Security schemes are named by `security` requirements, never by a $ref.
    if "securitySchemes" in components:
        kept["securitySchemes"] = dict(components["securitySchemes"])
    return {**document, "paths": paths, "components": kept}


def _refs(node: Any) -> Iterator[str]:
    """Every local `$ref` to a component inside `node`."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """Structs that refuse unknown fields (`forbid_unknown_fields=True`) are documented with
    `additionalProperties: false`, as the server answers them: Litestar's own Struct schemas
    leave that out, so a generated client would think extra fields are accepted.

    Litestar's Struct schema plugin is private API: litestar is pinned to its minor version
    and tests/integration/platform/test_openapi.py notices when the schemas change."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            getattr(
                msgspec.inspect.type_info(field_definition.type_), "forbid_unknown_fields", False
            )
        )

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema
