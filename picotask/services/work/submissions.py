"""Doing and reviewing work: the request side of the submission state machine.

    CLAIMED ─submit→ SUBMITTED ─approve / review window→ APPROVED
       │               ├─request revision→ REVISION_REQUESTED ─resubmit→ SUBMITTED
       │               │                        └─revision deadline→ REJECTED
       │               └─reject→ REJECTED (money held until the dispute window closes)
       ├─release→ RETURNED
       └─claim timeout→ EXPIRED

Each transition is a `transitions.move` (one winner per race); the money of a resolved slot is
`settlement`'s, the time rules are the sweeper's, disputes are `disputes`'.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from tortoise.exceptions import IntegrityError

from picotask.models.quality import ReviewPolicy
from picotask.models.submissions import (
    DecidedBy,
    RejectionReason,
    Submission,
    SubmissionStatus,
)
from picotask.models.tasks import Task, TaskStatus
from picotask.models.users import Block, User
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, checked_text
from picotask.services.core.events import EventLog
from picotask.services.core.standing import ensure_active, ensure_confirmed
from picotask.services.core.updates import update_returning
from picotask.services.targeting.discovery import access_of, access_problem, eligibility_problem
from picotask.services.targeting.qualifications import grant_from_test
from picotask.services.work.batch_items import take_item
from picotask.services.work.proof_images import ProofImages
from picotask.services.work.proofs import Answer, check_answers, image_ids, record_proof
from picotask.services.work.settlement import Settlement
from picotask.services.work.tasks import can_see
from picotask.services.work.transitions import for_review, move, of_worker, wrong_status
from picotask.settings import Settings

TASK_FIELD = ["input", "taskId"]
SUBMIT_FROM = {
    SubmissionStatus.CLAIMED: "claim_expires_at",
    SubmissionStatus.REVISION_REQUESTED: "revision_deadline",
}


class Grader(Protocol):
    """Quality's part in a submission (`services/quality/grading.py`, given by the registry):
    quality decides through `Settlement`, so it stands above work and work does not import it."""

    async def grade(self, submission: Submission, task: Task) -> ReviewPolicy | None:
        """Grade a gold item and flag a too-fast submission; the task's policy, if any."""

    async def decide(self, submission: Submission, task: Task, policy: ReviewPolicy) -> None:
        """Apply the task's review policy to a submitted proof."""


class SubmissionService:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        settlement: Settlement,
        events: EventLog,
        images: ProofImages,
        quality: Grader,
    ) -> None:
        self.settings = settings
        self.quality = quality
        self.clock = clock
        self.settlement = settlement
        self.events = events
        self.images = images

    # The worker's side.

    async def claim(self, worker: User, task_id: int | None) -> Submission:
        ensure_active(worker)
        ensure_confirmed(worker, self.settings.confirmation_required)
        task = await Task.get_or_none(id=task_id) if task_id else None
        if task is None or not can_see(task, None):  # claims are on published tasks only
            raise DomainError(ErrorCode.NOT_FOUND, "No such task.", TASK_FIELD)
        if task.employer_id == worker.id:
            raise DomainError(ErrorCode.OWN_TASK, "You cannot claim your own task.", TASK_FIELD)
        if task.status != TaskStatus.OPEN:
            raise DomainError(
                ErrorCode.INVALID_STATUS, f"The task is {task.status.value}, not OPEN.", TASK_FIELD
            )
        if problem := eligibility_problem(task, worker):
            raise DomainError(ErrorCode.NOT_ELIGIBLE, problem, TASK_FIELD)
        if task.target_groups or task.required_qualifications:
            access = await access_of(worker.id)
            if access_problem(task.target_groups, [], access):
                # Private work is invisible to everyone outside its groups.
                raise DomainError(ErrorCode.NOT_FOUND, "No such task.", TASK_FIELD)
            if problem := access_problem("", task.required_qualifications, access):
                raise DomainError(ErrorCode.NOT_ELIGIBLE, problem, TASK_FIELD)
        if await Block.exists(employer_id=task.employer_id, worker_id=worker.id):
            raise DomainError(
                ErrorCode.NOT_ELIGIBLE, "This employer does not accept your work.", TASK_FIELD
            )
        if await Submission.exists(task_id=task.id, worker_id=worker.id):
            raise _already_claimed()
        now = self.clock.now()
        try:
            async with self.events.transaction():
                # A claim creates the submission; the slot counter is the conditional update.
                fresh = await update_returning(
                    Task,
                    {"id": task.id, "status": TaskStatus.OPEN},
                    add={"slots_used": 1},
                    condition='"slots_used" < "slots"',
                )
                if fresh is None:
                    raise DomainError(ErrorCode.NO_SLOTS_LEFT, "Every slot is taken.", TASK_FIELD)
                submission = await Submission.create(
                    task_id=task.id,
                    worker_id=worker.id,
                    claimed_at=now,
                    claim_expires_at=now + timedelta(seconds=task.claim_timeout_seconds),
                    updated_at=now,
                )
                if task.batch_columns is not None:
                    submission.item_id = await take_item(task.id, submission.id)
                self.events.submission(
                    "CLAIMED", submission, fresh, f"{worker.display_name} claimed a slot"
                )
                self.events.task(
                    "UPDATED", fresh, f"A slot was taken: {fresh.title}", by_submission=True
                )
        except IntegrityError:
            # A concurrent claim by the same worker won; ours rolled back with its slot.
            raise _already_claimed() from None
        return submission

    async def release(self, worker: User, submission_id: int | None) -> Submission:
        submission = await of_worker(worker.id, submission_id)
        async with self.events.transaction():
            if not await self.settlement.free_slot(submission, SubmissionStatus.RETURNED):
                raise wrong_status(await Submission.get(id=submission.id), "released")
        return await Submission.get(id=submission.id)

    async def submit(
        self, worker: User, submission_id: int | None, answers: list[Answer]
    ) -> Submission:
        """First proof of a claim, or the revision the employer asked for; before its deadline."""
        ensure_active(worker)
        submission = await of_worker(worker.id, submission_id)
        task = await Task.get(id=submission.task_id)
        stored = check_answers(task.proof_fields, answers, self.settings.max_images_per_answer)
        deadline = SUBMIT_FROM.get(submission.status)
        if deadline is None:
            raise wrong_status(submission, "submitted")
        now = self.clock.now()
        await self.images.check(worker.id, submission.id, answers, now)
        async with self.events.transaction():
            submitted = await move(
                submission.id,
                submission.status,
                "submitted",
                guard={f"{deadline}__gt": now},
                guard_failed="The time to submit has run out.",
                status=SubmissionStatus.SUBMITTED,
                answers=stored,
                submitted_at=now,
                review_deadline=now + timedelta(seconds=task.review_window_seconds),
                updated_at=now,
                **{deadline: None},
            )
            # Each step below sets what it stores on `submitted` too: no re-read.
            first = submission.status == SubmissionStatus.CLAIMED
            await record_proof(submitted, stored, first=first)
            await grant_from_test(self.events, submitted)
            await self.images.attach(submitted, task, image_ids(stored), now, first=first)
            policy = await self.quality.grade(submitted, task)
            kind = "SUBMITTED" if first else "RESUBMITTED"
            self.events.submission(kind, submitted, task, f"Proof {kind.lower()} for {task.title}")
            if policy is None:
                return submitted
            await self.quality.decide(submitted, task, policy)
        return await Submission.get(id=submission.id)  # the policy may have decided it

    # The employer's side.

    async def approve(
        self, employer: User, submission_id: int | None, feedback: str | None
    ) -> Submission:
        ensure_active(employer)
        submission, task = await for_review(employer.id, submission_id)
        note = checked_text("feedback", feedback, required=False)
        async with self.events.transaction():
            approved = await self.settlement.approve(submission, task, note, DecidedBy.MANUAL)
            if approved is None:
                raise wrong_status(await Submission.get(id=submission.id), "approved")
        return approved

    async def reject(
        self,
        employer: User,
        submission_id: int | None,
        reason: RejectionReason,
        comment: str,
        reopen_slot: bool,
    ) -> Submission:
        ensure_active(employer)
        submission, task = await for_review(employer.id, submission_id)
        note = checked_text("comment", comment, required=True)
        async with self.events.transaction():
            rejected = await self.settlement.reject(
                submission, task, reason, note or "", DecidedBy.MANUAL
            )
            if rejected is None:
                raise wrong_status(await Submission.get(id=submission.id), "rejected")
            if reopen_slot:
                await self.settlement.reopen_slot(task, rejected)
        return rejected

    async def request_revision(
        self, employer: User, submission_id: int | None, comment: str
    ) -> Submission:
        ensure_active(employer)
        submission, task = await for_review(employer.id, submission_id)
        note = checked_text("comment", comment, required=True)
        now = self.clock.now()
        async with self.events.transaction():
            sent_back = await move(
                submission.id,
                SubmissionStatus.SUBMITTED,
                "sent back for revision",
                status=SubmissionStatus.REVISION_REQUESTED,
                revision_comment=note,
                updated_at=now,
                review_deadline=None,
                revision_deadline=now + timedelta(seconds=self.settings.revision_deadline_seconds),
            )
            self.events.submission(
                "REVISION_REQUESTED", sent_back, task, f"Revision requested: {task.title}"
            )
            self.events.notify(
                submission.worker_id,
                "submission.revision_requested",
                f"Revision requested on {task.title}: {note}",
                task_id=task.id,
                submission_id=submission.id,
            )
        return sent_back


def _already_claimed() -> DomainError:
    return DomainError(ErrorCode.ALREADY_CLAIMED, "You already took this task once.", TASK_FIELD)
