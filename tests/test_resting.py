"""Resting subscriptions: an idle subscriber whose events all go the direct path keeps no task,
no generator and no executor of its own, and still gets every event in order; completing it,
closing its socket or ending its session takes it off the bus, even while it is being woken.
(A viewer-dependent selection wakes each subscriber once, to answer as its own viewer:
tests/test_fanout.py.)"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import GraphQLError

from picotask.server.cost_limit import CostLimit
from picotask.server.fanout import GroupedExecutor, SharedRun
from picotask.subscriptions.direct import outlet
from tests.support import Api, next_data, nothing_more, until
from tests.test_fanout import FEED_MONEY, PUBLIC, bus_of, counts, direct_frames, rested, subscribed
from tests.test_marketplace_api import create, employer
from tests.test_sessions_live import LOG_OUT


def executors() -> int:
    gc.collect()
    return sum(isinstance(o, GroupedExecutor) for o in gc.get_objects())


async def test_idle_subscribers_rest_and_still_get_every_event_in_order(api: Api) -> None:
    boss = await employer(api)
    workers = [await api.sign_up() for _ in range(3)]
    before = executors()
    async with (
        api.ws(workers[0].token) as a,
        api.ws(workers[1].token) as b,
        api.ws(workers[2].token) as c,
    ):
        for op_id, ws in (("feed", a), ("mine", b), ("theirs", c)):
            await subscribed(api, ws, op_id, PUBLIC)
        await rested(api, 3)
        # Nothing of their operations is left but the group's own executor.
        assert executors() == before + 1
        woken, frames, executions = bus_of(api).stats.woken, direct_frames(api), counts(api)[0]
        posted = [(await create(api, boss, title=f"Rested {n}"))["task"] for n in range(3)]
        for op_id, ws in (("feed", a), ("mine", b), ("theirs", c)):
            seen = [(await next_data(ws, op_id))["taskFeed"] for _ in posted]
            assert [e["task"]["id"] for e in seen] == [t["id"] for t in posted]
            assert await nothing_more(ws)
        # Written to the sockets without waking any of them, one execution per event.
        assert direct_frames(api) == frames + 9
        assert counts(api)[0] == executions + 3
        assert bus_of(api).stats.woken == woken
        assert bus_of(api).resting() == 3


async def test_a_resting_subscription_leaves_the_bus_when_completed_or_its_socket_closes(
    api: Api,
) -> None:
    boss = await employer(api)
    worker = await api.sign_up()
    bus = bus_of(api)
    start = bus.stats.subscribers
    async with api.ws(worker.token) as ws:
        await subscribed(api, ws, "one", PUBLIC)
        await subscribed(api, ws, "two", PUBLIC)
        await rested(api, 2)
        await ws.send({"id": "one", "type": "complete"})
        await until(lambda: bus.stats.subscribers == start + 1)
        assert bus.resting() == 1
        await create(api, boss, title="After")
        assert (await next_data(ws, "two"))["taskFeed"]["task"]["title"] == "After"
        assert await nothing_more(ws)  # nothing for "one"
        # Its id is free again, and a new subscription under it rests too.
        await subscribed(api, ws, "one", PUBLIC)
        await rested(api, 2)
    await until(lambda: bus.stats.subscribers == start)
    assert bus.resting() == 0


async def test_an_ended_session_closes_a_resting_socket_and_takes_it_off_the_bus(
    api: Api,
) -> None:
    worker = await api.sign_up()
    bus = bus_of(api)
    start = bus.stats.subscribers
    async with api.ws(worker.token) as ws:
        await subscribed(api, ws, "feed", PUBLIC)
        await rested(api, 1)
        await api.gql(LOG_OUT, {"everywhere": True}, worker.token)
        assert await ws.close_code() == 4403
    await until(lambda: bus.stats.subscribers == start)
    assert bus.resting() == 0


async def test_a_woken_operation_completed_before_it_resumes_leaves_the_bus(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    boss = await employer(api)
    worker = await api.sign_up()
    bus = bus_of(api)
    start = bus.stats.subscribers
    entered, gate = asyncio.Event(), asyncio.Event()
    run_validate = CostLimit.on_validate

    async def held_validation(self: CostLimit) -> AsyncIterator[None]:
        transport = outlet.get()
        if transport is not None and transport.resumed is not None:
            entered.set()  # the woken run, held before its generator starts
            await gate.wait()
        async for _ in run_validate(self):
            yield

    monkeypatch.setattr(CostLimit, "on_validate", held_validation)
    async with api.ws(worker.token) as ws:
        await subscribed(api, ws, "feed", FEED_MONEY)
        await rested(api, 1)
        await create(api, boss, title="Wakes it")
        await asyncio.wait_for(entered.wait(), 5)
        await ws.send({"id": "feed", "type": "complete"})
        await until(lambda: bus.stats.subscribers == start)
        gate.set()
        assert await nothing_more(ws)


async def test_a_frame_behind_an_event_handed_back_waits_for_it(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two events on the direct path; the first one's shared result has errors, so it goes
    back to the generator, which must first be woken (held here in its validation): the
    second one's frame waits behind it instead of overtaking it on the socket."""
    boss = await employer(api)
    worker = await api.sign_up()
    first_done, woken_run = asyncio.Event(), asyncio.Event()
    run_execute, run_validate = SharedRun.execute, CostLimit.on_validate
    executed = 0

    def execute(self: SharedRun, payload: object) -> Awaitable[object]:
        nonlocal executed
        executed += 1
        if executed > 1:
            return run_execute(self, payload)

        async def with_errors() -> object:
            await first_done.wait()
            return SimpleNamespace(data=None, errors=[GraphQLError("broken")])

        return with_errors()

    async def held_validation(self: CostLimit) -> AsyncIterator[None]:
        transport = outlet.get()
        if transport is not None and transport.resumed is not None:
            await woken_run.wait()
        async for _ in run_validate(self):
            yield

    monkeypatch.setattr(SharedRun, "execute", execute)
    monkeypatch.setattr(CostLimit, "on_validate", held_validation)
    async with api.ws(worker.token) as ws:
        await subscribed(api, ws, "feed", PUBLIC)
        await rested(api, 1)
        await create(api, boss, title="Handed back")
        second = (await create(api, boss, title="Behind it"))["task"]
        first_done.set()
        await until(lambda: executed == 2)
        assert await nothing_more(ws)  # the second is not written ahead of the first
        woken_run.set()
        # The first as its generator sends a result with errors (through strawberry's error
        # handling), then the second.
        handed_back = (await ws.receive_for("feed"))["payload"]
        assert handed_back["errors"] == [{"message": "broken"}]
        assert (await next_data(ws, "feed"))["taskFeed"]["task"]["id"] == second["id"]
        assert await nothing_more(ws)


async def test_a_run_woken_again_before_the_last_one_ended_keeps_its_subscriber(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A woken run rests again, but its task is held on its way out (an extension that awaits
    as the operation unwinds); meanwhile an event wakes a newer run, held in its validation.
    The older run's end must leave the subscriber to the newer one, which goes on."""
    boss = await employer(api)
    worker = await api.sign_up()
    bus = bus_of(api)
    start = bus.stats.subscribers
    run_execute, run_validate = SharedRun.execute, CostLimit.on_validate
    leaving, leave, entered, enter = (asyncio.Event() for _ in range(4))
    older: list[asyncio.Task[object]] = []

    def execute(self: SharedRun, payload: Any) -> Awaitable[object]:
        if not payload.task.title.startswith("Broken"):
            return run_execute(self, payload)

        async def with_errors() -> object:  # not for everyone: handed back, so it wakes
            return SimpleNamespace(data=None, errors=[GraphQLError("broken")])

        return with_errors()

    async def held_operation(self: CostLimit) -> AsyncIterator[None]:
        try:
            yield
        finally:
            transport = outlet.get()
            if transport is not None and transport.resumed is not None and not leaving.is_set():
                task = asyncio.current_task()
                assert task is not None
                older.append(task)
                leaving.set()  # the first woken run, rested again, on its way out
                await leave.wait()

    async def held_validation(self: CostLimit) -> AsyncIterator[None]:
        transport = outlet.get()
        resumed = transport is not None and transport.resumed is not None
        if resumed and leaving.is_set() and not entered.is_set():
            entered.set()  # the newer run
            await enter.wait()
        async for _ in run_validate(self):
            yield

    async with api.ws(worker.token) as ws:
        await subscribed(api, ws, "feed", PUBLIC)
        await rested(api, 1)
        monkeypatch.setattr(SharedRun, "execute", execute)
        monkeypatch.setattr(CostLimit, "on_operation", held_operation, raising=False)
        monkeypatch.setattr(CostLimit, "on_validate", held_validation)
        await create(api, boss, title="Broken once")
        assert (await ws.receive_for("feed"))["payload"]["errors"] == [{"message": "broken"}]
        await asyncio.wait_for(leaving.wait(), 5)
        await create(api, boss, title="Broken twice")
        await asyncio.wait_for(entered.wait(), 5)
        leave.set()
        await until(lambda: older[0].done())
        enter.set()
        assert (await ws.receive_for("feed"))["payload"]["errors"] == [{"message": "broken"}]
        await rested(api, 1)
        after = (await create(api, boss, title="After"))["task"]
        assert (await next_data(ws, "feed"))["taskFeed"]["task"]["id"] == after["id"]
        assert bus.stats.subscribers == start + 1
        assert await nothing_more(ws)
