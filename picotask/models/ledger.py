"""The double-entry ledger: accounts, transactions, entries, and the money flows around it.

Entries are only ever inserted. `Account.balance` is a cache of the sum of an account's entries,
updated in the same database transaction; user balances are guarded by a CHECK.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.migrations.constraints import CheckConstraint, UniqueConstraint
from tortoise.models import Model

from picotask.models.users import User


class AccountKind(StrEnum):
    USER = "USER"  # a user's available balance
    ESCROW = "ESCROW"  # one task's escrow
    PAYOUT = "PAYOUT"  # one payout in flight
    PLATFORM_FEES = "PLATFORM_FEES"  # the platform's fee revenue
    EXTERNAL = "EXTERNAL"  # the outside world: deposits come from it, payouts go to it


class Account(Model):
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(AccountKind, max_length=16)
    # Natural key, e.g. "user:12", "payout:7", "platform:fees": accounts are created on demand.
    ref = fields.CharField(max_length=64, unique=True)
    owner: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="accounts", null=True, on_delete=fields.RESTRICT
    )
    owner_id: int | None
    balance = fields.BigIntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "ledger_accounts"
        # A user's statement reads their own accounts (balance and payouts in flight).
        indexes = (("owner_id", "kind"),)
        constraints = (
            CheckConstraint(
                check="kind IN ('PLATFORM_FEES', 'EXTERNAL') OR balance >= 0",
                name="ledger_accounts_balance_not_negative",
            ),
        )


class TransactionKind(StrEnum):
    DEPOSIT = "DEPOSIT"
    ESCROW_FUND = "ESCROW_FUND"
    ESCROW_RELEASE = "ESCROW_RELEASE"
    ESCROW_REFUND = "ESCROW_REFUND"
    BONUS = "BONUS"
    PAYOUT_HOLD = "PAYOUT_HOLD"
    PAYOUT_SETTLE = "PAYOUT_SETTLE"
    PAYOUT_FAIL = "PAYOUT_FAIL"


class LedgerTransaction(Model):
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharEnumField(TransactionKind, max_length=24)
    memo = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField()
    # What the posting came from, written by the posting functions (statements and analytics
    # read these, never the memo). Plain columns, not foreign keys: the ledger stands alone.
    task_id = fields.BigIntField(null=True)
    submission_id = fields.BigIntField(null=True)
    payout_id = fields.BigIntField(null=True)
    deposit_id = fields.BigIntField(null=True)
    # Of the money moved, the platform fee (cents, >= 0): escrow funded or refunded holds
    # reward + fee per slot, an approval sends the fee to the platform.
    fee = fields.BigIntField(default=0)
    # Posted by a moderator's decision on a dispute (overturned: paid; upheld: refunded).
    dispute_outcome = fields.BooleanField(default=False)

    class Meta:
        table = "ledger_transactions"
        indexes = (("task_id", "id"),)


class LedgerEntry(Model):
    id = fields.BigIntField(primary_key=True)
    transaction: fields.ForeignKeyRelation[LedgerTransaction] = fields.ForeignKeyField(
        "models.LedgerTransaction", related_name="entries", on_delete=fields.RESTRICT
    )
    transaction_id: int
    account: fields.ForeignKeyRelation[Account] = fields.ForeignKeyField(
        "models.Account", related_name="entries", on_delete=fields.RESTRICT
    )
    account_id: int
    # Signed cents: positive credits the account, negative debits it.
    amount = fields.BigIntField()

    class Meta:
        table = "ledger_entries"
        # An account's history in posting order: statements and their running balances.
        indexes = (("account_id", "transaction_id"),)


# The first result of a money mutation, keyed per user.
class IdempotencyRecord(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="idempotency_records", on_delete=fields.CASCADE
    )
    user_id: int
    key = fields.CharField(max_length=100)
    operation = fields.CharField(max_length=40)
    request_hash = fields.CharField(max_length=64)
    result_id = fields.BigIntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "idempotency_records"
        constraints = (UniqueConstraint(fields=("user_id", "key"), name="idempotency_user_key"),)
