"""The double-entry ledger: one function per posting kind, and the audit.

Every posting is one `LedgerTransaction` whose entries sum to zero, written together with the
balance updates of its accounts. Callers run postings inside their own database transaction, so
the posting commits or rolls back with the state change that caused it. A debit of an account
that must not go negative is a conditional update whose row count is checked (and a CHECK
constraint backs it): `select_for_update` would do nothing on SQLite.

Each posting also records what it came from (`Refs`: task, submission, payout, deposit, the fee
part, a dispute's outcome) and, for every user whose statement it adds a row to, emits that row
(stream STATEMENT), so postings must run inside `EventLog.transaction()`.

Over ~300 lines on purpose: every posting kind and the audit in one module, so the invariants
(entries sum to zero, no user balance below zero, escrow covered) are read and changed in one
place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tortoise import connections

from picotask.models.ledger import Account, AccountKind, LedgerEntry, LedgerTransaction
from picotask.models.ledger import TransactionKind as Kind
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.core.events import EventLog
from picotask.services.core.updates import update_returning
from picotask.services.money.statement_rows import (
    StatementRow,
    on_statement,
    row_amount,
    row_fee,
    rule_for,
)

# Accounts that may go below zero: they mirror money outside the user balances.
_UNBOUNDED = frozenset({AccountKind.PLATFORM_FEES, AccountKind.EXTERNAL})
# Accounts many concurrent postings touch: updated last in a posting, locked last.
_SHARED = frozenset({AccountKind.ESCROW, AccountKind.PLATFORM_FEES, AccountKind.EXTERNAL})
PLATFORM_FEES_REF = "platform:fees"
EXTERNAL_REF = "external:world"
# The platform's fees and the outside world are each SLOTS accounts of their kind (slot 0 keeps
# the historical ref): every approval credits a fee, and one row for all of them would make
# every approval of the deployment wait for the previous one's COMMIT. A posting picks its slot
# from its submission, deposit or payout id; the kind's balance is the sum of its slots.
SLOTS = 16


def slot_ref(base: str, key: int) -> str:
    slot = key % SLOTS
    return base if slot == 0 else f"{base}:{slot}"


@dataclass(frozen=True, slots=True)
class Want:
    """An account by its natural key, created on first use unless `create` is False."""

    kind: AccountKind
    ref: str
    owner_id: int | None = None
    create: bool = True


def _fees(key: int) -> Want:
    return Want(AccountKind.PLATFORM_FEES, slot_ref(PLATFORM_FEES_REF, key))


def _external(key: int) -> Want:
    return Want(AccountKind.EXTERNAL, slot_ref(EXTERNAL_REF, key))


def _lock_order(leg: tuple[Account, int]) -> tuple[bool, int]:
    return leg[0].kind in _SHARED, leg[0].id


def user_ref(user_id: int) -> str:
    return f"user:{user_id}"


def escrow_ref(task_id: int) -> str:
    return f"escrow:{task_id}"


def payout_ref(payout_id: int) -> str:
    return f"payout:{payout_id}"


class InsufficientFunds(DomainError):
    def __init__(self, field: Sequence[str] | None = None) -> None:
        super().__init__(
            ErrorCode.INSUFFICIENT_FUNDS, "The balance is too low for this.", field or ["input"]
        )


@dataclass(frozen=True, slots=True)
class Refs:
    """What a posting came from, stored on its transaction."""

    task_id: int | None = None
    submission_id: int | None = None
    payout_id: int | None = None
    deposit_id: int | None = None
    fee: int = 0  # of the money moved, the platform fee (cents)
    dispute_outcome: bool = False


NO_REFS = Refs()


class Ledger:
    def __init__(self, clock: Clock, events: EventLog) -> None:
        self.clock = clock
        self.events = events

    async def account(self, kind: AccountKind, ref: str, owner_id: int | None = None) -> Account:
        """The account with this natural key, created if missing."""
        return (await self.accounts([Want(kind, ref, owner_id)]))[0]

    async def accounts(self, wanted: Sequence[Want]) -> list[Account]:
        """The accounts with these natural keys, in that order, read in one query; the missing
        ones are created first where `Want.create` says so, safely under concurrency (`ON
        CONFLICT DO NOTHING` never aborts the surrounding PostgreSQL transaction). An existing
        account is only read: no insert queues on a shared account's row."""
        found = {a.ref: a for a in await Account.filter(ref__in=[w.ref for w in wanted])}
        missing = [w for w in wanted if w.ref not in found]
        if missing:
            if absent := [w.ref for w in missing if not w.create]:
                raise LookupError(f"no ledger account {absent}")
            await Account.bulk_create(
                [
                    Account(
                        kind=w.kind, ref=w.ref, owner_id=w.owner_id, created_at=self.clock.now()
                    )
                    for w in missing
                ],
                ignore_conflicts=True,
            )
            found.update({a.ref: a for a in await Account.filter(ref__in=[w.ref for w in missing])})
        return [found[w.ref] for w in wanted]

    async def user_account(self, user_id: int) -> Account:
        return await self.account(AccountKind.USER, user_ref(user_id), user_id)

    async def post(
        self,
        kind: Kind,
        legs: Sequence[tuple[Account, int]],
        memo: str = "",
        *,
        refs: Refs = NO_REFS,
        shortfall_field: Sequence[str] | None = None,
    ) -> LedgerTransaction:
        """Write one balanced posting. Must run inside the caller's `EventLog.transaction()`.

        Each balance is one conditional `UPDATE … RETURNING` (the statement row's balance comes
        from it). The accounts many transactions share (escrow, the fee and outside-world slots)
        are updated last, after the transaction and its entries are written, so their rows stay
        locked for as few statements as possible before COMMIT. Every posting locks its accounts
        in one order (`_lock_order`), so two postings never deadlock on each other's accounts."""
        if sum(amount for _, amount in legs) != 0:
            raise ValueError(f"unbalanced posting {kind}: {legs}")
        legs = [(account, amount) for account, amount in legs if amount != 0]
        ordered = sorted(legs, key=_lock_order)
        balances: dict[int, int] = {}
        for account, amount in ordered:
            if account.kind not in _SHARED:
                balances[account.id] = await self._apply(account, amount, shortfall_field)
        transaction = await LedgerTransaction.create(
            kind=kind,
            memo=memo[:200],
            created_at=self.clock.now(),
            task_id=refs.task_id,
            submission_id=refs.submission_id,
            payout_id=refs.payout_id,
            deposit_id=refs.deposit_id,
            fee=refs.fee,
            dispute_outcome=refs.dispute_outcome,
        )
        await LedgerEntry.bulk_create(
            [
                LedgerEntry(transaction_id=transaction.id, account_id=account.id, amount=amount)
                for account, amount in legs
            ]
        )
        for account, amount in ordered:
            if account.kind in _SHARED:
                balances[account.id] = await self._apply(account, amount, shortfall_field)
        for account, amount in legs:
            if on_statement(account.kind, kind):
                await self._push_row(transaction, account, amount, legs, balances)
        return transaction

    async def _apply(
        self, account: Account, amount: int, shortfall_field: Sequence[str] | None
    ) -> int:
        """Add `amount` to the balance (a debit only while it stays covered); the new balance."""
        where: dict[str, object] = {"id": account.id}
        if amount < 0 and account.kind not in _UNBOUNDED:
            where["balance__gte"] = -amount
        updated = await update_returning(Account, where, add={"balance": amount})
        if updated is None:
            raise InsufficientFunds(shortfall_field)
        return int(updated.balance)

    async def _push_row(
        self,
        transaction: LedgerTransaction,
        account: Account,
        leg: int,
        legs: Sequence[tuple[Account, int]],
        balances: dict[int, int],
    ) -> None:
        """The row this posting adds to the account owner's statement, on their myEvents, with
        the owner's balance after this posting: from the posting's own update when it moved
        that balance, else read (a payout's settlement)."""
        owner_id = account.owner_id
        assert owner_id is not None  # user and payout accounts always have their owner
        balance_ref = account.ref if account.kind == AccountKind.USER else user_ref(owner_id)
        moved = [balances[a.id] for a, _ in legs if a.ref == balance_ref]
        if moved:
            balance_after = moved[0]
        else:
            holder = await Account.get_or_none(ref=balance_ref)
            balance_after = holder.balance if holder is not None else 0
        rule = rule_for(transaction.kind, leg, transaction.dispute_outcome)
        amount = row_amount(account.kind, leg)
        row = StatementRow(
            transaction_id=transaction.id,
            kind=rule.kind,
            amount=amount,
            fee=row_fee(rule, amount, transaction.fee),
            balance_after=balance_after,
            created_at=transaction.created_at,
            task_id=transaction.task_id,
            submission_id=transaction.submission_id,
            payout_id=transaction.payout_id,
            deposit_id=transaction.deposit_id,
        )
        self.events.statement(owner_id, row.to_json(), row.message)

    # One function per posting kind: the marketplace only calls these.

    async def deposit(
        self, user_id: int, cents: int, memo: str, *, deposit_id: int
    ) -> LedgerTransaction:
        external, user = await self.accounts(
            [_external(deposit_id), Want(AccountKind.USER, user_ref(user_id), user_id)]
        )
        return await self.post(
            Kind.DEPOSIT,
            [(external, -cents), (user, cents)],
            memo,
            refs=Refs(deposit_id=deposit_id),
        )

    async def fund_escrow(
        self, employer_id: int, task_id: int, cents: int, memo: str, *, fee: int
    ) -> LedgerTransaction:
        """`cents` is slots x (reward + fee); `fee` the slots' fees within it."""
        user, escrow = await self.accounts(
            [
                Want(AccountKind.USER, user_ref(employer_id), employer_id),
                Want(AccountKind.ESCROW, escrow_ref(task_id), employer_id),
            ]
        )
        return await self.post(
            Kind.ESCROW_FUND,
            [(user, -cents), (escrow, cents)],
            memo,
            refs=Refs(task_id=task_id, fee=fee),
            shortfall_field=["input"],
        )

    async def release_escrow(
        self,
        task_id: int,
        worker_id: int,
        reward: int,
        fee: int,
        memo: str,
        *,
        submission_id: int | None = None,
        dispute_outcome: bool = False,
    ) -> LedgerTransaction:
        """Approved work: the reward to the worker, the fee to the platform."""
        escrow, worker, fees = await self.accounts(
            [
                Want(AccountKind.ESCROW, escrow_ref(task_id), create=False),
                Want(AccountKind.USER, user_ref(worker_id), worker_id),
                _fees(submission_id if submission_id is not None else task_id),
            ]
        )
        return await self.post(
            Kind.ESCROW_RELEASE,
            [(escrow, -(reward + fee)), (worker, reward), (fees, fee)],
            memo,
            refs=Refs(
                task_id=task_id,
                submission_id=submission_id,
                fee=fee,
                dispute_outcome=dispute_outcome,
            ),
        )

    async def refund_escrow(
        self,
        task_id: int,
        employer_id: int,
        cents: int,
        memo: str,
        *,
        fee: int,
        submission_id: int | None = None,
        dispute_outcome: bool = False,
    ) -> LedgerTransaction:
        """`cents` is slots x (reward + fee); `fee` the slots' fees within it."""
        escrow, user = await self.accounts(
            [
                Want(AccountKind.ESCROW, escrow_ref(task_id), create=False),
                Want(AccountKind.USER, user_ref(employer_id), employer_id),
            ]
        )
        return await self.post(
            Kind.ESCROW_REFUND,
            [(escrow, -cents), (user, cents)],
            memo,
            refs=Refs(
                task_id=task_id,
                submission_id=submission_id,
                fee=fee,
                dispute_outcome=dispute_outcome,
            ),
        )

    async def bonus(
        self,
        employer_id: int,
        worker_id: int,
        cents: int,
        memo: str,
        *,
        task_id: int | None = None,
        submission_id: int | None = None,
    ) -> LedgerTransaction:
        employer, worker = await self.accounts(
            [
                Want(AccountKind.USER, user_ref(employer_id), employer_id),
                Want(AccountKind.USER, user_ref(worker_id), worker_id),
            ]
        )
        return await self.post(
            Kind.BONUS,
            [(employer, -cents), (worker, cents)],
            memo,
            refs=Refs(task_id=task_id, submission_id=submission_id),
            shortfall_field=["input", "amount"],
        )

    async def hold_payout(
        self, user_id: int, payout_id: int, cents: int, memo: str
    ) -> LedgerTransaction:
        user, held = await self.accounts(
            [
                Want(AccountKind.USER, user_ref(user_id), user_id),
                Want(AccountKind.PAYOUT, payout_ref(payout_id), user_id),
            ]
        )
        return await self.post(
            Kind.PAYOUT_HOLD,
            [(user, -cents), (held, cents)],
            memo,
            refs=Refs(payout_id=payout_id),
            shortfall_field=["input", "amount"],
        )

    async def settle_payout(self, payout_id: int, cents: int, memo: str) -> LedgerTransaction:
        held, external = await self.accounts(
            [Want(AccountKind.PAYOUT, payout_ref(payout_id), create=False), _external(payout_id)]
        )
        return await self.post(
            Kind.PAYOUT_SETTLE,
            [(held, -cents), (external, cents)],
            memo,
            refs=Refs(payout_id=payout_id),
        )

    async def fail_payout(
        self, user_id: int, payout_id: int, cents: int, memo: str
    ) -> LedgerTransaction:
        held, user = await self.accounts(
            [
                Want(AccountKind.PAYOUT, payout_ref(payout_id), create=False),
                Want(AccountKind.USER, user_ref(user_id), user_id),
            ]
        )
        return await self.post(
            Kind.PAYOUT_FAIL,
            [(held, -cents), (user, cents)],
            memo,
            refs=Refs(payout_id=payout_id),
        )


@dataclass(frozen=True, slots=True)
class AuditReport:
    transactions: int
    accounts: int
    unbalanced_transactions: list[int]
    drifted_accounts: list[str]
    negative_accounts: list[str]
    total: int

    @property
    def ok(self) -> bool:
        return not (
            self.unbalanced_transactions
            or self.drifted_accounts
            or self.negative_accounts
            or self.total != 0
        )

    def describe(self) -> str:
        lines = [
            f"{self.transactions} transactions, {self.accounts} accounts, "
            f"sum of all balances {self.total}",
            f"unbalanced transactions: {self.unbalanced_transactions or 'none'}",
            f"balances that differ from their entries: {self.drifted_accounts or 'none'}",
            f"negative user, escrow or payout balances: {self.negative_accounts or 'none'}",
        ]
        return "\n".join(lines) + ("\nledger OK" if self.ok else "\nLEDGER BROKEN")


async def audit() -> AuditReport:
    """Prove every transaction sums to zero and every cached balance equals its entries."""
    conn = connections.get("default")
    unbalanced = await conn.execute_query_dict(
        "SELECT transaction_id FROM ledger_entries GROUP BY transaction_id "
        "HAVING SUM(amount) <> 0 ORDER BY transaction_id"
    )
    drifted = await conn.execute_query_dict(
        "SELECT a.ref FROM ledger_accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id "
        "GROUP BY a.id, a.ref, a.balance HAVING a.balance <> COALESCE(SUM(e.amount), 0) "
        "ORDER BY a.ref"
    )
    negative = await conn.execute_query_dict(
        "SELECT ref FROM ledger_accounts WHERE balance < 0 "
        "AND kind NOT IN ('PLATFORM_FEES', 'EXTERNAL') ORDER BY ref"
    )
    totals = await conn.execute_query_dict(
        "SELECT COUNT(*) AS n, COALESCE(SUM(balance), 0) AS total FROM ledger_accounts"
    )
    return AuditReport(
        transactions=await LedgerTransaction.all().count(),
        accounts=int(totals[0]["n"]),
        unbalanced_transactions=[int(r["transaction_id"]) for r in unbalanced],
        drifted_accounts=[str(r["ref"]) for r in drifted],
        negative_accounts=[str(r["ref"]) for r in negative],
        total=int(totals[0]["total"]),
    )
