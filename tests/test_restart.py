"""Restarts that lose nothing (server/shutdown.py): on SIGTERM every subscription gets its
cursor, the socket closes with 1012, requests in flight are answered, and the client resumes on
another instance with `after`, missing nothing and getting nothing twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from typing import Any

import httpx
import pytest

from picotask.models.events import Event, Stream
from picotask.schema.feeds import event_cursor
from picotask.services.core.clock import SystemClock
from picotask.services.core.pagination import decode_cursor
from picotask.services.core.rounds import run_rounds
from picotask.subscriptions.bus import EventBus
from tests.instances import RemoteApi, api_with, spawned_instance
from tests.support import PATIENCE, Api, Backend, User, WsClient, next_data, nothing_more
from tests.test_fanout import rested, subscribed
from tests.test_marketplace_api import CREATE, create, employer, task_input

FEED = """subscription($after: String) { taskFeed(after: $after) {
  cursor kind task { id title } } }"""
MY_EVENTS = "subscription($after: String) { myEvents(after: $after) { cursor type } }"
GRACE = 15.0  # the restarted instance's grace period: it must be out well within it
log = logging.getLogger("tests.restart")
CHEAP = {"reward": "0.10", "slots": 1}  # a hundred dollars publishes ~900 of them


async def restart_frame(ws: WsClient, op_id: str) -> str:
    """The subscription's last frame: SERVER_RESTART with its cursor, then `complete`."""
    message = await ws.receive_for(op_id)
    assert message["type"] == "next", message
    assert message["payload"]["data"] is None
    [error] = message["payload"]["errors"]
    assert error["extensions"]["code"] == "SERVER_RESTART", error
    assert (await ws.receive_for(op_id))["type"] == "complete"
    cursor: str = error["extensions"]["cursor"]
    return cursor


def bus_of(api: Api) -> EventBus:
    bus: EventBus = api.server.app.state.bus
    return bus


async def test_a_shutdown_hands_each_subscription_its_cursor_then_closes_with_1012(
    api: Api,
) -> None:
    boss = await employer(api)
    worker = await api.sign_up()
    async with api.ws(worker.token) as ws:
        await subscribed(api, ws, "mine", MY_EVENTS)
        quiet_since = bus_of(api).position  # nothing of the worker's own will come
        await subscribed(api, ws, "feed", FEED)
        for n in range(2):
            await create(api, boss, title=f"T{n}", **CHEAP)
        seen = [(await next_data(ws, "feed"))["taskFeed"] for _ in range(2)]
        await rested(api, 2)  # both on the direct path: the drop must wake them to answer

        api.server.server.should_exit = True  # as SIGTERM does
        # The feed resumes after the last event it was sent; the quiet subscription from
        # where it went live, so what is committed meanwhile is not missed either.
        assert await restart_frame(ws, "feed") == seen[-1]["cursor"]
        assert await restart_frame(ws, "mine") == event_cursor(quiet_since)
        assert await ws.close_code() == 1012
    assert api.server._task is not None
    await asyncio.wait_for(api.server._task, PATIENCE)
    assert api.server.server.exit_code == 0  # nothing had to be cut off


async def test_a_restarted_instance_loses_no_event_and_fails_no_request_it_accepted(
    database_url: str, backend: Backend
) -> None:
    if backend.database == "sqlite":
        pytest.skip("two instances share one database only on PostgreSQL and Redis")
    async with (
        api_with(database_url, backend.broadcast, clock=SystemClock()) as b,
        spawned_instance(database_url, backend.broadcast, shutdown_grace_seconds=GRACE) as a_,
        httpx.AsyncClient(base_url=a_.url, timeout=PATIENCE) as a_client,
    ):
        a = RemoteApi(a_client, b.server, b.clock, a_.ws_url)
        boss = await employer(b)
        worker = await b.sign_up()
        publishing = Publisher(b, boss)
        received: list[str] = []
        async with a.ws(worker.token) as on_a:
            await on_a.subscribe("feed", FEED)
            async with publishing:
                while len(received) < 5:  # a stream of events, through A
                    received.append((await next_data(on_a, "feed"))["taskFeed"]["cursor"])
                # A request A has accepted (its app asked for the body), still in flight.
                in_flight = await SlowRequest.started(a_.port, boss, title="In flight")

                a_.process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                while (message := await on_a.receive_for("feed"))["type"] == "next":
                    payload = message["payload"]
                    if "errors" in payload:
                        break
                    received.append(payload["data"]["taskFeed"]["cursor"])
                [error] = payload["errors"]
                assert error["extensions"]["code"] == "SERVER_RESTART"
                assert error["extensions"]["cursor"] == received[-1]
                assert (await on_a.receive_for("feed"))["type"] == "complete"
                assert await on_a.close_code() == 1012
                # By then A accepts no new connection...
                with pytest.raises(httpx.ConnectError):
                    await a_client.post("/graphql", json={"query": "{ me { id } }"})
                # ... but answers the request it had accepted.
                answer = await in_flight.finish()
                assert answer["data"]["createTask"]["userErrors"] == [], answer

                # The subscriber resumes on B from its cursor, while events keep coming.
                async with b.ws(worker.token) as on_b:
                    await on_b.subscribe("feed", FEED, {"after": received[-1]})
                    resumed = len(received)
                    while len(received) < resumed + 3:
                        received.append((await next_data(on_b, "feed"))["taskFeed"]["cursor"])
                    await publishing.stop()
                    first = await Event.get(id=_event_id(received[0]))
                    committed = [
                        event_cursor(e.id)
                        for e in await Event.filter(stream=Stream.FEED, id__gte=first.id).order_by(
                            "id"
                        )
                    ]
                    while len(received) < len(committed):
                        received.append((await next_data(on_b, "feed"))["taskFeed"]["cursor"])
                    assert await nothing_more(on_b)
        assert received == committed  # each event once, in order, none missed
        assert answer["data"]["createTask"]["task"]["title"] == "In flight"
        assert publishing.failures == []
        assert await asyncio.wait_for(a_.process.wait(), GRACE) == 0
        assert time.monotonic() - signalled < GRACE


def _event_id(cursor: str) -> int:
    return int(decode_cursor(cursor, [False])[0])


class Publisher:
    """Tasks published one after another through an instance until stopped: a stream of
    events for the feed. Every request must succeed."""

    def __init__(self, api: Api, boss: User) -> None:
        self.api, self.boss = api, boss
        self.published = 0
        self.failures: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                payload = await create(self.api, self.boss, title=f"T{self.published}", **CHEAP)
            except Exception as error:  # recorded for the test to fail on
                self.failures.append(repr(error))
                return
            if payload["userErrors"]:
                self.failures.append(str(payload["userErrors"]))
                return
            self.published += 1

    async def __aenter__(self) -> Publisher:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, PATIENCE)

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class SlowRequest:
    """A createTask over a raw connection whose body is held back: once the server answers
    `100 Continue`, its app has accepted the request and waits for the body."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes):
        self.reader, self.writer, self.body = reader, writer, body

    @classmethod
    async def started(cls, port: int, boss: User, **task: Any) -> SlowRequest:
        body = json.dumps({"query": CREATE, "variables": task_input(**task, **CHEAP)}).encode()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            (
                "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nAccept: application/json\r\n"
                f"Authorization: Bearer {boss.token}\r\nContent-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), PATIENCE)
        assert status.startswith(b"HTTP/1.1 100"), status
        assert await asyncio.wait_for(reader.readline(), PATIENCE) == b"\r\n"
        return cls(reader, writer, body)

    async def finish(self) -> dict[str, Any]:
        """Send the body; the answer (the server closes the connection after it)."""
        self.writer.write(self.body)
        await self.writer.drain()
        raw = await asyncio.wait_for(self.reader.read(), PATIENCE)
        self.writer.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), raw
        answer: dict[str, Any] = json.loads(body)
        return answer


async def test_a_round_under_way_finishes_when_its_worker_is_stopped() -> None:
    stop, inside, go_on = asyncio.Event(), asyncio.Event(), asyncio.Event()
    finished = 0

    async def round_() -> None:
        nonlocal finished
        inside.set()
        await go_on.wait()  # a round under way (a payout being paid, a sweep)
        finished += 1

    loop = asyncio.create_task(
        run_rounds(round_, interval=3600, log=log, failed="round failed", stop=stop)
    )
    await asyncio.wait_for(inside.wait(), PATIENCE)
    stop.set()
    await asyncio.sleep(0)
    assert not loop.done()  # it waits for the round, and does not cut it off
    go_on.set()
    await asyncio.wait_for(loop, PATIENCE)  # then returns, without waiting out the interval
    assert finished == 1
