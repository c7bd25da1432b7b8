"""/inspection/infer over HTTP against the engine alone on the same crops.

A real `switchyard api` and a real `switchyard worker --pool gpu` (scratch database, Redis)
serve a model fitted through /fit_ok; the same memory bank, read back from the blob store, is
timed in this process with the same work a worker does (decode, score, heatmap PNG, regions).
Printed: p50/p99 per request with 1 client, and throughput with N concurrent clients, for
both. `python -m bench.inspection --only http` runs it.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
from PIL import Image

from bench.harness import free_port, machine, percentile, stack
from domain.inspection.inspector import Inspector
from domain.inspection.memory import MemoryBank
from domain.inspection.synthetic import make_dataset

ROLE, ROI = "bench", "roi-1"
MM_PER_PX = 0.1


def _png(image: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _ms(times: Sequence[float], q: float) -> float:
    return percentile([t * 1000 for t in times], q)


def _line(name: str, times: Sequence[float], per_s: float | None = None) -> str:
    out = f"{name:<34} p50={_ms(times, 0.5):7.1f} ms  p99={_ms(times, 0.99):7.1f} ms"
    return out + (f"  {per_s:6.1f} crops/s" if per_s is not None else "")


async def _seed(http: httpx.AsyncClient, fit: list[bytes], ng: list[bytes]) -> float:
    files = [("images", (f"{i}.png", data, "image/png")) for i, data in enumerate(fit)]
    form = {"role_id": ROLE, "roi_id": ROI, "mm_per_px": str(MM_PER_PX)}
    r = await http.post("/inspection/fit_ok", data=form, files=files)
    r.raise_for_status()
    for label, crops in (("ok", fit[:6]), ("ng", ng)):
        files = [("images", (f"{i}.png", data, "image/png")) for i, data in enumerate(crops)]
        r = await http.post(
            f"/inspection/datasets/{label}/upload",
            data={"role_id": ROLE, "roi_id": ROI},
            files=files,
        )
        r.raise_for_status()
    r = await http.post(
        "/inspection/calibrate_dataset", json={"role_id": ROLE, "roi_id": ROI}, timeout=600
    )
    r.raise_for_status()
    return float(r.json()["threshold"])


class Timings:
    """Latencies and throughput of one way of serving, summed over rounds."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.elapsed = 0.0

    def add(self, times: list[float], elapsed: float) -> None:
        self.times += times
        self.elapsed += elapsed

    @property
    def per_s(self) -> float:
        return len(self.times) / self.elapsed if self.elapsed else float("nan")


async def _http_clients(
    http: httpx.AsyncClient, crops: list[bytes], clients: int, per_client: int
) -> tuple[list[float], float]:
    """Latencies of every request and the seconds it all took, `clients` at a time."""
    times: list[float] = []

    async def client(offset: int) -> None:
        for i in range(per_client):
            crop = crops[(offset + i) % len(crops)]
            start = time.perf_counter()
            r = await http.post(
                "/inspection/infer",
                data={"role_id": ROLE, "roi_id": ROI, "mm_per_px": str(MM_PER_PX)},
                files={"image": ("roi.png", crop, "image/png")},
            )
            times.append(time.perf_counter() - start)
            r.raise_for_status()

    start = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    return times, time.perf_counter() - start


def _engine_clients(
    once: Callable[[bytes], object], crops: list[bytes], clients: int, per_client: int
) -> tuple[list[float], float]:
    """The same for the engine alone, called from `clients` threads."""
    times: list[float] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        for i in range(per_client):
            start = time.perf_counter()
            once(crops[(offset + i) % len(crops)])
            with lock:
                times.append(time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return times, time.perf_counter() - start


def bench_http(size: int, repeat: int, clients: int, device: str) -> None:
    """Fit through the API, then time /infer over HTTP and the engine alone on the same crops,
    in alternating rounds while the stack runs, so the machine's load weighs on both alike."""
    good, bad = make_dataset("texture", 16, 4, (size, size), seed=21)
    fit = [_png(s.image) for s in good[:12]]
    ng = [_png(s.image) for s in bad]
    crops = [_png(s.image) for s in good[12:]] + ng
    # Info logs: the worker's "inspection engine" line says which device and faiss it used.
    env = {"SWITCHYARD_INSPECTION_DEVICE": device, "SWITCHYARD_API_LOG_LEVEL": "info"}
    with stack(**env) as sy_stack:
        port = free_port()
        sy_stack.fleet.api(port, 1)
        sy_stack.fleet.spawn("worker", "worker", "--pool", "gpu", "--concurrency", str(clients))
        url = f"http://127.0.0.1:{port}"
        asyncio.run(_run(url, sy_stack.env, device, size, fit, ng, crops, repeat, clients))
        worker_log = (sy_stack.tmp / "worker.log").read_text()
    engine_line = next((ln for ln in worker_log.splitlines() if "inspection engine" in ln), "")
    print(f"worker: {engine_line.strip()[:300]}")


async def _run(
    url: str,
    env: dict[str, str],
    device: str,
    size: int,
    fit: list[bytes],
    ng: list[bytes],
    crops: list[bytes],
    repeat: int,
    clients: int,
) -> None:
    from domain.inspection.backbone import load_backbone

    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        threshold = await _seed(http, fit, ng)
        inspector = Inspector(load_backbone(None, device))
        bank = MemoryBank.from_bytes(await _memory_bank(env), device=inspector.device)

        def once(crop: bytes) -> object:
            return inspector.infer(bank, crop, mm_per_px=MM_PER_PX, threshold=threshold)

        for warm in crops[:2]:
            once(warm)
            await _http_clients(http, [warm], 1, 1)
        rows = {name: Timings() for name in ("e1", "h1", "en", "hn")}
        # One client: engine and HTTP alternate request by request.
        for i in range(repeat):
            one = [crops[i % len(crops)]]
            rows["e1"].add(*_engine_clients(once, one, 1, 1))
            rows["h1"].add(*await _http_clients(http, one, 1, 1))
        # Many clients: alternating rounds.
        per_client = max(2, repeat // clients // 2)
        for _ in range(2):
            rows["en"].add(
                *await asyncio.to_thread(_engine_clients, once, crops, clients, per_client)
            )
            rows["hn"].add(*await _http_clients(http, crops, clients, per_client))

    print(f"machine: {machine()}; load avg {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"/infer {size}×{size} crops, bank {bank.coreset_size} features, {inspector.device}")
    print(_line("engine alone, 1 client", rows["e1"].times, rows["e1"].per_s))
    print(_line("HTTP /inspection/infer, 1 client", rows["h1"].times, rows["h1"].per_s))
    print(_line(f"engine alone, {clients} clients", rows["en"].times, rows["en"].per_s))
    print(_line(f"HTTP /inspection/infer, {clients} clients", rows["hn"].times, rows["hn"].per_s))
    added = statistics.median(rows["h1"].times) - statistics.median(rows["e1"].times)
    print(
        f"platform adds {added * 1000:.1f} ms at p50 (target ≤ 10); {clients}-client throughput "
        f"{rows['hn'].per_s / rows['en'].per_s:.2f}× the engine's (target ≥ 0.9)"
    )


async def _memory_bank(env: dict[str, str]) -> bytes:
    """The fitted memory bank, as the API stored it (its row in Postgres, its blob)."""
    from sqlalchemy import select

    from infra.blob.factory import make_blob_store
    from infra.db.engine import make_engine
    from infra.db.inspection import models
    from infra.settings import load_settings

    settings = load_settings(env)
    engine = make_engine(settings.db)
    try:
        async with engine.connect() as conn:
            key = (await conn.execute(select(models.c.memory_key))).scalar_one()
    finally:
        await engine.dispose()
    store = make_blob_store(settings)
    await store.open()
    try:
        return await store.read(str(key))
    finally:
        await store.close()
