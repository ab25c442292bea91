"""The frames the direct path writes are byte for byte those strawberry sends for the same
event (compared as the websocket's raw text): with the schema as it is, and with an extension
that adds `extensions` to every result, when the direct path must not be taken at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension

import picotask.server.schema as root_schema
from picotask.server.safety import extensions
from picotask.settings import Settings
from tests.instances import api_with
from tests.support import Api, Backend, WsClient
from tests.test_fanout import bus_of, direct_frames, subscribed
from tests.test_marketplace_api import create, employer

RESUMABLE = """subscription($after: String) { taskFeed(after: $after) {
  cursor kind task { id title reward { amount } employer { id displayName } } } }"""


class Served(SchemaExtension):
    """Adds to every result, subscription events included."""

    def get_results(self) -> dict[str, Any]:
        return {"served": "here"}


async def raw_next(ws: WsClient, op_id: str) -> str:
    text = await asyncio.wait_for(ws.conn.recv(), 5)
    assert isinstance(text, str)
    message = json.loads(text)
    assert (message["id"], message["type"]) == (op_id, "next"), message
    assert "errors" not in message["payload"], message
    return text


async def live_and_replayed(api: Api) -> tuple[str, str, int]:
    """The same event's frame to a live subscriber (the direct path, if any) and to one that
    replays it after a cursor (its generator); and how many frames went the direct path."""
    boss = await employer(api)
    live_worker, late_worker = await api.sign_up(), await api.sign_up()
    async with api.ws(live_worker.token) as live:
        await subscribed(api, live, "feed", RESUMABLE)
        frames = direct_frames(api)
        await create(api, boss, title="First")
        first = json.loads(await raw_next(live, "feed"))["payload"]["data"]["taskFeed"]
        await create(api, boss, title="Second")
        live_frame = await raw_next(live, "feed")
        async with api.ws(late_worker.token) as late:
            await late.subscribe("feed", RESUMABLE, {"after": first["cursor"]})
            replayed = await raw_next(late, "feed")
        return live_frame, replayed, direct_frames(api) - frames


async def test_direct_frames_are_the_generator_frames_extensions_included(
    database_url: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The schema as it is: both events straight to the live socket, the same bytes.
    async with api_with(database_url, backend.broadcast) as api:
        live, replayed, direct = await live_and_replayed(api)
    assert direct == 2
    assert live == replayed
    assert json.loads(live)["payload"]["data"]["taskFeed"]["task"]["title"] == "Second"

    # An extension adds to every result: no frame may go the direct path, none rests.
    def with_served(settings: Settings) -> list[Callable[[], SchemaExtension]]:
        return [*extensions(settings), Served]

    monkeypatch.setattr(root_schema, "extensions", with_served)
    async with api_with(database_url, backend.broadcast) as served:
        live, replayed, direct = await live_and_replayed(served)
        assert direct == 0
        assert live == replayed
        assert json.loads(live)["payload"]["extensions"] == {"served": "here"}
        assert bus_of(served).resting() == 0
