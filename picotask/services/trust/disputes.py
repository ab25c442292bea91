"""Disputes: a worker contests a rejection within the dispute window; an admin decides.

    REJECTED ─dispute (before dispute_deadline)→ DISPUTED ─overturn→ APPROVED (paid from the
                                                          │          held money)
                                                          └─uphold→ REJECTED, final (money
                                                                     back to the employer)

The rejected slot's money stays in escrow until one of these ends it, so an overturned
rejection is always payable. Every step is a conditional update: a dispute racing the end of
the window either wins (DISPUTED) or loses to the sweeper (final), never both.
"""

from __future__ import annotations

from typing import Any

from tortoise.queryset import QuerySet

from picotask.models.submissions import DecidedBy, DisputeResolution, Submission, SubmissionStatus
from picotask.models.tasks import Task
from picotask.models.users import User
from picotask.services.core.clock import Clock
from picotask.services.core.errors import NotPermitted, checked_text
from picotask.services.core.events import EventLog
from picotask.services.work.settlement import Settlement
from picotask.services.work.transitions import move, not_found, of_worker

MAX_STATEMENT = 2_000


def open_disputes() -> QuerySet[Submission]:
    """The admins' queue."""
    return Submission.filter(status=SubmissionStatus.DISPUTED)


class DisputeService:
    def __init__(self, clock: Clock, settlement: Settlement, events: EventLog) -> None:
        self.clock = clock
        self.settlement = settlement
        self.events = events

    async def dispute(self, worker: User, submission_id: int | None, statement: str) -> Submission:
        """Suspended workers may dispute too: it protects money they may have earned."""
        submission = await of_worker(worker.id, submission_id)
        text = checked_text("statement", statement, required=True, limit=MAX_STATEMENT)
        now = self.clock.now()
        async with self.events.transaction():
            disputed = await move(
                submission.id,
                SubmissionStatus.REJECTED,
                "disputed",
                guard={"rejection_final": False, "dispute_deadline__gt": now},
                guard_failed="The dispute window has closed; the rejection is final.",
                status=SubmissionStatus.DISPUTED,
                dispute_statement=text,
                disputed_at=now,
                updated_at=now,
            )
            task = await Task.get(id=submission.task_id)
            self.events.submission("DISPUTED", disputed, task, f"Disputed: {task.title}")
            self.events.notify(
                task.employer_id,
                "dispute.opened",
                f"{worker.display_name} disputes your rejection on {task.title}.",
                task_id=task.id,
                submission_id=submission.id,
            )
        return await Submission.get(id=submission.id)

    async def resolve(
        self,
        admin: User,
        submission_id: int | None,
        resolution: DisputeResolution,
        note: str | None,
    ) -> Submission:
        if not admin.is_admin:
            raise NotPermitted("Only moderators resolve disputes.")
        submission = await Submission.get_or_none(id=submission_id) if submission_id else None
        if submission is None:
            raise not_found()
        text = checked_text("note", note, required=False, limit=MAX_STATEMENT)
        now = self.clock.now()
        overturned = resolution == DisputeResolution.OVERTURNED
        changes: dict[str, Any] = {
            "dispute_resolution": resolution,
            "dispute_note": text,
            "dispute_resolved_at": now,
            "updated_at": now,
        }
        if overturned:
            changes.update(
                status=SubmissionStatus.APPROVED, reviewed_at=now, decided_by=DecidedBy.DISPUTE
            )
        else:
            changes.update(status=SubmissionStatus.REJECTED, rejection_final=True)
        async with self.events.transaction():
            resolved = await move(submission.id, SubmissionStatus.DISPUTED, "resolved", **changes)
            task = await Task.get(id=submission.task_id)
            if overturned:
                await self.settlement.settle_approved(resolved, task, dispute_outcome=True)
            else:
                await self.settlement.settle_rejected(submission, task, dispute_outcome=True)
                self.events.submission(
                    "DISPUTE_UPHELD", resolved, task, f"Dispute upheld: {task.title}"
                )
            verdict = "overturned: the work is approved and paid" if overturned else "upheld"
            for user_id in (submission.worker_id, task.employer_id):
                self.events.notify(
                    user_id,
                    f"dispute.{resolution.value.lower()}",
                    f"The dispute on {task.title} was {verdict}." + (f" {text}" if text else ""),
                    task_id=task.id,
                    submission_id=submission.id,
                )
        return await Submission.get(id=submission.id)
