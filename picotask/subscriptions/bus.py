"""The event bus: one process-wide broadcaster subscription, fanned out locally.

broadcaster 0.3.1 is used only for what it does well (moving a message between processes);
around its known weaknesses:
- one subscription per process, opened at start-up, never per client (two concurrent first
  subscriptions to a channel on the redis/postgres backends lose one);
- each client gets its own bounded queue; a client that falls too far behind is dropped with a
  reason instead of growing memory (broadcaster's queues are unbounded);
- a watchdog sends a heartbeat through the backend and, when it does not come back (a lost
  Redis or PostgreSQL connection is never re-established by broadcaster), reconnects.
What the bus brings goes through the process's sequencer (sequencer.py) before any client sees
it: in id order, once each, and completed from the event log with whatever the bus did not
bring (a failed publish, an instance that died before publishing, an outage).
A failure in one subscriber's delivery stays that subscriber's: it ends, with its cursor
(subscriber.py), and the listener goes on with the next subscriber and the next event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from broadcaster import Broadcast

from picotask.models.events import Event
from picotask.services.accounts.sessions import Revocation
from picotask.services.core.metrics import LIVE_LAG
from picotask.subscriptions.direct import Direct
from picotask.subscriptions.failures import bounded_traceback
from picotask.subscriptions.groups import Groups
from picotask.subscriptions.messages import Message
from picotask.subscriptions.redis_backend import RedisPubSubBackend
from picotask.subscriptions.sequencer import Sequencer
from picotask.subscriptions.subscriber import RESTING, Drop, Inbox, Subscriber

log = logging.getLogger(__name__)
CHANNEL = "picotask.events"


def channel_for(database_url: str) -> str:
    """One channel per database: deployments (or test runs) that share a Redis never see each
    other's events, whose ids would collide."""
    return f"{CHANNEL}.{urlparse(database_url).path.rsplit('/', 1)[-1]}"


@dataclass
class BusStats:
    published: int = 0
    received: int = 0
    reconnects: int = 0
    dropped_clients: int = 0
    subscribers: int = 0
    woken: int = 0  # resting subscribers whose generator had to run again
    undeliverable: int = 0  # subscribers ended because delivering an event to them failed
    last_heartbeat: float = field(default_factory=time.monotonic)


class EventBus:
    def __init__(
        self,
        url: str,
        *,
        channel: str = CHANNEL,
        queue_size: int = 1_000,
        heartbeat_seconds: float = 1.0,
        log_poll_seconds: float = 0.5,
        gap_grace_seconds: float = 0.1,
    ) -> None:
        self.url = url
        self.channel = channel
        self.queue_size = queue_size
        self.heartbeat_seconds = heartbeat_seconds
        self.stats = BusStats()
        self.sequencer = Sequencer(
            self._fan_out, grace_seconds=gap_grace_seconds, poll_seconds=log_poll_seconds
        )
        self._subscribers: set[Subscriber] = set()
        # Subscribers of the same operation share each event's execution (server/fanout.py).
        self.groups: Groups[object] = Groups()
        self._broadcast: Broadcast | None = None
        self._listener: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._beats = itertools.count()
        self._revocation_listeners: list[Callable[[Revocation], None]] = []
        self._ending: Drop | None = None  # set once this instance shuts down (`end_all`)

    @property
    def position(self) -> int:
        """Every event up to this id has reached this process's subscribers (or never commits)."""
        return self.sequencer.position

    async def connect(self) -> None:
        await self.sequencer.start()
        await self._open()
        self._watchdog = asyncio.create_task(self._watch())

    async def disconnect(self) -> None:
        for task in (self._watchdog, self._listener):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.sequencer.stop()
        await self._close_broadcast()

    async def _open(self) -> None:
        if urlparse(self.url).scheme in {"redis", "rediss"}:
            broadcast = Broadcast(backend=RedisPubSubBackend(self.url))
        else:
            broadcast = Broadcast(self.url)
        await broadcast.connect()
        self._broadcast = broadcast
        self._ready.clear()
        self._listener = asyncio.create_task(self._listen(broadcast))
        await asyncio.wait_for(self._ready.wait(), 10)
        self.stats.last_heartbeat = time.monotonic()

    async def _close_broadcast(self) -> None:
        if self._broadcast is not None:
            with contextlib.suppress(Exception):
                await self._broadcast.disconnect()
            self._broadcast = None

    async def _listen(self, broadcast: Broadcast) -> None:
        async with broadcast.subscribe(self.channel) as subscription:
            self._ready.set()
            async for event in subscription:  # type: ignore[union-attr]  # broadcaster types __aiter__ as Optional
                if event is None:
                    return
                try:
                    self._dispatch(json.loads(event.message))
                except Exception as error:  # one message, not the listener: the log has ours
                    log.error("a bus message could not be read\n%s", bounded_traceback(error))
                # Let the clients' generators run between messages, so a burst only drops
                # the clients that really cannot keep up.
                await asyncio.sleep(0)

    def _dispatch(self, envelope: dict[str, Any]) -> None:
        if "heartbeat" in envelope:
            self.stats.last_heartbeat = time.monotonic()
            return
        if "revoked" in envelope:
            self._hear_revocation(envelope["revoked"])
            return
        for data in envelope["events"]:
            self.stats.received += 1
            try:
                message = Message.from_wire(data)
            except Exception as error:  # not one this instance can read: the log settles it
                log.error("a bus event could not be read\n%s", bounded_traceback(error))
                continue
            self.sequencer.arrive(message)

    def _fan_out(self, message: Message) -> None:
        """The sequencer's output: each event once, in id order. A subscriber whose delivery
        raises (its filter, or its render on the direct path: an event this instance cannot
        render, written by a newer one) ends alone, with its cursor; the others, and the
        sequencer's position, go on."""
        if not self._subscribers:
            return
        for subscriber in list(self._subscribers):
            try:
                subscriber.offer(message)
            except Exception as error:
                self._failed(subscriber, message, error)
        with contextlib.suppress(ValueError):  # a created_at this instance cannot read
            lag = time.time() - datetime.fromisoformat(message.created_at).timestamp()
            LIVE_LAG.observe(max(lag, 0.0))

    def _failed(self, subscriber: Subscriber, message: Message, error: Exception) -> None:
        try:
            subscriber.fail(message, error, "offered by the bus")
        except Exception as again:  # it cannot even be ended cleanly: off the bus, at least
            log.error("a failed subscriber could not be ended\n%s", bounded_traceback(again))
            self.unsubscribe(subscriber)

    async def publish(self, events: list[Event]) -> None:
        """Called after the events' transaction committed."""
        if self._broadcast is None:
            raise ConnectionError("the event bus is not connected")
        envelope = {"events": [Message.of(e).to_wire() for e in events]}
        await self._broadcast.publish(self.channel, json.dumps(envelope, separators=(",", ":")))
        self.stats.published += len(events)

    # Sessions that ended: their own envelope kind, beside the events, for every instance's
    # open connections (services/accounts/sessions.py). Never stored, so never replayed: an instance
    # that misses one learns it from the database (server/sockets.py).

    async def announce(self, revocation: Revocation) -> None:
        if self._broadcast is None:
            raise ConnectionError("the event bus is not connected")
        r = revocation
        wire = {"user": r.user_id, "sessions": r.sessions, "keep": r.keep, "reason": r.reason}
        envelope = json.dumps({"revoked": wire}, separators=(",", ":"))
        await asyncio.wait_for(
            self._broadcast.publish(self.channel, envelope), 3 * self.heartbeat_seconds
        )

    def on_revoked(self, listener: Callable[[Revocation], None]) -> None:
        self._revocation_listeners.append(listener)

    def _hear_revocation(self, wire: dict[str, Any]) -> None:
        sessions = wire["sessions"]
        revocation = Revocation(
            user_id=int(wire["user"]),
            sessions=None if sessions is None else tuple(int(s) for s in sessions),
            reason=str(wire["reason"]),
            keep=None if wire["keep"] is None else int(wire["keep"]),
        )
        for listener in self._revocation_listeners:
            listener(revocation)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, accepts: Callable[[Message], bool], direct: Direct | None = None
    ) -> AsyncIterator[Subscriber]:
        run = asyncio.current_task()
        # Registered at the position in the same step: no event can fall between the two.
        subscriber = Subscriber(accepts, Inbox(self.queue_size), self, self.position, direct, run)
        self._subscribers.add(subscriber)
        self.stats.subscribers = len(self._subscribers)
        if self._ending is not None:
            subscriber.drop(self._ending)
        with self.owned(subscriber, run):
            yield subscriber

    @contextlib.contextmanager
    def owned(self, subscriber: Subscriber, run: object) -> Iterator[Subscriber]:
        """A subscriber while `run`'s generator has it (from `subscribe`, or woken after it
        rested): off the bus when the generator ends, unless `run` no longer holds it (it
        rested: its transport holds it, and unsubscribes it; or a newer run holds it)."""
        try:
            yield subscriber
        finally:
            if subscriber.held_by(run):
                self.unsubscribe(subscriber)

    def end_all(self, end: Drop) -> None:
        """Every subscription ends (its generator, woken if it rests, ends it with `end`'s
        reason and its cursor), and so does any that subscribes from now on: this instance
        shuts down (server/shutdown.py)."""
        self._ending = end
        for subscriber in list(self._subscribers):
            subscriber.drop(end)

    def resting(self) -> int:
        """How many subscribers rest now (counted when asked: for tests and benchmarks)."""
        return sum(subscriber.phase is RESTING for subscriber in self._subscribers)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscriber.close()
        self._subscribers.discard(subscriber)
        self.stats.subscribers = len(self._subscribers)

    async def ping(self, within: float = 2.0) -> bool:
        """Ready when the backend accepts a publish and the heartbeat came back recently."""
        if self._broadcast is None:
            return False
        try:
            await asyncio.wait_for(self._heartbeat(), within)
        except Exception:  # any backend failure means "not ready"
            log.warning("event bus %s is not answering", self.url, exc_info=True)
            return False
        return time.monotonic() - self.stats.last_heartbeat < 5 * self.heartbeat_seconds

    async def _heartbeat(self) -> None:
        assert self._broadcast is not None
        beat = json.dumps({"heartbeat": next(self._beats)})
        await self._broadcast.publish(self.channel, beat)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._heartbeat(), self.heartbeat_seconds)
            listener_dead = self._listener is None or self._listener.done()
            silent = time.monotonic() - self.stats.last_heartbeat > 3 * self.heartbeat_seconds
            if listener_dead or silent:
                await self._reconnect()

    async def _reconnect(self) -> None:
        log.warning("event bus %s lost; reconnecting", self.url)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        await self._close_broadcast()
        try:
            await self._open()
        except Exception:
            log.warning("event bus %s still unreachable", self.url, exc_info=True)
            return
        self.stats.reconnects += 1
        self.sequencer.read_soon()  # what was published while the bus was away
