"""Rerun web viewers for recordings, run as tracked subprocesses that die with their owner."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import msgspec

from domain.robodata import watchdog
from domain.robodata.error import ViewerError


class Viewer(msgspec.Struct, frozen=True):
    """A running viewer: where its page and its data (gRPC) endpoint listen."""

    id: str
    pid: int
    recording: str
    host: str
    ws_port: int
    web_port: int
    ws_url: str
    web_url: str
    started_at: float


class ViewerManager:
    """Starts, lists and stops `rerun --serve-web` processes; all stop when the owner exits."""

    def __init__(self, rerun_binary: str | None = None, *, ready_timeout: float = 20.0) -> None:
        self._binary = rerun_binary or _find_rerun()
        self._ready_timeout = ready_timeout
        self._lock = threading.Lock()
        self._running: dict[str, tuple[Viewer, subprocess.Popen[bytes], Path]] = {}
        atexit.register(self.stop_all)

    def start(
        self,
        recording: str | Path,
        *,
        host: str = "127.0.0.1",
        ws_port: int,
        web_port: int,
        public_host: str | None = None,
    ) -> Viewer:
        """Serve `recording` with the web page on `web_port` and its data on `ws_port`."""
        path = Path(recording)
        if not path.is_file():
            raise ViewerError(f"recording {path} does not exist")
        if ws_port == web_port:
            raise ViewerError("ws_port and web_port must differ")
        for port in (ws_port, web_port):
            if not 0 < port < 65536:
                raise ViewerError(f"port {port} is out of range")
            # Checked up front: readiness is judged by the ports answering, which another
            # program already on them would fake until rerun gives up.
            if not _free(host, port):
                raise ViewerError(f"port {port} on {host} is already in use")
        command = [
            self._binary,
            "--serve-web",
            "--bind",
            host,
            "--port",
            str(ws_port),
            "--web-viewer-port",
            str(web_port),
            str(path.resolve()),
        ]
        log = Path(tempfile.mkstemp(prefix="rerun-viewer-", suffix=".log")[1])
        with log.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, watchdog.__file__, str(os.getpid()), *command],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        shown = public_host or ("127.0.0.1" if host in ("0.0.0.0", "::") else host)
        ws_url = f"rerun+http://{shown}:{ws_port}/proxy"
        viewer = Viewer(
            id=uuid.uuid4().hex,
            pid=process.pid,
            recording=str(path.resolve()),
            host=host,
            ws_port=ws_port,
            web_port=web_port,
            ws_url=ws_url,
            web_url=f"http://{shown}:{web_port}/?url={quote(ws_url, safe='')}",
            started_at=time.time(),
        )
        try:
            self._wait_ready(process, shown, (ws_port, web_port), log)
        except ViewerError:
            _terminate(process)
            log.unlink(missing_ok=True)
            raise
        with self._lock:
            self._running[viewer.id] = (viewer, process, log)
        return viewer

    def list(self) -> list[Viewer]:
        """The viewers still running (those that exited on their own are forgotten)."""
        with self._lock:
            for key, (_, process, log) in list(self._running.items()):
                if process.poll() is not None:
                    del self._running[key]
                    log.unlink(missing_ok=True)
            return [viewer for viewer, _, _ in self._running.values()]

    def stop(self, viewer_id: str) -> bool:
        """Stop one viewer; False when no such viewer is running."""
        with self._lock:
            entry = self._running.pop(viewer_id, None)
        if entry is None:
            return False
        _, process, log = entry
        _terminate(process)
        log.unlink(missing_ok=True)
        return True

    def stop_all(self) -> None:
        """Stop every viewer this manager started."""
        with self._lock:
            keys = list(self._running)
        for key in keys:
            self.stop(key)

    def _wait_ready(
        self, process: subprocess.Popen[bytes], host: str, ports: tuple[int, ...], log: Path
    ) -> None:
        deadline = time.monotonic() + self._ready_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                raise ViewerError(f"rerun viewer exited at start: {' | '.join(tail)}")
            if all(_listening(host, port) for port in ports):
                time.sleep(0.2)
                if process.poll() is None:
                    return
                continue
            time.sleep(0.1)
        raise ViewerError(f"rerun viewer did not listen on {ports} within {self._ready_timeout}s")


def _free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=8)
        except subprocess.TimeoutExpired:
            # The rerun child has a death signal tied to the watchdog, so this takes it too.
            process.kill()
            process.wait()


def _find_rerun() -> str:
    # The `rerun` on PATH from pip is a Python shim that runs the real binary as a child and
    # would shield it from our signals, so the bundled binary is run directly.
    spec = importlib.util.find_spec("rerun_cli")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).with_name("rerun")
        if bundled.is_file():
            return str(bundled)
    found = shutil.which("rerun")
    if found is None:
        raise ViewerError("the rerun command is not installed (pip install rerun-sdk)")
    return found
