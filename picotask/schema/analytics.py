"""An employer's dashboard numbers as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Self

import strawberry

from picotask.models.tasks import Task
from picotask.schema.context import Info
from picotask.schema.events import SubmissionEventKind
from picotask.schema.feeds import event_cursor
from picotask.schema.money import Money
from picotask.schema.pages import page_of
from picotask.schema.relay import Connection
from picotask.schema.submissions import SubmissionType
from picotask.schema.tasks import TaskType
from picotask.services.campaigns import analytics
from picotask.services.campaigns.analytics import Numbers
from picotask.services.core.events import submission_from_snapshot
from picotask.services.core.report_range import DateRange
from picotask.subscriptions.messages import Message


@strawberry.type(description="Where the claims on the tasks stand.")
class SubmissionFunnel:
    claimed: int = strawberry.field(description="Every claim made, whatever became of it.")
    submitted: int = strawberry.field(description="Claims whose proof was submitted.")
    working: int = strawberry.field(description="Claimed, not submitted yet.")
    awaiting_review: int
    in_revision: int
    approved: int
    rejected: int
    disputed: int = strawberry.field(description="Disputes waiting for a moderator.")
    returned: int
    expired: int
    auto_approved: int = strawberry.field(description="Of the approved, by the review window.")
    disputes_raised: int = strawberry.field(description="Rejections disputed, any outcome.")

    @classmethod
    def of(cls, funnel: analytics.Funnel) -> SubmissionFunnel:
        return cls(
            claimed=funnel.claimed,
            submitted=funnel.submitted,
            working=funnel.working,
            awaiting_review=funnel.awaiting_review,
            in_revision=funnel.in_revision,
            approved=funnel.approved,
            rejected=funnel.rejected,
            disputed=funnel.disputed,
            returned=funnel.returned,
            expired=funnel.expired,
            auto_approved=funnel.auto_approved,
            disputes_raised=funnel.disputes_raised,
        )


@strawberry.type(description="How long something took, in whole seconds.")
class DurationStats:
    count: int
    median_seconds: int | None
    p90_seconds: int | None = strawberry.field(description="90th percentile (nearest rank).")

    @classmethod
    def of(cls, durations: analytics.Durations) -> DurationStats:
        def seconds(value: float | None) -> int | None:
            return None if value is None else round(value)

        return cls(
            count=durations.count,
            median_seconds=seconds(durations.median),
            p90_seconds=seconds(durations.p90),
        )


@strawberry.type(name="AnalyticsMoney", description="The money of the tasks, from the ledger.")
class AnalyticsMoney:
    escrowed: Money = strawberry.field(description="Paid into escrow: reward + fee per slot.")
    paid: Money = strawberry.field(description="Rewards released to workers.")
    fees: Money = strawberry.field(description="Fees released to the platform.")
    refunded: Money = strawberry.field(description="Returned from escrow to the employer.")
    bonuses: Money
    in_escrow: Money = strawberry.field(
        description="Held in escrow now (over a range: how much that changed)."
    )

    @classmethod
    def of(cls, money: analytics.Money, currency: str) -> AnalyticsMoney:
        return cls(
            escrowed=Money.of(money.escrowed, currency),
            paid=Money.of(money.paid, currency),
            fees=Money.of(money.fees, currency),
            refunded=Money.of(money.refunded, currency),
            bonuses=Money.of(money.bonuses, currency),
            in_escrow=Money.of(money.in_escrow, currency),
        )


@strawberry.type(description="The numbers of a set of tasks (one task, or all of them).")
class AnalyticsNumbers:
    _numbers: strawberry.Private[analytics.Numbers]
    _currency: strawberry.Private[str]

    @strawberry.field
    def funnel(self) -> SubmissionFunnel:
        return SubmissionFunnel.of(self._numbers.funnel)

    @strawberry.field(description="approved / (approved + rejected); null before any review.")
    def approval_rate(self) -> float | None:
        return self._numbers.approval_rate

    @strawberry.field(description="From claiming to (the latest) submitting.")
    def claim_to_submit(self) -> DurationStats:
        return DurationStats.of(self._numbers.claim_to_submit)

    @strawberry.field(
        description="From (the latest) submission to the employer's review (auto-approvals "
        "left out)."
    )
    def submit_to_review(self) -> DurationStats:
        return DurationStats.of(self._numbers.submit_to_review)

    @strawberry.field
    def money(self) -> AnalyticsMoney:
        return AnalyticsMoney.of(self._numbers.money, self._currency)

    @strawberry.field(description="Slots open to claims now.")
    def slots_remaining(self) -> int:
        return self._numbers.slots_remaining

    @strawberry.field(description="How many tasks the numbers cover.")
    def tasks(self) -> int:
        return self._numbers.tasks


@strawberry.type(description="One task's numbers.")
class TaskAnalytics(AnalyticsNumbers):
    task: TaskType

    @classmethod
    def of(cls, task: Task, numbers: analytics.Numbers, currency: str) -> TaskAnalytics:
        return cls(task=TaskType.from_model(task, currency), _numbers=numbers, _currency=currency)


TaskAnalyticsConnection = Connection[TaskAnalytics]


@strawberry.type(description="A task's numbers changed: what changed, and the numbers now.")
class TaskAnalyticsEvent:
    cursor: str = strawberry.field(description="The event's cursor (for `after`).")
    type: str = strawberry.field(
        description="What changed: submission.* (a submission's status: `kind` and "
        "`submission` say which), task.posted, task.updated or task.closed (the task itself: "
        "slots added, paused, cancelled, taken down, expired), statement.row (money moved for "
        "it: a rejection become final, a bonus). A change that leaves the numbers as last sent "
        "is not sent again, unless it is a submission's."
    )
    kind: SubmissionEventKind | None = strawberry.field(
        description="For a submission's change; null for the task's own and for money."
    )
    submission: SubmissionType | None = strawberry.field(
        description="The submission as it was after the change; null unless one changed."
    )
    analytics: TaskAnalytics

    @classmethod
    def of(cls, message: Message, task: Task, numbers: Numbers, currency: str) -> Self:
        """Everything from the event and the numbers shared by every subscriber of the task:
        no query of its own."""
        changed = message.payload.get("submission")
        return cls(
            cursor=event_cursor(message.id),
            type=message.type,
            kind=SubmissionEventKind(message.payload["kind"]) if changed else None,
            submission=SubmissionType.from_model(submission_from_snapshot(changed))
            if changed
            else None,
            analytics=TaskAnalytics.of(task, numbers, currency),
        )


@strawberry.type(description="An employer's numbers over a date range.")
class EmployerAnalytics:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    totals: AnalyticsNumbers = strawberry.field(
        description="All the employer's tasks: the submissions claimed and the money moved "
        "in the range; open slots as of now."
    )
    _employer_id: strawberry.Private[int]

    @strawberry.field(description="Each task's numbers over the range, newest task first.")
    async def tasks(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> TaskAnalyticsConnection:
        page = await page_of(Task.filter(employer_id=self._employer_id), first, after)
        ids = tuple(task.id for _, task in page.items)
        services = info.context.services
        numbers = (
            await services.analytics.by_task(self._employer_id, ids, DateRange(self.from_, self.to))
            if ids
            else {}
        )
        currency = services.settings.currency
        return Connection.of(page, lambda task: TaskAnalytics.of(task, numbers[task.id], currency))
