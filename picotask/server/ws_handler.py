"""graphql-transport-ws (strawberry's handler), with each socket counted and each operation
authorized against its session as this instance knows it now (`sockets.py`).

A subscription whose live events all go the direct path (server/direct.py) rests: its task
and everything of strawberry's and graphql-core's it held end, and the socket keeps its bus
subscriber (`held`) until an event needs the operation again (`wake`: run it again, to resume
that subscriber) or the operation ends (completed by the client, the socket closed, the
session ended), when the subscriber leaves the bus. Each run of an operation is its own task,
and the subscriber knows which run holds it (subscriptions/subscriber.py): the end of a run
lets it go only if that run still holds it, never one woken again since."""

from __future__ import annotations

import asyncio
import contextlib
from contextvars import ContextVar
from datetime import timedelta
from typing import Any, Protocol, cast

from strawberry.http.async_base_view import AsyncBaseHTTPView, AsyncWebSocketAdapter
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from picotask.schema.context import Context
from picotask.server.direct import Cohorts, OperationOutlet
from picotask.server.outbox import Outbox
from picotask.server.sockets import RESTART_REASON, SERVICE_RESTART, Sockets, TooManySockets
from picotask.subscriptions.direct import outlet
from picotask.subscriptions.subscriber import Subscriber

SESSION_ENDED = 4403
TOO_MANY = 4429
# The operation a task runs for (set in the operation's own task), so that a revocation it
# causes (logOut, a password change) still answers it before closing its socket.
_running: ContextVar[tuple[SocketHandler, str] | None] = ContextVar("picotask_ws_op", default=None)


class _View(Protocol):
    sockets: Sockets
    cohorts: Cohorts


class SocketHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the socket counted and each operation authorized first."""

    def __init__(
        self,
        view: AsyncBaseHTTPView[Any, Any, Any, Any, Any, Context, None],
        websocket: AsyncWebSocketAdapter,
        context: Context,
        root_value: None,
        schema: BaseSchema,
        connection_init_wait_timeout: timedelta,
        max_subscriptions_per_connection: int | None = None,
    ) -> None:
        super().__init__(
            view,
            websocket,
            context,
            root_value,
            schema,
            connection_init_wait_timeout,
            max_subscriptions_per_connection,
        )
        self.sockets = cast("_View", self.view).sockets
        self.cohorts = cast("_View", self.view).cohorts
        self.outbox: Outbox | None = None  # frames of the direct path (server/direct.py)
        request = self.context.request
        client = request.client if request is not None else None
        self.address = client.host if client is not None else "unknown"
        self.user_id: int | None = None
        self.session_id: int | None = None
        self.closing = False
        # Subscribers held for their operations: resting (no run holds them), or woken (a
        # run of the operation was started to resume them).
        self.held: dict[str, Subscriber] | None = None

    async def handle(self) -> None:
        if self.sockets.draining:  # accepted as the listener closed
            await self.websocket.close(SERVICE_RESTART, RESTART_REASON)
            return
        if not self.sockets.admit(self):
            await self.websocket.close(TOO_MANY, "Too many sockets from this address.")
            return
        try:
            await super().handle()
        finally:
            self.sockets.leave(self)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except TooManySockets as e:
            await self.websocket.close(TOO_MANY, str(e))
        # Cancelled by now (the loop finishes it): not held, with its error and frames, for
        # as long as the socket lives.
        self.connection_init_timeout_task = None

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.sockets.draining:
            return  # not started: the client sends it again after the 1012 that follows
        if self.connection_acknowledged and not await self.sockets.authorize(self):
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        _running.set((self, operation.id))
        run = asyncio.current_task()
        # The run `wake` started resumes the subscriber it holds; any other is a new one.
        held = self.held.get(operation.id) if self.held else None
        resumed = held if held is not None and held.held_by(run) else None
        outlet.set(OperationOutlet(self, operation.id, self.cohorts, resumed))
        try:
            await super().run_operation(operation)
        finally:
            # Still this run's: its generator ended for good, or never started (cancelled or
            # refused first). Not if it rested again, nor once a newer run holds it.
            if resumed is not None and resumed.held_by(run):
                self._let_go(operation.id, resumed)

    def _let_go(self, operation_id: str, subscriber: Subscriber) -> None:
        if self.held is not None and self.held.get(operation_id) is subscriber:
            del self.held[operation_id]
        self.context.bus.unsubscribe(subscriber)

    def rest(self, operation_id: str, subscriber: Subscriber) -> bool:
        """Hold the subscriber of an operation whose generator is about to end (from that
        operation's own task, which it ends)."""
        operation = self.operations.get(operation_id)
        task = asyncio.current_task()
        if self.closing or operation is None or task is None or operation.task is not task:
            return False
        if self.held is None:
            self.held = {}
        self.held[operation_id] = subscriber
        task.add_done_callback(_unwound)
        # The task keeps its context (and so this outlet) after it ends: not the executor.
        transport = outlet.get()
        if transport is not None:
            transport.executor = None
        return True

    def wake(self, operation_id: str, subscriber: Subscriber) -> None:
        """Run a resting operation again, in a new task: the run that resumes its subscriber
        (`run_operation`)."""
        operation = self.operations.get(operation_id)
        held = self.held is not None and self.held.get(operation_id) is subscriber
        if not held or operation is None or self.closing:  # ended meanwhile: nothing resumes it
            self._let_go(operation_id, subscriber)
            return
        run = asyncio.create_task(self.run_operation(operation))
        subscriber.woken(run)
        operation.task = run
        run.add_done_callback(self._task_done)  # as strawberry's own tasks

    def _release(self, operation_id: str) -> None:
        """The operation ends: a subscriber the socket holds for it leaves the bus."""
        subscriber = self.held.pop(operation_id, None) if self.held else None
        if subscriber is not None:
            self.context.bus.unsubscribe(subscriber)

    async def cleanup_operation(self, operation_id: str) -> None:
        self._release(operation_id)
        await super().cleanup_operation(operation_id)

    def end(self, reason: str, code: int = SESSION_ENDED) -> None:
        """Act no more and close (4403): at once, or, when the operation running this ended
        the session (logOut on this socket), as soon as it has answered."""
        if self.closing:
            return
        self.closing = True
        running = _running.get()
        spared = running[1] if running is not None and running[0] is self else None
        for operation_id, operation in list(self.operations.items()):
            if operation_id != spared and operation.task is not None:
                del self.operations[operation_id]
                operation.task.cancel()
                self._release(operation_id)
        answering = self.operations.get(spared) if spared is not None else None
        task = answering.task if answering is not None else None
        if task is not None and not task.done():
            task.add_done_callback(lambda _: self._close_soon(code, reason))
        else:
            self._close_soon(code, reason)

    def _close_soon(self, code: int, reason: str) -> None:
        self.sockets.keep(asyncio.create_task(self._close(code, reason)))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # already closed by the client
            await self.websocket.close(code, reason)


def _unwound(task: asyncio.Task[None]) -> None:
    """A rested operation's task: the cancellation it ended with holds, in its traceback,
    every frame the operation had; taken out of the task (which the operation keeps), so
    they are freed."""
    with contextlib.suppress(asyncio.CancelledError):
        task.result()
