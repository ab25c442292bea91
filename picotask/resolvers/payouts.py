"""Money in and out: deposits, payout requests, and their histories."""

from __future__ import annotations

import strawberry

from picotask.models.payouts import Deposit, Payout
from picotask.schema.context import Info
from picotask.schema.errors import Forbidden, user_errors
from picotask.schema.pages import connection
from picotask.schema.payouts import (
    CreateDepositInput,
    CreateDepositPayload,
    DepositConnection,
    DepositType,
    PayoutConnection,
    PayoutType,
    RequestPayoutInput,
    RequestPayoutPayload,
)
from picotask.schema.relay import Node, pk_of
from picotask.schema.users import Viewer
from picotask.services.payments.payout_processor import payout_incidents
from picotask.services.payments.payouts import deposit_problem


@strawberry.type
class PayoutsQuery:
    @strawberry.field(description="The viewer's withdrawals, newest first.")
    async def my_payouts(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> PayoutConnection:
        viewer = info.context.require_viewer()
        currency = info.context.services.settings.currency
        return await connection(
            Payout.filter(user_id=viewer.id),
            lambda p: PayoutType.from_model(p, currency),
            first,
            after,
        )

    @strawberry.field(
        description="Moderators: payouts that failed because every provider call raised, "
        "newest first; each needs reconciling with the provider under its key payout-<id>."
    )
    async def payout_incidents(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> PayoutConnection:
        viewer = info.context.require_viewer()
        if not viewer.is_admin:
            raise Forbidden("Only moderators see payout incidents.")
        currency = info.context.services.settings.currency
        return await connection(
            payout_incidents(), lambda p: PayoutType.from_model(p, currency), first, after
        )

    @strawberry.field(description="The viewer's deposits, newest first.")
    async def my_deposits(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> DepositConnection:
        viewer = info.context.require_viewer()
        currency = info.context.services.settings.currency
        return await connection(
            Deposit.filter(user_id=viewer.id),
            lambda d: DepositType.from_model(d, currency),
            first,
            after,
        )


@strawberry.type
class PayoutsMutation:
    @strawberry.mutation(description="Add money to the balance through the payment provider.")
    async def create_deposit(self, info: Info, input: CreateDepositInput) -> CreateDepositPayload:
        viewer = info.context.require_viewer()
        services = info.context.services
        deposit = await services.payouts.deposit(viewer, input.amount, input.idempotency_key)
        problem = deposit_problem(deposit)
        return CreateDepositPayload(
            deposit=DepositType.from_model(deposit, services.settings.currency),
            viewer=Viewer.from_model(viewer),
            user_errors=user_errors(problem) if problem else [],
        )

    @strawberry.mutation(description="Withdraw from the available balance.")
    async def request_payout(self, info: Info, input: RequestPayoutInput) -> RequestPayoutPayload:
        viewer = info.context.require_viewer()
        services = info.context.services
        payout = await services.payouts.request_payout(
            viewer,
            input.amount,
            input.method,
            input.destination,
            input.idempotency_key,
            payout_method_id=None
            if input.payout_method_id is None
            else pk_of(input.payout_method_id, "SavedPayoutMethod") or 0,
            two_factor_code=input.two_factor_code,
        )
        services.payout_processor.wake()
        return RequestPayoutPayload(
            payout=PayoutType.from_model(payout, services.settings.currency),
            viewer=Viewer.from_model(viewer),
        )


async def payout_node(info: Info, pk: int) -> Node | None:
    viewer = info.context.viewer
    payout = await Payout.get_or_none(id=pk, user_id=viewer.id) if viewer else None
    return (
        PayoutType.from_model(payout, info.context.services.settings.currency) if payout else None
    )


async def deposit_node(info: Info, pk: int) -> Node | None:
    viewer = info.context.viewer
    deposit = await Deposit.get_or_none(id=pk, user_id=viewer.id) if viewer else None
    return (
        DepositType.from_model(deposit, info.context.services.settings.currency)
        if deposit
        else None
    )
