"""The websocket transport: graphql-transport-ws only, auth from connection_init, origins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Origin, Subprotocol

from picotask.server.app import App, create_app
from tests.support import Api, Backend, LiveServer, settings_for


async def test_query_over_websocket_as_the_token_owner(api: Api) -> None:
    user = await api.sign_up()
    async with api.ws(user.token) as ws:
        await ws.subscribe("1", "{ me { id email } }")
        message = await ws.receive()
        assert (message["id"], message["type"]) == ("1", "next")
        assert message["payload"]["data"] == {"me": {"id": user.id, "email": user.email}}
        assert message["payload"]["extensions"]["cost"]["requestedQueryCost"] == 1
        assert (await ws.receive())["type"] == "complete"


async def test_anonymous_connection_is_accepted_but_anonymous(api: Api) -> None:
    async with api.ws(None) as ws:
        await ws.subscribe("1", "{ me { id } }")
        assert (await ws.receive())["payload"]["data"] == {"me": None}


@pytest.mark.parametrize("authorization", ["Bearer nope", "Basic abc", "", 42])
async def test_bad_token_closes_with_4403(api: Api, authorization: object) -> None:
    async with api.ws(init=False) as ws:
        await ws.send({"type": "connection_init", "payload": {"authorization": authorization}})
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


async def test_expired_token_closes_with_4403(api: Api) -> None:
    user = await api.sign_up()
    api.clock.advance(31 * 86_400)
    async with api.ws(init=False) as ws:
        await ws.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {user.token}"}}
        )
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4403


async def test_subscribe_before_init_closes_with_4401(api: Api) -> None:
    async with api.ws(init=False) as ws:
        await ws.subscribe("1", "{ me { id } }")
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4401


async def test_ping_pong(api: Api) -> None:
    async with api.ws(None) as ws:
        await ws.send({"type": "ping"})
        assert (await ws.receive())["type"] == "pong"


async def test_only_graphql_transport_ws_is_served(api: Api) -> None:
    async with connect(api.server.ws_url, subprotocols=[Subprotocol("graphql-ws")]) as conn:
        with pytest.raises(ConnectionClosed) as closed:
            await conn.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4406


@pytest.fixture
async def origin_server(database_url: str, backend: Backend) -> AsyncIterator[LiveServer]:
    settings = settings_for(
        database_url, backend.broadcast, allowed_origins=("https://app.picotask.example",)
    )
    async with LiveServer(create_app(settings)) as server:
        yield server


async def test_allowed_origin_is_accepted(origin_server: LiveServer) -> None:
    async with connect(
        origin_server.ws_url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        origin=Origin("https://app.picotask.example"),
    ) as conn:
        assert conn.subprotocol == "graphql-transport-ws"


async def test_other_origin_is_refused(origin_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            origin_server.ws_url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            origin=Origin("https://evil.example"),
        ):
            pass
    assert refused.value.response.status_code == 403
    async with httpx.AsyncClient(base_url=origin_server.http_url) as client:
        assert (await client.get("/healthz")).status_code == 200


async def test_graphql_websockets_skip_the_middlewares_under_any_root_path() -> None:
    """`App` hands websockets to /graphql (under a root path too) straight to the view, with
    their request id; every other websocket takes the middleware stack."""
    to_view: list[Scope] = []
    through_stack: list[str] = []

    async def view(scope: Scope, receive: Receive, send: Send) -> None:
        to_view.append(scope)

    class Recorder:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            through_stack.append(scope["path"])
            await self.app(scope, receive, send)

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    app = App(view, routes=[], middleware=[Middleware(Recorder)])
    for root, request_id in (("", b"first-1"), ("/api", b"second-2")):
        headers = [(b"x-request-id", request_id)]
        scope = {"type": "websocket", "path": f"{root}/graphql", "root_path": root}
        await app({**scope, "headers": headers}, receive, send)
        assert to_view[-1]["state"]["request_id"] == request_id.decode()
        assert to_view[-1]["app"] is app
    await app({"type": "websocket", "path": "/elsewhere", "headers": []}, receive, send)
    assert len(to_view) == 2
    assert through_stack == ["/elsewhere"]
    assert sent[-1]["type"] == "websocket.close"  # no route there
