"""Malformed requests get a 400 that names the problem; nothing is stored."""

from __future__ import annotations


async def test_malformed_bodies(http, login) -> None:
    alice = await login("alice")
    h = alice["headers"]
    not_json = await http.post(
        "/jobs", content=b"{kind: noop", headers={**h, "content-type": "application/json"}
    )
    assert not_json.status_code == 400 and not_json.json()["code"] == "INVALID_REQUEST"
    no_kind = await http.post("/jobs", json={"payload": {}}, headers=h)
    assert no_kind.status_code == 400 and "kind" in no_kind.json()["detail"]
    unknown_field = await http.post(
        "/jobs", json={"kind": "platform.noop", "colour": "red"}, headers=h
    )
    assert unknown_field.status_code == 400 and "colour" in unknown_field.json()["detail"]
    unknown_kind = await http.post("/jobs", json={"kind": "nope.nope"}, headers=h)
    assert unknown_kind.status_code == 400
    assert unknown_kind.json()["code"] == "UNKNOWN_KIND"
    assert unknown_kind.json()["detail"].startswith("kind: unknown job kind 'nope.nope'")
    bad_payload = await http.post(
        "/jobs", json={"kind": "platform.sleep", "payload": {"seconds": "soon"}}, headers=h
    )
    assert bad_payload.status_code == 400
    assert bad_payload.json()["code"] == "INVALID_PAYLOAD"
    assert "$.payload.seconds" in bad_payload.json()["detail"]
    out_of_range = await http.post(
        "/jobs", json={"kind": "platform.sleep", "payload": {"steps": 0}}, headers=h
    )
    assert out_of_range.status_code == 400 and "$.payload.steps" in out_of_range.json()["detail"]
    wrong_pool = await http.post("/jobs", json={"kind": "platform.noop", "pool": "moon"}, headers=h)
    assert wrong_pool.status_code == 400 and wrong_pool.json()["detail"].startswith("pool:")
    long_timeout = await http.post(
        "/jobs", json={"kind": "platform.noop", "timeout_s": 1e9}, headers=h
    )
    assert long_timeout.status_code == 400 and "timeout_s" in long_timeout.json()["detail"]
    empty_batch = await http.post("/jobs/batch", json={"jobs": []}, headers=h)
    assert empty_batch.status_code == 400
    login_missing = await http.post("/auth/login", json={"username": "alice"})
    assert login_missing.status_code == 400 and "password" in login_missing.json()["detail"]
    assert (await http.get("/jobs", headers=h)).json()["total"] == 0


async def test_unknown_or_malformed_job_ids_are_404(http, login) -> None:
    alice = await login("alice")
    for path in ("/jobs/not-a-uuid", "/jobs/00000000-0000-0000-0000-000000000000"):
        r = await http.get(path, headers=alice["headers"])
        assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"


async def test_request_id_is_echoed(http) -> None:
    r = await http.get("/health", headers={"X-Request-Id": "trace-123"})
    assert r.headers["x-request-id"] == "trace-123"
    assert len((await http.get("/health")).headers["x-request-id"]) == 32


async def test_a_refused_cors_preflight_is_a_json_error(http) -> None:
    r = await http.options(
        "/jobs",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {
        "detail": "CORS preflight refused: origin not allowed",
        "code": "BAD_REQUEST",
    }


async def test_a_services_own_kinds_are_not_submitted_through_jobs(http, login) -> None:
    """Service routes check what a payload names (paths inside the roots, the caller's own
    records) before they submit; /jobs takes only the platform's kinds."""
    from workers.catalog import CATALOG

    h = (await login("alice"))["headers"]
    unpack = {"kind": "robodata.unpack", "payload": {"archive_key": "x", "target": "/etc/x"}}
    r = await http.post("/jobs", json=unpack, headers=h)
    assert (r.status_code, r.json()["code"]) == (400, "NOT_PUBLIC")
    assert r.json()["detail"].startswith("kind: robodata.unpack is submitted by its service's")
    r = await http.post(
        "/jobs/batch", json={"jobs": [{"kind": "platform.noop"}, unpack]}, headers=h
    )
    assert (r.status_code, r.json()["code"]) == (400, "NOT_PUBLIC")
    assert r.json()["detail"].startswith("jobs[1].kind:")
    for name, kind in CATALOG.items():
        if not name.startswith("platform."):
            assert not kind.public, name
            r = await http.post("/jobs", json={"kind": name}, headers=h)
            assert r.json().get("code") == "NOT_PUBLIC", (name, r.text)
    assert (await http.get("/jobs", headers=h)).json()["total"] == 0
    assert (await http.post("/jobs", json={"kind": "platform.noop"}, headers=h)).status_code == 202
