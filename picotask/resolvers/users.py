"""Accounts: sign-up, log-in, log-out, the viewer and their profile."""

from __future__ import annotations

import strawberry

from picotask.schema.context import Info
from picotask.schema.relay import pk_of
from picotask.schema.users import (
    AuthPayload,
    LogInInput,
    LogOutInput,
    LogOutPayload,
    SignUpInput,
    UpdateProfileInput,
    UpdateProfilePayload,
    Viewer,
)


@strawberry.type
class UsersQuery:
    @strawberry.field(description="The signed-in user; null when anonymous.")
    def me(self, info: Info) -> Viewer | None:
        ctx = info.context
        if ctx.viewer is None:
            if ctx.bad_credentials:
                ctx.require_viewer()  # raises UNAUTHENTICATED: the client's token is stale
            return None
        return Viewer.from_model(ctx.viewer)


@strawberry.type
class UsersMutation:
    @strawberry.mutation
    async def sign_up(self, info: Info, input: SignUpInput) -> AuthPayload:
        result = await info.context.services.users.sign_up(
            email=input.email,
            password=input.password,
            display_name=input.display_name,
            country=input.country,
            client_address=info.context.client_address,
            user_agent=info.context.user_agent,
        )
        return AuthPayload(token=result.token, viewer=Viewer.from_model(result.user))

    @strawberry.mutation
    async def log_in(self, info: Info, input: LogInInput) -> AuthPayload:
        result = await info.context.services.users.log_in(
            email=input.email,
            password=input.password,
            client_address=info.context.client_address,
            user_agent=info.context.user_agent,
        )
        return AuthPayload(token=result.token, viewer=Viewer.from_model(result.user))

    @strawberry.mutation
    async def log_out(self, info: Info, input: LogOutInput) -> LogOutPayload:
        ctx = info.context
        ctx.require_viewer()
        assert ctx.session is not None  # a viewer always comes with their session
        await ctx.services.users.log_out(ctx.session, everywhere=input.everywhere)
        return LogOutPayload(success=True)

    @strawberry.mutation
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfilePayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        user, token = await ctx.services.users.update_profile(
            viewer,
            display_name=input.display_name,
            country=input.country,
            bio=input.bio,
            avatar_url=input.avatar_url,
            avatar_upload_id=None
            if input.avatar_upload_id is None
            else pk_of(input.avatar_upload_id, "Upload") or 0,
            skills=input.skills,
            current_password=input.current_password,
            new_password=input.new_password,
            client=ctx.client,
            two_factor_code=input.two_factor_code,
        )
        return UpdateProfilePayload(viewer=Viewer.from_model(user), token=token)
