"""StreamFedWorker leans on arq internals; this fails when an arq upgrade changes them.

`workers/pool.py` overrides `Worker.finish_job`, starts jobs itself the way `start_jobs` does
(semaphore, job counter, task table, `run_job`, the release callback) and writes arq's job
records with its key prefixes. None of that is public API, so arq is pinned to a minor version
and this test pins the code those overrides copy: when it fails, read the new arq's versions of
the methods below against StreamFedWorker, adjust it, then update the fingerprints.
"""

from __future__ import annotations

import hashlib
import inspect

import arq
import pytest
from arq import constants
from arq.worker import Worker

from workers.pool import StreamFedWorker

# sha256 (first 16 hex digits) of each method's source in the arq version pyproject pins.
FINGERPRINTS = {
    "finish_job": "903f09c92830d3fd",
    "run_job": "589a19059ff84ee7",
    "_release_sem_dec_counter_on_complete": "0ed101482e942c33",
    "start_jobs": "b45797cfa40bed7f",
    "__init__": "edfb0cd7e05e77cf",
    "async_run": "f3434c3dd359b31b",
    "handle_sig": "985ff7ba01aa8f04",
}


@pytest.mark.parametrize("name", sorted(FINGERPRINTS))
def test_the_arq_methods_stream_fed_worker_relies_on_are_unchanged(name: str) -> None:
    source = inspect.getsource(getattr(Worker, name))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert digest == FINGERPRINTS[name], (
        f"arq {arq.VERSION}: Worker.{name} changed; check StreamFedWorker in workers/pool.py"
    )


def test_finish_job_is_overridden_with_arqs_own_parameters() -> None:
    def parameters(method: object) -> list[tuple[str, object]]:
        return [(p.name, p.kind) for p in inspect.signature(method).parameters.values()]  # type: ignore[arg-type]

    assert parameters(StreamFedWorker.finish_job) == parameters(Worker.finish_job)


def test_the_key_prefixes_and_attributes_used_still_exist() -> None:
    for name in ("in_progress_key_prefix", "retry_key_prefix", "job_key_prefix", "abort_jobs_ss"):
        assert isinstance(getattr(constants, name), str)
    init = inspect.getsource(Worker.__init__)
    for attribute in ("self.sem", "self.job_counter", "self.tasks", "self.queue_name"):
        assert attribute in init, attribute
    assert "allow_pick_jobs" in inspect.getsource(Worker)
    assert "in_progress_timeout_s" in init
