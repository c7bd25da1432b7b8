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
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from bench.harness import Fleet, free_port, machine, percentile, scratch_database, servers
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


async def _http_clients(
    http: httpx.AsyncClient, crops: list[bytes], clients: int, per_client: int
) -> tuple[list[float], float]:
    """Latencies of every request and the requests per second, `clients` at a time."""
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
    return times, len(times) / (time.perf_counter() - start)


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
    return times, len(times) / (time.perf_counter() - start)


def bench_http(size: int, repeat: int, clients: int, device: str) -> None:
    """Fit through the API, then time /infer over HTTP and the engine alone on the same crops."""
    good, bad = make_dataset("texture", 16, 4, (size, size), seed=21)
    fit = [_png(s.image) for s in good[:12]]
    ng = [_png(s.image) for s in bad]
    crops = [_png(s.image) for s in good[12:]] + ng
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        with servers(tmp) as (pg_admin, redis_url), scratch_database(pg_admin) as db_url:
            env = {
                **os.environ,
                "DATABASE_URL": db_url,
                "REDIS_URL": redis_url,
                "SWITCHYARD_DATA_DIR": str(tmp / "data"),
                "SWITCHYARD_REDIS_PREFIX": f"sybench{os.getpid()}",
                "SWITCHYARD_INSPECTION_DEVICE": device,
            }
            fleet = Fleet(env, tmp)
            try:
                port = free_port()
                fleet.api(port, 1)
                fleet.spawn("worker", "worker", "--pool", "gpu", "--concurrency", str(clients))
                url = f"http://127.0.0.1:{port}"
                result = asyncio.run(_http_run(url, fit, ng, crops, repeat, clients))
                threshold, one, one_s, many, many_s = result
                worker_log = (tmp / "worker.log").read_text()
                bank_bytes = asyncio.run(_memory_bank(env))
            finally:
                fleet.stop()
    engine_line = next((ln for ln in worker_log.splitlines() if "inspection engine" in ln), "")
    print(f"machine: {machine()}; load avg {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"worker: {engine_line.strip()[:300]}")

    from domain.inspection.backbone import load_backbone

    inspector = Inspector(load_backbone(None, device))
    bank = MemoryBank.from_bytes(bank_bytes, device=inspector.device)

    def once(crop: bytes) -> object:
        return inspector.infer(bank, crop, mm_per_px=MM_PER_PX, threshold=threshold)

    for crop in crops[:2]:
        once(crop)  # warm-up
    e_one, e_one_s = _engine_clients(once, crops, 1, repeat)
    e_many, e_many_s = _engine_clients(once, crops, clients, max(2, repeat // clients))

    print(f"/infer {size}×{size} crops, bank {bank.coreset_size} features, {inspector.device}")
    print(_line("engine alone, 1 client", e_one, e_one_s))
    print(_line("HTTP /inspection/infer, 1 client", one, one_s))
    print(_line(f"engine alone, {clients} clients", e_many, e_many_s))
    print(_line(f"HTTP /inspection/infer, {clients} clients", many, many_s))
    added = statistics.median(one) - statistics.median(e_one)
    print(
        f"platform adds {added * 1000:.1f} ms at p50 (target ≤ 10); {clients}-client throughput "
        f"{many_s / e_many_s:.2f}× the engine's (target ≥ 0.9)"
    )


async def _http_run(
    url: str, fit: list[bytes], ng: list[bytes], crops: list[bytes], repeat: int, clients: int
) -> tuple[float, list[float], float, list[float], float]:
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:
        threshold = await _seed(http, fit, ng)
        for crop in crops[:2]:
            (
                await http.post(
                    "/inspection/infer",
                    data={"role_id": ROLE, "roi_id": ROI, "mm_per_px": str(MM_PER_PX)},
                    files={"image": ("roi.png", crop, "image/png")},
                )
            ).raise_for_status()
        one, one_s = await _http_clients(http, crops, 1, repeat)
        many, many_s = await _http_clients(http, crops, clients, max(2, repeat // clients))
        manifest = await http.get("/inspection/manifest", params={"role_id": ROLE, "roi_id": ROI})
        manifest.raise_for_status()
    return threshold, one, one_s, many, many_s


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
