"""Built-in job kinds that exercise the platform without any service."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from domain.job import PermanentError, TransientError
from workers.catalog.platform import NoopPayload, SleepPayload
from workers.context import JobContext, check_cancelled


async def noop(ctx: JobContext, payload: NoopPayload) -> dict[str, Any]:
    """Do nothing: the platform's own overhead, end to end."""
    return {}


async def sleep(ctx: JobContext, payload: SleepPayload) -> dict[str, Any]:
    """Sleep in steps reporting progress; fail as asked; honour cancel."""
    if payload.fail_permanently:
        raise PermanentError("failing permanently as asked", code="ASKED_TO_FAIL")
    if ctx["attempt"] <= payload.fail_times:
        raise TransientError(f"transient failure {ctx['attempt']} of {payload.fail_times}")
    step_s = payload.seconds / payload.steps
    if payload.in_thread:
        await ctx["run_in_thread"](_sleep_in_thread, ctx, step_s, payload.steps)
    else:
        for i in range(payload.steps):
            await asyncio.sleep(step_s)
            await ctx["progress"](100 * (i + 1) / payload.steps, f"step {i + 1}/{payload.steps}")
    return {"slept_s": payload.seconds, "steps": payload.steps, "attempt": ctx["attempt"]}


def _sleep_in_thread(ctx: JobContext, step_s: float, steps: int) -> None:
    for i in range(steps):
        check_cancelled(ctx["cancelled"])
        time.sleep(step_s)
        ctx["report"](100 * (i + 1) / steps, f"step {i + 1}/{steps} (thread)")
    check_cancelled(ctx["cancelled"])
