"""Who may change and read what: CSRF refusals, sessions the server never issued, another
session's files and jobs."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from infra.settings import Settings
from tests.conftest import LiveApi
from tests.integration.rigging.conftest import API, Browser, blob_files


def error_of(r: httpx.Response) -> tuple[int, str]:
    body = r.json()
    assert set(body) >= {"detail", "error_code", "timestamp"}, body
    return r.status_code, str(body["error_code"])


async def test_changes_without_a_csrf_token_are_refused(
    browser: Callable[[], Browser], small_obj: bytes, rigging_settings: Settings
) -> None:
    async with browser() as tab:
        path = await tab.uploaded("a.obj", small_obj)
        stored = len(blob_files(rigging_settings))
        r = await tab.http.post("/upload", files={"file": ("b.obj", small_obj)})
        assert error_of(r) == (403, "CSRF_TOKEN_MISSING")
        r = await tab.http.post("/jobs/skeleton", json={"input_file": path})
        assert error_of(r) == (403, "CSRF_TOKEN_MISSING")
        r = await tab.http.delete(f"/sessions/{tab.session_id}")
        assert error_of(r) == (403, "CSRF_TOKEN_MISSING")
        assert len(blob_files(rigging_settings)) == stored
        assert (await tab.http.get("/jobs")).json()["total"] == 0


async def test_forged_and_altered_tokens_are_refused(
    browser: Callable[[], Browser], small_obj: bytes
) -> None:
    async with browser() as tab:
        path = await tab.uploaded("a.obj", small_obj)
        bound = (await tab.http.get("/csrf-token")).json()["csrf_token"]
        nonce, expires, binding, signature = bound.split(".")
        other = "B" if signature[0] == "A" else "A"
        forged = [
            "abc123",
            f"{nonce}.{int(expires) + 3600}.{binding}.{signature}",  # a longer life
            f"{nonce}.{expires}.-.{signature}",  # unbound
            f"{nonce}.{expires}.{binding}.{other}{signature[1:]}",
        ]
        for token in forged:
            r = await tab.http.post(
                "/jobs/skeleton", json={"input_file": path}, headers={"X-CSRF-Token": token}
            )
            assert error_of(r) == (403, "CSRF_TOKEN_INVALID"), token


async def test_a_token_bound_to_one_session_is_refused_for_another(
    browser: Callable[[], Browser], small_obj: bytes
) -> None:
    async with browser() as mine, browser() as theirs:
        await mine.uploaded("a.obj", small_obj)
        await theirs.uploaded("b.obj", small_obj)
        # Fetched with a session: bound to it.
        bound = (await mine.http.get("/csrf-token")).json()["csrf_token"]
        assert mine.http.cookies.get("csrf_token", path="/rigging") == bound
        r = await theirs.http.post(
            "/upload", files={"file": ("c.obj", small_obj)}, headers={"X-CSRF-Token": bound}
        )
        assert error_of(r) == (403, "CSRF_TOKEN_INVALID")
        r = await mine.http.post(
            "/upload", files={"file": ("c.obj", small_obj)}, headers={"X-CSRF-Token": bound}
        )
        assert r.status_code == 200, r.text


async def test_a_session_the_server_never_issued_is_refused(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes, rigging_settings: Settings
) -> None:
    made_up = "s" * 43
    async with browser() as tab:
        r = await tab.upload("a.obj", small_obj, session_id=made_up)
        assert error_of(r) == (404, "SESSION_NOT_FOUND")
        r = await tab.upload("a.obj", small_obj, session_id="session123")
        assert error_of(r) == (404, "SESSION_NOT_FOUND")
        assert blob_files(rigging_settings) == []
        assert "session_id" not in tab.http.cookies
    async with httpx.AsyncClient(base_url=stack.url + API) as forger:
        forger.cookies.set("session_id", made_up, domain="127.0.0.1", path="/rigging")
        assert error_of(await forger.get("/jobs")) == (404, "SESSION_NOT_FOUND")
        assert error_of(await forger.get(f"/sessions/{made_up}/stats")) == (
            404,
            "SESSION_NOT_FOUND",
        )
        # An upload with a stale or made-up cookie gets a session of the server's own.
        token = (await forger.get("/csrf-token")).json()["csrf_token"]
        r = await forger.post(
            "/upload", files={"file": ("a.obj", small_obj)}, headers={"X-CSRF-Token": token}
        )
        assert r.status_code == 200, r.text
        assert r.json()["session_id"] != made_up
        assert forger.cookies.get("session_id", path="/rigging") == r.json()["session_id"]


async def test_another_sessions_files_and_jobs_are_not_found(
    browser: Callable[[], Browser], stack: LiveApi, small_obj: bytes
) -> None:
    async with browser() as mine, browser() as theirs:
        theirs_path = await theirs.uploaded("secret.obj", small_obj)
        job = await theirs.finished("skeleton", {"input_file": theirs_path})
        await mine.uploaded("mine.obj", small_obj)
        # Their upload, their result, and their path with my session id swapped in.
        for path in (
            theirs_path,
            job["output_file"],
            theirs_path.replace(theirs.session_id, mine.session_id),
            "/uploads/../../etc/passwd",
            f"/uploads/{mine.session_id}/../mine.obj",
        ):
            r = await mine.job("skeleton", {"input_file": path})
            assert error_of(r) == (404, "FILE_NOT_FOUND"), path
        r = await mine.http.get(f"/jobs/{job['job_id']}")
        assert error_of(r) == (404, "JOB_NOT_FOUND")
        r = await mine.http.post(f"/jobs/{job['job_id']}/cancel", headers=mine.headers)
        assert error_of(r) == (404, "JOB_NOT_FOUND")
        r = await mine.http.delete(f"/jobs/{job['job_id']}", headers=mine.headers)
        assert error_of(r) == (404, "JOB_NOT_FOUND")
        assert (await theirs.http.get(f"/jobs/{job['job_id']}")).status_code == 200
        async with httpx.AsyncClient(base_url=stack.url) as anonymous:
            name = job["output_file"].rsplit("/", 1)[1]
            r = await anonymous.get(f"/rigging/results/{mine.session_id}/{name}")
            assert error_of(r) == (404, "NOT_FOUND")
            r = await anonymous.get(f"/rigging/results/{theirs.session_id}/{name}")
            assert r.status_code == 200


async def test_unknown_routes_answer_in_the_contracts_shape(stack: LiveApi) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        assert error_of(await http.get("/rigging/api/nothing")) == (404, "NOT_FOUND")
        assert error_of(await http.get("/rigging/api/jobs/not-a-job")) == (404, "JOB_NOT_FOUND")
