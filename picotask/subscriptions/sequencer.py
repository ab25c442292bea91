"""Every committed event, once each and in id order, for one process's subscribers.

Event ids are handed out in commit order (services/core/events.py: on PostgreSQL under a lock held
to commit; SQLite commits one transaction at a time), so the log, read at any moment, is whole
up to its newest row: a lower id missing from it never commits (its transaction rolled back, or
a crash burnt it in the sequence). Publishes are another matter: each instance publishes after
its own commit, so the bus carries ids in either order, and a publish can fail, or never happen
(an instance that dies between commit and publish, a Redis outage).

So the bus is the fast path and the log is the truth. A message that comes as the next id goes
straight out; one that comes ahead of a missing id waits a short grace for the bus to bring the
missing one, then one read of the log, for the whole process, settles it. The log is also read
every poll interval, so events the bus never brought are found within it. `position` only moves
forward, over ids delivered or known never to exist: subscribers receive strictly increasing
ids, each once, and a subscriber registered at a position has every event up to it in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from picotask.models.events import Event
from picotask.subscriptions.messages import Message

log = logging.getLogger(__name__)
READ_BATCH = 500
# The name of the task that reads the log: one per process, whatever the number of subscribers.
TASK_NAME = "picotask.event-log-reader"


class Sequencer:
    def __init__(
        self, deliver: Callable[[Message], None], *, grace_seconds: float, poll_seconds: float
    ) -> None:
        self.deliver = deliver
        self.grace_seconds = grace_seconds
        self.poll_seconds = poll_seconds
        self.position = 0
        self.log_reads = 0  # queries on the log
        self.from_log = 0  # events delivered from the log because the bus had not brought them
        self.unknown = 0  # bus messages the log did not hold when read after they came
        self.gap_waits = 0  # times a message came ahead of a missing id and waited for it
        self.delivered = 0  # events handed to the subscribers
        self._ahead: dict[int, tuple[float, Message]] = {}  # id: (arrival time, message)
        self._poll_at = float("inf")  # loop time of the next poll of the log
        self._gap_at: float | None = None  # ... and of the read that settles a gap, if any
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Live from the newest event committed now; earlier ones are the log's to replay."""
        newest = await Event.all().order_by("-id").first().only("id")
        self.position = newest.id if newest else 0
        self._poll_at = _now() + self.poll_seconds
        self._task = asyncio.create_task(self._run(), name=TASK_NAME)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def arrive(self, message: Message) -> None:
        """A message from the bus."""
        if message.id <= self.position or message.id in self._ahead:
            return  # delivered already (read from the log first, or published twice)
        if message.id == self.position + 1:
            self._pass(message)
            self._release()
            return
        self._ahead[message.id] = (_now(), message)
        if self._gap_at is None:
            self.gap_waits += 1
            self._gap_at = _now() + self.grace_seconds
            self._wake.set()

    def read_soon(self) -> None:
        """The bus may have missed messages (it reconnected): read the log now."""
        self._poll_at = _now()
        self._wake.set()

    async def _catch_up(self) -> None:
        """Deliver what the log holds past the position, in order; forget the messages that
        came ahead of a gap which the log, read after they came, does not hold (not this
        database's, or not committed: if one ever commits, the next read delivers it)."""
        started = _now()
        while True:
            self.log_reads += 1
            rows = await Event.filter(id__gt=self.position).order_by("id").limit(READ_BATCH)
            for row in rows:
                if row.id <= self.position:
                    continue  # the bus brought it while the log was being read
                early = self._ahead.pop(row.id, None)
                if early is None:
                    self.from_log += 1
                self._pass(early[1] if early else Message.of(row))
            if len(rows) < READ_BATCH:
                break
        for event_id, (came, _) in list(self._ahead.items()):
            if event_id <= self.position or came < started:
                del self._ahead[event_id]
                self.unknown += 1
                log.warning("event %d came on the bus but is not in the log", event_id)
        self._release()  # what came during the read and is next now
        if self._ahead:  # came during the read: their grace runs from their arrival
            self._gap_at = min(came for came, _ in self._ahead.values()) + self.grace_seconds

    def _pass(self, message: Message) -> None:
        self.position = message.id
        self.delivered += 1
        self.deliver(message)

    def _release(self) -> None:
        """Deliver what waited for the ids now delivered."""
        while (early := self._ahead.pop(self.position + 1, None)) is not None:
            self._pass(early[1])
        if not self._ahead:
            self._gap_at = None  # the bus filled the gap: no read needed for it

    async def _run(self) -> None:
        while True:
            due = self._poll_at if self._gap_at is None else min(self._poll_at, self._gap_at)
            if (delay := due - _now()) > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            self._poll_at = _now() + self.poll_seconds
            self._gap_at = None
            try:
                await self._catch_up()
            except Exception:  # the database is away: the poll tries again
                log.warning("reading the event log failed", exc_info=True)


def _now() -> float:
    return asyncio.get_running_loop().time()
