"""`switchyard up` for real (embedded Postgres and Redis), and the operator commands beside it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.conftest import bare_env, start_up, stop_up, wait_ready

# One `up` serves the module; on two busy cores its start (initdb, migrations, six processes
# importing their libraries) takes a minute or more.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ADMIN_PASSWORD = "admin-password-e2e"


def switchyard(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "infra", *args],
        cwd=cwd,
        env=bare_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def children(pid: int) -> list[int]:
    """Direct children of a process (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Up:
    url: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def api_parent(self) -> int:
        (pid,) = [p for p in children(self.proc.pid) if " api " in cmdline(p)]
        return pid

    def api_servers(self) -> list[int]:
        """The uvicorn server processes under the API's parent (not multiprocessing's helper)."""
        return [
            p
            for p in children(self.api_parent())
            if "spawn_main" in cmdline(p) and "resource_tracker" not in cmdline(p)
        ]


@pytest.fixture(scope="module")
def up() -> Iterator[Up]:
    # Not under pytest's base temp dir: run as root, pgserver runs Postgres as another user
    # and opens the dirs above the data dir to it, which pytest sessions started beside this
    # one close again (they reset their base dir to 0700).
    base = Path(tempfile.mkdtemp(prefix="switchyard-up-"))
    data_dir = base / "data"
    port = free_port()
    env = {**bare_env(), "SWITCHYARD_ADMIN_PASSWORD": ADMIN_PASSWORD}
    proc, log = start_up(base, env, "--port", str(port), "--api-workers", "2")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        yield Up(url, data_dir, proc, log)
    finally:
        stop_up(proc)
        shutil.rmtree(base, ignore_errors=True)


def pool_rows(table: str) -> dict[str, dict[str, str]]:
    lines = table.strip().splitlines()
    head = lines[0].split()
    return {row.split()[0]: dict(zip(head, row.split(), strict=True)) for row in lines[1:]}


def test_pools_beside_up_shows_every_pool_and_its_live_workers(up: Up, tmp_path: Path) -> None:
    deadline = time.monotonic() + 300  # workers register once they have imported their pool
    while True:
        done = switchyard("pools", "--data-dir", str(up.data_dir), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        rows = pool_rows(done.stdout)
        if all(int(r["WORKERS"]) >= 1 for r in rows.values()) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert set(rows) == {"gpu", "rigging", "media", "indexing"}
    assert all(int(r["WORKERS"]) == 1 for r in rows.values()), done.stdout
    # Each pool runs at its own default concurrency.
    assert int(rows["media"]["CONCURRENCY"]) >= 32 and int(rows["indexing"]["CONCURRENCY"]) >= 32
    assert 1 <= int(rows["gpu"]["CONCURRENCY"]) <= 4
    assert int(rows["rigging"]["CONCURRENCY"]) == len(os.sched_getaffinity(0))
    assert list(tmp_path.iterdir()) == []


def test_user_created_from_elsewhere_can_log_in(up: Up, tmp_path: Path) -> None:
    done = switchyard(
        "user", "create", "bob", "--password", "bob-password-1", "--data-dir", str(up.data_dir),
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "created user bob" in done.stdout
    # It wrote nothing where it ran (no stray .data/secrets).
    assert list(tmp_path.iterdir()) == []
    r = httpx.post(
        up.url + "/auth/login",
        json={"username": "bob", "password": "bob-password-1"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.json()["user"]["username"] == "bob"


def test_migrate_beside_up_finds_the_instance(up: Up, tmp_path: Path) -> None:
    done = switchyard("migrate", "--data-dir", str(up.data_dir), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "latest revision" in done.stdout


def test_two_api_processes_share_the_port_and_one_that_dies_is_replaced(up: Up) -> None:
    servers = up.api_servers()
    assert len(servers) == 2, [cmdline(p) for p in children(up.api_parent())]
    os.kill(servers[0], signal.SIGKILL)
    # The other process keeps answering while uvicorn's parent starts a replacement.
    for _ in range(20):
        assert httpx.get(up.url + "/health", timeout=10).status_code == 200
    deadline = time.monotonic() + 180
    while len(after := up.api_servers()) != 2 or servers[0] in after:
        assert time.monotonic() < deadline, after
        time.sleep(0.5)
    assert servers[1] in after
    assert up.proc.poll() is None


def test_second_up_on_the_same_data_dir_is_refused(up: Up, tmp_path: Path) -> None:
    done = switchyard(
        "up", "--data-dir", str(up.data_dir), "--port", str(free_port()), cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.startswith("switchyard up: already running on")
    assert len(done.stderr.strip().splitlines()) == 1


def test_sigterm_stops_every_process_and_withdraws_the_instance(up: Up, tmp_path: Path) -> None:
    tree = descendants(up.proc.pid)
    assert len(tree) >= 1 + 2 + 4  # the API's parent, its two servers, a worker per pool
    postmaster = int((up.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(120) == 0, up.log.read_text()
    deadline = time.monotonic() + 30
    while [p for p in [*tree, postmaster] if alive(p)]:
        assert time.monotonic() < deadline, [cmdline(p) for p in tree if alive(p)]
        time.sleep(0.2)
    assert not (up.data_dir / "instance.json").exists()
    done = switchyard("pools", "--data-dir", str(up.data_dir), cwd=tmp_path)
    assert done.returncode == 2
    assert "no database configured" in done.stderr


def test_pools_with_no_instance_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = switchyard("pools", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "switchyard pools: no database configured: set DATABASE_URL or start `switchyard up`"
        f" (data dir {tmp_path.resolve() / '.data'})\n"
    )
    assert list(tmp_path.iterdir()) == []
