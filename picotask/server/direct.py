"""Live events of grouped subscriptions written straight to their sockets.

Per event and subscriber, strawberry's path wakes the subscriber's generator, runs the result
through the operation's extension hooks, formats it and sends it: the bulk of a fan-out once
the execution itself is shared (server/fanout.py). Here (subscriptions/direct.py says when) an
event a parked subscriber accepts joins its group's `Cohort`, which executes it once for the
group (the same shared execution, `Groups.shared`), encodes the frame once per operation id,
and puts it in each subscriber's socket `Outbox`; a result that is not for everyone (the
execution asked for a subscriber, or has errors) is handed back to each generator instead,
which answers as it always does. So does a shared execution that raised (subscriptions/
groups.py logs it once and gives no result): each generator then executes the event as its
own (server/fanout.py), and answers what that execution gives it. Frames are byte for byte
what strawberry sends for an error-free result, `{"id", "type": "next", "payload": {"data"}}`:
operations are grouped only while no schema extension has a hook that would change their
events (server/fanout.py), and the direct path is only taken when no extension of the schema
can add to such a result or change it as it is sent (`plain_frames`).

No send waits for a slow socket (server/outbox.py). Whatever fails for one subscriber here ends
that subscriber alone (`Subscriber.fail`); its phases are subscriptions/subscriber.py's.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Awaitable, Hashable
from typing import Any, Protocol, cast

import orjson
from strawberry import Schema
from strawberry.extensions import MaskErrors, SchemaExtension

from picotask.server.outbox import Outbox
from picotask.subscriptions.direct import Render
from picotask.subscriptions.groups import Groups
from picotask.subscriptions.messages import Message
from picotask.subscriptions.subscriber import Subscriber


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

    def wake(self, operation_id: str, subscriber: Subscriber) -> None: ...


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
                    # None also when it raised: handed back, each generator then executes
                    # the event as its own, as for a group that asked for its subscriber.
                    payload = await groups.shared(
                        self.group, entry.source, functools.partial(entry.run.execute, entry.source)
                    )
                self.pending.popleft()
                self._deliver(entry, payload)
        finally:
            self.task = None
            if not self.pending:
                self.cohorts.by_group.pop(self.group, None)

    def _deliver(self, entry: _Entry, payload: Any) -> None:
        data = None if payload is None or payload.errors else payload.data
        frames: dict[str, str | None] = {}
        for subscriber, op_id, outbox in entry.members:
            try:
                frame = None if data is None else _frame(frames, op_id, data)
                outbox.put(subscriber, entry.message, frame)
            except Exception as error:  # its own: the others of the cohort still get theirs
                subscriber.fail(entry.message, error, "written directly")


def _frame(frames: dict[str, str | None], op_id: str, data: Any) -> str | None:
    """The `next` frame of an operation id, once per id and event (None: an id JSON cannot
    encode, which its generator answers as strawberry does)."""
    if op_id not in frames:
        try:
            next_ = {"id": op_id, "type": "next", "payload": {"data": data}}
            frames[op_id] = orjson.dumps(next_).decode()
        except orjson.JSONEncodeError:
            frames[op_id] = None
    return frames[op_id]


def plain_frames(schema: Schema) -> bool:
    """Whether strawberry sends every error-free result of a subscription's event as its data
    alone: no extension of the schema adds to it (`get_results`) nor changes it on its way out
    (`on_stream_result`; strawberry's `MaskErrors` only masks errors, of which such a result
    has none). Else frames would differ from the generator's, so there is no direct path.
    (An extension hook that writes `execution_context.extensions_results` while a
    subscription runs would add to its frames too: none of the schema's does.)"""
    for extension in schema.get_extensions():
        kind = type(extension)
        if kind.get_results is not SchemaExtension.get_results:
            return False
        if kind.on_stream_result not in (
            SchemaExtension.on_stream_result,
            MaskErrors.on_stream_result,
        ):
            return False
    return True


class Cohorts:
    """Per app: the cohorts with events on their way."""

    def __init__(self, groups: Groups[object], schema: Schema) -> None:
        self.groups = groups
        self.by_group: dict[Hashable, Cohort] = {}
        self.plain_frames = plain_frames(schema)

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
        source = self.render(message)  # may raise: the bus ends this subscriber alone
        outbox = self.socket.outbox
        if outbox is None:
            outbox = self.socket.outbox = Outbox(self.socket, self.cohorts.groups.stats)
        subscriber.joined()
        member = (subscriber, self.op_id, outbox)
        self.cohorts.of(self.run.group).add(message, source, self.run, member)
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
        self.socket.wake(self.op_id, subscriber)


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
        if not self.cohorts.plain_frames:
            return None
        executor = cast("_Executor | None", self.executor)
        run = executor.shared_run() if executor is not None else None
        if run is None:
            return None
        return _Path(self.socket, self.op_id, run, render, self.cohorts)
