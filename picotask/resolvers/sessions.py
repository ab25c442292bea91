"""The viewer's sessions: listing them, ending one."""

from __future__ import annotations

import strawberry

from picotask.schema.context import Info
from picotask.schema.relay import Node, pk_of, to_global_id
from picotask.schema.sessions import RevokeSessionInput, RevokeSessionPayload, SessionType


def _current_id(info: Info) -> int | None:
    session = info.context.session
    return session.id if session is not None else None


async def session_node(info: Info, pk: int) -> Node | None:
    """Its owner only, while it is live."""
    viewer = info.context.viewer
    found = None if viewer is None else await info.context.services.sessions.live_one(viewer.id, pk)
    return SessionType.from_model(found, _current_id(info)) if found else None


@strawberry.type
class SessionsQuery:
    @strawberry.field(
        description="The viewer's live sessions, newest first (at most 100); the one of this "
        "request is `current`."
    )
    async def my_sessions(self, info: Info) -> list[SessionType]:
        viewer = info.context.require_viewer()
        rows = await info.context.services.sessions.live_of(viewer.id)
        current = _current_id(info)
        return [SessionType.from_model(row, current) for row in rows]


@strawberry.type
class SessionsMutation:
    @strawberry.mutation(
        description="End one of the viewer's sessions: its token stops working and its open "
        "sockets close. Ending the current one logs this client out."
    )
    async def revoke_session(self, info: Info, input: RevokeSessionInput) -> RevokeSessionPayload:
        viewer = info.context.require_viewer()
        ended = await info.context.services.sessions.revoke(
            viewer.id, pk_of(input.session_id, "Session")
        )
        return RevokeSessionPayload(session_id=to_global_id("Session", ended))
