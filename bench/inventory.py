"""Inventory API throughput and latency: list (`?limit=10` over 1,000 repositories) and creates.

Starts the API as `switchyard api` does by default (`python -m infra api --workers N`, N = one
per core, at most 4) on a scratch database it migrates and seeds, drives it from a separate
process (wrk, or a Python loader when wrk is missing), prints requests/s with p50/p99 and the
CPU the API (all its processes) and Postgres spent per request, and drops the database at the
end.

Right after the list run, the floor under its figure: the same list statement with no HTTP
at all, from this process, the way the routes run it. After the creates, the list runs again
on the grown table.

    python -m bench.inventory [--duration 10] [--connections 8] [--api-workers N]

Postgres and Redis: SWITCHYARD_BENCH_DATABASE_URL (admin URL, default the local server) and
REDIS_URL (default redis://127.0.0.1:6379/0); embedded ones where those do not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import process_tree, stack
from infra.cli import default_api_workers
from infra.embedded import free_port

LIST_PATH = "/inventory/api/v1/repositories?limit=10"
CREATE_PATH = "/inventory/api/v1/repositories"
SEED_ROWS = 1000
WRK_INSTALL = "apt-get install -y wrk  (Debian/Ubuntu; `brew install wrk` on macOS)"

LUA_HEADERS = """
wrk.headers["Authorization"] = "Bearer {token}"
wrk.headers["Content-Type"] = "application/json"
"""
# Each wrk thread numbers its own creates, so every POST carries a name nobody used yet.
LUA_CREATE = """
local threads, n = 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function request()
  n = n + 1
  local body = string.format(
    '{{"name":"bench-{run}-%d-%d","url":"https://example.org/r.git","type":"git",' ..
    '"language":"Python","tags":["bench","ros2"]}}', tid, n)
  return wrk.format("POST", "{path}", nil, body)
end
"""


async def _seed(url: str, rows: int) -> None:
    import asyncpg

    languages = ["Go", "Python", "C++", "JavaScript", "TypeScript", "Rust", "Java"]
    conn = await asyncpg.connect(url)
    try:
        await conn.executemany(
            "INSERT INTO inventory_repositories (name, url, type, description, language, tags)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            [
                (
                    f"seed-{i:04d}",
                    f"https://github.com/example/seed-{i:04d}",
                    ("git", "svn", "mercurial")[i % 3],
                    f"Seeded repository number {i} for the inventory benchmark",
                    languages[i % len(languages)],
                    ["seed", "ros2", f"group-{i % 10}"],
                )
                for i in range(rows)
            ],
        )
        # What autovacuum would soon do after a bulk load: fresh statistics and a visibility
        # map, so the count behind `total` can be an index-only scan.
        await conn.execute("VACUUM ANALYZE inventory_repositories")
    finally:
        await conn.close()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used (Linux), to state cost per request even on a
    machine whose other tenants make wall-clock figures swing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> tuple[int, int] | None:
    """(all, stolen) CPU ticks of the machine so far (Linux): time the hypervisor gave to other
    guests shows up as steal, and figures taken while it is high say little."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    return sum(fields[:8]), fields[7] if len(fields) > 7 else 0


def steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[0] == before[0]:
        return None
    return (after[1] - before[1]) / (after[0] - before[0])


def cpu_of(pids: list[int]) -> float | None:
    """CPU seconds used so far by these processes (those that have exited count as zero)."""
    times = [cpu_seconds(pid) for pid in pids]
    return None if not pids or all(t is None for t in times) else sum(t or 0.0 for t in times)


async def _fetch(url: str, sql: str, *args: Any) -> list[Any]:
    """One query on a connection of its own (the bench's asides, off the measured path)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _count(url: str) -> int:
    rows = await _fetch(url, "SELECT count(*) FROM inventory_repositories")
    return int(rows[0][0])


async def _backend_pids(url: str) -> list[int]:
    """Postgres backends connected to the bench's scratch database, but for the one asking
    (same machine only): nothing else uses that database."""
    sql = (
        "SELECT pid FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return [r["pid"] for r in await _fetch(url, sql)]


def wait_settled(pids: list[int], deadline: float) -> None:
    """Until these processes stop using CPU: every API process has finished starting, not
    only the one that answered /ready first."""
    before = cpu_of(pids) or 0.0
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_of(pids) or 0.0
        if now - before < 0.02:
            return
        before = now
    raise RuntimeError("the API processes did not settle after starting")


@contextmanager
def api_process(env: dict[str, str], port: int, workers: int) -> Iterator[tuple[str, int]]:
    """`switchyard api --workers N` on the port; yields its base URL and the uvicorn parent's
    pid (its server processes are that pid's children) once they all have started."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"the API exited with {proc.returncode}:\n{err[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not become ready in 120 s")
            time.sleep(0.2)
        # One process serves alone; with more, uvicorn's parent, one process per worker and
        # multiprocessing's resource tracker.
        expected = 1 if workers == 1 else 2 + workers
        while len(process_tree(proc.pid)) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        wait_settled(process_tree(proc.pid), deadline)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def login(url: str, username: str, password: str) -> str:
    req = urllib.request.Request(
        url + "/auth/login",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return str(json.load(resp)["access_token"])


# --- load generators ------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip())
    if not m:
        raise ValueError(f"unreadable wrk latency {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(wrk: str, url: str, script: str, seconds: float, connections: int) -> dict[str, Any]:
    """Run wrk with a Lua script; requests/s, p50/p99 in ms and the non-2xx count."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                f.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


async def _python_load(
    url: str, method: str, path: str, token: str, seconds: float, connections: int, run: str
) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    non_2xx = 0
    stop = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient, wid: int) -> None:
        nonlocal non_2xx
        n = 0
        while time.perf_counter() < stop:
            n += 1
            body = None
            if method == "POST":
                body = {
                    "name": f"bench-{run}-py{wid}-{n}",
                    "url": "https://example.org/r.git",
                    "type": "git",
                    "tags": ["bench"],
                }
            t0 = time.perf_counter()
            r = await client.request(method, path, json=body, headers=headers)
            latencies.append((time.perf_counter() - t0) * 1000)
            non_2xx += not 200 <= r.status_code < 300

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client, i) for i in range(connections)))
        elapsed = time.perf_counter() - t0
    qs = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "rps": len(latencies) / elapsed,
        "p50": qs[49],
        "p99": qs[98],
        "requests": len(latencies),
        "non_2xx": non_2xx,
        "socket_errors": "",
    }


def run_python(
    url: str, method: str, path: str, token: str, seconds: float, connections: int, run: str
) -> dict[str, Any]:
    """The Python loader, in a process of its own so it does not share the API's CPU time."""
    args = json.dumps([url, method, path, token, seconds, connections, run])
    out = subprocess.run(
        [sys.executable, "-m", "bench.inventory", "--loader", args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


async def statement_floor(
    db_url: str, seconds: float, callers: int
) -> list[tuple[str, dict[str, Any]]]:
    """The list statement of `LIST_PATH` run back to back by `callers` tasks, with no HTTP:
    what Postgres and the client library cost on their own, on an autocommit engine as the
    inventory's routes use it (`infra.db.engine.statement`: a connection checked out per
    call)."""
    from domain.inventory.rule import list_query
    from infra.db import inventory as repo
    from infra.db.engine import make_autocommit_engine, statement
    from infra.settings import DatabaseSettings

    query = list_query("repositories", limit=10, offset=0, type=None, tag=None, q=None, sort=None)
    engine = make_autocommit_engine(DatabaseSettings(url=db_url, pool_size=callers))

    async def once() -> None:
        async with statement(engine) as conn:
            await repo.list_records(conn, "repositories", query)

    try:
        await asyncio.gather(*(once() for _ in range(64)))
        pg_pids = await _backend_pids(db_url)
        latencies: list[float] = []
        stop = time.perf_counter() + seconds

        async def caller() -> None:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                await once()
                latencies.append((time.perf_counter() - t0) * 1000)

        ticks0, pg0 = cpu_ticks(), cpu_of(pg_pids)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        elapsed, cpu1, pg1 = time.perf_counter() - t0, time.process_time(), cpu_of(pg_pids)
    finally:
        await engine.dispose()
    qs = statistics.quantiles(latencies, n=100)
    figures: dict[str, Any] = {
        "rps": len(latencies) / elapsed,
        "p50": qs[49],
        "p99": qs[98],
        "requests": len(latencies),
        "non_2xx": 0,
        "socket_errors": "",
        "cpu_us": (cpu1 - cpu0) / len(latencies) * 1e6,
        "cpu_of": "client",
        "steal": steal_share(ticks0, cpu_ticks()),
    }
    if pg0 is not None and pg1 is not None:
        figures["pg_cpu_us"] = (pg1 - pg0) / len(latencies) * 1e6
    return [("  on an autocommit engine (the routes' path)", figures)]


def report(label: str, figures: dict[str, Any]) -> None:
    extra = ""
    if figures["non_2xx"]:
        extra += f"  non-2xx={figures['non_2xx']}"
    if "cpu_us" in figures:
        extra += f"  CPU/request: {figures.get('cpu_of', 'API')} {figures['cpu_us']:.0f} us"
    if "pg_cpu_us" in figures:
        extra += f", Postgres {figures['pg_cpu_us']:.0f} us"
    if figures.get("steal") is not None:
        extra += f"  (steal {figures['steal']:.0%})"
    if figures["socket_errors"]:
        extra += f"  {figures['socket_errors']}"
    print(
        f"{label:<44} {figures['rps']:>9.0f} req/s   p50 {figures['p50']:6.2f} ms"
        f"   p99 {figures['p99']:6.2f} ms   ({figures['requests']} requests){extra}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=default_api_workers(),
        help="API processes (default: as `switchyard api`, one per core, at most 4)",
    )
    parser.add_argument("--loader", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.loader:
        print(json.dumps(asyncio.run(_python_load(*json.loads(args.loader)))))
        return 0

    from infra.settings import load_settings

    wrk = shutil.which("wrk")
    if wrk is None:
        print(f"wrk not found; install it with: {WRK_INSTALL}")
        print("falling back to a Python loader, which saturates before the API does on 2 cores")
    run = secrets.token_hex(3)
    with stack(SWITCHYARD_AUTH_JWT_SECRET=secrets.token_urlsafe(32)) as sy_stack:
        db_url = sy_stack.database_url
        asyncio.run(_seed(db_url, SEED_ROWS))
        from infra.cli import ensure_user

        password = secrets.token_urlsafe(12)
        asyncio.run(ensure_user(load_settings(sy_stack.env), "bench", password, ["user"]))
        with api_process(sy_stack.env, free_port(), args.api_workers) as (url, pid):
            token = login(url, "bench", password)
            api_pids = process_tree(pid)
            print(
                f"`switchyard api --workers {args.api_workers}` ({args.api_workers} API"
                f" processes, {len(os.sched_getaffinity(0))} cores), {SEED_ROWS} repositories,"
                f" {args.connections} connections, "
                f"{args.duration:g} s per run, load from "
                + ("wrk (separate process)" if wrk else "a Python loader (separate process)"),
                flush=True,
            )
            headers = LUA_HEADERS.format(token=token)

            def list_script(_: str) -> str:
                return headers

            def create_script(phase: str) -> str:
                # A new name prefix per wrk run: the warm-up's names must not collide later.
                return headers + LUA_CREATE.format(run=f"{run}{phase}", path=CREATE_PATH)

            def measure(label: str, method: str, path: str, script: Any) -> None:
                if wrk:
                    warm = min(2.0, args.duration)
                    run_wrk(wrk, url + path, script("w"), warm, args.connections)
                # The API's own pool connections, opened by the warm-up (empty without wrk).
                pg_pids = asyncio.run(_backend_pids(db_url))
                pg0 = cpu_of(pg_pids)
                cpu0 = cpu_of(api_pids)
                ticks0 = cpu_ticks()
                if wrk:
                    figures = run_wrk(wrk, url + path, script("m"), args.duration, args.connections)
                else:
                    figures = run_python(
                        url, method, path, token, args.duration, args.connections, run
                    )
                cpu1 = cpu_of(api_pids)
                pg1 = cpu_of(pg_pids)
                figures["steal"] = steal_share(ticks0, cpu_ticks())
                if cpu0 is not None and cpu1 is not None and figures["requests"]:
                    figures["cpu_us"] = (cpu1 - cpu0) / figures["requests"] * 1e6
                if pg0 is not None and pg1 is not None and figures["requests"]:
                    figures["pg_cpu_us"] = (pg1 - pg0) / figures["requests"] * 1e6
                report(label, figures)

            measure(f"GET {LIST_PATH}", "GET", LIST_PATH, list_script)
            print(
                f"the same list statement alone (no HTTP), {args.connections} callers in this"
                f" process, {args.duration:g} s each:",
                flush=True,
            )
            import uvloop  # the API's event loop, so the figures compare

            floor = uvloop.run(statement_floor(db_url, args.duration, args.connections))
            for label, figures in floor:
                report(label, figures)
            measure(f"POST {CREATE_PATH}", "POST", CREATE_PATH, create_script)
            # The creates grew the table: an unfiltered list's cost must not grow with it.
            rows = asyncio.run(_count(db_url))
            measure(f"GET {LIST_PATH} ({rows:,} rows)", "GET", LIST_PATH, list_script)
            # The floor: the platform's liveness route, no auth and no database.
            measure("GET /health (reference: no auth, no DB)", "GET", "/health", list_script)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
