"""The baseline: broadcaster fan-out of the same payload to plain websockets, no GraphQL.

Each websocket subscribes to one memory channel through broadcaster, as broadcaster's own
examples do; POST /publish puts a message on it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

broadcast = Broadcast("memory://")
subscribed = 0  # sockets subscribed now (GET /subscribers), so the benchmark knows when to start


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await broadcast.connect()
    yield
    await broadcast.disconnect()


async def feed(websocket: WebSocket) -> None:
    global subscribed
    await websocket.accept()
    async with broadcast.subscribe("feed") as subscriber:
        subscribed += 1
        try:
            await websocket.send_text("ready")
            async for event in subscriber:  # type: ignore[union-attr]  # typed as Optional upstream
                if event is None:
                    return
                await websocket.send_text(event.message)
        finally:
            subscribed -= 1


async def publish(request: Request) -> PlainTextResponse:
    await broadcast.publish("feed", (await request.body()).decode())
    return PlainTextResponse("ok")


async def subscribers(request: Request) -> PlainTextResponse:
    return PlainTextResponse(str(subscribed))


app = Starlette(
    routes=[
        WebSocketRoute("/feed", feed),
        Route("/publish", publish, methods=["POST"]),
        Route("/subscribers", subscribers),
    ],
    lifespan=lifespan,
)
