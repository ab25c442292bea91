"""Confirming an address, changing it, and recovering a forgotten password."""

from __future__ import annotations

import strawberry

from picotask.schema.context import Info
from picotask.schema.recovery import (
    ChangeEmailInput,
    ChangeEmailPayload,
    ConfirmEmailInput,
    ConfirmEmailPayload,
    MailSentPayload,
    RequestPasswordResetInput,
    RequestPasswordResetPayload,
    ResetPasswordInput,
)
from picotask.schema.users import AuthPayload, Viewer


@strawberry.type
class RecoveryMutation:
    @strawberry.mutation(
        description="Follow a link mailed at sign-up or by changeEmail; no session needed."
    )
    async def confirm_email(self, info: Info, input: ConfirmEmailInput) -> ConfirmEmailPayload:
        user = await info.context.services.recovery.confirm_email(input.token)
        return ConfirmEmailPayload(email=user.email)

    @strawberry.mutation(description="Mail the confirmation link again (rate limited).")
    async def resend_confirmation(self, info: Info) -> MailSentPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        await ctx.services.recovery.resend_confirmation(viewer, ctx.client_address)
        return MailSentPayload(sent=True)

    @strawberry.mutation(
        description="Mail a reset link if an account has this address; the answer is the same "
        "either way (rate limited)."
    )
    async def request_password_reset(
        self, info: Info, input: RequestPasswordResetInput
    ) -> RequestPasswordResetPayload:
        ctx = info.context
        await ctx.services.recovery.request_password_reset(input.email, ctx.client_address)
        return RequestPasswordResetPayload(accepted=True)

    @strawberry.mutation(
        description="A new password from a reset link: every session ends; the payload "
        "signs this browser in."
    )
    async def reset_password(self, info: Info, input: ResetPasswordInput) -> AuthPayload:
        ctx = info.context
        result = await ctx.services.recovery.reset_password(
            input.token, input.new_password, ctx.client, input.two_factor_code
        )
        return AuthPayload(token=result.token, viewer=Viewer.from_model(result.user))

    @strawberry.mutation(
        description="Mail a link to the new address; it becomes the account's once followed, "
        "and the old address is told."
    )
    async def change_email(self, info: Info, input: ChangeEmailInput) -> ChangeEmailPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        pending = await ctx.services.recovery.change_email(
            viewer,
            input.new_email,
            input.current_password,
            ctx.client_address,
            input.two_factor_code,
        )
        return ChangeEmailPayload(pending_email=pending, viewer=Viewer.from_model(viewer))
