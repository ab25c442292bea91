"""A user's statement as the API shows it: rows, totals per period, the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime

import strawberry

from picotask.schema.context import Info
from picotask.schema.csv_text import csv_text
from picotask.schema.money import Money
from picotask.schema.payouts import DepositType, PayoutType
from picotask.schema.relay import Connection, Edge, PageInfo, to_global_id
from picotask.schema.submissions import SubmissionType
from picotask.schema.tasks import TaskType
from picotask.services.core.amounts import format_cents
from picotask.services.money.statement import Bucket, Interval, StatementPage, Totals, row_cursor
from picotask.services.money.statement_rows import BY_KIND, StatementKind, StatementRow, Total

strawberry.enum(StatementKind, name="StatementKind")
strawberry.enum(Interval, name="StatementInterval")


@strawberry.type(
    name="StatementRow",
    description="One movement of the viewer's balance (or a payout of theirs paid out).",
)
class StatementRowType:
    cursor: str = strawberry.field(
        description="The row's place in the statement: its edge's cursor."
    )
    kind: StatementKind
    amount: Money = strawberry.field(
        description="What the row added to the balance (negative when money left it; 0 for "
        "PAYOUT_PAID, whose amount left the balance when it was requested)."
    )
    fee: Money | None = strawberry.field(
        description="Escrow rows: the part of the amount that is the platform fee, with the "
        "amount's sign. Null for other rows."
    )
    balance_after: Money
    created_at: datetime
    _row: strawberry.Private[StatementRow]

    @strawberry.field(description="The task the money was for, if any.")
    async def task(self, info: Info) -> TaskType | None:
        if self._row.task_id is None:
            return None
        task = await info.context.loaders.task_by_id.load(self._row.task_id)
        return TaskType.from_model(task, info.context.services.settings.currency) if task else None

    @strawberry.field(description="The submission approved, rejected, disputed or rewarded.")
    async def submission(self, info: Info) -> SubmissionType | None:
        if self._row.submission_id is None:
            return None
        submission = await info.context.loaders.submission_by_id.load(self._row.submission_id)
        return SubmissionType.from_model(submission) if submission else None

    @strawberry.field
    async def payout(self, info: Info) -> PayoutType | None:
        if self._row.payout_id is None:
            return None
        payout = await info.context.loaders.payout_by_id.load(self._row.payout_id)
        currency = info.context.services.settings.currency
        return PayoutType.from_model(payout, currency) if payout else None

    @strawberry.field
    async def deposit(self, info: Info) -> DepositType | None:
        if self._row.deposit_id is None:
            return None
        deposit = await info.context.loaders.deposit_by_id.load(self._row.deposit_id)
        currency = info.context.services.settings.currency
        return DepositType.from_model(deposit, currency) if deposit else None

    @classmethod
    def of(cls, row: StatementRow, currency: str) -> StatementRowType:
        return cls(
            cursor=row_cursor(row.transaction_id),
            kind=row.kind,
            amount=Money.of(row.amount, currency),
            fee=None if row.fee is None else Money.of(row.fee, currency),
            balance_after=Money.of(row.balance_after, currency),
            created_at=row.created_at,
            _row=row,
        )


@strawberry.type(name="StatementConnection")
class StatementConnection(Connection[StatementRowType]):
    @classmethod
    def of_page(cls, page: StatementPage, currency: str) -> StatementConnection:
        edges = [Edge(cursor=c, node=StatementRowType.of(r, currency)) for c, r in page.rows]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            _count=page.count,
        )


@strawberry.input(name="StatementFilter")
class StatementFilterInput:
    from_: datetime | None = strawberry.field(
        name="from", default=None, description="Rows at or after this time."
    )
    to: datetime | None = strawberry.field(default=None, description="Rows before this time.")
    kinds: list[StatementKind] | None = strawberry.field(
        default=None, description="Only these kinds; all when null."
    )
    task_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only the rows of this task."
    )
    counterparty_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Only the rows with this other party: for an employer the worker, for a "
        "worker the employer (deposits, payouts and escrow funding have none).",
    )


@strawberry.type(description="What one period added to and took from the balance.")
class StatementBucket:
    start: datetime = strawberry.field(
        description="Midnight UTC of the period's first day (a Monday for weeks); only rows "
        "inside the requested range are counted."
    )
    deposited: Money
    earned: Money = strawberry.field(description="Rewards, bonuses received, disputes won.")
    spent: Money = strawberry.field(description="Escrow funded (with its fees), bonuses sent.")
    refunded: Money = strawberry.field(description="Escrow refunded, disputes upheld.")
    withdrawn: Money = strawberry.field(description="Payouts requested.")
    returned: Money = strawberry.field(description="Failed payouts returned to the balance.")
    fees: Money = strawberry.field(
        description="Platform fees within `spent`, less those within `refunded`."
    )
    net: Money = strawberry.field(
        description="What the period added to the balance: deposited + earned + refunded + "
        "returned - spent - withdrawn."
    )
    closing_balance: Money

    @classmethod
    def of(cls, bucket: Bucket, currency: str) -> StatementBucket:
        totals = bucket.totals

        def money(cents: int) -> Money:
            return Money.of(cents, currency)

        return cls(
            start=bucket.start,
            deposited=money(totals[Total.DEPOSITED]),
            earned=money(totals[Total.EARNED]),
            spent=money(totals[Total.SPENT]),
            refunded=money(totals[Total.REFUNDED]),
            withdrawn=money(totals[Total.WITHDRAWN]),
            returned=money(totals[Total.RETURNED]),
            fees=money(bucket.fees),
            net=money(bucket.net),
            closing_balance=money(bucket.closing_balance),
        )


@strawberry.type(description="The viewer's statement summed per day, week or month.")
class StatementTotals:
    from_: datetime = strawberry.field(name="from")
    to: datetime
    interval: Interval
    opening_balance: Money
    closing_balance: Money
    total: StatementBucket = strawberry.field(description="The whole range.")
    buckets: list[StatementBucket] = strawberry.field(
        description="Every period the range touches, oldest first, empty ones included."
    )

    @classmethod
    def of(cls, totals: Totals, currency: str) -> StatementTotals:
        assert totals.range.since is not None
        assert totals.range.until is not None
        return cls(
            from_=totals.range.since,
            to=totals.range.until,
            interval=totals.interval,
            opening_balance=Money.of(totals.opening_balance, currency),
            closing_balance=Money.of(totals.closing_balance, currency),
            total=StatementBucket.of(totals.total, currency),
            buckets=[StatementBucket.of(b, currency) for b in totals.buckets],
        )


CSV_COLUMNS = (
    "time",
    "kind",
    "amount",
    "fee",
    "balance_after",
    "currency",
    "task",
    "submission",
    "payout",
    "deposit",
    "description",
    "task_title",
    "counterparty",
    "counterparty_name",
)


def _id(type_name: str, pk: int | None) -> str:
    return to_global_id(type_name, pk) if pk is not None else ""


def statement_csv(rows: Sequence[StatementRow], currency: str) -> str:
    """RFC 4180 CSV, oldest row first; ids are the API's global ids. Beside numbers, times,
    enum values and ids, the readable columns: what the row is, the task's title and the
    other party's name (people's words, never taken by a spreadsheet for a formula)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            (
                row.created_at.isoformat().replace("+00:00", "Z"),
                row.kind.value,
                format_cents(row.amount),
                "" if row.fee is None else format_cents(row.fee),
                format_cents(row.balance_after),
                currency,
                _id("Task", row.task_id),
                _id("Submission", row.submission_id),
                _id("Payout", row.payout_id),
                _id("Deposit", row.deposit_id),
                BY_KIND[row.kind].label,
                csv_text(row.task_title),
                _id("User", row.counterparty_id),
                csv_text(row.counterparty_name),
            )
        )
    return out.getvalue()
