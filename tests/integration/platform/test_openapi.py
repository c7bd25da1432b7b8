"""`/openapi.json` documents what the API answers: each error status a route can answer, in its
contract's error shape, and no framework default a client would never receive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from api.app import create_app
from api.error import PLATFORM_ERRORS, PlatformError
from api.inventory.error import ERRORS as INVENTORY_ERRORS
from api.inventory.schema import Error
from tests.conftest import make_settings

METHODS = ("get", "put", "post", "delete", "head", "patch")
# Statuses whose body is the route's own Struct rather than an error (a failed probe).
PROBE_BODIES = {
    ("/ready", "503"): "Ready",
    ("/inventory/health", "503"): "inventory_schema_Health",
    ("/studio/health", "503"): "studio_schema_Health",
}
# Each service's error shape, by prefix; the platform's elsewhere.
SHAPES = {
    "/inventory/": "Error",
    "/inspection/": "InspectionError",
    "/rigging/": "RiggingErrorBody",
    "/robodata/": "RobodataDetail",
    "/studio": "Detail",
}


def document() -> dict[str, Any]:
    """The platform's document, built without opening any resource (none is reached)."""
    settings = make_settings("postgresql://unused/db", "redis://unused", Path("/nonexistent"))
    doc: dict[str, Any] = create_app(settings).openapi_schema.to_schema()
    return doc


DOC = document()
OPERATIONS = [
    pytest.param(path, method, id=f"{method.upper()} {path}")
    for path, item in DOC["paths"].items()
    for method in METHODS
    if method in item
]


def schema_name(response: dict[str, Any]) -> str | None:
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_every_error_is_documented_in_its_contracts_shape(path: str, method: str) -> None:
    operation = DOC["paths"][path][method]
    responses: dict[str, Any] = operation["responses"]
    shape = next((v for k, v in SHAPES.items() if path.startswith(k)), "PlatformError")
    assert "500" in responses
    if operation.get("parameters") or operation.get("requestBody"):
        # Anything a route reads can fail validation; Litestar would document that 400 in a
        # body this API never writes.
        assert "400" in responses
    for status, response in responses.items():
        if int(status) >= 400:
            expected = PROBE_BODIES.get((path, status), shape)
            assert schema_name(response) == expected, (status, response)


def test_cancel_documents_both_successes_and_its_errors() -> None:
    responses = DOC["paths"]["/jobs/{job_id}/cancel"]["post"]["responses"]
    assert schema_name(responses["200"]) == schema_name(responses["202"]) == "JobView"
    assert {"400", "401", "404", "409", "500"} <= set(responses)


def test_routes_that_need_a_token_document_401() -> None:
    for path, item in DOC["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            if operation.get("security") != [{}]:
                assert "401" in operation["responses"], (method, path)
    for path in (
        "/health",
        "/ready",
        "/metrics",
        "/blobs/{key}",
        "/inventory/health",
        "/studio/health",
        "/studio",
    ):
        assert DOC["paths"][path]["get"]["security"] == [{}], path


def test_error_schemas_describe_the_bodies_the_shapes_write() -> None:
    schemas = DOC["components"]["schemas"]
    assert schemas["PlatformError"]["required"] == ["code", "detail"]
    assert schemas["Error"]["required"] == ["code", "error"]
    msgspec.convert(PLATFORM_ERRORS.body("no such job", "NOT_FOUND"), PlatformError)
    written = msgspec.to_builtins(INVENTORY_ERRORS.body("no such record", "NOT_FOUND"))
    msgspec.convert(written, Error)


def test_bodies_that_refuse_unknown_fields_say_so() -> None:
    schemas = DOC["components"]["schemas"]
    for name in ("JobRequest", "BatchRequest", "LoginRequest", "RepositoryCreate"):
        assert schemas[name].get("additionalProperties") is False, name
    # A Struct that takes any field stays open.
    assert "additionalProperties" not in schemas["JobView"]
