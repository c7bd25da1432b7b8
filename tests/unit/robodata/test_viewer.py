import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from domain.robodata.error import ViewerError
from domain.robodata.parser import parse_dataset
from domain.robodata.recording import write_recording
from domain.robodata.viewer import ViewerManager

ROOT = Path(__file__).resolve().parents[3]
OWNER = """
import sys, threading, time
from domain.robodata.viewer import ViewerManager
manager = ViewerManager()
viewer = manager.start(sys.argv[1], ws_port=int(sys.argv[2]), web_port=int(sys.argv[3]))
print(viewer.pid, flush=True)
if sys.argv[4] == "wait":
    time.sleep(120)
"""


@pytest.fixture(scope="module")
def rrd(v3_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("rrd") / "ep.rrd"
    write_recording(parse_dataset(v3_root), 0, target)
    return target


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _wait_gone(pids: list[int], ports: list[int], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids) and not any(_listening(p) for p in ports):
            return True
        time.sleep(0.1)
    return False


def test_serves_the_page_and_data_port_lists_and_stops(rrd: Path) -> None:
    ws_port, web_port = _free_ports(2)
    manager = ViewerManager()

    viewer = manager.start(rrd, ws_port=ws_port, web_port=web_port)
    try:
        page = urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=5)
        assert page.status == 200 and b"<html" in page.read().lower()
        assert _listening(ws_port)
        assert viewer.ws_url == f"rerun+http://127.0.0.1:{ws_port}/proxy"
        assert viewer.web_url.startswith(f"http://127.0.0.1:{web_port}/?url=rerun%2Bhttp")
        assert [v.id for v in manager.list()] == [viewer.id]
        rerun_pids = _children(viewer.pid)
        assert rerun_pids
    finally:
        stopped = manager.stop(viewer.id)

    assert stopped and manager.list() == []
    assert _wait_gone([viewer.pid, *rerun_pids], [ws_port, web_port])
    assert manager.stop(viewer.id) is False


def test_a_taken_port_is_a_clear_error(rrd: Path) -> None:
    ws_port, web_port = _free_ports(2)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", web_port))
        taken.listen()
        with pytest.raises(ViewerError, match=f"port {web_port} on 127.0.0.1 is already in use"):
            ViewerManager(ready_timeout=15).start(rrd, ws_port=ws_port, web_port=web_port)


def test_missing_recording_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ViewerError, match="does not exist"):
        ViewerManager().start(tmp_path / "none.rrd", ws_port=1, web_port=2)


def test_viewer_started_from_a_finished_thread_keeps_running(rrd: Path) -> None:
    ws_port, web_port = _free_ports(2)
    manager = ViewerManager()
    started = []
    worker = threading.Thread(
        target=lambda: started.append(manager.start(rrd, ws_port=ws_port, web_port=web_port))
    )
    worker.start()
    worker.join()
    try:
        time.sleep(1.0)
        # A death signal tied to the starting thread would have killed it by now.
        assert _listening(web_port) and _alive(started[0].pid)
    finally:
        manager.stop_all()


@pytest.mark.parametrize("ending", ["killed", "exits"])
def test_viewer_never_outlives_its_owner(rrd: Path, ending: str) -> None:
    ws_port, web_port = _free_ports(2)
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            OWNER,
            str(rrd),
            str(ws_port),
            str(web_port),
            "wait" if ending == "killed" else "exit",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    watchdog_pid = int(owner.stdout.readline())
    rerun_pids = _children(watchdog_pid) if _alive(watchdog_pid) else []
    if ending == "killed":
        assert _listening(web_port)
        owner.send_signal(signal.SIGKILL)
    owner.wait(timeout=30)

    assert _wait_gone([watchdog_pid, *rerun_pids], [ws_port, web_port])


def test_a_viewer_that_dies_at_start_is_reported(rrd: Path) -> None:
    ws_port, web_port = _free_ports(2)

    with pytest.raises(ViewerError, match="exited at start"):
        ViewerManager(rerun_binary="/bin/false").start(rrd, ws_port=ws_port, web_port=web_port)
