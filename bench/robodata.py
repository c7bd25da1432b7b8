"""Robot-dataset engine figures: `python -m bench.robodata [--root DIR]`.

Without `--root` it writes a synthetic tree (small v2.1/v3.0 datasets, a 720p dataset with
AV1 and H.264 cameras, a 100k-frame episode) into a temporary folder and measures on it.

`python -m bench.robodata --http [--episodes 1000]` measures the service over HTTP instead:
a generated tree of small datasets indexed through `/robodata/index/scan` by a real indexing
worker (beside the engine's own scan of it), `/robodata/items` pages under load (wrk, or a
Python loader), first and cached thumbnails, the first byte of a stream copy and of a
transcode, and timeseries, each through `switchyard api` and real media workers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from domain.robodata.error import RobodataError
from domain.robodata.model import Dataset
from domain.robodata.recording import write_recording
from domain.robodata.scanner import scan
from domain.robodata.timeseries import episode_timeseries
from domain.robodata.video import copy_segment, export_clip, locate, thumbnail

TARGETS = {
    "thumbnail": ("<=", 50.0),
    "stream copy": ("<=", 20.0),
    "timeseries": ("<=", 30.0),
    "transcode 720p": (">=", 4.0),
    ".rrd": ("<=", 100.0),
}


def _timed(action: Callable[[], object], repeat: int) -> tuple[float, str]:
    """Median wall ms of `repeat` runs after a warm-up, plus best wall and median CPU ms.

    CPU time (all threads) is shown because the machine is shared: a wall figure far
    above its CPU figure means the run waited for a core, not that the code got slower.
    """
    action()
    walls, cpus = [], []
    for _ in range(repeat):
        cpu, start = time.process_time(), time.perf_counter()
        action()
        walls.append((time.perf_counter() - start) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    median = statistics.median(walls)
    return median, f"(best {min(walls):.1f} ms, cpu {statistics.median(cpus):.1f} ms)"


def _line(name: str, value: float, unit: str, detail: str = "") -> None:
    target = TARGETS.get(name)
    verdict = ""
    if target is not None:
        op, limit = target
        ok = value <= limit if op == "<=" else value >= limit
        verdict = f"  target {op} {limit:g}{unit}: {'ok' if ok else 'MISSED'}"
    print(f"{name:<16} {value:10.2f} {unit:<12}{verdict}  {detail}".rstrip())


def generate(base: Path) -> Path:
    """Write the synthetic tree the default run measures on; returns its root."""
    from tests.robodata_factory import FRONT, WRIST, DatasetSpec, write_dataset

    tree = base / "tree"
    for number in range(6):
        version = "v3.0" if number % 2 == 0 else "v2.1"
        spec = DatasetSpec(version=version, lengths=(30,) * 10, episodes_per_file=4)
        write_dataset(tree / f"lab{number % 3}" / f"so101_follower_task{number}_2000-01-01", spec)
    hd = DatasetSpec(
        lengths=(90, 90),
        episodes_per_file=2,
        width=1280,
        height=720,
        cameras={FRONT: "libx264", WRIST: "libsvtav1"},
        textured=True,
    )
    write_dataset(tree / "hd" / "so101_follower_hd_2000-01-01", hd)
    long = DatasetSpec(lengths=(100_000,), cameras={})
    write_dataset(tree / "long" / "so101_follower_long_2000-01-01", long)
    return tree


def run(root: Path, repeat: int) -> None:
    """Measure every figure on the datasets found below `root`."""
    # One untimed pass first: the figure is the steady state of a running worker, not import
    # time and a cold page cache.
    list(scan(root))
    start = time.perf_counter()
    records = list(scan(root))
    elapsed = time.perf_counter() - start
    datasets = [r.dataset for r in records if r.dataset is not None]
    episodes = sum(len(d.episodes) for d in datasets)
    print(
        f"tree: {root} ({len(records)} datasets, {episodes} episodes, "
        f"{len(records) - len(datasets)} broken)"
    )
    _line(
        "parse+index",
        episodes / elapsed,
        "episodes/s",
        f"{len(records)} datasets in {elapsed * 1000:.0f} ms, videos probed, warm",
    )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine load average {load} on {os.cpu_count()} cores (shared)")
    if not datasets:
        return
    longest = max(((d, e) for d in datasets for e in d.episodes), key=lambda p: p[1].length)
    ts_dataset, ts_episode = longest
    ms, spread = _timed(
        lambda: episode_timeseries(ts_dataset, ts_episode.index, max_points=2000), repeat
    )
    _line("timeseries", ms, "ms", f"{spread} {ts_episode.length} frames -> max_points=2000")
    media = _media_dataset(datasets)
    if media is None:
        print("no dataset with cameras: media figures skipped")
        return
    _media(media, repeat)


def _media_dataset(datasets: list[Dataset]) -> Dataset | None:
    with_video = [d for d in datasets if d.cameras and d.episodes and d.cameras[0].probe]
    if not with_video:
        return None
    # The largest frames make the most telling media figures.
    return max(with_video, key=lambda d: max((c.probe.height if c.probe else 0) for c in d.cameras))


def _media(dataset: Dataset, repeat: int) -> None:
    episode = dataset.episodes[0].index
    cameras = {c.key: c for c in dataset.cameras if c.probe is not None}
    h264 = next((k for k, c in cameras.items() if c.probe and c.probe.codec == "h264"), None)
    other = next((k for k, c in cameras.items() if c.probe and c.probe.codec != "h264"), None)
    print(
        f"media dataset: {Path(dataset.root).name}, episode {episode}: "
        + ", ".join(
            f"{k} {c.probe.codec} {c.probe.width}x{c.probe.height}"
            for k, c in cameras.items()
            if c.probe
        )
    )
    for key in (other, h264):
        if key is None:
            continue
        ms, spread = _timed(lambda key=key: thumbnail(dataset, episode, key), repeat)
        codec = cameras[key].probe.codec if cameras[key].probe else ""
        _line("thumbnail", ms, "ms", f"{spread} {codec}")
    if h264 is not None:
        path, video = locate(dataset, episode, h264)
        frames = round((video.to_timestamp - video.from_timestamp) * dataset.info.fps)
        ms, spread = _timed(
            lambda: copy_segment(path, video.from_timestamp, video.to_timestamp, io.BytesIO()),
            repeat,
        )
        _line("stream copy", ms, "ms", f"{spread} {frames}-frame h264 segment of a shared file")
    source = other or h264
    assert source is not None
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "clip.mp4"
        cpu, start = time.process_time(), time.perf_counter()
        clip = export_clip(
            dataset, episode, source, out, resolution="720p", playable_codecs=frozenset()
        )
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    _line(
        f"transcode {clip.height}p",
        clip.duration / elapsed,
        "x realtime",
        f"{clip.frames} frames {clip.width}x{clip.height} from "
        f"{cameras[source].probe.codec if cameras[source].probe else '?'} "
        f"in {elapsed * 1000:.0f} ms ({clip.frames / elapsed:.0f} fps, cpu {cpu * 1000:.0f} ms)",
    )
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "episode.rrd"
        ms, spread = _timed(lambda: write_recording(dataset, episode, target), repeat)
        size = target.stat().st_size
    _line(".rrd", ms, "ms", f"{spread} {len(cameras)} cameras + scalars, {size / 1e6:.1f} MB")


MIXED = "so101_follower_mixed_2000-01-01"
HTTP_TARGETS = {
    "index over HTTP": (">=", 0.8),
    "/items page": (">=", 1500.0),
    "/items p99": ("<=", 20.0),
    "thumbnail cached": ("<=", 5.0),
    "thumbnail first": ("<=", 80.0),
    "stream copy 1st byte": ("<=", 60.0),
    "timeseries": ("<=", 40.0),
}


def _verdict(name: str, value: float, unit: str, detail: str = "") -> None:
    target = HTTP_TARGETS.get(name)
    verdict = ""
    if target is not None:
        op, limit = target
        ok = value <= limit if op == "<=" else value >= limit
        verdict = f"  target {op} {limit:g}: {'ok' if ok else 'MISSED'}"
    print(f"{name:<22} {value:10.2f} {unit:<12}{verdict}  {detail}".rstrip(), flush=True)


def generate_http(base: Path, episodes: int) -> Path:
    """Datasets of 50 short episodes each (v3.0 and v2.1, one H.264 camera), and one small
    dataset whose second camera is AV1 (the transcode figure)."""
    from tests.robodata_factory import FRONT, WRIST, DatasetSpec, write_dataset

    tree = base / "http-tree"
    for number in range(max(1, episodes // 50)):
        version = "v3.0" if number % 2 == 0 else "v2.1"
        spec = DatasetSpec(
            version=version,
            lengths=(10,) * 50,
            episodes_per_file=25,
            cameras={FRONT: "libx264"},
            robot_type=f"robot{number % 4}",
        )
        write_dataset(tree / f"robot{number % 4}_task{number}_2000-01-01", spec)
    mixed = DatasetSpec(lengths=(30, 30), cameras={FRONT: "libx264", WRIST: "libsvtav1"})
    write_dataset(tree / MIXED, mixed)
    return tree


def _request(url: str, token: str | None = None, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=300) as resp:
        return json.load(resp)


def _index(url: str, token: str, path: Path) -> tuple[Any, float, float]:
    """Scan `path` through the API and wait for its job's `job.completed` on `/ws` (as an
    async client does; polling the task every few ms would load the two cores the job runs
    on); the final status, the seconds from request to that event, the job's own seconds."""
    from websockets.sync.client import connect

    user = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["sub"]
    with connect(f"ws{url.removeprefix('http')}/ws?token={token}", open_timeout=30) as ws:
        ws.send(json.dumps({"type": "subscribe", "topics": [f"user:{user}"]}))
        while json.loads(ws.recv(timeout=30)).get("type") != "subscribed":
            pass
        start = time.perf_counter()
        task = _request(f"{url}/robodata/index/scan", token, "POST", {"path": str(path)})
        while True:
            event = json.loads(ws.recv(timeout=300))
            ended = event.get("type") in ("job.completed", "job.failed")
            if ended and event["data"]["job_id"] == task["jobId"]:
                break
        elapsed = time.perf_counter() - start
    status = _request(f"{url}/robodata/index/status?task_id={task['taskId']}", token)
    job = _request(f"{url}/jobs/{task['jobId']}", token)
    ran = datetime.fromisoformat(job["completed_at"]) - datetime.fromisoformat(job["started_at"])
    return status, elapsed, ran.total_seconds()


def _first_byte_ms(url: str) -> float:
    """Milliseconds until the first byte of the body arrives (the whole body is then read)."""
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=300) as resp:
        resp.read(1)
        elapsed = (time.perf_counter() - start) * 1000
        resp.read()
    return elapsed


def _median_ms(urls: list[str]) -> tuple[float, float]:
    times = [_first_byte_ms(u) for u in urls]
    return statistics.median(times), max(times)


def http_run(episodes: int, seconds: float, connections: int, api_workers: int) -> None:
    """The HTTP figures of the issue, on a generated tree of at least `episodes` episodes."""
    from bench.harness import free_port, machine, stack
    from bench.inventory import api_process
    from infra.cli import ensure_user
    from infra.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="robodata-http-") as scratch:
        base = Path(scratch)
        start = time.perf_counter()
        tree = generate_http(base, episodes)
        print(f"generated {tree} in {time.perf_counter() - start:.1f} s; {machine()}")
        list(scan(tree))
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            parsed = [r.dataset for r in scan(tree) if r.dataset is not None]
            runs.append(time.perf_counter() - start)
        engine_s = statistics.median(runs)
        total = sum(len(d.episodes) for d in parsed)
        engine_rate = total / engine_s
        print(
            f"engine alone: {total} episodes in {engine_s * 1000:.0f} ms, {engine_rate:.0f}/s "
            "(median of 3 scans after a first one)"
        )
        with stack(SWITCHYARD_ROBODATA_ROOTS=str(tree)) as sy_stack:
            settings = load_settings(sy_stack.env)
            asyncio.run(ensure_user(settings, "bench", "bench-password", ["user"]))
            sy_stack.fleet.spawn("indexing", "worker", "--pool", "indexing", "--concurrency", "1")
            sy_stack.fleet.spawn("media", "worker", "--pool", "media", "--concurrency", "2")
            with api_process(sy_stack.env, free_port(), api_workers) as (url, _):
                _http_figures(url, tree, total, engine_rate, seconds, connections, api_workers)


def _http_figures(
    url: str,
    tree: Path,
    total: int,
    engine_rate: float,
    seconds: float,
    connections: int,
    api_workers: int,
) -> None:
    from bench.inventory import WRK_INSTALL, run_python, run_wrk

    login = _request(
        f"{url}/robodata/auth/login",
        method="POST",
        body={"username": "bench", "password": "bench-password"},
    )
    token = login["access_token"]
    # The worker's first job pays for opening its connections: a scan of the one small
    # dataset first, as the engine's figure is taken after a first scan too.
    _index(url, token, tree / MIXED)
    for label, what in (("index over HTTP", "first index"), ("re-index over HTTP", "unchanged")):
        status, elapsed, ran = _index(url, token, tree)
        rate = status["processedEpisodes"] / elapsed
        _verdict(
            label,
            rate / engine_rate,
            "x engine",
            f"{what}: {status['processedEpisodes']}/{total} episodes in {elapsed * 1000:.0f} ms "
            f"= {rate:.0f}/s vs engine {engine_rate:.0f}/s ({status['status']}; the job itself "
            f"{ran * 1000:.0f} ms)",
        )
    page = "/robodata/items?page_size=50"
    # Every page once, right after the index moved the catalog on: read from Postgres and
    # built, not served from the API processes' page cache as the load below mostly is.
    pages = -(-total // 50)
    first = []
    for number in range(1, pages + 1):
        start = time.perf_counter()
        _request(f"{url}{page}&page={number}", token)
        first.append((time.perf_counter() - start) * 1000)
    _verdict(
        "/items page, uncached",
        statistics.median(first),
        "ms",
        f"median of the {pages} pages' first requests, max {max(first):.1f} ms",
    )
    wrk = shutil.which("wrk")
    if wrk:
        script = f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        figures = run_wrk(wrk, url + page, script, seconds, connections)
    else:
        print(f"wrk not found ({WRK_INSTALL}); a Python loader instead")
        figures = run_python(url, "GET", page, token, seconds, connections, "robodata")
    detail = f"{connections} connections, {api_workers} API processes, non-2xx {figures['non_2xx']}"
    _verdict("/items page", figures["rps"], "req/s", detail)
    _verdict("/items p99", figures["p99"], "ms", f"p50 {figures['p50']:.2f} ms")
    if wrk:
        # References the same minute: the platform's cheapest route, and a small listing.
        for label, path in (("/health", "/health"), ("/robots", "/robodata/robots")):
            ref = run_wrk(wrk, url + path, script, seconds, connections)
            _verdict(label, ref["rps"], "req/s", f"p99 {ref['p99']:.2f} ms (reference)")
    items = _request(f"{url}{page}&robot=robot0", token)["items"][:10]
    mixed = _request(f"{url}/robodata/items?robot=so101_follower", token)["items"]
    base = f"{url}/robodata/items"
    first, worst = _median_ms([f"{base}/{i['id']}/thumbnail" for i in items])
    _verdict("thumbnail first", first, "ms", f"median of {len(items)} episodes, max {worst:.1f}")
    cached, worst = _median_ms([f"{base}/{i['id']}/thumbnail" for i in items * 3])
    _verdict("thumbnail cached", cached, "ms", f"max {worst:.1f}")
    first, worst = _median_ms([f"{base}/{i['id']}/stream" for i in items])
    _verdict("stream copy 1st byte", first, "ms", f"first request (job), max {worst:.1f}")
    cached, worst = _median_ms([f"{base}/{i['id']}/stream" for i in items * 3])
    _verdict("stream cached 1st byte", cached, "ms", f"max {worst:.1f}")
    av1 = [f"{base}/{i['id']}/stream?camera=wrist" for i in mixed]
    first, worst = _median_ms(av1)
    _verdict("transcode 1st byte", first, "ms", "AV1 30 frames 64x48, first request (job)")
    first, worst = _median_ms([f"{base}/{i['id']}/timeseries?max_points=300" for i in items])
    _verdict("timeseries first", first, "ms", f"first request (job), max {worst:.1f}")
    cached, worst = _median_ms([f"{base}/{i['id']}/timeseries?max_points=300" for i in items * 3])
    _verdict("timeseries", cached, "ms", f"cached, max {worst:.1f}")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine load average {load} on {os.cpu_count()} cores (shared)")


def main(argv: list[str] | None = None) -> int:
    """Print the figures for `--root` or for a freshly generated tree."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, help="folder to scan (default: a generated tree)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--http", action="store_true", help="measure the service over HTTP")
    parser.add_argument("--episodes", type=int, default=1000, help="episodes (--http)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of /items load")
    parser.add_argument("--connections", type=int, default=8, help="connections of /items load")
    parser.add_argument("--api-workers", type=int, default=0, help="API processes (--http)")
    args = parser.parse_args(argv)
    if args.http:
        from infra.cli import default_api_workers

        workers = args.api_workers or default_api_workers()
        http_run(args.episodes, args.duration, args.connections, workers)
        return 0
    if args.root is not None:
        try:
            run(args.root, args.repeat)
        except RobodataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    with tempfile.TemporaryDirectory(prefix="robodata-bench-") as scratch:
        start = time.perf_counter()
        tree = generate(Path(scratch))
        print(f"generated synthetic tree in {time.perf_counter() - start:.1f} s")
        run(tree, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
