"""Money in and out: deposits from a payment provider, payouts to a payout provider."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from picotask.models.users import User


class DepositStatus(StrEnum):
    PENDING = "PENDING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class Deposit(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="deposits", on_delete=fields.RESTRICT
    )
    user_id: int
    amount = fields.BigIntField()
    status = fields.CharEnumField(DepositStatus, max_length=16, default=DepositStatus.PENDING)
    provider_reference = fields.CharField(max_length=100, null=True)
    failure_reason = fields.CharField(max_length=200, null=True)
    created_at = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "deposits"


class PayoutMethod(StrEnum):
    PAYPAL = "PAYPAL"
    PAYONEER = "PAYONEER"
    CRYPTO = "CRYPTO"


class PayoutStatus(StrEnum):
    REQUESTED = "REQUESTED"
    PROCESSING = "PROCESSING"
    PAID = "PAID"
    FAILED = "FAILED"


class Payout(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="payouts", on_delete=fields.RESTRICT
    )
    user_id: int
    amount = fields.BigIntField()
    method = fields.CharEnumField(PayoutMethod, max_length=16)
    destination = fields.CharField(max_length=200)
    status = fields.CharEnumField(PayoutStatus, max_length=16, default=PayoutStatus.REQUESTED)
    # The processor that moved it to PROCESSING holds it until this time; after a crash another
    # processor takes it over with the same idempotency key (the payout id).
    lease_until = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    provider_reference = fields.CharField(max_length=100, null=True)
    failure_reason = fields.CharField(max_length=200, null=True)
    # What the provider raised the last time, for moderators (never shown to the user).
    last_error = fields.CharField(max_length=500, null=True)
    # Failed because every attempt raised: the provider never said "paid" or "refused", so
    # moderators reconcile it with the provider (payoutIncidents).
    attempts_exhausted = fields.BooleanField(default=False)
    # The saved payout method it went to (null: a destination typed in, where allowed).
    payout_method_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()
    completed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "payouts"
        indexes = (("attempts_exhausted", "id"),)


# A destination the user saved for payouts (services/payments/payout_methods.py). Usable once
# confirmed (a current two-factor code, or the link mailed to the account's address) and past
# its cool-down; removing one is immediate and keeps the row (payouts name it).
class SavedPayoutMethod(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="payout_methods", on_delete=fields.CASCADE
    )
    user_id: int
    method = fields.CharEnumField(PayoutMethod, max_length=16)
    destination = fields.CharField(max_length=200)
    label = fields.CharField(max_length=60, null=True)
    created_at = fields.DatetimeField()
    confirmed_at = fields.DatetimeField(null=True)
    usable_from = fields.DatetimeField(null=True)
    removed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "saved_payout_methods"
        indexes = (("user_id", "removed_at"),)
