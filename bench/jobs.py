"""No-op jobs end to end through Switchyard, against plain arq in the same run.

Switchyard: POST /jobs(/batch) → Postgres (job + outbox) → XADD → worker (claim in Postgres,
arq, runtime) → events on Redis streams → the API's hub → a WebSocket client. Latency is from
the submit request leaving the client to the `job.completed` event arriving on its WebSocket.

Plain arq: `enqueue_job` of a no-op function and one `arq` Worker process with default settings;
latency is from enqueue to the result being readable. "arq, tuned" is the same with arq set for
throughput (max_jobs 200, 1 ms poll, no result kept): the queue library's own ceiling here.

    python -m bench.jobs [--jobs 5000] [--latency-jobs 300] [--workers 1] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import websockets

from bench.harness import create_user, free_port, machine, percentile, process_tree, stack

PASSWORD = "bench-password-1"


async def _login(url: str) -> tuple[dict[str, str], str, str]:
    async with (
        aiohttp.ClientSession() as c,
        c.post(f"{url}/auth/login", json={"username": "bench", "password": PASSWORD}) as r,
    ):
        body = await r.json()
    return (
        {"Authorization": f"Bearer {body['access_token']}"},
        body["access_token"],
        body["user"]["id"],
    )


class Completions:
    """Reads job.completed events off a WebSocket, recording arrival times by job id."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.done: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}

    async def run(self) -> None:
        async for raw in self.ws:
            msg = json.loads(raw)
            if msg.get("type") == "job.completed":
                now = time.perf_counter()
                job_id = msg["data"]["job_id"]
                self.done[job_id] = now
                fut = self.waiters.pop(job_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(now)


class CpuMeter:
    """CPU seconds spent by each part of the system (API, workers, Postgres, Redis, this
    client) between construction and `per_job_ms`: where a job's cost goes."""

    def __init__(self, procs: dict[str, list[int]]) -> None:
        self.procs = procs
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, pids in self.procs.items():
            total = 0.0
            for pid in pids:
                try:
                    t = psutil.Process(pid).cpu_times()
                    total += t.user + t.system
                except psutil.NoSuchProcess:
                    pass
            out[name] = total
        # Server processes come and go (Postgres backends): count them by name.
        for name, exe in (("postgres", "postgres"), ("redis", "redis-server")):
            total = 0.0
            for proc in psutil.process_iter(["name", "cpu_times"]):
                if proc.info["name"] and proc.info["name"].startswith(exe):
                    t = proc.info["cpu_times"]
                    total += t.user + t.system
            out[name] = total
        return out

    def per_job_ms(self, jobs: int) -> dict[str, float]:
        end = self._read()
        return {k: (end[k] - self.start[k]) * 1000 / max(1, jobs) for k in end}


async def switchyard_run(
    url: str, n_jobs: int, n_latency: int, batch: int, procs: dict[str, list[int]]
) -> dict[str, Any]:
    headers, token, user_id = await _login(url)
    ws_url = url.replace("http://", "ws://") + f"/ws?token={token}"
    async with websockets.connect(ws_url, max_queue=None) as ws:
        await ws.send(json.dumps({"type": "subscribe", "topics": [f"user:{user_id}"]}))
        while json.loads(await ws.recv()).get("type") != "subscribed":
            pass
        comp = Completions(ws)
        reader = asyncio.create_task(comp.run())
        # aiohttp rather than httpx: httpx spends ~2 ms of client CPU per request, which
        # would be measured as platform latency.
        connector = aiohttp.TCPConnector(limit=16)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            base_url=url, headers=headers, connector=connector, timeout=timeout
        ) as c:

            async def post(path: str, body: Any) -> Any:
                async with c.post(path, json=body) as r:
                    return await r.json()

            # Warm-up (connections, caches, first-call imports).
            for _ in range(20):
                job = await post("/jobs", {"kind": "platform.noop"})
                fut = asyncio.get_running_loop().create_future()
                comp.waiters[job["id"]] = fut
            await asyncio.sleep(1)
            # Latency: one job at a time, so nothing queues behind anything else.
            lat: list[float] = []
            submit_lat: list[float] = []
            for _ in range(n_latency):
                fut = asyncio.get_running_loop().create_future()
                t0 = time.perf_counter()
                job = await post("/jobs", {"kind": "platform.noop"})
                submit_lat.append((time.perf_counter() - t0) * 1000)
                job_id = job["id"]
                if job_id in comp.done:
                    t1 = comp.done[job_id]
                else:
                    comp.waiters[job_id] = fut
                    t1 = await asyncio.wait_for(fut, 30)
                lat.append((t1 - t0) * 1000)
            # Throughput: batches of submits from several concurrent clients.
            sent: dict[str, float] = {}
            body = {"jobs": [{"kind": "platform.noop"} for _ in range(batch)]}

            async def submitter(count: int) -> None:
                for _ in range(count):
                    t = time.perf_counter()
                    for j in (await post("/jobs/batch", body))["jobs"]:
                        sent[j["id"]] = t

            cpu = CpuMeter(procs)
            t_start = time.perf_counter()
            batches = max(1, n_jobs // batch)
            clients = 4
            shares = [
                batches // clients + (1 if i < batches % clients else 0) for i in range(clients)
            ]
            await asyncio.gather(*(submitter(n) for n in shares))
            deadline = time.perf_counter() + 300
            while any(j not in comp.done for j in sent) and time.perf_counter() < deadline:
                if reader.done():
                    reader.result()  # the WebSocket closed: say why instead of waiting
                    raise RuntimeError("the WebSocket closed before every job completed")
                await asyncio.sleep(0.02)
            finished = [j for j in sent if j in comp.done]
            t_end = max(comp.done[j] for j in finished)
            cpu_ms = cpu.per_job_ms(len(finished))
            under_load = [(comp.done[j] - sent[j]) * 1000 for j in finished]
        reader.cancel()
    return {
        "jobs": len(sent),
        "completed": len(finished),
        "jobs_per_s": len(finished) / (t_end - t_start),
        "p50_ms": percentile(lat, 0.5),
        "p99_ms": percentile(lat, 0.99),
        "submit_p50_ms": percentile(submit_lat, 0.5),
        "cpu_ms": cpu_ms,
        "load_p50_ms": percentile(under_load, 0.5),
        "load_p99_ms": percentile(under_load, 0.99),
    }


ARQ_WORKER = """
import sys
from arq.connections import RedisSettings
from arq.worker import run_worker

async def noop(ctx):
    return None

class WorkerSettings:
    functions = [noop]
    redis_settings = RedisSettings.from_dsn(sys.argv[1])
    queue_name = sys.argv[2]
    if len(sys.argv) > 3:  # tuned for throughput: many jobs at once, a 1 ms poll, no results
        max_jobs = int(sys.argv[3])
        poll_delay = float(sys.argv[4])
        keep_result = 0

run_worker(WorkerSettings)
"""


async def arq_run(
    redis_url: str, n_jobs: int, n_latency: int, log_dir: Path, tuned: bool = False
) -> dict[str, Any]:
    from arq.connections import RedisSettings, create_pool
    from arq.jobs import Job, JobStatus

    queue = f"bench:arq:{os.getpid()}"
    script = log_dir / "arq_worker.py"
    script.write_text(ARQ_WORKER)
    log = open(log_dir / "arq.log", "wb")
    tuning = ["200", "0.001"] if tuned else []
    proc = subprocess.Popen(
        [sys.executable, str(script), redis_url, queue, *tuning], stdout=log, stderr=log
    )
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=queue)
    try:
        await asyncio.sleep(2)
        lat: list[float] = []
        for _ in range(n_latency):
            t0 = time.perf_counter()
            job = await pool.enqueue_job("noop")
            assert job is not None
            if tuned:  # no result is kept: done when arq has dropped the job from its queue
                while await pool.zscore(queue, job.job_id) is not None:
                    await asyncio.sleep(0.0005)
            else:
                await job.result(timeout=30, poll_delay=0.001)
            lat.append((time.perf_counter() - t0) * 1000)
        cpu = CpuMeter({"worker": [proc.pid], "client": [os.getpid()]})
        t_start = time.perf_counter()
        jobs: list[Job] = []
        for _ in range(n_jobs):
            j = await pool.enqueue_job("noop")
            assert j is not None
            jobs.append(j)
        pending = list(jobs)
        deadline = time.perf_counter() + 300
        while tuned and await pool.zcard(queue) and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        if tuned:
            pending = []
        while pending and time.perf_counter() < deadline:
            statuses = await asyncio.gather(*(j.status() for j in pending[:500]))
            done = sum(1 for s in statuses if s == JobStatus.complete)
            if done == len(statuses):
                pending = pending[500:]
            else:
                await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - t_start
        cpu_ms = cpu.per_job_ms(n_jobs)
        cpu_ms.pop("postgres")
        return {
            "cpu_ms": cpu_ms,
            "jobs": n_jobs,
            "completed": n_jobs - len(pending),
            "jobs_per_s": (n_jobs - len(pending)) / elapsed,
            "p50_ms": percentile(lat, 0.5),
            "p99_ms": percentile(lat, 0.99),
        }
    finally:
        proc.terminate()
        proc.wait(10)
        keys = [k async for k in pool.scan_iter(match="arq:*")]
        if keys:
            await pool.delete(*keys)
        await pool.delete(queue)
        await pool.aclose()


def serving_rss(api_pid: int) -> float:
    """Resident MB of the largest API server process (uvicorn's parent only supervises)."""
    tree = process_tree(api_pid)
    servers = tree[1:] or tree
    return max(psutil.Process(pid).memory_info().rss for pid in servers) / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--latency-jobs", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--api-workers", type=int, default=None, help="API processes (default: as `switchyard api`)"
    )
    args = parser.parse_args()

    with stack() as sy_stack:
        asyncio.run(create_user(sy_stack.database_url, "bench", PASSWORD, ["user"]))
        fleet = sy_stack.fleet
        port = free_port()
        api = fleet.api(port, args.api_workers)
        url = f"http://127.0.0.1:{port}"
        time.sleep(1)
        idle_rss = serving_rss(api.pid)
        for i in range(args.workers):
            fleet.spawn(
                f"worker{i}",
                "worker",
                "--pool",
                "indexing",
                "--concurrency",
                str(args.concurrency),
            )
        time.sleep(3)
        procs = {
            "api": process_tree(api.pid),
            "workers": [p.pid for p in fleet.procs if p is not api],
            "client": [os.getpid()],
        }
        sy = asyncio.run(switchyard_run(url, args.jobs, args.latency_jobs, args.batch, procs))
        busy_rss = serving_rss(api.pid)
        # arq runs on the same Redis, with Switchyard's processes gone.
        fleet.stop()
        redis_url, tmp = sy_stack.redis_url, sy_stack.tmp
        arq = asyncio.run(arq_run(redis_url, args.jobs, args.latency_jobs, tmp))
        arq_tuned = asyncio.run(arq_run(redis_url, args.jobs, args.latency_jobs, tmp, True))

    print(f"machine: {machine()}")
    print(
        f"{'system':<12} {'jobs':>6} {'jobs/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'p50 ms (load)':>14} {'p99 ms (load)':>14}"
    )
    print(
        f"{'switchyard':<12} {sy['completed']:>6.0f} {sy['jobs_per_s']:>8.0f} {sy['p50_ms']:>8.1f} "
        f"{sy['p99_ms']:>8.1f} {sy['load_p50_ms']:>14.1f} {sy['load_p99_ms']:>14.1f}"
    )
    for name, r in (("plain arq", arq), ("arq, tuned", arq_tuned)):
        print(
            f"{name:<12} {r['completed']:>6.0f} {r['jobs_per_s']:>8.0f} "
            f"{r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} {'-':>14} {'-':>14}"
        )
    print(
        f"API resident memory per server process: {idle_rss:.0f} MB idle, "
        f"{busy_rss:.0f} MB after the run"
    )
    print(f"submit request alone (latency run): p50 {sy['submit_p50_ms']:.1f} ms")
    for name, r in (("switchyard", sy), ("arq, tuned", arq_tuned)):
        cpu = r["cpu_ms"]
        print(
            f"CPU ms per job, {name} (throughput run): "
            + ", ".join(f"{k} {v:.3f}" for k, v in cpu.items())
            + f"; total {sum(cpu.values()):.3f}"
        )
    print(
        "latency: one job at a time, submit → job.completed on the WebSocket (arq: enqueue → "
        "result); (load): every job of the throughput run, queueing included"
    )
    print(
        "arq, tuned: the same no-op function with max_jobs=200, poll_delay=1 ms and no result "
        "kept: arq's own ceiling on this machine, with no database, events or HTTP"
    )


if __name__ == "__main__":
    main()
