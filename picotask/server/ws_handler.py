"""graphql-transport-ws (strawberry's handler), with each socket counted and each operation
authorized against its session as this instance knows it now (`sockets.py`)."""

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
from picotask.server.direct import Cohorts, OperationOutlet, Outbox
from picotask.server.sockets import Sockets, TooManySockets
from picotask.subscriptions.direct import outlet

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

    async def handle(self) -> None:
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
        if self.connection_acknowledged and not await self.sockets.authorize(self):
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        _running.set((self, operation.id))
        outlet.set(OperationOutlet(self, operation.id, self.cohorts))
        await super().run_operation(operation)

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
