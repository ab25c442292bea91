"""Deposits and payouts as the API shows them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from picotask.models.payouts import Deposit, DepositStatus, Payout, PayoutMethod, PayoutStatus
from picotask.schema.errors import UserError
from picotask.schema.money import Money
from picotask.schema.relay import Connection, Node, to_global_id
from picotask.schema.users import Viewer

strawberry.enum(PayoutMethod, name="PayoutMethod")
strawberry.enum(PayoutStatus, name="PayoutStatus")
strawberry.enum(DepositStatus, name="DepositStatus")


@strawberry.type(name="Payout")
class PayoutType(Node):
    amount: Money
    method: PayoutMethod
    destination: str
    status: PayoutStatus
    created_at: datetime
    completed_at: datetime | None
    failure_reason: str | None

    @classmethod
    def from_model(cls, payout: Payout, currency: str) -> PayoutType:
        return cls(
            id=to_global_id("Payout", payout.id),
            amount=Money.of(payout.amount, currency),
            method=payout.method,
            destination=payout.destination,
            status=payout.status,
            created_at=payout.created_at,
            completed_at=payout.completed_at,
            failure_reason=payout.failure_reason,
        )


@strawberry.type(name="Deposit")
class DepositType(Node):
    amount: Money
    status: DepositStatus
    created_at: datetime
    completed_at: datetime | None
    failure_reason: str | None

    @classmethod
    def from_model(cls, deposit: Deposit, currency: str) -> DepositType:
        return cls(
            id=to_global_id("Deposit", deposit.id),
            amount=Money.of(deposit.amount, currency),
            status=deposit.status,
            created_at=deposit.created_at,
            completed_at=deposit.completed_at,
            failure_reason=deposit.failure_reason,
        )


PayoutConnection = Connection[PayoutType]
DepositConnection = Connection[DepositType]


@strawberry.input
class CreateDepositInput:
    amount: Decimal
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key and input returns the first result."
    )


@strawberry.input
class RequestPayoutInput:
    amount: Decimal
    method: PayoutMethod
    destination: str = strawberry.field(
        description="The PayPal or Payoneer account's email, or a crypto address."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Retrying with the same key and input returns the first result."
    )


@strawberry.type
class CreateDepositPayload:
    deposit: DepositType | None = None
    viewer: Viewer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RequestPayoutPayload:
    payout: PayoutType | None = None
    viewer: Viewer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
