"""The viewer's sessions as the API shows them: where each was opened, when last used."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.models.users import Session
from picotask.schema.errors import UserError
from picotask.schema.relay import Node, to_global_id


@strawberry.type(
    name="Session",
    description="One signed-in browser or client of the viewer's (never its token).",
)
class SessionType(Node):
    created_at: datetime
    last_seen_at: datetime = strawberry.field(
        description="When it last authenticated a request, to the minute."
    )
    client_address: str | None = strawberry.field(
        description="The network address it was opened from."
    )
    user_agent: str | None = strawberry.field(
        description="The User-Agent it was opened with (at most 300 characters)."
    )
    current: bool = strawberry.field(description="The session of this very request.")

    @classmethod
    def from_model(cls, session: Session, current_id: int | None) -> SessionType:
        return cls(
            id=to_global_id("Session", session.id),
            created_at=session.created_at,
            last_seen_at=session.last_seen_at or session.created_at,
            client_address=session.client_address,
            user_agent=session.user_agent,
            current=session.id == current_id,
        )


@strawberry.input
class RevokeSessionInput:
    session_id: strawberry.ID = strawberry.field(description="One of mySessions.")


@strawberry.type
class RevokeSessionPayload:
    session_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The session ended; its token stops working and its sockets close. The "
        "current one: this client is logged out.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)
