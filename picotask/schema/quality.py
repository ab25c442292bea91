"""Gold items, review policies and workers' accuracy as the API shows them (to the task's
employer only), with their inputs."""

from __future__ import annotations

import strawberry

from picotask.models.quality import GoldAccuracy, GoldItem, GoldMatch, ReviewPolicy
from picotask.models.submissions import DecidedBy
from picotask.services.quality.grading import accuracy
from picotask.services.quality.specs import DEFAULT_MIN_GOLD

strawberry.enum(GoldMatch, name="GoldMatch")
strawberry.enum(DecidedBy, name="DecidedBy")


@strawberry.type(name="GoldAnswer")
class GoldAnswerType:
    label: str
    match: GoldMatch
    values: list[str] = strawberry.field(description="One value, or ONE_OF's set.")
    tolerance: float | None


@strawberry.type(
    name="GoldItem",
    description="An item whose expected answers are known; workers cannot tell it apart.",
)
class GoldItemType:
    position: int | None = strawberry.field(description="The batch's item; null on a plain task.")
    answers: list[GoldAnswerType]

    @classmethod
    def from_model(cls, item: GoldItem) -> GoldItemType:
        return cls(
            position=item.position or None,
            answers=[
                GoldAnswerType(
                    label=e["label"],
                    match=GoldMatch(e["match"]),
                    values=list(e["values"]),
                    tolerance=e.get("tolerance"),
                )
                for e in item.expected
            ],
        )


@strawberry.type(name="ReviewPolicy")
class ReviewPolicyType:
    auto_approve_at_accuracy: float | None
    auto_reject_below_accuracy: float | None
    block_below_accuracy: float | None
    min_gold_answered: int
    overlap: int | None
    min_seconds: int | None
    reject_too_fast: bool

    @classmethod
    def from_model(cls, policy: ReviewPolicy) -> ReviewPolicyType:
        return cls(
            auto_approve_at_accuracy=policy.auto_approve_at,
            auto_reject_below_accuracy=policy.auto_reject_below,
            block_below_accuracy=policy.block_below,
            min_gold_answered=policy.min_gold_answered,
            overlap=policy.overlap,
            min_seconds=policy.min_seconds,
            reject_too_fast=policy.reject_too_fast,
        )


@strawberry.type(name="GoldAccuracy", description="A worker's record on one employer's gold.")
class GoldAccuracyType:
    answered: int
    correct: int
    accuracy: float | None = strawberry.field(description="correct / answered; null before any.")

    @classmethod
    def of(cls, record: GoldAccuracy | None) -> GoldAccuracyType:
        if record is None:
            return cls(answered=0, correct=0, accuracy=None)
        return cls(answered=record.answered, correct=record.correct, accuracy=accuracy(record))


@strawberry.input
class GoldAnswerInput:
    label: str = strawberry.field(description="A proof field of the task (not IMAGE).")
    match: GoldMatch
    value: str | None = strawberry.field(default=None, description="EXACT, NORMALIZED, NUMERIC.")
    values: list[str] | None = strawberry.field(default=None, description="ONE_OF.")
    tolerance: float | None = strawberry.field(
        default=None, description="NUMERIC: the largest difference still right (default 0)."
    )


@strawberry.input
class GoldItemInput:
    position: int | None = strawberry.field(
        default=None, description="The batch's item (1 is the first); leave out on a plain task."
    )
    answers: list[GoldAnswerInput] = strawberry.field(
        description="Empty: the item is no longer gold."
    )


@strawberry.input
class SetGoldAnswersInput:
    task_id: strawberry.ID
    items: list[GoldItemInput]


@strawberry.input
class SetReviewPolicyInput:
    task_id: strawberry.ID
    auto_approve_at_accuracy: float | None = strawberry.field(
        default=None, description="Approve when the worker's gold accuracy is at least this (0-1)."
    )
    auto_reject_below_accuracy: float | None = strawberry.field(
        default=None, description="Reject (disputable) when it is below this (0-1)."
    )
    block_below_accuracy: float | None = strawberry.field(
        default=None, description="Block the worker from your work when it is below this (0-1)."
    )
    min_gold_answered: int = strawberry.field(
        default=DEFAULT_MIN_GOLD,
        description="Gold items of yours a worker must have answered before accuracy counts.",
    )
    overlap: int | None = strawberry.field(
        default=None,
        description="Compare this many answers of an item (2 to its slots) and approve those "
        "agreeing with the majority; minority answers wait for your review.",
    )
    min_seconds: int | None = strawberry.field(
        default=None, description="Flag submissions made sooner than this after the claim."
    )
    reject_too_fast: bool = strawberry.field(
        default=False, description="Also reject them (needs minSeconds)."
    )
