"""Input no route can store or query is a 400 in the route's own error shape naming the field:
JSON nested too deep, a NUL in text, integers that are not written as one or do not fit a
bigint, an empty body. Nothing is stored and nothing is logged as a server error."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from api.input import MAX_BIGINT, MAX_JSON_DEPTH
from tests.integration.inventory.sample import BASE, MINIMAL

JSON = {"content-type": "application/json"}
REPOS = f"{BASE}/repositories"


def assert_400(r: httpx.Response, field: str) -> str:
    """A 400 in the shape of the route's contract whose message starts with `field:`."""
    assert r.status_code == 400, r.text
    body = r.json()
    if r.request.url.path.startswith("/inventory"):
        assert set(body) == {"error", "code"} and body["code"] == "BAD_REQUEST", body
        detail: str = body["error"]
    else:
        assert set(body) == {"detail", "code"} and body["code"] == "INVALID_REQUEST", body
        detail = body["detail"]
    assert detail.startswith(f"{field}:"), detail
    return detail


async def assert_nothing_stored(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    assert (await http.get("/jobs", headers=headers)).json()["total"] == 0
    assert (await http.get(REPOS, headers=headers)).json()["total"] == 0


def assert_no_server_error_logged(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_json_nested_too_deep_is_400_on_every_route(
    http: httpx.AsyncClient, login: Any, caplog: pytest.LogCaptureFixture
) -> None:
    h = {**(await login("alice"))["headers"], **JSON}
    # 100,000 deep overflows the decoder's recursion; one past the limit decodes but is refused.
    for depth in (100_000, MAX_JSON_DEPTH + 1):
        body = nested(depth)
        job = b'{"kind": "platform.noop", "payload": {"a": %s}}' % nested(depth - 2)
        for path, content in [
            ("/auth/login", body),
            ("/jobs", body),
            ("/jobs", job),
            ("/jobs/batch", b'{"jobs": [%s]}' % job),
            (REPOS, body),
        ]:
            r = await http.post(path, content=content, headers=h)
            assert "nested deeper than" in assert_400(r, "request body")
    await assert_nothing_stored(http, h)
    assert_no_server_error_logged(caplog)


async def test_brackets_inside_strings_are_not_nesting(http: httpx.AsyncClient, login: Any) -> None:
    h = (await login("alice"))["headers"]
    text = '[{\\"' * MAX_JSON_DEPTH
    r = await http.post(REPOS, json={**MINIMAL["repositories"], "description": text}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["description"] == text


async def test_nul_in_json_text_is_400_naming_the_field(
    http: httpx.AsyncClient, login: Any, caplog: pytest.LogCaptureFixture
) -> None:
    h = (await login("alice"))["headers"]
    noop = {"kind": "platform.noop"}
    for path, body, field in [
        ("/jobs", {**noop, "idempotency_key": "a\u0000b"}, "idempotency_key"),
        ("/jobs", {"kind": "platform.sleep", "payload": {"note\u0000": 1}}, "payload.note\u0000"),
        ("/jobs/batch", {"jobs": [noop, {**noop, "pool": "\u0000"}]}, "jobs[1].pool"),
        ("/auth/login", {"username": "alice\u0000", "password": "x"}, "username"),
        (REPOS, {**MINIMAL["repositories"], "name": "a\u0000b"}, "name"),
        (REPOS, {**MINIMAL["repositories"], "tags": ["ok", "n\u0000"]}, "tags[1]"),
        (REPOS, "\u0000", "request body"),
    ]:
        detail = assert_400(await http.post(path, json=body, headers=h), field)
        assert "NUL" in detail
    await assert_nothing_stored(http, h)
    assert_no_server_error_logged(caplog)


async def test_nul_in_a_query_parameter_or_the_path_is_400_naming_it(
    http: httpx.AsyncClient, login: Any, caplog: pytest.LogCaptureFixture
) -> None:
    h = (await login("alice"))["headers"]
    for url, field in [
        ("/jobs?kind=a%00b", "kind"),
        ("/jobs?status=running&kind=%00", "kind"),
        (f"{REPOS}?tag=a%00b", "tag"),
        (f"{REPOS}?q=%00", "q"),
        (f"{REPOS}?type=git%00", "type"),
        ("/jobs/a%00b", "path"),
    ]:
        assert "NUL" in assert_400(await http.get(url, headers=h), field)
    assert_no_server_error_logged(caplog)


async def test_query_and_path_integers_are_written_as_integers_and_fit_a_bigint(
    http: httpx.AsyncClient, login: Any, caplog: pytest.LogCaptureFixture
) -> None:
    h = (await login("alice"))["headers"]
    for url, field in [
        (f"/jobs?offset={MAX_BIGINT + 1}", "offset"),
        (f"/jobs?offset={'9' * 5000}", "offset"),
        ("/jobs?offset=1e3", "offset"),
        ("/jobs?limit=10.0", "limit"),
        (f"{REPOS}?offset=1e3", "offset"),
        (f"{REPOS}?limit={MAX_BIGINT + 1}", "limit"),
        (f"{REPOS}/1e3", "id"),
    ]:
        assert_400(await http.get(url, headers=h), field)
    # The largest bigint is a valid (empty) page.
    r = await http.get(f"/jobs?offset={MAX_BIGINT}", headers=h)
    assert r.status_code == 200 and r.json()["items"] == [], r.text
    assert_no_server_error_logged(caplog)


async def test_an_empty_or_wrong_kind_of_body_names_the_request_body(
    http: httpx.AsyncClient, login: Any
) -> None:
    h = {**(await login("alice"))["headers"], **JSON}
    for path in ("/auth/login", "/jobs", "/jobs/batch", REPOS):
        detail = assert_400(await http.post(path, content=b"", headers=h), "request body")
        assert detail == "request body: expected JSON, got an empty body"
        detail = assert_400(await http.post(path, content=b"[]", headers=h), "request body")
        assert "object" in detail and "array" in detail
    await assert_nothing_stored(http, h)
