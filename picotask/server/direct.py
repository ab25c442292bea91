"""Live events of grouped subscriptions written straight to their sockets.

Per event and subscriber, strawberry's path wakes the subscriber's generator, runs the result
through the operation's extension hooks, formats it and sends it: the bulk of a fan-out once
the execution itself is shared (server/fanout.py). Here (subscriptions/direct.py says when) an
event a parked subscriber accepts joins its group's `Cohort`, which executes it once for the
group (the same shared execution, `Groups.shared`), encodes the frame once per operation id,
and puts it in each subscriber's socket `Outbox`; a result that is not for everyone (the
execution asked for a subscriber, or has errors) is handed back to each generator instead,
which answers as it always does. Frames are what strawberry would have sent for an error-free
result: `{"id", "type": "next", "payload": {"data"}}` (operations are grouped only while no
schema extension has a hook that would change them: server/fanout.py).

No send waits for a slow socket: the frame is written at once when the socket can take it (the
send coroutine is run without a task, and finishes without suspending); otherwise it waits in
the socket's outbox, with its subscriber's count, behind which the rest of that socket's frames
queue, and one task sends them as the socket drains. A subscriber with more than its queue's
size waiting is dropped as today (`Subscriber.drop`: its generator ends it with SLOW_CONSUMER
and its cursor, the last frame that went out).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Coroutine, Generator, Hashable
from typing import Any, Protocol, cast

import orjson
from strawberry.asgi import ASGIWebSocketAdapter

from picotask.subscriptions.bus import Subscriber
from picotask.subscriptions.direct import Render
from picotask.subscriptions.groups import Groups, GroupStats
from picotask.subscriptions.messages import Message

log = logging.getLogger(__name__)


class _Run(Protocol):
    """server/fanout.py's SharedRun: a group's execution of an event, for all of it."""

    group: Hashable

    def execute(self, payload: Any) -> Awaitable[Any]: ...


class _Executor(Protocol):
    """server/fanout.py's GroupedExecutor, as the direct path uses it."""

    def shared_run(self) -> _Run | None: ...


class _Socket(Protocol):
    """The operation's socket handler (server/ws_handler.py)."""

    closing: bool
    websocket: Any  # strawberry's ASGIWebSocketAdapter
    outbox: Outbox | None

    def rest(self, operation_id: str, subscriber: Subscriber) -> bool: ...

    def wake(self, operation_id: str) -> None: ...


class Outbox:
    """One socket's frames from the direct path, in order, never waiting for the socket."""

    __slots__ = ("busy", "entries", "gone", "socket", "stats", "task")

    def __init__(self, socket: _Socket, stats: GroupStats) -> None:
        self.socket, self.stats = socket, stats
        # (subscriber, event, frame), or frame None: hand the event back to its generator.
        self.entries: deque[tuple[Subscriber, Message, str | None]] = deque()
        self.busy = False  # a frame is on its way: what follows waits behind it
        self.gone = False
        self.task: asyncio.Task[None] | None = None

    def put(self, subscriber: Subscriber, message: Message, frame: str | None) -> None:
        if self.busy and not subscriber.dropped:
            self.entries.append((subscriber, message, frame))
            return
        started = self._release(subscriber, message, frame)
        if started is not None:
            self.busy = True
            self.task = asyncio.get_running_loop().create_task(self._drain(started))

    def purge(self, subscriber: Subscriber) -> None:
        """Forget what waits for a dropped subscriber."""
        kept = [entry for entry in self.entries if entry[0] is not subscriber]
        subscriber.pending -= len(self.entries) - len(kept)
        self.entries = deque(kept)

    def _release(self, subscriber: Subscriber, message: Message, frame: str | None) -> _Rest | None:
        """Take an entry out of the outbox: write its frame (None when it went out at once,
        else the rest of its send) or hand its event back."""
        subscriber.pending -= 1
        if subscriber.dropped or subscriber.closed or self.socket.closing or self.gone:
            return None
        # Handed back, or behind an event handed back that its generator has not sent yet
        # (the subscriber is parked again once it has): its generator sends it, in order.
        if frame is None or not subscriber.parked:
            subscriber.hand(message)
            return None
        subscriber.last = message.id  # once started, the frame goes out before anything else
        self.stats.shared_deliveries += 1
        self.stats.direct_frames += 1
        adapter = cast("ASGIWebSocketAdapter", self.socket.websocket)
        send = adapter.ws.send({"type": "websocket.send", "text": frame})
        try:
            waiting = send.send(None)
        except StopIteration:
            return None
        except Exception:  # the socket is gone; its handler ends its operations
            self.gone = True
            return None
        return _Rest(send, waiting)

    async def _drain(self, started: _Rest) -> None:
        try:
            await started
            while self.entries:
                rest = self._release(*self.entries.popleft())
                if rest is not None:
                    await rest
        except Exception:
            self.gone = True
        finally:
            self.busy = False
            self.task = None
            if self.gone:
                while self.entries:
                    self.entries.popleft()[0].pending -= 1


class _Rest:
    """The rest of a send that was started outside of any task and suspended on `waiting`
    (what a coroutine hands its task to wait for: a future, or None to yield), to await in
    one."""

    __slots__ = ("send", "waiting")

    def __init__(self, send: Coroutine[Any, Any, None], waiting: Any) -> None:
        self.send, self.waiting = send, waiting

    def __await__(self) -> Generator[Any, Any, None]:
        send, waiting = self.send, self.waiting
        while True:
            try:
                value = yield waiting
            except BaseException as error:
                try:
                    waiting = send.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    waiting = send.send(value)
                except StopIteration:
                    return


class _Entry:
    __slots__ = ("members", "message", "run", "source")

    def __init__(self, message: Message, source: object, run: _Run) -> None:
        self.message, self.source, self.run = message, source, run
        self.members: list[tuple[Subscriber, str, Outbox]] = []


class Cohort:
    """The direct path of one group: its events, executed once each and in order."""

    def __init__(self, group: Hashable, cohorts: Cohorts) -> None:
        self.group = group
        self.cohorts = cohorts
        self.pending: deque[_Entry] = deque()
        self.task: asyncio.Task[None] | None = None

    def add(
        self,
        message: Message,
        source: object,
        run: _Run,
        member: tuple[Subscriber, str, Outbox],
    ) -> None:
        last = self.pending[-1] if self.pending else None
        if last is None or last.message is not message or last.source is not source:
            last = _Entry(message, source, run)
            self.pending.append(last)
        last.members.append(member)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        groups = self.cohorts.groups
        try:
            while self.pending:
                entry = self.pending[0]
                payload = None
                if not groups.per_subscriber(self.group):
                    try:
                        payload = await groups.shared(
                            self.group,
                            entry.source,
                            functools.partial(entry.run.execute, entry.source),
                        )
                    except Exception:  # each generator executes it again, as its own
                        log.exception("a shared execution failed")
                self.pending.popleft()
                self._deliver(entry, payload)
        finally:
            self.task = None
            if not self.pending:
                self.cohorts.by_group.pop(self.group, None)

    def _deliver(self, entry: _Entry, payload: Any) -> None:
        data = None if payload is None or payload.errors else payload.data
        frames: dict[str, str] = {}
        for subscriber, op_id, outbox in entry.members:
            if data is None:
                outbox.put(subscriber, entry.message, None)
                continue
            frame = frames.get(op_id)
            if frame is None:
                next_ = {"id": op_id, "type": "next", "payload": {"data": data}}
                frame = frames[op_id] = orjson.dumps(next_).decode()
            outbox.put(subscriber, entry.message, frame)


class Cohorts:
    """Per app: the cohorts with events on their way."""

    def __init__(self, groups: Groups[object]) -> None:
        self.groups = groups
        self.by_group: dict[Hashable, Cohort] = {}

    def of(self, group: Hashable) -> Cohort:
        cohort = self.by_group.get(group)
        if cohort is None:
            cohort = self.by_group[group] = Cohort(group, self)
        return cohort


class _Path:
    """One subscription's direct path (subscriptions/direct.py's `Direct`): all it keeps of
    its operation while it rests."""

    __slots__ = ("cohorts", "op_id", "render", "run", "socket")

    def __init__(
        self, socket: _Socket, op_id: str, run: _Run, render: Render, cohorts: Cohorts
    ) -> None:
        self.socket, self.op_id, self.run = socket, op_id, run
        self.render, self.cohorts = render, cohorts

    def take(self, subscriber: Subscriber, message: Message) -> bool:
        if self.socket.closing:
            return True  # its session ended: nothing more goes out
        if not subscriber.pending and self.cohorts.groups.per_subscriber(self.run.group):
            return False  # executed for each subscriber: its generator does it
        outbox = self.socket.outbox
        if outbox is None:
            outbox = self.socket.outbox = Outbox(self.socket, self.cohorts.groups.stats)
        subscriber.pending += 1
        member = (subscriber, self.op_id, outbox)
        self.cohorts.of(self.run.group).add(message, self.render(message), self.run, member)
        return True

    def dropped(self, subscriber: Subscriber) -> None:
        if self.socket.outbox is not None:
            self.socket.outbox.purge(subscriber)

    def rest(self, subscriber: Subscriber) -> bool:
        # A group executed per subscriber needs the generator for every event: it stays.
        if self.cohorts.groups.per_subscriber(self.run.group):
            return False
        return self.socket.rest(self.op_id, subscriber)

    def wake(self, subscriber: Subscriber) -> None:
        self.socket.wake(self.op_id)


class OperationOutlet:
    """subscriptions/direct.py's `Outlet` for one operation of one socket."""

    __slots__ = ("cohorts", "executor", "op_id", "resumed", "socket")

    def __init__(
        self, socket: _Socket, op_id: str, cohorts: Cohorts, resumed: Subscriber | None = None
    ) -> None:
        self.socket, self.op_id, self.cohorts = socket, op_id, cohorts
        self.executor: object | None = None  # the subscription's, once built (fanout.py)
        self.resumed = resumed

    def direct(self, render: Render) -> _Path | None:
        executor = cast("_Executor | None", self.executor)
        run = executor.shared_run() if executor is not None else None
        if run is None:
            return None
        return _Path(self.socket, self.op_id, run, render, self.cohorts)
