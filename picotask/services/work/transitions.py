"""The one mechanism of the submission state machine: a conditional update on the current
status, so two racing transitions (approve vs. auto-approve, dispute vs. the window closing,
two sweepers) have exactly one winner on SQLite and PostgreSQL alike. Every transition in
`services/` goes through `try_move` or `move`; nothing else updates `Submission.status`.

Also the rules every submission action shares: who may see one, and the errors for a missing
one or one in the wrong status.
"""

from __future__ import annotations

from typing import Any

from picotask.models.submissions import Submission, SubmissionStatus
from picotask.models.tasks import Task
from picotask.models.users import User
from picotask.services.core.errors import DomainError, ErrorCode, NotPermitted
from picotask.services.core.updates import update_returning

FIELD = ["input", "submissionId"]


async def try_move(
    submission_id: int,
    expected: SubmissionStatus,
    *,
    guard: dict[str, Any] | None = None,
    **changes: Any,
) -> Submission | None:
    """Apply `changes` only while the submission is still `expected` and matches `guard`
    (a deadline, a flag). The one winner gets the updated submission (from the update's own
    RETURNING: one statement); a loser gets None."""
    where = {"id": submission_id, "status": expected, **(guard or {})}
    return await update_returning(Submission, where, changes)


async def move(
    submission_id: int,
    expected: SubmissionStatus,
    action: str,
    *,
    guard: dict[str, Any] | None = None,
    guard_failed: str = "",
    **changes: Any,
) -> Submission:
    """`try_move` for a request: a loser gets INVALID_STATUS naming the status that beat it,
    or, when the submission is still `expected` (so the guard, a deadline, failed),
    DEADLINE_PASSED with `guard_failed` as its message."""
    moved = await try_move(submission_id, expected, guard=guard, **changes)
    if moved is not None:
        return moved
    current = await Submission.get(id=submission_id)
    if guard and current.status == expected:
        raise DomainError(ErrorCode.DEADLINE_PASSED, guard_failed, FIELD)
    raise wrong_status(current, action)


def can_review(task: Task | None, viewer_id: int | None) -> bool:
    """The task's employer: sees and reviews every submission on it, with its proof flags."""
    return task is not None and viewer_id is not None and task.employer_id == viewer_id


def can_see(submission: Submission, task: Task | None, viewer: User | None) -> bool:
    """A submission (and its proof, images included) is seen by its worker, the task's
    employer, and moderators while it is in dispute; by nobody else."""
    if viewer is None:
        return False
    if submission.worker_id == viewer.id or can_review(task, viewer.id):
        return True
    return viewer.is_admin and submission.status == SubmissionStatus.DISPUTED


def not_found() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No such submission.", FIELD)


def wrong_status(submission: Submission, action: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_STATUS,
        f"A submission that is {submission.status.value} cannot be {action}.",
        FIELD,
    )


async def of_worker(worker_id: int, submission_id: int | None) -> Submission:
    """The worker's own submission; anyone else's is NOT_FOUND."""
    submission = await Submission.get_or_none(id=submission_id) if submission_id else None
    if submission is None or submission.worker_id != worker_id:
        raise not_found()
    return submission


async def for_review(employer_id: int, submission_id: int | None) -> tuple[Submission, Task]:
    """A submission on one of the employer's tasks. Its own worker is told they may not review
    it (FORBIDDEN); to anyone else it does not exist."""
    submission = await Submission.get_or_none(id=submission_id) if submission_id else None
    if submission is None:
        raise not_found()
    task = await Task.get(id=submission.task_id)
    if not can_review(task, employer_id):
        if submission.worker_id == employer_id:
            raise NotPermitted("Only the task's employer may review this submission.")
        raise not_found()
    return submission, task
