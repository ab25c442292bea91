"""A subscriber's life on the bus, in one place: its phase, who runs it, and every transition.

A subscriber is one subscription's seat on the bus (bus.py): what it accepts, its bounded
queue, its cursor (`last`), and, when its transport offers one, its direct path to the socket
(direct.py). The bus, its generator (streams.py), its direct path (server/direct.py) and its
transport (server/ws_handler.py) move it from phase to phase only through the methods below:

    RUNNING ──its generator waits on an empty queue──▶ PARKED ──its transport takes it──▶ RESTING
      ▲  ▲                                                │                                │
      │  └────── an event only its generator can send ────┘    an event only its generator │
      │                                                        can send: a run is started  │
      └───────────────── that run resumes it ───────────── WAKING ◀────────────────────────┘

    any of those ──dropped (too slow; delivering an event to it failed; a restart)──▶ DROPPED
    any phase ──off the bus──▶ CLOSED

- RUNNING, WAKING: its events go to its queue, for its generator; but once one is on the direct
  path (`pending`), the later ones follow it there, so that they keep their order.
- PARKED, RESTING: everything before was delivered; the direct path takes its events and may
  write their frames at once (`writable`).
- DROPPED: only an end marker is left in its queue and nothing more is offered to it; its
  generator (woken, if it rested) ends the subscription with the marker's reason and its cursor.

Who runs it is a run: the task of the operation whose generator holds it (none while it rests:
its transport does). A run that ends lets it go only if it still holds it (`held_by`): a run
that rested and was woken again before its own end was cleaned up cannot take the subscriber
from the newer run.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING

from picotask.subscriptions.failures import bounded_traceback, report
from picotask.subscriptions.messages import Message

if TYPE_CHECKING:
    from picotask.subscriptions.bus import EventBus
    from picotask.subscriptions.direct import Direct

log = logging.getLogger(__name__)


class Phase(Enum):
    RUNNING = "running"
    PARKED = "parked"
    RESTING = "resting"
    WAKING = "waking"
    DROPPED = "dropped"
    CLOSED = "closed"

    # What the bus's path asks of a phase, once per subscriber and event: one attribute read
    # each, instead of comparing the phase with two of them (about 15% of `offer`).
    offered: bool  # events are still offered to it (neither dropped nor off the bus)
    caught_up: bool  # everything before was delivered: the direct path takes its events


RUNNING, PARKED, RESTING = Phase.RUNNING, Phase.PARKED, Phase.RESTING
WAKING, DROPPED, CLOSED = Phase.WAKING, Phase.DROPPED, Phase.CLOSED
for _phase in Phase:
    _phase.offered = _phase is not DROPPED and _phase is not CLOSED
    _phase.caught_up = _phase is PARKED or _phase is RESTING


class Ended(Exception):
    """How a dropped subscriber's generator ends it: resume with `after` set to `last_id`."""

    def __init__(self, last_id: int) -> None:
        super().__init__(type(self).__name__)
        self.last_id = last_id


class FellBehind(Ended):
    """The client could not keep up."""


class Undeliverable(Ended):
    """An event could not be delivered to it here: one this instance cannot read or render
    (written by a newer one, during a rolling deploy), or a bug. Resuming after `last_id`
    gets it again, from an instance that can deliver it."""


class Restarting(Ended):
    """This instance is shutting down (server/shutdown.py): resuming after `last_id`, on
    another instance, gets everything that follows."""


class Drop:
    """Left in a dropped subscriber's queue, in place of what it could not take."""

    __slots__ = ("error",)

    def __init__(self, error: type[Ended]) -> None:
        self.error = error


OVERFLOW = Drop(FellBehind)
UNDELIVERABLE = Drop(Undeliverable)
RESTART = Drop(Restarting)


class Inbox:
    """One subscriber's bounded queue, for its generator alone: the part of asyncio.Queue used
    here, without its three deques while empty (as most idle subscribers' are)."""

    __slots__ = ("items", "maxsize", "waiter")

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.items: deque[Message | Drop] | None = None
        self.waiter: asyncio.Future[None] | None = None

    def qsize(self) -> int:
        return len(self.items) if self.items else 0

    def empty(self) -> bool:
        return not self.items

    def put_nowait(self, item: Message | Drop) -> None:
        if self.items is None:
            self.items = deque()
        elif len(self.items) >= self.maxsize:
            raise asyncio.QueueFull
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def get_nowait(self) -> Message | Drop:
        if not self.items:
            raise asyncio.QueueEmpty
        item = self.items.popleft()
        if not self.items:
            self.items = None
        return item

    async def get(self) -> Message | Drop:
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        return self.get_nowait()


class Subscriber:
    __slots__ = ("accepts", "bus", "direct", "last", "pending", "phase", "position", "queue", "run")

    def __init__(
        self,
        accepts: Callable[[Message], bool],
        queue: Inbox,
        bus: EventBus,
        position: int,
        direct: Direct | None,
        run: object,
    ) -> None:
        self.accepts = accepts
        self.queue = queue
        self.bus = bus
        # The events it is offered are exactly those after this id (the bus's position when it
        # subscribed); the ones up to it are in the log.
        self.position = position
        self.direct = direct  # the direct path to its socket (direct.py)
        self.last = 0  # the id of the last event delivered (its cursor)
        self.phase = RUNNING
        self.run: object | None = run  # the run that holds it; None while it rests
        self.pending = 0  # events on the direct path, not yet written nor handed back

    @property
    def open(self) -> bool:
        """Still offered events (neither dropped nor off the bus)."""
        return self.phase.offered

    # The bus's side: its listener offers each event, in order.

    def offer(self, message: Message) -> None:
        """May raise (its `accepts`, its render on the direct path): the bus then ends this
        subscriber alone (`fail`)."""
        phase = self.phase
        if not phase.offered or not self.accepts(message):
            return
        direct = self.direct
        if direct is not None and (phase.caught_up or self.pending):
            if message.id <= self.last:
                return  # it resumed with a cursor from an instance further ahead
            if direct.take(self, message):
                if self.pending > self.queue.maxsize:
                    self.drop(OVERFLOW)
                return
        self.hand(message)

    def hand(self, message: Message) -> None:
        """To its own generator (from the bus, or handed back by the direct path)."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.drop(OVERFLOW)
            return
        if self.phase is PARKED:
            self.phase = RUNNING
        elif self.phase is RESTING:
            self._wake()

    def drop(self, end: Drop) -> None:
        """Free what it could not take and leave only `end` in its queue, for its generator."""
        was = self.phase
        if was is DROPPED or was is CLOSED:
            return
        self.phase = DROPPED
        if end is OVERFLOW:
            self.bus.stats.dropped_clients += 1
        if self.direct is not None:
            self.direct.dropped(self)
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(end)
        if was is RESTING:
            self._wake()

    def fail(self, message: Message, error: BaseException, step: str) -> None:
        """Delivering `message` to it raised: it alone ends, with its cursor, and is counted."""
        report(message, error, step)
        self.bus.stats.undeliverable += 1
        self.drop(UNDELIVERABLE)

    def _wake(self) -> None:
        """It rests, and its queue has what only its generator can deliver: its transport runs
        its operation again (`woken`). One its transport cannot run leaves the bus."""
        self.bus.stats.woken += 1
        try:
            assert self.direct is not None  # only a subscriber with a direct path rests
            self.direct.wake(self)
        except Exception as error:
            log.error("a resting subscriber could not be woken\n%s", bounded_traceback(error))
            self.bus.unsubscribe(self)

    def close(self) -> None:
        """Off the bus (only `EventBus.unsubscribe` calls this)."""
        self.phase = CLOSED

    # Its generator's side, in the run that holds it.

    def park(self) -> bool:
        """Its generator is about to wait for the next event: parked if its queue is empty."""
        if self.phase is RUNNING and self.queue.empty():
            self.phase = PARKED
        return self.phase is PARKED

    def rest(self) -> bool:
        """Parked, it rests if its transport takes it: no run holds it any more, and its
        generator ends (`direct.Rested`)."""
        direct = self.direct
        if self.phase is not PARKED or direct is None or not direct.rest(self):
            return False
        self.phase = RESTING
        self.run = None
        return True

    def resume(self, run: object) -> None:
        """The run its transport started for it (`woken`) takes it, as it is."""
        if self.run is not run:
            raise RuntimeError("a subscriber resumed by a run that does not hold it")
        if self.phase is WAKING:
            self.phase = RUNNING

    def held_by(self, run: object) -> bool:
        """Whether `run` holds it: when `run` ends, it leaves the bus with it (not if it
        rested since, or a newer run holds it)."""
        return self.run is run

    # Its transport's side.

    def woken(self, run: object) -> None:
        """Its transport started `run`, which resumes it."""
        self.run = run
        if self.phase is RESTING:
            self.phase = WAKING

    # Its direct path's side (server/direct.py).

    def writable(self) -> bool:
        """Whether a frame of its may go out now, before anything its generator sends: only
        while no generator has anything to send."""
        return self.phase.caught_up

    def joined(self) -> None:
        """An event of its is on the direct path."""
        self.pending += 1

    def left(self, count: int = 1) -> None:
        """Events of its left the direct path: written, handed back, or let go."""
        self.pending -= count

    def wrote(self, message: Message) -> None:
        """Its frame for `message` started to go out: nothing can come before it now."""
        self.last = message.id
