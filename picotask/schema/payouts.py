"""Deposits and payouts as the API shows them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from picotask.models.payouts import Deposit, DepositStatus, Payout, PayoutMethod, PayoutStatus
from picotask.schema.context import Info
from picotask.schema.errors import UserError
from picotask.schema.money import Money
from picotask.schema.relay import Connection, Node, to_global_id
from picotask.schema.users import UserType, Viewer

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
    attempts: int = strawberry.field(description="Calls made to the payout provider so far.")
    _model: strawberry.Private[Payout]

    @strawberry.field(description="Who asked for it.")
    async def user(self, info: Info) -> UserType:
        user = await info.context.loaders.user_by_id.load(self._model.user_id)
        assert user is not None  # a payout's user is never deleted (RESTRICT)
        return UserType.from_model(user)

    @strawberry.field(
        description="Moderators: what the provider raised on the last call; null for others."
    )
    def last_error(self, info: Info) -> str | None:
        viewer = info.context.viewer
        return self._model.last_error if viewer is not None and viewer.is_admin else None

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
            attempts=payout.attempts,
            _model=payout,
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
    method: PayoutMethod | None = strawberry.field(
        default=None, description="With destination, where no saved method is required."
    )
    destination: str | None = strawberry.field(
        default=None, description="The PayPal or Payoneer account's email, or a crypto address."
    )
    payout_method_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="A saved payout method (myPayoutMethods), confirmed and past its cool-down; "
        "required where settings require saved methods (production by default).",
    )
    two_factor_code: str | None = strawberry.field(
        default=None, description="With two factors on: the code the app shows now."
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
