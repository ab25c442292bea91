"""What server/ws_handler.py and the direct path (server/direct.py) rely on in strawberry's
graphql-transport-ws handler and uvicorn's websockets (README, "Upgrading")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from datetime import timedelta
from typing import Any, cast

import pytest
import strawberry
import uvicorn
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET
from websockets.asyncio.client import connect

from picotask.server.cli import serving
from picotask.settings import Settings
from tests.support import until
from tests.test_upgrading import Query, Subscription, moved


class _View:
    async def on_ws_connect(self, context: object) -> object:
        return UNSET


class _Socket(AsyncWebSocketAdapter):
    """A websocket as strawberry's handler sees it: messages in (None closes), messages out."""

    def __init__(self) -> None:
        super().__init__(cast("Any", _View()))
        self.incoming: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.sent: list[Mapping[str, object]] = []

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        while (message := await self.incoming.get()) is not None:
            yield message

    async def send_json(self, message: Mapping[str, object]) -> None:
        self.sent.append(message)

    async def close(self, code: int, reason: str) -> None:
        self.incoming.put_nowait(None)


class _Handler(BaseGraphQLTransportWSHandler[dict[str, Any], None]):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.in_own_task: list[bool] = []
        self.finished: list[asyncio.Task[Any]] = []

    async def run_operation(self, operation: Operation[dict[str, Any], None]) -> None:
        task = asyncio.current_task()
        self.in_own_task.append(
            operation.task is task and self.operations[operation.id] is operation
        )
        await super().run_operation(operation)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.finished.append(task)
        super()._task_done(task)


async def reached(condition: Callable[[], bool], lost: str) -> None:
    try:
        await until(condition)
    except AssertionError:
        pytest.fail(lost)


async def test_strawberry_runs_each_operation_in_its_task_and_lets_a_rest_unwind() -> None:
    """server/ws_handler.py: an operation's task is `operation.task` (`rest` checks it), ended
    by a cancellation (`Rested`) it sends nothing and stays in `operations` (`wake` finds it
    there and runs it again, as strawberry does, with `_task_done`); `cleanup_operation` takes
    it out and cancels it; the init timeout is cancelled once the connection is acknowledged."""
    lost = moved("strawberry-graphql", "BaseGraphQLTransportWSHandler", "server/ws_handler.py")
    socket = _Socket()
    schema = strawberry.Schema(Query, subscription=Subscription)
    handler = _Handler(socket.view, socket, {}, None, schema, timedelta(seconds=30), None)
    handling = asyncio.create_task(handler.handle())
    socket.incoming.put_nowait({"type": "connection_init"})
    subscribe = {"query": "subscription { ticks }"}
    socket.incoming.put_nowait({"type": "subscribe", "id": "1", "payload": subscribe})
    # The init timeout's task and the operation's.
    await reached(lambda: len(handler.finished) == 2, lost)
    assert socket.sent == [
        {"type": "connection_ack"},
        {"id": "1", "type": "next", "payload": {"data": {"ticks": 1}}},
    ], lost
    timeout = handler.connection_init_timeout_task
    assert timeout is not None, lost
    assert timeout.cancelled(), lost
    operation = handler.operations.get("1")
    assert operation is not None, lost
    assert not operation.completed, lost
    assert operation.task is not None, lost
    assert operation.task.cancelled(), lost
    assert handler.finished == [timeout, operation.task], lost

    operation.task = asyncio.create_task(handler.run_operation(operation))  # as `wake` does
    operation.task.add_done_callback(handler._task_done)
    await reached(lambda: len(handler.finished) == 3, lost)
    assert socket.sent[2:] == [
        {"id": "1", "type": "next", "payload": {"data": {"ticks": 2}}},
        {"id": "1", "type": "complete"},
    ], lost
    assert "1" not in handler.operations, lost

    socket.incoming.put_nowait({"type": "subscribe", "id": "2", "payload": subscribe})
    await reached(lambda: len(socket.sent) == 5, lost)
    socket.incoming.put_nowait({"type": "complete", "id": "2"})
    await reached(lambda: len(handler.finished) == 4, lost)
    assert "2" not in handler.operations, lost
    assert handler.finished[-1].cancelled(), lost
    assert handler.in_own_task == [True, True, True], lost
    socket.incoming.put_nowait(None)
    await handling
    assert len(socket.sent) == 5, lost  # the completed operation sent nothing more


async def test_strawberry_next_frames_are_what_the_direct_path_writes() -> None:
    """server/direct.py writes `{"id", "type": "next", "payload": {"data"}}` itself."""
    sent: list[Mapping[str, object]] = []

    class Handler:
        async def send_message(self, message: Mapping[str, object]) -> None:
            sent.append(message)

    operation: Operation[None, None] = Operation(cast("Any", Handler()), "7", "", None, None)
    await operation.send_next(ExecutionResult(data={"ticks": 1}, errors=None))
    assert sent == [{"id": "7", "type": "next", "payload": {"data": {"ticks": 1}}}], moved(
        "strawberry-graphql", "Operation.send_next's frame", "server/direct.py (Cohort)"
    )


def test_strawberry_websocket_adapter_holds_starlettes_socket() -> None:
    """server/direct.py writes frames through `ASGIWebSocketAdapter.ws.send` itself."""
    from strawberry.asgi import ASGIWebSocketAdapter

    async def nothing(*_: Any) -> Any:
        return None

    socket = WebSocket({"type": "websocket", "path": "/graphql", "headers": []}, nothing, nothing)
    adapter = ASGIWebSocketAdapter(cast("Any", None), socket, socket)
    assert getattr(adapter, "ws", None) is socket, moved(
        "strawberry-graphql", "ASGIWebSocketAdapter.ws", "server/direct.py (Outbox)"
    )


async def test_uvicorn_sends_a_frame_without_suspending_while_the_socket_takes_it() -> None:
    """server/direct.py starts each frame's send outside of any task and counts on it ending
    at once (uvicorn's websockets-sansio, as `serving` selects it); tests/support.py's
    LiveServer reads `started`, `servers` and `should_exit`."""
    finished: list[bool] = []

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        socket = WebSocket(scope, receive, send)
        await socket.accept()
        sending = socket.send({"type": "websocket.send", "text": "frame"})
        try:
            sending.send(None)
        except StopIteration:
            finished.append(True)
        else:
            finished.append(False)
            sending.close()
            await socket.send_text("frame")  # the long way: the client still gets its frame
        await socket.receive()

    config = uvicorn.Config(
        probe, port=0, lifespan="off", log_level="warning", **serving(Settings())
    )
    server = uvicorn.Server(config)
    serve = asyncio.create_task(server.serve())
    await until(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    async with connect(f"ws://127.0.0.1:{port}/probe") as client:
        assert await client.recv() == "frame"
    server.should_exit = True
    await serve
    assert finished == [True], moved(
        "uvicorn", "websockets-sansio send", "server/direct.py (Outbox._release)"
    )
