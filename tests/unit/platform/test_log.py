"""Log lines are JSON and carry the request and job they belong to."""

from __future__ import annotations

import json
import logging

import infra.log


def test_json_lines_carry_request_and_job_ids() -> None:
    fmt = infra.log.JsonFormatter()
    record = logging.LogRecord(
        "switchyard.test", logging.INFO, __file__, 1, "hello %s", ("x",), None
    )
    rt, jt = infra.log.request_id.set("req-1"), infra.log.job_id.set("job-9")
    try:
        line = json.loads(fmt.format(record))
    finally:
        infra.log.request_id.reset(rt)
        infra.log.job_id.reset(jt)
    assert line["msg"] == "hello x" and line["level"] == "info"
    assert line["request_id"] == "req-1" and line["job_id"] == "job-9"
    assert line["ts"].endswith("Z")
    plain = json.loads(fmt.format(record))
    assert "request_id" not in plain and "job_id" not in plain
