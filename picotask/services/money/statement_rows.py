"""What a user's statement is made of: which ledger entries are its rows, what kind each row
is, and which total it adds to.

The rules are one table with two renderings: Python, for the rows pushed live as postings are
written (`Ledger.post`), and SQL, for the statement queries (`services/money/statement.py`). Both
come from the same data, so a live row and the statement can never disagree on a kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from picotask.models.ledger import AccountKind, TransactionKind
from picotask.services.core.amounts import format_cents


class StatementKind(StrEnum):
    DEPOSIT = "DEPOSIT"
    ESCROW_FUNDED = "ESCROW_FUNDED"  # a task's slots paid into its escrow (reward + fee each)
    ESCROW_REFUNDED = "ESCROW_REFUNDED"  # unused slots, final rejections: reward + fee back
    EARNED = "EARNED"  # approved work: the reward
    BONUS_SENT = "BONUS_SENT"
    BONUS_RECEIVED = "BONUS_RECEIVED"
    PAYOUT_REQUESTED = "PAYOUT_REQUESTED"  # the amount leaves the balance for the payout
    PAYOUT_PAID = "PAYOUT_PAID"  # the provider paid it: the balance does not change
    PAYOUT_RETURNED = "PAYOUT_RETURNED"  # the payout failed: the amount is back
    DISPUTE_OVERTURNED = "DISPUTE_OVERTURNED"  # the worker won a dispute: the reward
    DISPUTE_UPHELD = "DISPUTE_UPHELD"  # the employer won it: reward + fee back


class Total(StrEnum):
    """The totals of a period, each a sum of row amounts (spent and withdrawn as positive)."""

    DEPOSITED = "deposited"
    EARNED = "earned"  # rewards, bonuses received, disputes won
    SPENT = "spent"  # escrow funded, bonuses sent
    REFUNDED = "refunded"  # escrow refunded, disputes upheld
    WITHDRAWN = "withdrawn"  # payouts requested
    RETURNED = "returned"  # failed payouts returned


# Totals of money leaving the balance: their rows' amounts are negative.
OUTGOING = frozenset({Total.SPENT, Total.WITHDRAWN})


@dataclass(frozen=True, slots=True)
class Rule:
    kind: StatementKind
    transaction: TransactionKind
    label: str
    total: Total | None
    # Matches only a credit (True) or a debit (False) of the user; None: either.
    credit: bool | None = None
    # Matches only a dispute's outcome (True) or anything else (False); None: either.
    dispute: bool | None = None
    # The row says how much of its amount is the platform fee.
    shows_fee: bool = False


T = TransactionKind
K = StatementKind
# The first rule that matches names the row.
RULES: tuple[Rule, ...] = (
    Rule(K.DEPOSIT, T.DEPOSIT, "Deposit", Total.DEPOSITED),
    Rule(K.ESCROW_FUNDED, T.ESCROW_FUND, "Escrow funded", Total.SPENT, shows_fee=True),
    Rule(
        K.DISPUTE_UPHELD,
        T.ESCROW_REFUND,
        "Dispute upheld",
        Total.REFUNDED,
        dispute=True,
        shows_fee=True,
    ),
    Rule(K.ESCROW_REFUNDED, T.ESCROW_REFUND, "Escrow refunded", Total.REFUNDED, shows_fee=True),
    Rule(K.DISPUTE_OVERTURNED, T.ESCROW_RELEASE, "Dispute won", Total.EARNED, dispute=True),
    Rule(K.EARNED, T.ESCROW_RELEASE, "Earned", Total.EARNED),
    Rule(K.BONUS_SENT, T.BONUS, "Bonus sent", Total.SPENT, credit=False),
    Rule(K.BONUS_RECEIVED, T.BONUS, "Bonus received", Total.EARNED, credit=True),
    Rule(K.PAYOUT_REQUESTED, T.PAYOUT_HOLD, "Payout requested", Total.WITHDRAWN),
    Rule(K.PAYOUT_PAID, T.PAYOUT_SETTLE, "Payout paid", None),
    Rule(K.PAYOUT_RETURNED, T.PAYOUT_FAIL, "Payout returned", Total.RETURNED),
)
BY_KIND = {rule.kind: rule for rule in RULES}


def on_statement(account: AccountKind, transaction: TransactionKind) -> bool:
    """Which entries of a user's own accounts are rows of their statement: every one of their
    balance, and the payout of a withdrawal (which leaves the balance at request time) as a
    row of amount 0 when the provider pays it."""
    return account == AccountKind.USER or (
        account == AccountKind.PAYOUT and transaction == TransactionKind.PAYOUT_SETTLE
    )


def rule_for(transaction: TransactionKind, leg: int, dispute: bool) -> Rule:
    """The rule naming a row: `leg` is the user's entry (or the payout's)."""
    for rule in RULES:
        if (
            rule.transaction == transaction
            and (rule.credit is None or rule.credit == (leg > 0))
            and (rule.dispute is None or rule.dispute == dispute)
        ):
            return rule
    raise ValueError(f"no statement rule for {transaction} {leg} {dispute}")


def on_statement_sql(account: str, transaction: str) -> str:
    """`on_statement` over SQL columns (`account IN (...)` first, for the owner index)."""
    return (
        f"{account} IN ('{AccountKind.USER}', '{AccountKind.PAYOUT}') AND ({account} = "
        f"'{AccountKind.USER}' OR {transaction} = '{TransactionKind.PAYOUT_SETTLE}')"
    )


def kind_sql(transaction: str, leg: str, dispute: str) -> str:
    """`rule_for` over SQL columns: a CASE naming each row's kind. Only constants of ours are
    inlined (enum values), never input."""
    cases = []
    for rule in RULES:
        conditions = [f"{transaction} = '{rule.transaction}'"]
        if rule.credit is not None:
            conditions.append(f"{leg} {'>' if rule.credit else '<'} 0")
        if rule.dispute is not None:
            conditions.append(dispute if rule.dispute else f"NOT {dispute}")
        cases.append(f"WHEN {' AND '.join(conditions)} THEN '{rule.kind}'")
    return f"CASE {' '.join(cases)} END"


def row_amount(account: AccountKind, leg: int) -> int:
    """What the row adds to the balance: the entry on the balance; 0 for a payout paid."""
    return leg if account == AccountKind.USER else 0


def row_fee(rule: Rule, amount: int, fee: int) -> int | None:
    """The platform-fee part of the row's amount, with the amount's sign."""
    if not rule.shows_fee:
        return None
    return -fee if amount < 0 else fee


@dataclass(frozen=True, slots=True)
class StatementRow:
    transaction_id: int  # the row's place in the statement: postings in order
    kind: StatementKind
    amount: int  # signed cents: what the row added to the balance
    fee: int | None  # of the amount, the platform fee (escrow rows), with its sign
    balance_after: int
    created_at: datetime
    task_id: int | None
    submission_id: int | None
    payout_id: int | None
    deposit_id: int | None
    # Read for exports only (StatementService.export): the task's title and the row's other
    # party, the worker for the task's employer and the employer for anyone else.
    task_title: str = ""
    counterparty_id: int | None = None
    counterparty_name: str = ""

    @property
    def message(self) -> str:
        label = BY_KIND[self.kind].label
        if self.amount == 0:
            return label
        sign = "+" if self.amount > 0 else "-"
        return f"{label}: {sign}{format_cents(abs(self.amount))}"

    def to_json(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "kind": self.kind.value,
            "amount": self.amount,
            "fee": self.fee,
            "balance_after": self.balance_after,
            "created_at": self.created_at.isoformat(),
            "task_id": self.task_id,
            "submission_id": self.submission_id,
            "payout_id": self.payout_id,
            "deposit_id": self.deposit_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatementRow:
        return cls(
            transaction_id=int(data["transaction_id"]),
            kind=StatementKind(data["kind"]),
            amount=int(data["amount"]),
            fee=None if data["fee"] is None else int(data["fee"]),
            balance_after=int(data["balance_after"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            task_id=data["task_id"],
            submission_id=data["submission_id"],
            payout_id=data["payout_id"],
            deposit_id=data["deposit_id"],
        )
