"""One socket's frames from the direct path (server/direct.py), never waiting for the socket.

The frame is written at once when the socket can take it (the send coroutine is run without a
task, and finishes without suspending); otherwise it waits in the socket's outbox, with its
subscriber's count, behind which the rest of that socket's frames queue, and one task sends
them as the socket drains. A subscriber with more than its queue's size waiting is dropped
(`Subscriber.drop`: its generator ends it with SLOW_CONSUMER and its cursor, the last frame
that went out).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine, Generator
from typing import Any, Protocol, cast

from strawberry.asgi import ASGIWebSocketAdapter

from picotask.subscriptions.groups import GroupStats
from picotask.subscriptions.messages import Message
from picotask.subscriptions.subscriber import Subscriber


class _Socket(Protocol):
    """The socket handler the frames go to (server/ws_handler.py)."""

    closing: bool
    websocket: Any  # strawberry's ASGIWebSocketAdapter


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
        if self.busy and subscriber.open:
            self.entries.append((subscriber, message, frame))
            return
        started = self._release(subscriber, message, frame)
        if started is not None:
            self.busy = True
            self.task = asyncio.get_running_loop().create_task(self._drain(started))

    def purge(self, subscriber: Subscriber) -> None:
        """Forget what waits for a dropped subscriber."""
        kept = [entry for entry in self.entries if entry[0] is not subscriber]
        subscriber.left(len(self.entries) - len(kept))
        self.entries = deque(kept)

    def _release(self, subscriber: Subscriber, message: Message, frame: str | None) -> _Rest | None:
        """Take an entry out of the outbox: write its frame (None when it went out at once,
        else the rest of its send) or hand its event back."""
        subscriber.left()
        if not subscriber.open or self.socket.closing or self.gone:
            return None
        # Handed back, or behind an event handed back that its generator has not sent yet
        # (the subscriber is writable again once it has): its generator sends it, in order.
        if frame is None or not subscriber.writable():
            subscriber.hand(message)
            return None
        subscriber.wrote(message)  # once started, the frame goes out before anything else
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
                    self.entries.popleft()[0].left()


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
