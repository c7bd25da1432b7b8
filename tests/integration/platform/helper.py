"""Helpers shared by the platform tests."""

from __future__ import annotations

import asyncio
from typing import Any


async def submit(
    http: Any, headers: dict[str, str], kind: str = "platform.sleep", **body: Any
) -> dict[str, Any]:
    r = await http.post("/jobs", json={"kind": kind, **body}, headers=headers)
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


async def wait_status(
    http: Any, headers: dict[str, str], job_id: str, *statuses: str, timeout: float = 30
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        r = await http.get(f"/jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] in statuses:
            return job  # type: ignore[no-any-return]
        assert loop.time() < deadline, f"job stayed {job['status']}, wanted {statuses}: {job}"
        await asyncio.sleep(0.05)
