"""Open websockets: how many, whose, and closing them when their session ends.

A socket authenticates once, at `connection_init`; what it then knows of its session (the user,
the expiry) is kept here, per session, and every operation is checked against it first:
- a revocation (log-out, password change, suspension: `services/accounts/sessions.py`) arrives
  from this instance at once and from the others over the bus; it drops what is known and closes the
  sockets it concerns with 4403;
- the check loop closes sockets whose session expired (by the injected clock) and re-reads, in
  one query, the sessions known for longer than `session_trust_seconds`;
- while the bus is down, or since it reconnected, a revocation may have been missed: then what
  is known is not trusted, and an operation waits for the session to be read again first.
So an operation costs no query while the bus is healthy and what is known is fresh.

On shutdown (server/shutdown.py) every subscription has been ended with its cursor by the bus;
`drain` closes each socket with 1012 (service restart) once its operations have all answered,
and starts nothing new meanwhile.

Counts (sockets per address from the accept, per user from `connection_init`) are per instance.
The protocol side (counting, authorizing, closing one socket) is `ws_handler.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from picotask.models.users import Session, User
from picotask.schema.context import Context
from picotask.services.accounts.sessions import Revocation, live_sessions, seen_all
from picotask.services.core.clock import Clock
from picotask.settings import Settings
from picotask.subscriptions.bus import EventBus

if TYPE_CHECKING:
    from picotask.server.ws_handler import SocketHandler

log = logging.getLogger(__name__)
UNAVAILABLE = 1011
SERVICE_RESTART = 1012
RESTART_REASON = "The server restarts: connect again and resume with your cursors."
DRAIN_POLL_SECONDS = 0.02
RECHECK_BATCH = 500  # sessions read again in one query


class TooManySockets(Exception):
    """The user already has every socket allowed (closed with 4429)."""


@dataclass(slots=True)
class Known:
    """What this instance knows of one live session, as of `checked_at`."""

    user: User
    session: Session
    checked_at: datetime  # the injected clock's time
    reconnects: int  # the bus's reconnects then: a later one may have lost a revocation


class Sockets:
    def __init__(self, settings: Settings, clock: Clock, bus: EventBus) -> None:
        self.settings = settings
        self.clock = clock
        self.bus = bus
        self.trust = timedelta(seconds=settings.session_trust_seconds)
        self._by_context: dict[int, SocketHandler] = {}  # id(context): lives as long as it
        self._by_address: Counter[str] = Counter()
        self._by_user: dict[int, set[SocketHandler]] = {}
        self._by_session: dict[int, set[SocketHandler]] = {}
        self._known: dict[int, Known] = {}  # by session id
        self._tasks: set[asyncio.Task[None]] = set()
        self.draining = False  # shutting down: no new socket, no new operation

    def open_count(self) -> int:
        return len(self._by_context)

    def admit(self, handler: SocketHandler) -> bool:
        if self._by_address[handler.address] >= self.settings.max_sockets_per_address:
            return False
        self._by_address[handler.address] += 1
        self._by_context[id(handler.context)] = handler
        return True

    def leave(self, handler: SocketHandler) -> None:
        self._by_context.pop(id(handler.context), None)
        self._by_address[handler.address] -= 1
        if self._by_address[handler.address] <= 0:
            del self._by_address[handler.address]
        if handler.user_id is not None and handler.session_id is not None:
            _discard(self._by_user, handler.user_id, handler)
            if not _discard(self._by_session, handler.session_id, handler):
                self._known.pop(handler.session_id, None)

    def bind(self, context: Context, user: User, session: Session) -> None:
        """The socket of `context` authenticated: count it for its user, remember its session."""
        handler = self._by_context[id(context)]
        mine = self._by_user.setdefault(user.id, set())
        if len(mine) >= self.settings.max_sockets_per_user:
            raise TooManySockets(f"At most {self.settings.max_sockets_per_user} sockets a user.")
        mine.add(handler)
        self._by_session.setdefault(session.id, set()).add(handler)
        handler.user_id, handler.session_id = user.id, session.id
        self._known[session.id] = Known(user, session, self.clock.now(), self.bus.stats.reconnects)

    async def authorize(self, handler: SocketHandler) -> bool:
        """Before an operation: False (and the socket closing) if its session ended; else the
        context holds the user as last read."""
        if handler.closing:
            return False
        if handler.session_id is None:
            return True  # anonymous: nothing to end
        known = self._known.get(handler.session_id)
        if known is None or not self._trusted(known):
            try:
                await self._recheck([handler.session_id])
            except Exception:  # the database is away: act on nothing unchecked
                log.warning("could not check a socket's session", exc_info=True)
                handler.end("The session could not be checked; try again.", UNAVAILABLE)
                return False
            known = self._known.get(handler.session_id)
        if handler.closing or known is None:
            handler.end("The session ended.")
            return False
        if known.session.expires_at <= self.clock.now():
            self._expire(handler.session_id)
            return False
        handler.context.viewer, handler.context.session = known.user, known.session
        return True

    def revoke(self, revocation: Revocation) -> None:
        """Close, here, the sockets a revocation concerns (from this instance or the bus)."""
        for handler in list(self._by_user.get(revocation.user_id, ())):
            assert handler.session_id is not None
            if revocation.concerns(revocation.user_id, handler.session_id):
                self._known.pop(handler.session_id, None)
                handler.end(revocation.reason)

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.session_check_seconds)
            try:
                await self.check()
            except Exception:  # the database may be away; the next round tries again
                log.warning("could not check the sessions of open sockets", exc_info=True)

    async def check(self) -> None:
        """Close the sockets of expired sessions; read again those not trusted any more."""
        now = self.clock.now()
        for session_id, known in list(self._known.items()):
            if known.session.expires_at <= now:
                self._expire(session_id)
        await self._recheck([sid for sid, k in self._known.items() if not self._trusted(k)])

    def _trusted(self, known: Known) -> bool:
        stats = self.bus.stats
        bus_up = time.monotonic() - stats.last_heartbeat < 3 * self.bus.heartbeat_seconds
        return (
            bus_up
            and known.reconnects == stats.reconnects
            and self.clock.now() - known.checked_at < self.trust
        )

    async def _recheck(self, session_ids: list[int]) -> None:
        now, reconnects = self.clock.now(), self.bus.stats.reconnects
        live: dict[int, Session] = {}
        for start in range(0, len(session_ids), RECHECK_BATCH):
            live |= await live_sessions(session_ids[start : start + RECHECK_BATCH], self.clock)
        for session_id in session_ids:
            handlers = [h for h in self._on_session(session_id) if not h.closing]
            session = live.get(session_id)
            if session is None:
                self._known.pop(session_id, None)
                for handler in handlers:
                    handler.end("The session ended.")
            elif handlers:
                self._known[session_id] = Known(session.user, session, now, reconnects)
        # A session an open socket uses is in use: read again anyway, so seen in the same round.
        await seen_all([row for sid, row in live.items() if self._on_session(sid)], now)

    def _expire(self, session_id: int) -> None:
        self._known.pop(session_id, None)
        for handler in self._on_session(session_id):
            handler.end("The session expired.")

    def _on_session(self, session_id: int) -> list[SocketHandler]:
        return list(self._by_session.get(session_id, ()))

    async def drain(self, within: float) -> None:
        """Close every socket with 1012 once its operations have answered (each subscription
        its last frame, with its cursor: `EventBus.end_all`; each query or mutation its
        result), or, after `within` seconds, with what still runs cancelled. Meanwhile a socket
        starts nothing new: what a client sends now it sends again on its next connection."""
        self.draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        open_ = set(self._by_context.values())
        while open_:
            for handler in [h for h in open_ if not h.operations or loop.time() >= deadline]:
                open_.discard(handler)
                handler.end(RESTART_REASON, SERVICE_RESTART)
            if open_:
                await asyncio.sleep(DRAIN_POLL_SECONDS)
        if self._tasks:  # the closes under way
            await asyncio.wait(list(self._tasks), timeout=max(0.0, deadline - loop.time()))

    def keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _discard(index: dict[int, set[SocketHandler]], key: int, handler: SocketHandler) -> bool:
    """Take `handler` out of `index[key]`; whether any is left there."""
    handlers = index.get(key, set())
    handlers.discard(handler)
    if not handlers:
        index.pop(key, None)
    return bool(handlers)
