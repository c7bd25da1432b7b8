"""Runs a command and kills it when the owner process dies: `python watchdog.py OWNER_PID CMD...`.

It is started by file path (not `-m`) so it works wherever the package is installed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.2


def _die_with_parent() -> None:
    # The watchdog spawns from its only thread, so the death signal is tied to its lifetime
    # (PR_SET_PDEATHSIG fires when the spawning *thread* ends, which rules it out for owners
    # that start viewers from worker threads; they are watched by polling instead).
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def run(owner: int, command: list[str]) -> int:
    """Run `command` until it exits, the owner dies, or this process is told to stop."""
    child = subprocess.Popen(command, preexec_fn=_die_with_parent)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while child.poll() is None:
        # A dead owner re-parents us to init (or a subreaper), so the parent pid changes.
        if stopping or os.getppid() != owner:
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            break
        time.sleep(POLL_SECONDS)
    return child.returncode if child.returncode is not None else 0


if __name__ == "__main__":
    sys.exit(run(int(sys.argv[1]), sys.argv[2:]))
