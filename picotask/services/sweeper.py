"""Time rules, run in every server process: claim timeouts, review windows, revision
deadlines, dispute windows and task expiry. Each rule is the same conditional update a request
would make, so sweepers in several processes never act twice."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from picotask.services.tasks import TaskService
from picotask.services.work import WorkService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SweepResult:
    claims_expired: int
    auto_approved: int
    revisions_expired: int
    rejections_final: int
    tasks_expired: int


class Sweeper:
    def __init__(self, tasks: TaskService, work: WorkService, interval_seconds: float) -> None:
        self.tasks = tasks
        self.work = work
        self.interval_seconds = interval_seconds

    async def sweep(self) -> SweepResult:
        return SweepResult(
            claims_expired=await self.work.expire_claims(),
            auto_approved=await self.work.auto_approve(),
            revisions_expired=await self.work.expire_revisions(),
            rejections_final=await self.work.finalize_rejections(),
            # Last: a task expiring now refunds what the rules above just freed.
            tasks_expired=await self.tasks.expire_due(),
        )

    async def run_forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # keep sweeping; every rule is retried on the next round
                log.exception("sweep failed")
            await asyncio.sleep(self.interval_seconds)
