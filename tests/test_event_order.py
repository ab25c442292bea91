"""Live streams in cursor order, exactly once, on every instance.

Events published out of order, a publish that fails, an id that never commits, two instances
committing at once, an instance killed between commit and publish, clients that reconnect
after every event: in each case every subscriber receives exactly the event log, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from picotask.models.events import Event, Stream
from picotask.schema.feeds import event_cursor
from picotask.schema.relay import pk_of
from picotask.services.core.clock import SystemClock
from picotask.services.core.pagination import decode_cursor
from tests.instances import RedisRelay, RemoteApi, api_with, instances, spawned_instance
from tests.support import (
    PATIENCE,
    Api,
    Backend,
    User,
    WsClient,
    next_data,
    nothing_more,
    until,
)
from tests.test_marketplace_api import create, employer
from tests.test_subscriptions import MY_EVENTS

WRITE = """mutation($task: ID!, $body: String!) {
  sendMessage(input: {taskId: $task, body: $body}) { userErrors { code } } }"""
FROM_THE_START = event_cursor(0)
Publish = Callable[[list[Event]], Awaitable[None]]

two_instances_need_postgres = pytest.mark.skipif(
    not os.environ.get("PICOTASK_TEST_DATABASE_URL"),
    reason="several instances share one database only on PostgreSQL (SQLite is one process)",
)


class Scene:
    """An employer with a published task, and workers who write to them about it: every
    message is a `message.received` notification on the employer's `myEvents`."""

    def __init__(self, boss: User, task_id: str, workers: list[User]) -> None:
        self.boss = boss
        self.task_id = task_id
        self.workers = workers

    @classmethod
    async def set_up(cls, api: Api, workers: int = 1) -> Scene:
        boss = await employer(api)
        task = (await create(api, boss))["task"]
        return cls(boss, task["id"], [await api.sign_up() for _ in range(workers)])

    async def write(self, api: Api, worker: int = 0, body: str = "Hello") -> None:
        data = await api.gql(
            WRITE, {"task": self.task_id, "body": body}, self.workers[worker].token
        )
        assert data["sendMessage"]["userErrors"] == [], data

    async def log(self) -> list[int]:
        """The employer's notifications as the `events` log holds them."""
        audience = pk_of(self.boss.id, "User")
        query = Event.filter(stream=Stream.NOTIFICATIONS, audience_id=audience).order_by("id")
        return [event.id for event in await query.only("id")]


def event_id(cursor: str) -> int:
    return int(decode_cursor(cursor, [False])[0])


async def received(ws: WsClient, count: int, within: float = PATIENCE) -> list[int]:
    return [
        event_id((await next_data(ws, "me", within))["myEvents"]["cursor"]) for _ in range(count)
    ]


async def watch(ws: WsClient, after: str | None = FROM_THE_START) -> None:
    """Follow the employer's notifications; from the start of the log, so no timing matters."""
    await ws.subscribe("me", MY_EVENTS, {"after": after})


def publisher(api: Api) -> Publish:
    publish: Publish | None = api.services.events.publish
    assert publish is not None
    return publish


@contextlib.contextmanager
def publishing(api: Api, replacement: Publish) -> Any:
    """Fault injection: what the instance does with its events after they commit."""
    events = api.services.events
    original = events.publish
    events.publish = replacement
    try:
        yield
    finally:
        events.publish = original


async def failing(events: list[Event]) -> None:
    raise ConnectionError("the event bus is not connected")


def swapping_pairs(publish: Publish) -> Publish:
    """Publish the 2nd transaction's events before the 1st's, the 4th's before the 3rd's..."""
    held: list[list[Event]] = []

    async def swapped(events: list[Event]) -> None:
        if not held:
            held.append(events)
            return
        await publish(events)
        await publish(held.pop())

    return swapped


# One instance, on every backend: the ordering itself.


async def test_events_published_out_of_order_reach_subscribers_in_order(api: Api) -> None:
    scene = await Scene.set_up(api)
    async with api.ws(scene.boss.token) as ws:
        await watch(ws)
        with publishing(api, swapping_pairs(publisher(api))):
            for i in range(10):
                await scene.write(api, body=f"Message {i}")
        log = await scene.log()
        assert len(log) == 10
        assert await received(ws, 10) == log
        assert await nothing_more(ws)
    assert api.server.app.state.bus.stats.received >= 10  # they did come through the bus


async def test_a_failed_publish_reaches_subscribers_within_a_second(api: Api) -> None:
    scene = await Scene.set_up(api)
    loop = asyncio.get_running_loop()
    async with api.ws(scene.boss.token) as ws:
        await watch(ws)
        await scene.write(api, body="Published")
        first = await received(ws, 1)
        with publishing(api, failing):
            await scene.write(api, body="Never published")
        committed = loop.time()
        lost = await received(ws, 1, within=2.0)
        assert loop.time() - committed < 1.0
        # A failed publish followed at once by a good one: the later event waits for it.
        with publishing(api, failing):
            await scene.write(api, body="Never published either")
        await scene.write(api, body="Published again")
        later = await received(ws, 2, within=2.0)
        assert first + lost + later == await scene.log()
        assert await nothing_more(ws)
    assert api.server.app.state.bus.sequencer.from_log >= 2


async def test_an_id_that_never_commits_does_not_stall_a_stream(api: Api) -> None:
    scene = await Scene.set_up(api)
    loop = asyncio.get_running_loop()
    async with api.ws(scene.boss.token) as ws:
        await watch(ws)
        await scene.write(api, body="Before")
        before = await received(ws, 1)
        await leave_a_gap(api, scene)
        start = loop.time()
        after_gap = await received(ws, 1, within=2.0)
        assert loop.time() - start < 1.0
        assert after_gap[0] > before[0] + 1  # an id between them never committed
        await scene.write(api, body="After")
        assert before + after_gap + await received(ws, 1) == await scene.log()


async def leave_a_gap(api: Api, scene: Scene) -> None:
    """Commit and publish one notification whose id comes after one that never commits."""
    audience = pk_of(scene.boss.id, "User")
    if connections.get("default").capabilities.dialect == "postgres":
        # A rolled-back transaction takes its id from the sequence for good.
        with contextlib.suppress(RolledBack):
            async with in_transaction():
                await Event.create(
                    stream=Stream.NOTIFICATIONS,
                    type="test.rolled_back",
                    audience_id=audience,
                    message="never committed",
                    created_at=api.clock.now(),
                )
                raise RolledBack
        await scene.write(api, body="After a gap")
        return
    # SQLite hands a rolled-back id out again: the gap is made by choosing the next id.
    newest = await Event.all().order_by("-id").first()
    assert newest is not None
    event = await Event.create(
        id=newest.id + 2,
        stream=Stream.NOTIFICATIONS,
        type="message.received",
        audience_id=audience,
        message="After a gap",
        created_at=api.clock.now(),
    )
    await publisher(api)([event])


class RolledBack(Exception):
    pass


async def test_a_bus_message_the_log_does_not_hold_is_never_delivered(api: Api) -> None:
    """Each database has its own channel, so another deployment's events stay out; should a
    message come that the log does not hold anyway, it goes nowhere and holds nothing up."""
    scene = await Scene.set_up(api)
    bus = api.server.app.state.bus
    async with api.ws(scene.boss.token) as ws:
        await watch(ws)
        await scene.write(api, body="Before")
        before = await received(ws, 1)
        stranger = Event(
            id=before[0] + 5,
            stream=Stream.NOTIFICATIONS,
            type="message.received",
            audience_id=pk_of(scene.boss.id, "User"),
            message="Not in this database",
            created_at=api.clock.now(),
        )
        await publisher(api)([stranger])
        await until(lambda: bus.sequencer.unknown == 1)
        await scene.write(api, body="After")
        assert before + await received(ws, 1) == await scene.log()
        assert await nothing_more(ws)


async def test_a_subscriber_resuming_ahead_of_this_instance_repeats_nothing(
    database_url: str, backend: Backend
) -> None:
    """A client may resume with a cursor this instance has not reached yet (it came from
    another instance): it receives what comes after it, once."""
    # No log poll in this test: the instance learns of the held event from its bus only.
    async with api_with(database_url, backend.broadcast, bus_log_poll_seconds=60) as api:
        scene = await Scene.set_up(api)
        bus = api.server.app.state.bus
        bus_publish = publisher(api)
        held: list[list[Event]] = []

        async def hold(events: list[Event]) -> None:
            held.append(events)

        with publishing(api, hold):
            await scene.write(api, body="Held back")
        (ahead,) = await scene.log()
        async with api.ws(scene.boss.token) as ws:
            await watch(ws, after=event_cursor(ahead))
            await until(lambda: bus.stats.subscribers == 1)
            assert bus.position < ahead
            await bus_publish(held.pop())
            await scene.write(api, body="Next")
            assert await received(ws, 1) == (await scene.log())[1:]
            assert await nothing_more(ws)


async def test_clients_that_reconnect_after_every_event_end_with_the_log(
    database_url: str, backend: Backend
) -> None:
    """Writers on every instance at once (this process's publishing in swapped pairs, so some
    events surely come out of order); each client takes one event per connection, on the
    instances in turn, resuming after the last cursor it received."""
    async with instances(database_url, backend) as apis:
        scene = await Scene.set_up(apis[0], workers=4)
        total = 48

        async def writers() -> None:
            for n in range(total // 4):
                await asyncio.gather(
                    *(scene.write(apis[w % len(apis)], w, f"Round {n}") for w in range(4))
                )

        async def client(turn: int) -> list[int]:
            got: list[int] = []
            while len(got) < total:
                api = apis[(turn + len(got)) % len(apis)]
                async with api.ws(scene.boss.token) as ws:
                    await watch(ws, event_cursor(got[-1]) if got else FROM_THE_START)
                    got += await received(ws, 1, within=10.0)
            return got

        with publishing(apis[0], swapping_pairs(publisher(apis[0]))):
            producing = asyncio.create_task(writers())
            clients = await asyncio.gather(*(client(turn) for turn in range(3)))
            await producing
        log = await scene.log()
        assert len(log) == total
        assert clients == [log, log, log]


# Two instances on one PostgreSQL database and one Redis.


@two_instances_need_postgres
async def test_events_committed_at_once_on_two_instances_arrive_in_order_once(
    database_url: str, backend: Backend
) -> None:
    rounds, per_instance = 40, 2
    async with instances(database_url, backend) as (a, b):
        scene = await Scene.set_up(a, workers=2 * per_instance)
        async with a.ws(scene.boss.token) as on_a, b.ws(scene.boss.token) as on_b:
            await watch(on_a)
            await watch(on_b)
            for n in range(rounds):
                await asyncio.gather(
                    *(scene.write(a, w, f"Round {n}") for w in range(per_instance)),
                    *(scene.write(b, per_instance + w, f"Round {n}") for w in range(per_instance)),
                )
            log = await scene.log()
            assert len(log) == rounds * 2 * per_instance
            assert await received(on_a, len(log)) == log
            assert await received(on_b, len(log)) == log
            assert await nothing_more(on_a)
            assert await nothing_more(on_b)


@two_instances_need_postgres
async def test_a_failed_publish_on_one_instance_reaches_the_other_within_a_second(
    database_url: str, backend: Backend
) -> None:
    async with instances(database_url, backend) as (a, b):
        scene = await Scene.set_up(a)
        loop = asyncio.get_running_loop()
        async with b.ws(scene.boss.token) as ws:
            await watch(ws)
            await scene.write(a, body="Published")
            first = await received(ws, 1)
            with publishing(a, failing):
                await scene.write(a, body="Not published")
            committed = loop.time()
            # The other instance's bus never dropped: it finds the event in the log.
            lost = await received(ws, 1, within=2.0)
            assert loop.time() - committed < 1.0
            # A later event published at once does not move the stream past a missing one.
            with publishing(a, failing):
                await scene.write(a, body="Not published either")
            await scene.write(b, body="Published on b")
            later = await received(ws, 2, within=2.0)
            assert first + lost + later == await scene.log()
            assert await nothing_more(ws)


@two_instances_need_postgres
async def test_an_instance_killed_between_commit_and_publish_loses_nothing_for_the_others(
    database_url: str, backend: Backend
) -> None:
    redis = urlparse(backend.broadcast)
    async with (
        RedisRelay(redis.hostname or "127.0.0.1", redis.port or 6379) as relay,
        spawned_instance(
            database_url, backend.broadcast.replace(redis.netloc, f"127.0.0.1:{relay.port}")
        ) as spawned,
        api_with(database_url, backend.broadcast, clock=SystemClock()) as here,
        httpx.AsyncClient(base_url=spawned.url, timeout=10) as there_client,
    ):
        there = RemoteApi(there_client, here.server, here.clock, spawned.ws_url)
        scene = await Scene.set_up(here)
        async with here.ws(scene.boss.token) as ws:
            await watch(ws)
            await scene.write(there, body="Through the bus")
            first = await received(ws, 1)
            # The next event commits and its publish is held on the way to Redis...
            relay.hold_the_next_publish()
            writing = asyncio.create_task(scene.write(there, body="Committed, never published"))
            await asyncio.wait_for(relay.held.wait(), 5)
            assert len(await scene.log()) == 2
            # ...and the instance is killed before it gets through.
            killed_at = asyncio.get_running_loop().time()
            spawned.kill()
            with contextlib.suppress(httpx.HTTPError):
                await writing
            orphan = await received(ws, 1, within=2.0)
            assert asyncio.get_running_loop().time() - killed_at < 1.0
            await scene.write(here, body="Afterwards")
            assert first + orphan + await received(ws, 1) == await scene.log()
            assert await nothing_more(ws)
