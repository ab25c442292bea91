"""Money leaving a task's escrow as its submissions resolve: approval (by review, by the review
window, or an overturned dispute), a rejection that became final, a slot freed on a closed task,
a reopened slot. Shared by requests, disputes and the sweeper; each step runs inside the
transaction of the conditional update that won it.
"""

from __future__ import annotations

from datetime import timedelta

from tortoise.expressions import F

from picotask.models.submissions import DecidedBy, RejectionReason, Submission, SubmissionStatus
from picotask.models.tasks import Task, TaskStatus
from picotask.models.users import User
from picotask.services.core.amounts import format_cents
from picotask.services.core.clock import Clock
from picotask.services.core.events import EventLog
from picotask.services.core.updates import update_returning
from picotask.services.money.ledger import Ledger
from picotask.services.work.batch_items import release_item
from picotask.services.work.tasks import LIVE, TaskService
from picotask.services.work.transitions import try_move
from picotask.settings import Settings


class Settlement:
    def __init__(
        self, settings: Settings, clock: Clock, ledger: Ledger, tasks: TaskService, events: EventLog
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.ledger = ledger
        self.tasks = tasks
        self.events = events

    async def approve(
        self, submission: Submission, task: Task, feedback: str | None, decided_by: DecidedBy
    ) -> Submission | None:
        """SUBMITTED → APPROVED and paid: by the employer, by a review policy, or by the review
        window only once it has passed. The approved submission; None when another transition
        won."""
        now = self.clock.now()
        by_window = decided_by == DecidedBy.REVIEW_WINDOW
        approved = await try_move(
            submission.id,
            SubmissionStatus.SUBMITTED,
            guard={"review_deadline__lte": now} if by_window else None,
            feedback=feedback,
            reviewed_at=now,
            updated_at=now,
            auto_approved=by_window,  # as before: `autoApproved` is the review window's
            decided_by=decided_by,
            review_deadline=None,
            status=SubmissionStatus.APPROVED,
        )
        if approved is not None:
            await self.settle_approved(approved, task)
        return approved

    async def reject(
        self,
        submission: Submission,
        task: Task,
        reason: RejectionReason,
        comment: str,
        decided_by: DecidedBy,
    ) -> Submission | None:
        """SUBMITTED → REJECTED, by the employer or a review policy; the money stays held until
        the dispute window closes. None when another transition won."""
        now = self.clock.now()
        rejected = await try_move(
            submission.id,
            SubmissionStatus.SUBMITTED,
            status=SubmissionStatus.REJECTED,
            rejection_reason=reason,
            rejection_comment=comment,
            reviewed_at=now,
            updated_at=now,
            decided_by=decided_by,
            dispute_deadline=now + timedelta(seconds=self.settings.dispute_window_seconds),
        )
        if rejected is not None:
            self.rejected(rejected, task, comment)
        return rejected

    async def settle_approved(
        self, approved: Submission, task: Task, *, dispute_outcome: bool = False
    ) -> None:
        """The money and reputation of an approval, after the update that won it (`approved`
        is the submission as that update left it). The rows other approvals share come last,
        just before COMMIT: the task's escrow and a fee slot (the ledger orders them last), the
        task's counters, the employer's counters; then the events, under the order lock."""
        await update_returning(
            User, {"id": approved.worker_id}, add={"approved_count": 1, "earned": task.reward}
        )
        await self.ledger.release_escrow(
            task.id,
            approved.worker_id,
            task.reward,
            task.fee,
            f"submission {approved.id} approved",
            submission_id=approved.id,
            dispute_outcome=dispute_outcome,
        )
        resolved = await update_returning(Task, {"id": task.id}, add={"slots_resolved": 1})
        await update_returning(
            User, {"id": task.employer_id}, add={"approvals_given": 1, "paid_out": task.reward}
        )
        self.events.submission("APPROVED", approved, task, f"Approved: {task.title}")
        self.events.notify(
            approved.worker_id,
            "submission.approved",
            f"Your work on {task.title} was approved: +{format_cents(task.reward)}",
            task_id=task.id,
            submission_id=approved.id,
        )
        await self.tasks.complete_if_done(task.id, resolved)

    def rejected(self, submission: Submission, task: Task, comment: str) -> None:
        """Tell the employer's stream and the worker; the money stays held (dispute window)."""
        self.events.submission("REJECTED", submission, task, f"Rejected: {task.title}")
        self.events.notify(
            submission.worker_id,
            "submission.rejected",
            f"Your work on {task.title} was rejected: {comment}",
            task_id=task.id,
            submission_id=submission.id,
        )

    async def finalize_rejection(self, submission: Submission, task: Task) -> bool:
        """The dispute window closed on a rejection: it is final and its money returns."""
        now = self.clock.now()
        if not await try_move(
            submission.id,
            SubmissionStatus.REJECTED,
            guard={"rejection_final": False, "dispute_deadline__lte": now},
            rejection_final=True,
            updated_at=now,
        ):
            return False
        await self.settle_rejected(submission, task)
        return True

    async def settle_rejected(
        self, submission: Submission, task: Task, *, dispute_outcome: bool = False
    ) -> None:
        """A rejection that became final (window closed, or dispute upheld): the held money
        returns to the employer."""
        await self.ledger.refund_escrow(
            task.id,
            task.employer_id,
            task.reward + task.fee,
            f"submission {submission.id} rejected for good",
            fee=task.fee,
            submission_id=submission.id,
            dispute_outcome=dispute_outcome,
        )
        await Task.filter(id=task.id).update(slots_resolved=F("slots_resolved") + 1)
        await User.filter(id=submission.worker_id).update(rejected_count=F("rejected_count") + 1)
        await User.filter(id=task.employer_id).update(rejections_given=F("rejections_given") + 1)
        await self.tasks.complete_if_done(task.id)

    async def free_slot(self, submission: Submission, status: SubmissionStatus) -> bool:
        """CLAIMED → RETURNED | EXPIRED (the latter only once the claim timed out). The slot
        goes back to a live task; on a closed task its money goes back to the employer."""
        now = self.clock.now()
        freed = await try_move(
            submission.id,
            SubmissionStatus.CLAIMED,
            guard={"claim_expires_at__lte": now} if status == SubmissionStatus.EXPIRED else None,
            status=status,
            updated_at=now,
            claim_expires_at=None,
        )
        if freed is None:
            return False
        await release_item(freed)
        if not await Task.filter(id=submission.task_id, status__in=LIVE).update(
            slots_used=F("slots_used") - 1
        ):
            task = await Task.get(id=submission.task_id)
            await Task.filter(id=task.id).update(
                slots=F("slots") - 1, slots_used=F("slots_used") - 1
            )
            await self.ledger.refund_escrow(
                task.id,
                task.employer_id,
                task.reward + task.fee,
                f"submission {submission.id} {status.value.lower()} on a closed task",
                fee=task.fee,
                submission_id=submission.id,
            )
        task = await Task.get(id=submission.task_id)
        self.events.submission(status.value, freed, task, f"Slot {status.value.lower()}")
        self.events.task("UPDATED", task, f"A slot is free again: {task.title}", by_submission=True)
        if status == SubmissionStatus.EXPIRED:
            self.events.notify(
                submission.worker_id,
                "submission.expired",
                f"Your claim on {task.title} expired before you submitted.",
                task_id=task.id,
                submission_id=submission.id,
            )
        return True

    async def reopen_slot(self, task: Task, rejected: Submission) -> None:
        """Fund one more slot, so a rejected slot's held money stays payable on dispute. On a
        batch the rejected item is offered again."""
        await release_item(rejected)
        await self.ledger.fund_escrow(
            task.employer_id,
            task.id,
            task.reward + task.fee,
            f"task {task.id}: reopened slot",
            fee=task.fee,
        )
        await Task.filter(id=task.id).update(slots=F("slots") + 1)
        await Task.filter(id=task.id, status=TaskStatus.COMPLETED).update(
            status=TaskStatus.OPEN, closed_at=None
        )
        reopened = await Task.get(id=task.id)
        self.events.task(
            "UPDATED", reopened, f"A slot reopened: {reopened.title}", by_submission=True
        )
