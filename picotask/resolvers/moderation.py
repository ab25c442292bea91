"""Moderators suspend and reinstate users; employers block workers from their tasks."""

from __future__ import annotations

import strawberry

from picotask.models.users import User
from picotask.schema.context import Info
from picotask.schema.relay import pk_of
from picotask.schema.users import SuspendUserInput, UserActionInput, UserPayload, UserType


def _payload(user: User) -> UserPayload:
    return UserPayload(user=UserType.from_model(user))


@strawberry.type
class ModerationMutation:
    @strawberry.mutation(description="Moderators: stop a user from acting (earnings stay theirs).")
    async def suspend_user(self, info: Info, input: SuspendUserInput) -> UserPayload:
        viewer = info.context.require_viewer()
        moderation = info.context.services.moderation
        uid = pk_of(input.user_id, "User")
        return _payload(await moderation.set_suspended(viewer, uid, True, input.reason))

    @strawberry.mutation(description="Moderators: let a suspended user act again.")
    async def reinstate_user(self, info: Info, input: UserActionInput) -> UserPayload:
        viewer = info.context.require_viewer()
        moderation = info.context.services.moderation
        uid = pk_of(input.user_id, "User")
        return _payload(await moderation.set_suspended(viewer, uid, False, None))

    @strawberry.mutation(description="Refuse this worker on all of the viewer's tasks.")
    async def block_worker(self, info: Info, input: UserActionInput) -> UserPayload:
        viewer = info.context.require_viewer()
        moderation = info.context.services.moderation
        return _payload(await moderation.block(viewer, pk_of(input.user_id, "User")))

    @strawberry.mutation
    async def unblock_worker(self, info: Info, input: UserActionInput) -> UserPayload:
        viewer = info.context.require_viewer()
        moderation = info.context.services.moderation
        return _payload(await moderation.unblock(viewer, pk_of(input.user_id, "User")))
