"""Time rules, run in every server process: claim timeouts, review windows, revision
deadlines, dispute windows, task expiry, the removal of unused uploads, of proof images
past their retention, of expired mailed-link tokens and of events past their retention
(services/core/retention.py); on SQLite, the planner's statistics
(services/core/statistics.py). Each rule is the same conditional update a request would
make (`transitions.try_move`), so sweepers in several processes never act twice."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from picotask.models.submissions import DecidedBy, RejectionReason, Submission, SubmissionStatus
from picotask.models.tasks import Task
from picotask.services.accounts.tokens import EmailTokens
from picotask.services.core.clock import Clock
from picotask.services.core.events import EventLog
from picotask.services.core.retention import EventRetention
from picotask.services.core.rounds import run_rounds
from picotask.services.core.statistics import PlannerStatistics
from picotask.services.media.uploads import UploadService
from picotask.services.work.settlement import Settlement
from picotask.services.work.tasks import TaskService
from picotask.services.work.transitions import try_move
from picotask.settings import Settings

log = logging.getLogger(__name__)
NO_REVISION = "No revision was submitted before the deadline."


@dataclass(frozen=True, slots=True)
class SweepResult:
    claims_expired: int
    auto_approved: int
    revisions_expired: int
    rejections_final: int
    tasks_expired: int
    uploads_removed: int
    tokens_removed: int
    events_removed: int


class Sweeper:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        tasks: TaskService,
        settlement: Settlement,
        events: EventLog,
        uploads: UploadService,
        tokens: EmailTokens | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.tasks = tasks
        self.settlement = settlement
        self.events = events
        self.uploads = uploads
        self.tokens = tokens or EmailTokens(clock)
        self.retention = EventRetention(settings, clock)
        self.statistics = PlannerStatistics(clock)

    async def sweep(self) -> SweepResult:
        await self.statistics.refresh()
        return SweepResult(
            claims_expired=await self.expire_claims(),
            auto_approved=await self.auto_approve(),
            revisions_expired=await self.expire_revisions(),
            rejections_final=await self.finalize_rejections(),
            # Last: a task expiring now refunds what the rules above just freed.
            tasks_expired=await self.tasks.expire_due(),
            uploads_removed=await self.uploads.sweep(),
            tokens_removed=await self.tokens.remove_expired(),
            # Last: bounded batches, and nothing above waits for it.
            events_removed=await self.retention.sweep(),
        )

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        await run_rounds(
            self.sweep,
            interval=self.settings.sweep_interval_seconds,
            log=log,
            failed="sweep failed",
            stop=stop,
        )

    async def expire_claims(self) -> int:
        due = await Submission.filter(
            status=SubmissionStatus.CLAIMED, claim_expires_at__lte=self.clock.now()
        )
        done = 0
        for submission in due:
            async with self.events.transaction():
                done += await self.settlement.free_slot(submission, SubmissionStatus.EXPIRED)
        return done

    async def auto_approve(self) -> int:
        due = await Submission.filter(
            status=SubmissionStatus.SUBMITTED, review_deadline__lte=self.clock.now()
        )
        tasks = await _tasks_of(due)
        done = 0
        for submission in due:
            task = tasks[submission.task_id]
            async with self.events.transaction():
                if await self.settlement.approve(submission, task, None, DecidedBy.REVIEW_WINDOW):
                    done += 1
        return done

    async def expire_revisions(self) -> int:
        now = self.clock.now()
        due = await Submission.filter(
            status=SubmissionStatus.REVISION_REQUESTED, revision_deadline__lte=now
        )
        tasks = await _tasks_of(due)
        done = 0
        for submission in due:
            async with self.events.transaction():
                rejected = await try_move(
                    submission.id,
                    SubmissionStatus.REVISION_REQUESTED,
                    guard={"revision_deadline__lte": now},
                    status=SubmissionStatus.REJECTED,
                    rejection_reason=RejectionReason.INCOMPLETE,
                    rejection_comment=NO_REVISION,
                    decided_by=DecidedBy.REVISION_DEADLINE,
                    reviewed_at=now,
                    updated_at=now,
                    revision_deadline=None,
                    dispute_deadline=now + timedelta(seconds=self.settings.dispute_window_seconds),
                )
                if rejected is not None:
                    done += 1
                    self.settlement.rejected(rejected, tasks[submission.task_id], NO_REVISION)
        return done

    async def finalize_rejections(self) -> int:
        due = await Submission.filter(
            status=SubmissionStatus.REJECTED,
            rejection_final=False,
            dispute_deadline__lte=self.clock.now(),
        )
        tasks = await _tasks_of(due)
        done = 0
        for submission in due:
            task = tasks[submission.task_id]
            async with self.events.transaction():
                done += await self.settlement.finalize_rejection(submission, task)
        return done


async def _tasks_of(submissions: list[Submission]) -> dict[int, Task]:
    """The tasks of a batch of submissions, in one query."""
    return {t.id: t for t in await Task.filter(id__in={s.task_id for s in submissions})}
