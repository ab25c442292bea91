"""Events as subscriptions deliver them and the `events` log lists them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry

from picotask.models.events import Event
from picotask.schema.context import Info
from picotask.schema.feeds import event_cursor
from picotask.schema.payouts import PayoutType
from picotask.schema.statement import StatementRowType
from picotask.schema.submissions import SubmissionType
from picotask.schema.tasks import TaskType
from picotask.services.core.events import submission_from_snapshot, task_from_snapshot
from picotask.services.money.statement_rows import StatementRow
from picotask.subscriptions.messages import Message

R = TypeVar("R")


@strawberry.enum
class TaskFeedEventKind(Enum):
    POSTED = "POSTED"
    UPDATED = "UPDATED"
    CLOSED = "CLOSED"


@strawberry.enum
class SubmissionEventKind(Enum):
    CLAIMED = "CLAIMED"
    SUBMITTED = "SUBMITTED"
    RESUBMITTED = "RESUBMITTED"
    RETURNED = "RETURNED"
    EXPIRED = "EXPIRED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    REVISION_REQUESTED = "REVISION_REQUESTED"
    DISPUTED = "DISPUTED"
    DISPUTE_UPHELD = "DISPUTE_UPHELD"


@strawberry.type
class TaskFeedEvent:
    cursor: str
    kind: TaskFeedEventKind
    task: TaskType = strawberry.field(description="The task as it was after the change.")

    @classmethod
    def of(cls, message: Message, currency: str) -> TaskFeedEvent:
        def build() -> TaskFeedEvent:
            task = task_from_snapshot(message.payload["task"])
            return cls(
                cursor=event_cursor(message.id),
                kind=TaskFeedEventKind(message.payload["kind"]),
                task=TaskType.from_model(task, currency),
            )

        return rendered(message, cls, build)


def rendered(message: Message, kind: type[R], build: Callable[[], R]) -> R:
    """Built once per event: the bus hands the same message to every subscriber, so the first
    one to render it leaves the result in the message for the others. Subscribers of the same
    operation then also share its execution (server/fanout.py), which is keyed by this object."""
    cached = message.rendered.get(kind.__name__)
    if isinstance(cached, kind):
        return cached
    made = build()
    message.rendered[kind.__name__] = made
    return made


@strawberry.type
class SubmissionEvent:
    cursor: str
    kind: SubmissionEventKind
    submission: SubmissionType = strawberry.field(
        description="The submission as it was after the change."
    )

    @classmethod
    def of(cls, message: Message) -> SubmissionEvent:
        def build() -> SubmissionEvent:
            submission = submission_from_snapshot(message.payload["submission"])
            return cls(
                cursor=event_cursor(message.id),
                kind=SubmissionEventKind(message.payload["kind"]),
                submission=SubmissionType.from_model(submission),
            )

        return rendered(message, cls, build)


@strawberry.type(name="Event", description="A notification for the viewer.")
class EventType:
    cursor: str
    type: str = strawberry.field(
        description="e.g. submission.approved, submission.rejected, bonus.received, "
        "payout.paid, worker.blocked (a review policy blocked a worker from the viewer's work); "
        "statement.row for a new row of the viewer's statement"
    )
    created_at: datetime
    message: str
    task_id: strawberry.Private[int | None]
    submission_id: strawberry.Private[int | None]
    payout_id: strawberry.Private[int | None]
    payload: strawberry.Private[dict[str, Any]]

    @strawberry.field(
        description="statement.row events: the row (with the balance after it); null for others."
    )
    def statement_row(self, info: Info) -> StatementRowType | None:
        row = self.payload.get("row")
        if not isinstance(row, dict):
            return None
        currency = info.context.services.settings.currency
        return StatementRowType.of(StatementRow.from_json(row), currency)

    @strawberry.field
    async def task(self, info: Info) -> TaskType | None:
        if self.task_id is None:
            return None
        task = await info.context.loaders.task_by_id.load(self.task_id)
        currency = info.context.services.settings.currency
        return TaskType.from_model(task, currency) if task else None

    @strawberry.field
    async def submission(self, info: Info) -> SubmissionType | None:
        if self.submission_id is None:
            return None
        submission = await info.context.loaders.submission_by_id.load(self.submission_id)
        return SubmissionType.from_model(submission) if submission else None

    @strawberry.field
    async def payout(self, info: Info) -> PayoutType | None:
        if self.payout_id is None:
            return None
        payout = await info.context.loaders.payout_by_id.load(self.payout_id)
        currency = info.context.services.settings.currency
        return PayoutType.from_model(payout, currency) if payout else None

    @classmethod
    def of(cls, event: Event) -> EventType:
        return cls(
            cursor=event_cursor(event.id),
            type=event.type,
            created_at=event.created_at,
            message=event.message,
            task_id=event.task_id,
            submission_id=event.submission_id,
            payout_id=event.payout_id,
            payload=event.payload,
        )

    @classmethod
    def from_message(cls, message: Message) -> EventType:
        def build() -> EventType:
            return cls(
                cursor=event_cursor(message.id),
                type=message.type,
                created_at=datetime.fromisoformat(message.created_at),
                message=message.text,
                task_id=message.task_id,
                submission_id=message.submission_id,
                payout_id=message.payout_id,
                payload=message.payload,
            )

        return rendered(message, cls, build)
