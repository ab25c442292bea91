"""The bus under stress: slow clients, a Redis restart, several processes, fan-out cost."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
from pathlib import Path

import httpx
import pytest

from picotask.models.events import Event, Stream
from picotask.services.core.clock import SystemClock
from picotask.subscriptions.subscriber import Phase
from tests.instances import api_with, free_port, redis_server, spawned_instance, wait_for_port
from tests.support import (
    Api,
    Backend,
    count_queries,
    next_data,
    until,
)
from tests.test_marketplace_api import create, employer
from tests.test_subscriptions import FEED

PAUSE = "mutation($id: ID!) { pauseTask(input: {taskId: $id}) { userErrors { code } } }"
RESUME = "mutation($id: ID!) { resumeTask(input: {taskId: $id}) { userErrors { code } } }"


def client_frame(text: str) -> bytes:
    """One masked text frame, as a websocket client must send it (RFC 6455)."""
    data = text.encode()
    mask = secrets.token_bytes(4)
    header = bytearray([0x81])
    if len(data) < 126:
        header.append(0x80 | len(data))
    else:
        header.append(0x80 | 126)
        header += len(data).to_bytes(2, "big")
    return bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def stalled_subscriber(port: int, token: str, query: str) -> asyncio.StreamWriter:
    """A websocket client that subscribes and then never reads again."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4_096)
    raw.connect(("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=raw, limit=4_096)
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    writer.write(
        f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode()
    )
    assert b" 101 " in await reader.readuntil(b"\r\n\r\n")
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    writer.write(client_frame(json.dumps(init)))
    assert b"connection_ack" in await reader.read(100)
    subscribe = {"id": "feed", "type": "subscribe", "payload": {"query": query}}
    writer.write(client_frame(json.dumps(subscribe)))
    await writer.drain()
    return writer


async def test_a_slow_client_is_dropped_without_affecting_others(
    database_url: str, backend: Backend
) -> None:
    async with api_with(
        database_url, backend.broadcast, send_buffer=4_096, subscriber_queue_size=4
    ) as api:
        boss = await employer(api)
        task = (await create(api, boss, instructions="x" * 10_000))["task"]
        worker = await api.sign_up()
        # 10 copies of 10,000 characters: each event is about 100 kB for the stalled client.
        copies = " ".join(f"i{n}: instructions" for n in range(10))
        big = f"subscription {{ taskFeed {{ kind task {{ id {copies} }} }} }}"
        stalled = await stalled_subscriber(api.server.port, worker.token, big)
        try:
            async with api.ws(worker.token) as fast:
                await fast.subscribe("feed", FEED)
                await asyncio.sleep(0.1)
                bus = api.server.app.state.bus
                watched = list(bus._subscribers)
                for i in range(60):
                    await api.gql(PAUSE if i % 2 == 0 else RESUME, {"id": task["id"]}, boss.token)
                    assert (await next_data(fast, "feed"))["taskFeed"]["kind"] == "UPDATED"
                    if bus.stats.dropped_clients:
                        break
                assert bus.stats.dropped_clients == 1
                # The fast client is still served, and the dropped one holds no queue any more.
                await api.gql(PAUSE if i % 2 else RESUME, {"id": task["id"]}, boss.token)
                assert (await next_data(fast, "feed"))["taskFeed"]["kind"] == "UPDATED"
                # What the stalled client could not take was freed: no event waits for it on the
                # direct path, at most the drop marker in its queue.
                dropped = [s for s in watched if s.phase in (Phase.DROPPED, Phase.CLOSED)]
                assert len(dropped) == 1
                assert dropped[0].pending == 0
                assert dropped[0].queue.qsize() <= 1
        finally:
            stalled.close()  # else the server waits for its buffer to drain


async def test_fan_out_costs_no_query_per_subscriber(api: Api) -> None:
    boss = await employer(api, "500.00")
    workers = [await api.sign_up() for _ in range(12)]
    query = "subscription { taskFeed { kind task { id title reward { amount } } } }"

    async def post_and_deliver(listeners: int) -> int:
        async with contextlib.AsyncExitStack() as stack:
            sockets = [
                await stack.enter_async_context(api.ws(w.token)) for w in workers[:listeners]
            ]
            for ws in sockets:
                await ws.subscribe("feed", query)
            # Every stream is live once it has delivered a first task; count the second.
            await create(api, boss, title=f"Warm-up for {listeners}")
            for ws in sockets:
                assert (await next_data(ws, "feed"))["taskFeed"]["kind"] == "POSTED"
            with count_queries() as counter:
                await create(api, boss, title=f"For {listeners}")
                for ws in sockets:
                    assert (await next_data(ws, "feed"))["taskFeed"]["kind"] == "POSTED"
            return counter.count

    assert await post_and_deliver(12) == await post_and_deliver(2)


async def test_redis_restart_during_a_burst_loses_nothing(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    with redis_server(port, tmp_path) as first:
        await wait_for_port(port)
        async with api_with(database_url, redis_url, bus_heartbeat_seconds=0.2) as api:
            boss = await employer(api, "500.00")
            worker = await api.sign_up()
            async with api.ws(worker.token) as live:
                await live.subscribe("feed", FEED)
                posted = [(await create(api, boss, title="before"))["task"]["id"]]
                received = [(await next_data(live, "feed"))["taskFeed"]]
                first.terminate()
                first.wait(10)
                # The burst goes on while Redis is down: committed, not published.
                for i in range(5):
                    posted.append((await create(api, boss, title=f"during {i}"))["task"]["id"])
                with redis_server(port, tmp_path):
                    await wait_for_port(port)
                    for i in range(3):
                        posted.append((await create(api, boss, title=f"after {i}"))["task"]["id"])
                    # The stream catches up from the log, which every instance reads for what
                    # its bus did not bring, and the watchdog reconnects the bus.
                    while len(received) < len(posted):
                        received.append((await next_data(live, "feed", within=10))["taskFeed"])
                    assert [e["task"]["id"] for e in received] == posted
                    bus = api.server.app.state.bus
                    await until(lambda: bus.stats.reconnects >= 1, within=10)
                    # Back on the bus: the next event comes through it.
                    heard = bus.stats.received
                    posted.append((await create(api, boss, title="reconnected"))["task"]["id"])
                    received.append((await next_data(live, "feed"))["taskFeed"])
                    assert received[-1]["task"]["id"] == posted[-1]
                    await until(lambda: bus.stats.received > heard)

                    # A client that resumes with its cursor has every event as well.
                    async with api.ws(worker.token) as resumed:
                        await resumed.subscribe("feed", FEED, {"after": received[0]["cursor"]})
                        again = [
                            (await next_data(resumed, "feed"))["taskFeed"]["task"]["id"]
                            for _ in posted[1:]
                        ]
                        assert again == posted[1:]
            assert await Event.filter(stream=Stream.FEED).count() == len(posted)


@pytest.mark.skipif(
    not os.environ.get("PICOTASK_TEST_DATABASE_URL"),
    reason="several processes share one database only on PostgreSQL (SQLite is one process)",
)
async def test_a_mutation_on_one_instance_reaches_a_subscriber_on_another(
    database_url: str, backend: Backend
) -> None:
    assert backend.broadcast.startswith("redis"), "needs PICOTASK_TEST_BROADCAST_URL (Redis)"
    # The other process runs on the system clock, so this one must too.
    async with (
        spawned_instance(database_url, backend.broadcast) as other,
        api_with(database_url, backend.broadcast, clock=SystemClock()) as here,
    ):
        boss = await employer(here)
        worker = await here.sign_up()
        async with httpx.AsyncClient(base_url=other.url) as there_client:
            there = Api(there_client, here.server, here.clock)
            async with here.ws(worker.token) as ws:
                await ws.subscribe("feed", FEED)
                await asyncio.sleep(0.1)
                title = f"posted elsewhere {secrets.token_hex(3)}"
                task = (await create(there, boss, title=title))["task"]
                event = (await next_data(ws, "feed"))["taskFeed"]
                assert (event["kind"], event["task"]["id"], event["task"]["title"]) == (
                    "POSTED",
                    task["id"],
                    title,
                )
