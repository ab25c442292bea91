"""An employer's numbers: per task, and over all their tasks in a date range.

Four aggregate statements whatever the number of tasks: the funnel (submissions by status),
the time percentiles (window functions), the money (ledger postings of the tasks) and the open
slots. Each groups by one key over the tasks table `tk` (`Group`) within one `Scope`; grouping
by another column of the tasks (a batch, later) is one more `Group` and one more `Scope` field,
with no new query.

Over a range, the funnel and the times are those of the submissions claimed in it (a cohort),
the money that of the postings made in it; open slots are always as of now.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum

from picotask.models.ledger import AccountKind, TransactionKind
from picotask.models.submissions import SubmissionStatus
from picotask.services.accounts.users import approval_rate
from picotask.services.core.report_range import EVERYTHING, DateRange
from picotask.services.core.sql import Sql
from picotask.services.work.tasks import LIVE


class Group(StrEnum):
    """What one set of numbers is for: its key, an SQL expression over the tasks table."""

    TASK = "tk.id"
    ALL = "0"


@dataclass(frozen=True, slots=True)
class Scope:
    employer_id: int
    task_ids: tuple[int, ...] | None = None  # None: every task of the employer
    range: DateRange = EVERYTHING


@dataclass(slots=True)
class Funnel:
    claimed: int = 0  # every claim made (each submission, whatever became of it)
    submitted: int = 0  # claims whose proof was submitted at least once
    # Where the claims are now (these add up to `claimed`):
    working: int = 0  # CLAIMED: not submitted yet
    awaiting_review: int = 0  # SUBMITTED
    in_revision: int = 0  # REVISION_REQUESTED
    approved: int = 0
    rejected: int = 0
    disputed: int = 0  # DISPUTED: waiting for a moderator
    returned: int = 0
    expired: int = 0
    auto_approved: int = 0  # of `approved`, by the review window
    disputes_raised: int = 0  # rejections disputed, whatever the outcome


_BY_STATUS = {
    SubmissionStatus.CLAIMED: "working",
    SubmissionStatus.SUBMITTED: "awaiting_review",
    SubmissionStatus.REVISION_REQUESTED: "in_revision",
    SubmissionStatus.APPROVED: "approved",
    SubmissionStatus.REJECTED: "rejected",
    SubmissionStatus.DISPUTED: "disputed",
    SubmissionStatus.RETURNED: "returned",
    SubmissionStatus.EXPIRED: "expired",
}


@dataclass(frozen=True, slots=True)
class Durations:
    """Seconds; the median as `users.median_seconds` takes it (the mean of the two middle
    values of an even count), the 90th percentile by nearest rank."""

    count: int = 0
    median: float | None = None
    p90: float | None = None


@dataclass(slots=True)
class Money:
    escrowed: int = 0  # paid into the escrow (reward + fee per slot funded)
    paid: int = 0  # rewards released to workers
    fees: int = 0  # fees released to the platform
    refunded: int = 0  # returned to the employer
    bonuses: int = 0  # paid to workers on top, from the employer's balance

    @property
    def in_escrow(self) -> int:
        """Held now (over a range: the change in what is held)."""
        return self.escrowed - self.paid - self.fees - self.refunded


@dataclass(slots=True)
class Numbers:
    funnel: Funnel = field(default_factory=Funnel)
    claim_to_submit: Durations = field(default_factory=Durations)
    submit_to_review: Durations = field(default_factory=Durations)
    money: Money = field(default_factory=Money)
    slots_remaining: int = 0
    tasks: int = 0

    @property
    def approval_rate(self) -> float | None:
        return approval_rate(self.funnel.approved, self.funnel.rejected)


# (transaction kind, account credited) -> the Money field it adds to.
_MONEY = {
    (TransactionKind.ESCROW_FUND, AccountKind.ESCROW): "escrowed",
    (TransactionKind.ESCROW_RELEASE, AccountKind.USER): "paid",
    (TransactionKind.ESCROW_RELEASE, AccountKind.PLATFORM_FEES): "fees",
    (TransactionKind.ESCROW_REFUND, AccountKind.USER): "refunded",
    (TransactionKind.BONUS, AccountKind.USER): "bonuses",
}


def _tasks_where(sql: Sql, scope: Scope) -> str:
    where = f"tk.employer_id = {sql(scope.employer_id)}"
    if scope.task_ids is not None:
        where += f" AND tk.id IN {sql.each(scope.task_ids)}"
    return where


def _range_where(sql: Sql, column: str, within: DateRange) -> str:
    where = ""
    if within.since is not None:
        where += f" AND {column} >= {sql(within.since)}"
    if within.until is not None:
        where += f" AND {column} < {sql(within.until)}"
    return where


class AnalyticsService:
    async def numbers(self, scope: Scope, group: Group) -> dict[int, Numbers]:
        """The numbers of every group in the scope that has a task (four statements)."""
        found: defaultdict[int, Numbers] = defaultdict(Numbers)
        await self._slots(scope, group, found)
        await self._funnel(scope, group, found)
        await self._durations(scope, group, found)
        await self._money(scope, group, found)
        return dict(found)

    async def by_task(
        self, employer_id: int, task_ids: tuple[int, ...], within: DateRange = EVERYTHING
    ) -> dict[int, Numbers]:
        found = await self.numbers(Scope(employer_id, task_ids, within), Group.TASK)
        return {task_id: found.get(task_id, Numbers()) for task_id in task_ids}

    async def totals(self, employer_id: int, within: DateRange) -> Numbers:
        found = await self.numbers(Scope(employer_id, None, within), Group.ALL)
        return found.get(0, Numbers())

    async def _slots(self, scope: Scope, group: Group, found: dict[int, Numbers]) -> None:
        """Open slots as `tasks.slots_remaining` counts them: live tasks only."""
        sql = Sql()
        live = ", ".join(f"'{status}'" for status in LIVE)
        statement = f"""
            SELECT {group} AS k, COUNT(*) AS tasks,
                   SUM(CASE WHEN tk.status IN ({live}) THEN tk.slots - tk.slots_used ELSE 0 END)
                       AS open_slots
            FROM tasks tk WHERE {_tasks_where(sql, scope)} GROUP BY 1"""
        for row in await sql.rows(statement):
            numbers = found[int(row["k"])]
            numbers.tasks = int(row["tasks"])
            numbers.slots_remaining = int(row["open_slots"] or 0)

    async def _funnel(self, scope: Scope, group: Group, found: dict[int, Numbers]) -> None:
        sql = Sql()
        statement = f"""
            SELECT {group} AS k, s.status AS status, COUNT(*) AS n,
                   SUM(CASE WHEN s.submitted_at IS NOT NULL THEN 1 ELSE 0 END) AS submitted,
                   SUM(CASE WHEN s.auto_approved THEN 1 ELSE 0 END) AS auto_approved,
                   SUM(CASE WHEN s.disputed_at IS NOT NULL THEN 1 ELSE 0 END) AS disputes
            FROM submissions s JOIN tasks tk ON tk.id = s.task_id
            WHERE {_tasks_where(sql, scope)}{_range_where(sql, "s.claimed_at", scope.range)}
            GROUP BY 1, 2"""
        for row in await sql.rows(statement):
            funnel = found[int(row["k"])].funnel
            count = int(row["n"])
            funnel.claimed += count
            funnel.submitted += int(row["submitted"])
            funnel.auto_approved += int(row["auto_approved"])
            funnel.disputes_raised += int(row["disputes"])
            name = _BY_STATUS[SubmissionStatus(row["status"])]
            setattr(funnel, name, getattr(funnel, name) + count)

    async def _durations(self, scope: Scope, group: Group, found: dict[int, Numbers]) -> None:
        """Claim to (latest) submission; submission to review, by the employer (as the median
        review time on profiles: not auto-approvals). Only the ranks the median and the 90th
        percentile need leave the database."""
        sql = Sql()
        tasks = _tasks_where(sql, scope)
        claimed = _range_where(sql, "s.claimed_at", scope.range)
        statement = f"""
            WITH d AS (
                SELECT {group} AS k, 'submit' AS metric,
                       {sql.seconds_between("s.claimed_at", "s.submitted_at")} AS v
                FROM submissions s JOIN tasks tk ON tk.id = s.task_id
                WHERE {tasks}{claimed} AND s.submitted_at IS NOT NULL
                UNION ALL
                SELECT {group}, 'review', {sql.seconds_between("s.submitted_at", "s.reviewed_at")}
                FROM submissions s JOIN tasks tk ON tk.id = s.task_id
                WHERE {tasks}{claimed} AND s.submitted_at IS NOT NULL
                  AND s.reviewed_at IS NOT NULL AND s.reviewed_at >= s.submitted_at
                  AND NOT s.auto_approved
            ),
            ranked AS (
                SELECT k, metric, v,
                       ROW_NUMBER() OVER (PARTITION BY k, metric ORDER BY v) AS r,
                       COUNT(*) OVER (PARTITION BY k, metric) AS n
                FROM d
            )
            SELECT k, metric, v, r, n FROM ranked
            WHERE r = (n + 1) / 2 OR r = (n + 2) / 2 OR r = (9 * n + 9) / 10"""
        picked: defaultdict[tuple[int, str], dict[int, float]] = defaultdict(dict)
        counts: dict[tuple[int, str], int] = {}
        for row in await sql.rows(statement):
            key = (int(row["k"]), str(row["metric"]))
            picked[key][int(row["r"])] = float(row["v"])
            counts[key] = int(row["n"])
        for (k, metric), ranks in picked.items():
            n = counts[k, metric]
            durations = Durations(
                count=n,
                median=(ranks[(n + 1) // 2] + ranks[(n + 2) // 2]) / 2,
                p90=ranks[(9 * n + 9) // 10],
            )
            if metric == "submit":
                found[k].claim_to_submit = durations
            else:
                found[k].submit_to_review = durations

    async def _money(self, scope: Scope, group: Group, found: dict[int, Numbers]) -> None:
        """The credits of each posting of the tasks: into the escrow, to workers, to the
        platform, back to the employer."""
        sql = Sql()
        statement = f"""
            SELECT {group} AS k, t.kind AS kind, a.kind AS account, SUM(e.amount) AS cents
            FROM ledger_transactions t
            JOIN tasks tk ON tk.id = t.task_id
            JOIN ledger_entries e ON e.transaction_id = t.id
            JOIN ledger_accounts a ON a.id = e.account_id
            WHERE {_tasks_where(sql, scope)}{_range_where(sql, "t.created_at", scope.range)}
              AND e.amount > 0
            GROUP BY 1, 2, 3"""
        for row in await sql.rows(statement):
            name = _MONEY.get((TransactionKind(row["kind"]), AccountKind(row["account"])))
            if name is not None:
                money = found[int(row["k"])].money
                setattr(money, name, getattr(money, name) + int(row["cents"]))
