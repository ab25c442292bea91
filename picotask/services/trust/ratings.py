"""Ratings both ways: the employer rates approved work, the worker rates a reviewed job.
One rating per submission and direction; averages kept on both profiles."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from picotask.models.submissions import Rating, RatingDirection, Submission, SubmissionStatus
from picotask.models.tasks import Task
from picotask.models.users import User
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.core.standing import ensure_active
from picotask.services.work.transitions import can_review, not_found, wrong_status

REVIEWED = (SubmissionStatus.APPROVED, SubmissionStatus.REJECTED, SubmissionStatus.DISPUTED)


def _check_stars(stars: int) -> None:
    if not 1 <= stars <= 5:
        raise DomainError(ErrorCode.OUT_OF_RANGE, "stars must be 1 to 5.", ["input", "stars"])


class RatingService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def rate_worker(
        self, employer: User, submission_id: int | None, stars: int
    ) -> Submission:
        ensure_active(employer)
        _check_stars(stars)
        submission = await Submission.get_or_none(id=submission_id) if submission_id else None
        task = await Task.get_or_none(id=submission.task_id) if submission else None
        if submission is None or not can_review(task, employer.id):
            raise not_found()
        if submission.status != SubmissionStatus.APPROVED:
            raise wrong_status(submission, "rated (only approved work is)")
        await self._rate(
            submission, RatingDirection.OF_WORKER, employer.id, submission.worker_id, stars
        )
        return submission

    async def rate_employer(
        self, worker: User, submission_id: int | None, stars: int
    ) -> Submission:
        ensure_active(worker)
        _check_stars(stars)
        submission = await Submission.get_or_none(id=submission_id) if submission_id else None
        if submission is None or submission.worker_id != worker.id:
            raise not_found()
        if submission.status not in REVIEWED:
            raise wrong_status(submission, "rated before a review")
        task = await Task.get(id=submission.task_id)
        await self._rate(
            submission, RatingDirection.OF_EMPLOYER, worker.id, task.employer_id, stars
        )
        return submission

    async def _rate(
        self,
        submission: Submission,
        direction: RatingDirection,
        rater: int,
        ratee: int,
        stars: int,
    ) -> None:
        counters = (
            {"worker_stars": F("worker_stars") + stars, "worker_ratings": F("worker_ratings") + 1}
            if direction == RatingDirection.OF_WORKER
            else {
                "employer_stars": F("employer_stars") + stars,
                "employer_ratings": F("employer_ratings") + 1,
            }
        )
        try:
            async with in_transaction():
                await Rating.create(
                    submission_id=submission.id,
                    direction=direction,
                    rater_id=rater,
                    ratee_id=ratee,
                    stars=stars,
                    created_at=self.clock.now(),
                )
                await User.filter(id=ratee).update(**counters)
        except IntegrityError:
            raise DomainError(
                ErrorCode.DUPLICATE, "You already rated this.", ["input", "submissionId"]
            ) from None
