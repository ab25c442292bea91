"""Ending sessions while they are in use: the announcement every live connection must hear.

A session ends in the database (log-out, password change) or stops being allowed to act there
(suspension). HTTP requests read the database each time; a websocket keeps what it knows in
memory, so whatever ends a session also announces it, and the server closes the connections it
concerns, here and, through the bus, on every other instance. The database stays the truth:
an announcement that is lost only delays the close until the next check against it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from picotask.models.users import Session
from picotask.services.core.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Revocation:
    """Connections of `user_id` on `sessions` (None: on any of the user's sessions but `keep`)
    must stop acting; `reason` is what the closed connections are told."""

    user_id: int
    sessions: tuple[int, ...] | None
    reason: str
    keep: int | None = None

    def concerns(self, user_id: int, session_id: int) -> bool:
        if user_id != self.user_id or session_id == self.keep:
            return False
        return self.sessions is None or session_id in self.sessions


Listener = Callable[[Revocation], Awaitable[None] | None]


class Revocations:
    """Tells every listener (this instance's connections, the bus) that sessions ended."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def announce(self, revocation: Revocation) -> None:
        """Called after the change committed. Shielded: the caller may be an operation on a
        connection this very announcement closes, and its cancellation must not stop the news
        reaching the other listeners. A listener's failure is logged, never raised: the change
        is made, and connections that missed the news learn it from the database."""
        await asyncio.shield(self._tell(revocation))

    async def _tell(self, revocation: Revocation) -> None:
        for listener in self._listeners:
            try:
                outcome = listener(revocation)
                if outcome is not None:
                    await outcome
            except Exception:  # one deaf listener must not keep the news from the others
                log.warning("could not announce %s", revocation, exc_info=True)


async def live_sessions(ids: Collection[int], clock: Clock) -> dict[int, Session]:
    """Those of these sessions that are still live, with their users, in one query."""
    if not ids:
        return {}
    rows = await Session.filter(
        id__in=list(ids), revoked_at=None, expires_at__gt=clock.now()
    ).select_related("user")
    return {row.id: row for row in rows}
