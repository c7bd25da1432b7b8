"""An indexing worker's parser processes go with it, however it ends."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from tests.e2e.conftest import Processes


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _parsers_of(pid: int) -> list[int]:
    return [p for p in _children(pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def test_parser_processes_exit_when_their_worker_is_killed(procs: Processes) -> None:
    worker = procs.worker("indexing", name="indexing")
    parsers: list[int] = []
    for _ in range(600):  # the worker starts them when it is ready (its warm-up)
        parsers = _parsers_of(worker.pid)
        if len(parsers) >= min(2, os.cpu_count() or 1):
            break
        await asyncio.sleep(0.1)
    assert parsers, procs.log("indexing")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    for _ in range(100):
        if not any(_alive(p) for p in parsers):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"parser processes {parsers} outlived their worker")
