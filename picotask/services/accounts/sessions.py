"""Ending sessions while they are in use: the announcement every live connection must hear.

A session ends in the database (log-out, password change) or stops being allowed to act there
(suspension). HTTP requests read the database each time; a websocket keeps what it knows in
memory, so whatever ends a session also announces it, and the server closes the connections it
concerns, here and, through the bus, on every other instance. The database stays the truth:
an announcement that is lost only delays the close until the next check against it.

Sessions are also what their owner sees of them (`mySessions`): where each was opened, when it
was last used, and a way to end one (`SessionService`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from picotask.models.users import Session
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode

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


MAX_CLIENT_ADDRESS = 45  # the longest textual IPv6 address (an IPv4-mapped one)
MAX_USER_AGENT = 300
MAX_LISTED = 100
# `last_seen_at` moves at most this often: a session in use costs one UPDATE a minute, not one
# per request.
SEEN_EVERY = timedelta(seconds=60)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


@dataclass(frozen=True, slots=True)
class Client:
    """What the transport knows of who opens a session, as stored: trimmed and capped."""

    address: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, address: str | None, user_agent: str | None) -> Client:
        agent = " ".join(_UNPRINTABLE.sub(" ", user_agent or "").split())[:MAX_USER_AGENT]
        address = (address or "").strip()[:MAX_CLIENT_ADDRESS]
        return cls(address or None, agent.rstrip() or None)


async def seen(session: Session, now: datetime) -> None:
    """`session` just authenticated a request: its `last_seen_at` moves if it is a minute old.
    The row was read to authenticate, so a fresh one costs nothing; a stale one one
    conditional UPDATE (two requests racing both write the same minute)."""
    stale = now - SEEN_EVERY
    if session.last_seen_at is not None and session.last_seen_at >= stale:
        return
    await Session.filter(id=session.id, last_seen_at__lt=stale).update(last_seen_at=now)
    session.last_seen_at = now


async def seen_all(sessions: Collection[Session], now: datetime) -> None:
    """Sessions in use by open sockets, just read again (server/sockets.py): those a minute
    old in one UPDATE."""
    stale = now - SEEN_EVERY
    ids = [s.id for s in sessions if s.last_seen_at is None or s.last_seen_at < stale]
    if ids:
        await Session.filter(id__in=ids, last_seen_at__lt=stale).update(last_seen_at=now)


class SessionService:
    """A user's own sessions: listing them and ending one."""

    def __init__(self, clock: Clock, revocations: Revocations) -> None:
        self.clock = clock
        self.revocations = revocations

    async def live_of(self, user_id: int, limit: int = MAX_LISTED) -> list[Session]:
        """The user's live sessions, newest first; at most `limit`."""
        return (
            await Session.filter(user_id=user_id, revoked_at=None, expires_at__gt=self.clock.now())
            .order_by("-created_at", "-id")
            .limit(limit)
        )

    async def live_one(self, user_id: int, session_id: int) -> Session | None:
        return await Session.get_or_none(
            id=session_id, user_id=user_id, revoked_at=None, expires_at__gt=self.clock.now()
        )

    async def revoke(self, user_id: int, session_id: int | None) -> int:
        """End one of the user's live sessions (`session_id` None: an id that names none);
        its sockets close. Returns its id."""
        ended = 0
        if session_id is not None:
            ended = await Session.filter(
                id=session_id, user_id=user_id, revoked_at=None, expires_at__gt=self.clock.now()
            ).update(revoked_at=self.clock.now())
        if not ended or session_id is None:
            raise DomainError(
                ErrorCode.NOT_FOUND,
                "sessionId names none of your sessions.",
                ["input", "sessionId"],
            )
        await self.revocations.announce(
            Revocation(user_id, (session_id,), "The session was revoked.")
        )
        return session_id
