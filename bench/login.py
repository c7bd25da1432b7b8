"""/health latency of an API process idle and while it checks a burst of logins' passwords.

    python -m bench.login [--logins 40] [--duration 10] [--workers 1]

Starts `switchyard api` (one server process unless --workers) on a scratch database, then
measures sequential `GET /health` for --duration seconds idle, and again while --logins
clients each post wrong-password logins back to back. Every login comes from an address of
its own (X-Forwarded-For, which uvicorn trusts from 127.0.0.1) for an unknown user of its own,
so no login limit refuses it before the argon2 check: the burst is as heavy as logins get.
Prints /health p50/p99/max in ms both ways, and the logins' answers (401: checked, 503: more
hashes in flight than the process allows), rate and latency. The loaders run on a thread of
their own beside the /health client; both share this machine's cores with the API.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import threading
import time

import httpx

from bench.harness import free_port, machine, percentile, stack


async def _health(url: str, duration: float) -> list[float]:
    """Sequential /health latencies (ms) for `duration` seconds."""
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        deadline = time.perf_counter() + duration
        while time.perf_counter() < deadline:
            t = time.perf_counter()
            r = await http.get("/health")
            latencies.append((time.perf_counter() - t) * 1000)
            if r.status_code != 200:
                raise RuntimeError(f"/health answered {r.status_code}")
    return latencies


async def _logins(url: str, clients: int, stop: threading.Event) -> list[tuple[int, float]]:
    """(status, ms) of every login `clients` loops posted until `stop`."""
    numbers = itertools.count()
    done: list[tuple[int, float]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            n = next(numbers)
            address = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            t = time.perf_counter()
            r = await http.post(
                "/auth/login",
                json={"username": f"nobody{n}", "password": "wrong-password"},
                headers={"X-Forwarded-For": address},
            )
            done.append((r.status_code, (time.perf_counter() - t) * 1000))

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    return done


def _row(name: str, ms: list[float]) -> str:
    return (
        f"{name:<28} n={len(ms):<6} p50 {percentile(ms, 0.5):8.1f} ms   "
        f"p99 {percentile(ms, 0.99):8.1f} ms   max {max(ms):8.1f} ms"
    )


def _measure(url: str, logins: int, duration: float) -> None:
    idle = asyncio.run(_health(url, duration))
    stop = threading.Event()
    results: list[tuple[int, float]] = []
    loader = threading.Thread(
        target=lambda: results.extend(asyncio.run(_logins(url, logins, stop))), daemon=True
    )
    loader.start()
    time.sleep(0.5)  # the burst is under way before /health is timed again
    try:
        busy = asyncio.run(_health(url, duration))
    finally:
        stop.set()
        loader.join(120)
    print(_row("/health idle", idle))
    print(_row(f"/health, {logins} logins at once", busy))
    for status in sorted({status for status, _ in results}):
        print(_row(f"logins answered {status}", [ms for s, ms in results if s == status]))
    print(f"logins: {len(results) / (duration + 0.5):.1f}/s answered")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=40, help="logins in flight at once")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--workers", type=int, default=1, help="API server processes")
    args = parser.parse_args(argv)
    with stack(SWITCHYARD_AUTH_JWT_SECRET=secrets.token_urlsafe(32)) as sy_stack:
        port = free_port()
        sy_stack.fleet.api(port, workers=args.workers)
        print(f"machine: {machine()}")
        print(
            f"`switchyard api --workers {args.workers}`, {args.duration:g} s per"
            f" measurement, {args.logins} wrong-password logins in flight"
        )
        _measure(f"http://127.0.0.1:{port}", args.logins, args.duration)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
