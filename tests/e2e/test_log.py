"""What an operator reads: every line a real API process writes is a JSON log record."""

from __future__ import annotations

import json

import httpx

from tests.e2e.conftest import Processes


async def test_the_api_process_writes_json_lines(procs: Processes) -> None:
    url = await procs.api()
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.get("/jobs", headers={"X-Request-Id": "r-42"})
        assert r.status_code == 401
    procs.stop_all()
    lines = [line for line in procs.log("api").splitlines() if line.strip()]
    assert lines, "the API wrote no log line"
    records = [json.loads(line) for line in lines]  # fails on any line that is not JSON
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    assert any("Application startup complete" in r["msg"] for r in records)
