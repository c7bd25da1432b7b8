"""Robot-dataset engine figures: `python -m bench.robodata [--root DIR]`.

Without `--root` it writes a synthetic tree (small v2.1/v3.0 datasets, a 720p dataset with
AV1 and H.264 cameras, a 100k-frame episode) into a temporary folder and measures on it.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

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


def main(argv: list[str] | None = None) -> int:
    """Print the figures for `--root` or for a freshly generated tree."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, help="folder to scan (default: a generated tree)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args(argv)
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
