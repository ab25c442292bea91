"""A user's statement: every ledger movement of their balance, newest first, with the balance
after each; totals per day, week or month; rows for a CSV export.

Everything is read from the ledger (the entries the audit proves), never from cached counters,
so the statement always reconciles with the balance: the balance after a row is the balance
now minus every later entry of the balance, computed in the same SQL statement (one snapshot)
as the rows, with a running sum over the entries from the oldest row of the page to now.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from picotask.models.ledger import AccountKind
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.core.pagination import check_first, decode_cursor, encode_cursor
from picotask.services.core.report_range import EVERYTHING, DateRange
from picotask.services.core.sql import Sql
from picotask.services.money.statement_rows import (
    BY_KIND,
    OUTGOING,
    StatementKind,
    StatementRow,
    Total,
    kind_sql,
    on_statement_sql,
    row_fee,
)
from picotask.settings import Settings


class Interval(StrEnum):
    DAY = "DAY"
    WEEK = "WEEK"  # ISO weeks, from Monday
    MONTH = "MONTH"


@dataclass(frozen=True, slots=True)
class StatementFilter:
    range: DateRange = EVERYTHING
    kinds: frozenset[StatementKind] = frozenset()  # empty: every kind
    task_id: int | None = None  # only the rows of this task
    counterparty_id: int | None = None  # only the rows with this other party (see _rows_sql)

    @property
    def by_party(self) -> bool:
        return self.counterparty_id is not None


@dataclass(slots=True)
class StatementPage:
    rows: list[tuple[str, StatementRow]]  # (cursor, row)
    has_next_page: bool
    count: Callable[[], Awaitable[int]]


@dataclass(slots=True)
class Bucket:
    start: datetime  # midnight UTC of the period's first day
    totals: dict[Total, int] = field(default_factory=lambda: dict.fromkeys(Total, 0))
    fees: int = 0  # platform fees in `spent` less those in `refunded`
    net: int = 0  # what the period added to the balance
    closing_balance: int = 0


@dataclass(slots=True)
class Totals:
    range: DateRange
    interval: Interval
    opening_balance: int
    closing_balance: int
    total: Bucket
    buckets: list[Bucket]


def row_cursor(transaction_id: int) -> str:
    return encode_cursor([transaction_id])


def _rows_sql(sql: Sql, user_id: int, *, parties: bool = False) -> str:
    """Every row of the user's statement: their entries, each with its kind and references.
    `parties`: with the task's title and the other party of the row (the worker of the
    submission for the task's employer, the employer for anyone else; none for deposits,
    payouts and escrow funding), by primary key joins."""
    readable, joins = "", ""
    if parties:
        me = sql(user_id)
        readable = """, tk.title AS task_title, cp.id AS counterparty_id,
               cp.display_name AS counterparty_name"""
        joins = f"""
        LEFT JOIN tasks tk ON tk.id = t.task_id
        LEFT JOIN submissions s ON s.id = t.submission_id
        LEFT JOIN users cp ON cp.id = CASE WHEN tk.employer_id = {me} THEN s.worker_id
                                           ELSE tk.employer_id END"""
    return f"""
        SELECT t.id AS tid, a.kind AS account_kind,
               CASE WHEN a.kind = '{AccountKind.USER}' THEN e.amount ELSE 0 END AS amount,
               {kind_sql("t.kind", "e.amount", "t.dispute_outcome")} AS kind,
               t.created_at AS created_at, t.fee AS fee, t.task_id AS task_id,
               t.submission_id AS submission_id, t.payout_id AS payout_id,
               t.deposit_id AS deposit_id{readable}
        FROM ledger_accounts a
        JOIN ledger_entries e ON e.account_id = a.id
        JOIN ledger_transactions t ON t.id = e.transaction_id{joins}
        WHERE a.owner_id = {sql(user_id)} AND {on_statement_sql("a.kind", "t.kind")}"""


def _balance_sql(sql: Sql, user_id: int) -> str:
    return (
        f"COALESCE((SELECT balance FROM ledger_accounts WHERE owner_id = {sql(user_id)} "
        f"AND kind = '{AccountKind.USER}'), 0)"
    )


def _where(sql: Sql, wanted: StatementFilter, before: int | None = None) -> str:
    conditions = ["1 = 1"]
    if wanted.range.since is not None:
        conditions.append(f"own.created_at >= {sql(wanted.range.since)}")
    if wanted.range.until is not None:
        conditions.append(f"own.created_at < {sql(wanted.range.until)}")
    if wanted.kinds:
        conditions.append(f"own.kind IN {sql.each(sorted(k.value for k in wanted.kinds))}")
    if wanted.task_id is not None:
        conditions.append(f"own.task_id = {sql(wanted.task_id)}")
    if wanted.counterparty_id is not None:
        conditions.append(f"own.counterparty_id = {sql(wanted.counterparty_id)}")
    if before is not None:
        conditions.append(f"own.tid < {sql(before)}")
    return " AND ".join(conditions)


def _row(record: dict[str, Any]) -> StatementRow:
    kind = StatementKind(record["kind"])
    amount = int(record["amount"])
    created_at = record["created_at"]
    if isinstance(created_at, str):  # SQLite gives the stored text back
        created_at = datetime.fromisoformat(created_at)
    return StatementRow(
        transaction_id=int(record["tid"]),
        kind=kind,
        amount=amount,
        fee=row_fee(BY_KIND[kind], amount, int(record["fee"])),
        balance_after=int(record["balance_after"]),
        created_at=created_at.astimezone(UTC),
        task_id=record["task_id"],
        submission_id=record["submission_id"],
        payout_id=record["payout_id"],
        deposit_id=record["deposit_id"],
        task_title=record.get("task_title") or "",
        counterparty_id=record.get("counterparty_id"),
        counterparty_name=record.get("counterparty_name") or "",
    )


class StatementService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def _select(
        self,
        user_id: int,
        wanted: StatementFilter,
        *,
        before: int | None,
        limit: int,
        oldest_first: bool,
        parties: bool = False,
    ) -> list[StatementRow]:
        """Up to `limit` rows matching `wanted` (newest first, or oldest first), each with the
        balance after it: the balance now less the running sum of the balance's entries after
        it (`span`: the entries since the oldest row picked, plus the picked rows that are not
        entries of the balance, as 0, so each has its place in the sum). One statement."""
        sql = Sql()
        order = "ASC" if oldest_first else "DESC"
        statement = f"""
            WITH picked AS (
                SELECT * FROM ({_rows_sql(sql, user_id, parties=parties or wanted.by_party)}) own
                WHERE {_where(sql, wanted, before)}
                ORDER BY own.tid {order} LIMIT {sql(limit)}
            ),
            span AS (
                SELECT e.transaction_id AS tid, e.amount AS amount
                FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
                WHERE a.owner_id = {sql(user_id)} AND a.kind = '{AccountKind.USER}'
                  AND e.transaction_id >= (SELECT MIN(tid) FROM picked)
                UNION ALL
                SELECT tid, 0 FROM picked WHERE account_kind <> '{AccountKind.USER}'
            ),
            running AS (
                SELECT tid, SUM(amount) OVER (
                    ORDER BY tid DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                ) - amount AS later
                FROM span
            )
            SELECT picked.*, {_balance_sql(sql, user_id)} - running.later AS balance_after
            FROM picked JOIN running ON running.tid = picked.tid
            ORDER BY picked.tid {order}"""
        return [_row(record) for record in await sql.rows(statement)]

    async def page(
        self, user_id: int, first: int | None, after: str | None, wanted: StatementFilter
    ) -> StatementPage:
        """Newest first; the cursor is the row's place in the ledger."""
        limit = check_first(first)
        before = int(decode_cursor(after, [False])[0]) if after is not None else None
        rows = await self._select(
            user_id, wanted, before=before, limit=limit + 1, oldest_first=False
        )

        async def count() -> int:
            sql = Sql()
            source = _rows_sql(sql, user_id, parties=wanted.by_party)
            statement = f"SELECT COUNT(*) AS n FROM ({source}) own WHERE {_where(sql, wanted)}"
            return int((await sql.rows(statement))[0]["n"])

        return StatementPage(
            rows=[(row_cursor(r.transaction_id), r) for r in rows[:limit]],
            has_next_page=len(rows) > limit,
            count=count,
        )

    async def export(self, user_id: int, wanted: StatementFilter) -> list[StatementRow]:
        """The rows of a range, oldest first, for a CSV file; at most
        `statement_csv_max_rows` of them."""
        cap = self.settings.statement_csv_max_rows
        rows = await self._select(
            user_id, wanted, before=None, limit=cap + 1, oldest_first=True, parties=True
        )
        if len(rows) > cap:
            raise DomainError(
                ErrorCode.OUT_OF_RANGE,
                f"The range holds more than {cap} rows; export a shorter one.",
                ["to"],
            )
        return rows

    async def totals(self, user_id: int, within: DateRange, interval: Interval) -> Totals:
        """Per period: what came in and went out, the fees, the net change and the balance at
        its end. One statement: the sums per day and kind, and the balance at the range's end
        (the balance now less every entry since)."""
        since, until = within.since, within.until
        assert since is not None
        assert until is not None
        sql = Sql()
        day = sql.day("own.created_at")
        statement = f"""
            SELECT {day} AS day, own.kind AS kind, SUM(own.amount) AS amount,
                   SUM(own.fee) AS fee
            FROM ({_rows_sql(sql, user_id)}) own
            WHERE own.created_at >= {sql(since)} AND own.created_at < {sql(until)}
            GROUP BY 1, 2
            UNION ALL
            SELECT NULL, NULL, {_balance_sql(sql, user_id)} - COALESCE(SUM(e.amount), 0), 0
            FROM ledger_entries e
            JOIN ledger_accounts a ON a.id = e.account_id
            JOIN ledger_transactions t ON t.id = e.transaction_id
            WHERE a.owner_id = {sql(user_id)} AND a.kind = '{AccountKind.USER}'
              AND t.created_at >= {sql(until)}"""
        records = await sql.rows(statement)
        buckets = {start: Bucket(_at(start)) for start in _periods(since, until, interval)}
        total = Bucket(since)
        closing = 0
        for record in records:
            if record["kind"] is None:
                closing = int(record["amount"])
                continue
            start = _period_of(date.fromisoformat(str(record["day"])), interval)
            kind = StatementKind(record["kind"])
            amount, fee = int(record["amount"]), int(record["fee"])
            for bucket in (buckets[start], total):
                _add(bucket, kind, amount, fee)
        ordered = list(buckets.values())
        balance = closing
        for bucket in reversed(ordered):
            bucket.closing_balance = balance
            balance -= bucket.net
        total.closing_balance = closing
        return Totals(
            range=within,
            interval=interval,
            opening_balance=closing - total.net,
            closing_balance=closing,
            total=total,
            buckets=ordered,
        )


def _add(bucket: Bucket, kind: StatementKind, amount: int, fee: int) -> None:
    rule = BY_KIND[kind]
    bucket.net += amount
    if rule.total is not None:
        bucket.totals[rule.total] += -amount if rule.total in OUTGOING else amount
    signed_fee = row_fee(rule, amount, fee)
    if signed_fee is not None:
        bucket.fees -= signed_fee


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _period_of(day: date, interval: Interval) -> date:
    if interval == Interval.WEEK:
        return day - timedelta(days=day.weekday())
    if interval == Interval.MONTH:
        return day.replace(day=1)
    return day


def _periods(since: datetime, until: datetime, interval: Interval) -> Iterable[date]:
    """The start of every period that overlaps [since, until), in order."""
    last = (until - timedelta(microseconds=1)).date()
    start = _period_of(since.date(), interval)
    while start <= last:
        yield start
        if interval == Interval.DAY:
            start += timedelta(days=1)
        elif interval == Interval.WEEK:
            start += timedelta(days=7)
        else:
            start = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
