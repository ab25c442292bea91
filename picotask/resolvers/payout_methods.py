"""Saved payout methods and two factors."""

from __future__ import annotations

import strawberry

from picotask.models.payouts import SavedPayoutMethod
from picotask.schema.context import Info
from picotask.schema.payout_methods import (
    AddPayoutMethodInput,
    ConfirmPayoutMethodInput,
    DisableTwoFactorPayload,
    EnableTwoFactorPayload,
    PayoutMethodPayload,
    RemovePayoutMethodInput,
    SavedPayoutMethodType,
    StartTwoFactorPayload,
    TwoFactorCodeInput,
)
from picotask.schema.relay import Node, pk_of
from picotask.schema.users import Viewer


@strawberry.type
class PayoutMethodsQuery:
    @strawberry.field(description="The viewer's saved payout methods, newest first.")
    async def my_payout_methods(self, info: Info) -> list[SavedPayoutMethodType]:
        viewer = info.context.require_viewer()
        rows = await info.context.services.payout_methods.mine(viewer.id)
        return [SavedPayoutMethodType.from_model(row) for row in rows]


@strawberry.type
class PayoutMethodsMutation:
    @strawberry.mutation(
        description="Save a payout method: with two factors on, confirmed at once by the code; "
        "else by a link mailed to the account's address. Usable after the cool-down."
    )
    async def add_payout_method(
        self, info: Info, input: AddPayoutMethodInput
    ) -> PayoutMethodPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        row = await ctx.services.payout_methods.add(
            viewer,
            input.method,
            input.destination,
            input.label,
            input.two_factor_code,
            ctx.client_address,
        )
        return PayoutMethodPayload(payout_method=SavedPayoutMethodType.from_model(row))

    @strawberry.mutation(
        description="Follow the link mailed by addPayoutMethod; no session needed."
    )
    async def confirm_payout_method(
        self, info: Info, input: ConfirmPayoutMethodInput
    ) -> PayoutMethodPayload:
        row = await info.context.services.payout_methods.confirm(input.token)
        return PayoutMethodPayload(payout_method=SavedPayoutMethodType.from_model(row))

    @strawberry.mutation(description="Remove a saved payout method, at once.")
    async def remove_payout_method(
        self, info: Info, input: RemovePayoutMethodInput
    ) -> PayoutMethodPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        row = await ctx.services.payout_methods.remove(
            viewer, pk_of(input.payout_method_id, "SavedPayoutMethod") or 0, input.two_factor_code
        )
        return PayoutMethodPayload(payout_method=SavedPayoutMethodType.from_model(row))

    @strawberry.mutation(
        description="Begin enrolling two factors: a secret for the authenticator app, pending "
        "until enableTwoFactor gets a code from it."
    )
    async def start_two_factor(self, info: Info) -> StartTwoFactorPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        enrolment = await ctx.services.two_factor.start(viewer)
        return StartTwoFactorPayload(secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri)

    @strawberry.mutation(
        description="Turn two factors on with a first code; the recovery codes, shown once."
    )
    async def enable_two_factor(
        self, info: Info, input: TwoFactorCodeInput
    ) -> EnableTwoFactorPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        codes = await ctx.services.two_factor.enable(viewer, input.code)
        return EnableTwoFactorPayload(recovery_codes=codes, viewer=Viewer.from_model(viewer))

    @strawberry.mutation(description="Turn two factors off with a current or a recovery code.")
    async def disable_two_factor(
        self, info: Info, input: TwoFactorCodeInput
    ) -> DisableTwoFactorPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        await ctx.services.two_factor.disable(viewer, input.code)
        return DisableTwoFactorPayload(viewer=Viewer.from_model(viewer))


async def payout_method_node(info: Info, pk: int) -> Node | None:
    viewer = info.context.viewer
    row = (
        await SavedPayoutMethod.get_or_none(id=pk, user_id=viewer.id, removed_at=None)
        if viewer
        else None
    )
    return SavedPayoutMethodType.from_model(row) if row else None
