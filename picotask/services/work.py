"""Doing and reviewing work: the submission state machine, its money, and its time rules.

    CLAIMED ─submit→ SUBMITTED ─approve / review window→ APPROVED
       │               ├─request revision→ REVISION_REQUESTED ─resubmit→ SUBMITTED
       │               │                        └─revision deadline→ REJECTED
       │               └─reject→ REJECTED (money held until the dispute window closes)
       ├─release→ RETURNED
       └─claim timeout→ EXPIRED

Every transition is a conditional update on the current status, so a racing pair (approve vs.
auto-approve, two claims on the last slot, two sweepers) has exactly one winner.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from picotask.models.marketplace import (
    ProofHash,
    ProofKind,
    RejectionReason,
    Submission,
    SubmissionStatus,
    Task,
    TaskStatus,
)
from picotask.models.users import Block, User
from picotask.server.settings import Settings
from picotask.services import idempotency
from picotask.services.accounts import ensure_active
from picotask.services.clock import Clock
from picotask.services.errors import DomainError, ErrorCode, NotPermitted, Validator
from picotask.services.events import EventLog
from picotask.services.ledger import Ledger
from picotask.services.money import format_cents, parse_amount
from picotask.services.tasks import LIVE, TaskService, can_see, eligibility_problem

MAX_TEXT_ANSWER = 5_000
MAX_ANSWER = 2_000  # URLs, numbers and image links
MAX_COMMENT = 2_000
MAX_BONUS_REASON = 500
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# Work the employer has seen, for which a bonus makes sense.
BONUSABLE = (
    SubmissionStatus.SUBMITTED,
    SubmissionStatus.REVISION_REQUESTED,
    SubmissionStatus.APPROVED,
    SubmissionStatus.REJECTED,
    SubmissionStatus.DISPUTED,
)


@dataclass(frozen=True, slots=True)
class Answer:
    label: str
    value: str


async def transition(
    submission_id: int, expected: SubmissionStatus, action: str, **changes: Any
) -> Submission:
    """Apply `changes` only if the submission is still `expected`: the one winner of a race.
    A loser gets INVALID_STATUS naming the status that beat it."""
    if not await Submission.filter(id=submission_id, status=expected).update(**changes):
        raise wrong_status(await Submission.get(id=submission_id), action)
    return await Submission.get(id=submission_id)


def submission_not_found() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No such submission.", ["input", "submissionId"])


def wrong_status(submission: Submission, action: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_STATUS,
        f"A submission that is {submission.status.value} cannot be {action}.",
        ["input", "submissionId"],
    )


def check_answers(
    proof_fields: list[dict[str, Any]], answers: list[Answer]
) -> list[dict[str, str]]:
    """Answers against the task's proof fields: required ones present, each of its kind."""
    v = Validator(("input", "answers"))
    by_label = {str(f["label"]).casefold(): f for f in proof_fields}
    given: dict[str, str] = {}
    for i, answer in enumerate(answers):
        key = answer.label.strip().casefold()
        field = by_label.get(key)
        if field is None:
            v.add(str(i), ErrorCode.INVALID, f"{answer.label!r} is not a proof field of this task.")
            continue
        if key in given:
            v.add(str(i), ErrorCode.DUPLICATE, f"{field['label']!r} is answered twice.")
            continue
        value = answer.value.strip()
        problem = _answer_problem(ProofKind(field["kind"]), value)
        if problem:
            v.add(str(i), ErrorCode.INVALID, f"{field['label']}: {problem}")
        given[key] = value
    for key, field in by_label.items():
        if field["required"] and not given.get(key):
            v.add(str(field["label"]), ErrorCode.REQUIRED, f"{field['label']} is required.")
    v.check()
    return [
        {"label": str(by_label[key]["label"]), "value": value}
        for key, value in given.items()
        if value
    ]


def _answer_problem(kind: ProofKind, value: str) -> str | None:
    if kind == ProofKind.TEXT:
        return f"at most {MAX_TEXT_ANSWER} characters." if len(value) > MAX_TEXT_ANSWER else None
    if len(value) > MAX_ANSWER:
        return f"at most {MAX_ANSWER} characters."
    if not value:
        return None
    if kind == ProofKind.NUMBER:
        return None if _NUMBER.match(value) else "must be a number."
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        return "must be an http(s) URL."
    return None


class WorkService:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        ledger: Ledger,
        tasks: TaskService,
        events: EventLog,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.ledger = ledger
        self.tasks = tasks
        self.events = events

    # Loading with authorization.

    async def _as_worker(self, worker: User, submission_id: int | None) -> Submission:
        submission = await Submission.get_or_none(id=submission_id) if submission_id else None
        if submission is None or submission.worker_id != worker.id:
            raise submission_not_found()
        return submission

    async def _as_employer(
        self, employer: User, submission_id: int | None
    ) -> tuple[Submission, Task]:
        submission = await Submission.get_or_none(id=submission_id) if submission_id else None
        if submission is None:
            raise submission_not_found()
        task = await Task.get(id=submission.task_id)
        if task.employer_id != employer.id:
            if submission.worker_id == employer.id:
                raise NotPermitted("Only the task's employer may review this submission.")
            raise submission_not_found()
        return submission, task

    # The worker's side.

    async def claim(self, worker: User, task_id: int | None) -> Submission:
        ensure_active(worker)
        task = await Task.get_or_none(id=task_id) if task_id else None
        if task is None or not can_see(task, None):  # claims are on published tasks only
            raise DomainError(ErrorCode.NOT_FOUND, "No such task.", ["input", "taskId"])
        field = ["input", "taskId"]
        if task.employer_id == worker.id:
            raise DomainError(ErrorCode.OWN_TASK, "You cannot claim your own task.", field)
        if task.status != TaskStatus.OPEN:
            raise DomainError(
                ErrorCode.INVALID_STATUS, f"The task is {task.status.value}, not OPEN.", field
            )
        if problem := eligibility_problem(task, worker):
            raise DomainError(ErrorCode.NOT_ELIGIBLE, problem, field)
        if await Block.exists(employer_id=task.employer_id, worker_id=worker.id):
            raise DomainError(
                ErrorCode.NOT_ELIGIBLE, "This employer does not accept your work.", field
            )
        if await Submission.exists(task_id=task.id, worker_id=worker.id):
            raise _already_claimed()
        now = self.clock.now()
        try:
            async with self.events.transaction():
                if not await Task.filter(
                    id=task.id, status=TaskStatus.OPEN, slots_used__lt=F("slots")
                ).update(slots_used=F("slots_used") + 1):
                    raise DomainError(ErrorCode.NO_SLOTS_LEFT, "Every slot is taken.", field)
                submission = await Submission.create(
                    task_id=task.id,
                    worker_id=worker.id,
                    claimed_at=now,
                    claim_expires_at=now + timedelta(seconds=task.claim_timeout_seconds),
                    updated_at=now,
                )
                fresh = await Task.get(id=task.id)
                self.events.submission(
                    "CLAIMED", submission, fresh, f"{worker.display_name} claimed a slot"
                )
                self.events.task("UPDATED", fresh, f"A slot was taken: {fresh.title}")
        except IntegrityError:
            # A concurrent claim by the same worker won; ours rolled back with its slot.
            raise _already_claimed() from None
        return submission

    async def release(self, worker: User, submission_id: int | None) -> Submission:
        submission = await self._as_worker(worker, submission_id)
        async with self.events.transaction():
            if not await self._free_slot(submission, SubmissionStatus.RETURNED):
                raise wrong_status(await Submission.get(id=submission.id), "released")
        return await Submission.get(id=submission.id)

    async def submit(
        self, worker: User, submission_id: int | None, answers: list[Answer]
    ) -> Submission:
        ensure_active(worker)
        submission = await self._as_worker(worker, submission_id)
        task = await Task.get(id=submission.task_id)
        stored = check_answers(task.proof_fields, answers)
        now = self.clock.now()
        review_deadline = now + timedelta(seconds=task.review_window_seconds)
        changes = {
            "status": SubmissionStatus.SUBMITTED,
            "answers": stored,
            "submitted_at": now,
            "review_deadline": review_deadline,
            "updated_at": now,
        }
        async with self.events.transaction():
            await self._move_to_submitted(submission, task, changes)
        return await Submission.get(id=submission.id)

    async def _move_to_submitted(
        self, submission: Submission, task: Task, changes: dict[str, Any]
    ) -> None:
        now = self.clock.now()
        resubmitted = submission.status == SubmissionStatus.REVISION_REQUESTED
        if submission.status == SubmissionStatus.CLAIMED:
            moved = await Submission.filter(
                id=submission.id, status=SubmissionStatus.CLAIMED, claim_expires_at__gt=now
            ).update(**changes, claim_expires_at=None)
        elif submission.status == SubmissionStatus.REVISION_REQUESTED:
            moved = await Submission.filter(
                id=submission.id,
                status=SubmissionStatus.REVISION_REQUESTED,
                revision_deadline__gt=now,
            ).update(**changes, revision_deadline=None)
        else:
            raise wrong_status(submission, "submitted")
        if not moved:
            current = await Submission.get(id=submission.id)
            if current.status == submission.status:  # still there, so the deadline passed
                raise DomainError(
                    ErrorCode.DEADLINE_PASSED,
                    "The time to submit has run out.",
                    ["input", "submissionId"],
                )
            raise wrong_status(current, "submitted")
        await self._record_proof(submission, task, changes["answers"])
        fresh = await Submission.get(id=submission.id)
        kind = "RESUBMITTED" if resubmitted else "SUBMITTED"
        self.events.submission(kind, fresh, task, f"Proof {kind.lower()} for {task.title}")

    async def _record_proof(
        self, submission: Submission, task: Task, answers: list[dict[str, str]]
    ) -> None:
        """Hash each answer; flag the labels another account already submitted on this task."""
        digests = {a["label"]: proof_digest(a["value"]) for a in answers}
        reused = (
            await ProofHash.filter(task_id=task.id, digest__in=list(digests.values()))
            .exclude(worker_id=submission.worker_id)
            .values("digest")
        )
        taken = {row["digest"] for row in reused}
        await ProofHash.filter(submission_id=submission.id).delete()
        await ProofHash.bulk_create(
            [
                ProofHash(
                    task_id=task.id,
                    submission_id=submission.id,
                    worker_id=submission.worker_id,
                    label=label,
                    digest=digest,
                )
                for label, digest in digests.items()
            ]
        )
        await Submission.filter(id=submission.id).update(
            reused_labels=[label for label, digest in digests.items() if digest in taken]
        )

    # The employer's side.

    async def approve(
        self, employer: User, submission_id: int | None, feedback: str | None
    ) -> Submission:
        ensure_active(employer)
        submission, task = await self._as_employer(employer, submission_id)
        note = checked_text("feedback", feedback, required=False)
        async with self.events.transaction():
            if not await self._approve(submission, task, note, auto=False):
                raise wrong_status(await Submission.get(id=submission.id), "approved")
        return await Submission.get(id=submission.id)

    async def reject(
        self,
        employer: User,
        submission_id: int | None,
        reason: RejectionReason,
        comment: str,
        reopen_slot: bool,
    ) -> Submission:
        ensure_active(employer)
        submission, task = await self._as_employer(employer, submission_id)
        note = checked_text("comment", comment, required=True)
        now = self.clock.now()
        async with self.events.transaction():
            rejected = await transition(
                submission.id,
                SubmissionStatus.SUBMITTED,
                "rejected",
                status=SubmissionStatus.REJECTED,
                rejection_reason=reason,
                rejection_comment=note,
                reviewed_at=now,
                updated_at=now,
                dispute_deadline=now + timedelta(seconds=self.settings.dispute_window_seconds),
            )
            self._rejected(rejected, task, note or "")
            if reopen_slot:
                await self._reopen_slot(task)
        return await Submission.get(id=submission.id)

    async def request_revision(
        self, employer: User, submission_id: int | None, comment: str
    ) -> Submission:
        ensure_active(employer)
        submission, task = await self._as_employer(employer, submission_id)
        note = checked_text("comment", comment, required=True)
        now = self.clock.now()
        async with self.events.transaction():
            await transition(
                submission.id,
                SubmissionStatus.SUBMITTED,
                "sent back for revision",
                status=SubmissionStatus.REVISION_REQUESTED,
                revision_comment=note,
                updated_at=now,
                review_deadline=None,
                revision_deadline=now + timedelta(seconds=self.settings.revision_deadline_seconds),
            )
            self.events.notify(
                submission.worker_id,
                "submission.revision_requested",
                f"Revision requested on {task.title}: {note}",
                task_id=task.id,
                submission_id=submission.id,
            )
        return await Submission.get(id=submission.id)

    async def send_bonus(
        self,
        employer: User,
        submission_id: int | None,
        amount: Decimal,
        reason: str,
        key: str | None,
    ) -> tuple[Submission, int]:
        """From the employer's balance to a worker whose work they have seen; idempotent.
        Returns the submission and the bonus in cents."""
        ensure_active(employer)
        submission, _ = await self._as_employer(employer, submission_id)
        cents = parse_amount(
            amount,
            ["input", "amount"],
            minimum_cents=1,
            maximum_cents=self.settings.max_reward_cents,
        )
        note = checked_text("reason", reason, required=True, limit=MAX_BONUS_REASON)
        if submission.status not in BONUSABLE:
            raise wrong_status(submission, "given a bonus")

        async def pay() -> int:
            transaction = await self.ledger.bonus(
                employer.id,
                submission.worker_id,
                cents,
                f"bonus on submission {submission.id}: {note}",
            )
            await User.filter(id=submission.worker_id).update(earned=F("earned") + cents)
            await User.filter(id=employer.id).update(paid_out=F("paid_out") + cents)
            self.events.notify(
                submission.worker_id,
                "bonus.received",
                f"{employer.display_name} sent you a bonus of {format_cents(cents)}: {note}",
                task_id=submission.task_id,
                submission_id=submission.id,
            )
            return int(transaction.id)

        await idempotency.once(
            self.clock,
            user_id=employer.id,
            key=key,
            operation="sendBonus",
            request={"submission": submission.id, "amount": cents, "reason": note},
            create=pay,
            transaction=self.events.transaction,
        )
        return submission, cents

    # Transitions shared by requests and the sweeper (each inside a transaction).

    async def _approve(
        self, submission: Submission, task: Task, feedback: str | None, *, auto: bool
    ) -> bool:
        now = self.clock.now()
        rows = Submission.filter(id=submission.id, status=SubmissionStatus.SUBMITTED)
        if auto:
            rows = rows.filter(review_deadline__lte=now)
        if not await rows.update(
            status=SubmissionStatus.APPROVED,
            feedback=feedback,
            reviewed_at=now,
            updated_at=now,
            auto_approved=auto,
            review_deadline=None,
        ):
            return False
        await self.settle_approved(submission, task)
        return True

    async def settle_approved(self, submission: Submission, task: Task) -> None:
        """The money and reputation of an approval (by review, window or overturned dispute).
        Inside a transaction, after the conditional update that won the approval."""
        await self.ledger.release_escrow(
            task.id,
            submission.worker_id,
            task.reward,
            task.fee,
            f"submission {submission.id} approved",
        )
        await Task.filter(id=task.id).update(slots_resolved=F("slots_resolved") + 1)
        await User.filter(id=submission.worker_id).update(
            approved_count=F("approved_count") + 1, earned=F("earned") + task.reward
        )
        await User.filter(id=task.employer_id).update(
            approvals_given=F("approvals_given") + 1, paid_out=F("paid_out") + task.reward
        )
        approved = await Submission.get(id=submission.id)
        self.events.submission("APPROVED", approved, task, f"Approved: {task.title}")
        self.events.notify(
            submission.worker_id,
            "submission.approved",
            f"Your work on {task.title} was approved: +{format_cents(task.reward)}",
            task_id=task.id,
            submission_id=submission.id,
        )
        await self.tasks.complete_if_done(task.id)

    def _rejected(self, submission: Submission, task: Task, comment: str) -> None:
        self.events.submission("REJECTED", submission, task, f"Rejected: {task.title}")
        self.events.notify(
            submission.worker_id,
            "submission.rejected",
            f"Your work on {task.title} was rejected: {comment}",
            task_id=task.id,
            submission_id=submission.id,
        )

    async def _free_slot(self, submission: Submission, status: SubmissionStatus) -> bool:
        """CLAIMED → RETURNED | EXPIRED. The slot goes back to a live task; on a closed task its
        money goes back to the employer."""
        now = self.clock.now()
        rows = Submission.filter(id=submission.id, status=SubmissionStatus.CLAIMED)
        if status == SubmissionStatus.EXPIRED:
            rows = rows.filter(claim_expires_at__lte=now)
        if not await rows.update(status=status, updated_at=now, claim_expires_at=None):
            return False
        freed = await Submission.get(id=submission.id)
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
            )
        task = await Task.get(id=submission.task_id)
        self.events.submission(status.value, freed, task, f"Slot {status.value.lower()}")
        self.events.task("UPDATED", task, f"A slot is free again: {task.title}")
        if status == SubmissionStatus.EXPIRED:
            self.events.notify(
                submission.worker_id,
                "submission.expired",
                f"Your claim on {task.title} expired before you submitted.",
                task_id=task.id,
                submission_id=submission.id,
            )
        return True

    async def _reopen_slot(self, task: Task) -> None:
        """Fund one more slot, so a rejected slot's held money stays payable on dispute."""
        await self.ledger.fund_escrow(
            task.employer_id, task.id, task.reward + task.fee, f"task {task.id}: reopened slot"
        )
        await Task.filter(id=task.id).update(slots=F("slots") + 1)
        await Task.filter(id=task.id, status=TaskStatus.COMPLETED).update(
            status=TaskStatus.OPEN, closed_at=None
        )
        reopened = await Task.get(id=task.id)
        self.events.task("UPDATED", reopened, f"A slot reopened: {reopened.title}")

    async def _finalize_rejection(self, submission: Submission, task: Task) -> bool:
        now = self.clock.now()
        if not await Submission.filter(
            id=submission.id,
            status=SubmissionStatus.REJECTED,
            rejection_final=False,
            dispute_deadline__lte=now,
        ).update(rejection_final=True, updated_at=now):
            return False
        await self.settle_rejected(submission, task)
        return True

    async def settle_rejected(self, submission: Submission, task: Task) -> None:
        """A rejection that became final (window closed, or dispute upheld): the held money
        returns to the employer. Inside a transaction, after the winning conditional update."""
        await self.ledger.refund_escrow(
            task.id,
            task.employer_id,
            task.reward + task.fee,
            f"submission {submission.id} rejected for good",
        )
        await Task.filter(id=task.id).update(slots_resolved=F("slots_resolved") + 1)
        await User.filter(id=submission.worker_id).update(rejected_count=F("rejected_count") + 1)
        await User.filter(id=task.employer_id).update(rejections_given=F("rejections_given") + 1)
        await self.tasks.complete_if_done(task.id)

    # Time rules, run by the sweeper in every process; safe to run concurrently.

    async def expire_claims(self) -> int:
        due = await Submission.filter(
            status=SubmissionStatus.CLAIMED, claim_expires_at__lte=self.clock.now()
        )
        done = 0
        for submission in due:
            async with self.events.transaction():
                done += await self._free_slot(submission, SubmissionStatus.EXPIRED)
        return done

    async def auto_approve(self) -> int:
        due = await Submission.filter(
            status=SubmissionStatus.SUBMITTED, review_deadline__lte=self.clock.now()
        )
        tasks = {t.id: t for t in await Task.filter(id__in={s.task_id for s in due})}
        done = 0
        for submission in due:
            async with self.events.transaction():
                done += await self._approve(submission, tasks[submission.task_id], None, auto=True)
        return done

    async def expire_revisions(self) -> int:
        now = self.clock.now()
        due = await Submission.filter(
            status=SubmissionStatus.REVISION_REQUESTED, revision_deadline__lte=now
        )
        tasks = {t.id: t for t in await Task.filter(id__in={s.task_id for s in due})}
        comment = "No revision was submitted before the deadline."
        done = 0
        for submission in due:
            async with self.events.transaction():
                if await Submission.filter(
                    id=submission.id,
                    status=SubmissionStatus.REVISION_REQUESTED,
                    revision_deadline__lte=now,
                ).update(
                    status=SubmissionStatus.REJECTED,
                    rejection_reason=RejectionReason.INCOMPLETE,
                    rejection_comment=comment,
                    reviewed_at=now,
                    updated_at=now,
                    revision_deadline=None,
                    dispute_deadline=now + timedelta(seconds=self.settings.dispute_window_seconds),
                ):
                    done += 1
                    rejected = await Submission.get(id=submission.id)
                    self._rejected(rejected, tasks[submission.task_id], comment)
        return done

    async def finalize_rejections(self) -> int:
        due = await Submission.filter(
            status=SubmissionStatus.REJECTED,
            rejection_final=False,
            dispute_deadline__lte=self.clock.now(),
        )
        tasks = {t.id: t for t in await Task.filter(id__in={s.task_id for s in due})}
        done = 0
        for submission in due:
            async with self.events.transaction():
                done += await self._finalize_rejection(submission, tasks[submission.task_id])
        return done


def proof_digest(value: str) -> str:
    """Case and surrounding space do not make a proof different."""
    return hashlib.sha256(value.strip().casefold().encode()).hexdigest()


def _already_claimed() -> DomainError:
    return DomainError(
        ErrorCode.ALREADY_CLAIMED, "You already took this task once.", ["input", "taskId"]
    )


def checked_text(
    name: str, value: str | None, *, required: bool, limit: int = MAX_COMMENT
) -> str | None:
    """Free text from the user, stripped; TOO_SHORT / TOO_LONG naming the field."""
    v = Validator()
    text = v.text(name, value or "", min_length=1 if required else 0, max_length=limit)
    v.check()
    return text or None


def median_seconds(durations: list[float]) -> float | None:
    if not durations:
        return None
    ordered = sorted(durations)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
