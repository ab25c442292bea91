"""A failure in one subscriber's delivery stays that subscriber's: an event this instance cannot
render or filter (a newer instance's, during a rolling deploy), a shared execution that raises,
a frame that cannot be encoded. The subscriptions it fails for end with their cursor (or get
this event's masked error); the bus's listener and every other subscriber go on, through the
bus, not only the log's poll (set to a minute here, the heartbeat to seconds, so a listener
that died would show)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest

import picotask.schema.events as event_types
from picotask.models.events import Event, Stream
from picotask.models.tasks import Task
from picotask.schema.relay import from_global_id
from picotask.services.core import events as services_events
from picotask.services.core.events import snapshot
from picotask.services.core.pagination import decode_cursor
from picotask.subscriptions.bus import EventBus
from picotask.subscriptions.subscriber import Phase, Subscriber
from tests.instances import api_with, instances
from tests.support import Api, Backend, WsClient, next_data, nothing_more, until
from tests.test_fanout import MONEY, PUBLIC, bus_of, rested, subscribed
from tests.test_marketplace_api import CLAIM, create, employer
from tests.test_subscriptions import FEED, SUBMISSIONS

# A listener that died would leave events to the poll (a minute) or the watchdog (3 heartbeats).
SLOW_RESCUE: dict[str, Any] = {"bus_log_poll_seconds": 60.0, "bus_heartbeat_seconds": 5.0}
SOON = 3.0  # seconds: well before either
TITLE_ONLY = "subscription { taskFeed { cursor task { title } } }"
ID_ONLY = "subscription { taskFeed { cursor task { id } } }"
# Asks for its viewer: executed per subscriber, so its events go through its generator.
VIEWERS = f"subscription {{ taskFeed {{ cursor task {{ id employer {{ {MONEY} }} }} }} }}"


@contextlib.asynccontextmanager
async def app(database_url: str, backend: Backend) -> AsyncIterator[Api]:
    async with api_with(database_url, backend.broadcast, **SLOW_RESCUE) as api:
        yield api


def pk(global_id: str) -> int:
    decoded = from_global_id(global_id)
    assert decoded is not None
    return decoded[1]


def event_id(cursor: str) -> int:
    return int(decode_cursor(cursor, [False])[0])


async def newer_event(api: Api, task_id: str, kind: str = "BOOSTED", **replace: Any) -> int:
    """What a newer instance writes for a task (through the same event log, committed and
    published): a kind this one has no name for, or a snapshot of another shape (`replace`:
    keys renamed or dropped, None drops)."""
    task = await Task.get(id=pk(task_id))
    values = snapshot(task)
    for key, value in replace.items():
        values.pop(key)
        if value is not None:
            values[value] = None
    payload = {"kind": kind, "task": values}
    log = api.services.events
    async with log.transaction():
        log._emit(  # the fields `EventLog.task` writes, with this payload
            stream=Stream.FEED,
            type=f"task.{kind.lower()}",
            task_id=task.id,
            message="Changed",
            payload=payload,
        )
    newest = await Event.filter(stream=Stream.FEED).order_by("-id").first()
    assert newest is not None
    return int(newest.id)


async def ended_with_cursor(ws: WsClient, op_id: str) -> str:
    """The subscription ends cleanly: UNDELIVERABLE_EVENT with a cursor, then `complete`."""
    message = await ws.receive_for(op_id)
    assert message["type"] == "next", message
    assert message["payload"]["data"] is None
    [error] = message["payload"]["errors"]
    assert error["extensions"]["code"] == "UNDELIVERABLE_EVENT", error
    assert (await ws.receive_for(op_id))["type"] == "complete"
    cursor: str = error["extensions"]["cursor"]
    return cursor


class Listening:
    """The bus's listener as it is now: still the same task, still running, and every event
    since came through it (none from the log, no reconnect)."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.task = bus._listener
        self.from_log = bus.sequencer.from_log
        self.reconnects = bus.stats.reconnects

    def still(self) -> None:
        assert self.bus._listener is self.task
        assert self.task is not None
        assert not self.task.done()
        assert self.bus.sequencer.from_log == self.from_log
        assert self.bus.stats.reconnects == self.reconnects


async def test_an_event_this_instance_cannot_render_ends_only_those_it_is_for(
    database_url: str, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    async with app(database_url, backend) as api:
        boss = await employer(api)
        w1, w2, w3 = [await api.sign_up() for _ in range(3)]
        async with (
            api.ws(w1.token) as a,
            api.ws(w2.token) as b,
            api.ws(w3.token) as g,
            api.ws(boss.token) as e,
        ):
            await subscribed(api, a, "feed", PUBLIC)
            await subscribed(api, b, "feed", PUBLIC)  # the same group: the direct path
            await subscribed(api, g, "feed", VIEWERS)  # per subscriber: its generator
            await subscribed(api, a, "reviews", PUBLIC, filter={"categories": ["REVIEW"]})
            await subscribed(api, e, "claims", SUBMISSIONS)
            first = (await create(api, boss, title="First"))["task"]
            cursors = {}
            for ws in (a, b, g):
                cursors[ws] = (await next_data(ws, "feed"))["taskFeed"]["cursor"]
            await rested(api, 4)  # all but `g`, which asks for its viewer
            bus, watched = bus_of(api), list(bus_of(api)._subscribers)
            listening = Listening(bus)

            boosted = await newer_event(api, first["id"])
            for ws in (a, b, g):
                cursor = await ended_with_cursor(ws, "feed")
                # Every event it may see before the unknown one was delivered: resuming
                # after this cursor misses nothing.
                assert event_id(cursors[ws]) <= event_id(cursor) < boosted
            # Two ended by the bus (their direct path renders it), `g` by its own generator;
            # one error logged for the event, with its traceback.
            assert bus.stats.undeliverable == 2
            logged = [r for r in caplog.records if "could not be delivered" in r.getMessage()]
            assert len(logged) == 1
            assert "'BOOSTED' is not a valid TaskFeedEventKind" in logged[0].getMessage()

            # Everyone else goes on, through the bus.
            review = (await create(api, boss, title="Review", category="REVIEW"))["task"]
            seen = (await next_data(a, "reviews", within=SOON))["taskFeed"]
            assert seen["task"]["id"] == review["id"]
            claim = await api.gql(CLAIM, {"id": review["id"]}, w2.token)
            assert claim["claimTask"]["userErrors"] == []
            assert (await next_data(e, "claims", within=SOON))["taskSubmissions"][
                "kind"
            ] == "CLAIMED"
            # The claim changed the task's slots: the feed that goes on has it too.
            update = (await next_data(a, "reviews", within=SOON))["taskFeed"]
            assert (update["kind"], update["task"]["id"]) == ("UPDATED", review["id"])
            listening.still()
            assert all(s.pending == 0 for s in watched)
            for ws in (a, b, g):
                assert await nothing_more(ws)

            # Resumed here, the same event ends it again: it is never skipped.
            await a.subscribe("again", FEED, {"after": cursors[a]})
            assert event_id(await ended_with_cursor(a, "again")) < boosted


async def test_an_event_a_filter_cannot_read_ends_only_those_it_is_for(
    database_url: str, backend: Backend
) -> None:
    async with app(database_url, backend) as api:
        boss = await employer(api)
        worker = await api.sign_up()
        async with api.ws(worker.token) as w, api.ws(boss.token) as e:
            await subscribed(api, w, "feed", PUBLIC)
            await subscribed(api, w, "reviews", PUBLIC, filter={"categories": ["REVIEW"]})
            await subscribed(api, e, "claims", SUBMISSIONS)
            task = (await create(api, boss, title="First", category="REVIEW"))["task"]
            for op_id in ("feed", "reviews"):
                await next_data(w, op_id)
            await rested(api, 3)
            listening = Listening(bus_of(api))
            # A newer instance's snapshot, with a column renamed: the feed's filter reads it.
            await newer_event(api, task["id"], "UPDATED", target_countries="countries")
            for op_id in ("feed", "reviews"):
                await ended_with_cursor(w, op_id)
            claim = await api.gql(CLAIM, {"id": task["id"]}, worker.token)
            assert claim["claimTask"]["userErrors"] == []
            claimed = (await next_data(e, "claims", within=SOON))["taskSubmissions"]
            assert claimed["kind"] == "CLAIMED"
            listening.still()


async def test_a_shared_execution_that_raises_ends_no_subscription(
    database_url: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A title JSON cannot encode (a lone surrogate: orjson refuses it) makes the group's shared
    execution raise. Each of its subscribers then executes the event as its own and gets it as
    any bug: a masked error with its request id; then the next event. Another group, which does
    not ask for the title, is not concerned."""
    render = services_events.task_from_snapshot

    def with_a_surrogate(values: dict[str, Any]) -> Task:
        task = render(values)
        if task.title == "Unencodable":
            task.title = "Un\ud800encodable"
        return task

    monkeypatch.setattr(event_types, "task_from_snapshot", with_a_surrogate)
    async with app(database_url, backend) as api:
        boss = await employer(api)
        workers = [await api.sign_up() for _ in range(3)]
        async with (
            api.ws(workers[0].token) as a,
            api.ws(workers[1].token) as b,
            api.ws(workers[2].token) as other,
        ):
            await subscribed(api, a, "feed", TITLE_ONLY)
            await subscribed(api, b, "feed", TITLE_ONLY)
            await subscribed(api, other, "feed", ID_ONLY)
            await rested(api, 3)
            listening = Listening(bus_of(api))
            bad = (await create(api, boss, title="Unencodable"))["task"]
            fine = (await create(api, boss, title="Fine"))["task"]
            for ws in (a, b):
                message = await ws.receive_for("feed")
                assert message["type"] == "next", message
                assert message["payload"]["data"] is None
                [error] = message["payload"]["errors"]
                assert error["message"] == "Internal server error."
                assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
                assert error["extensions"]["requestId"]
                seen = (await next_data(ws, "feed", within=SOON))["taskFeed"]
                assert seen["task"]["title"] == "Fine"
            ids = [(await next_data(other, "feed"))["taskFeed"]["task"]["id"] for _ in "xx"]
            assert ids == [bad["id"], fine["id"]]
            # Still subscribed, back at rest, and the next event goes the direct path again.
            await rested(api, 3)
            await create(api, boss, title="After")
            for ws in (a, b):
                assert (await next_data(ws, "feed"))["taskFeed"]["task"]["title"] == "After"
            listening.still()


async def test_an_operation_id_json_cannot_encode_costs_the_others_nothing(api: Api) -> None:
    """A client may name its operation with a lone surrogate (a valid JSON escape that orjson
    refuses): its frame cannot be written, by the direct path or strawberry. Its subscription
    alone ends; the others of its group get theirs, and no count is left behind."""
    boss = await employer(api)
    workers = [await api.sign_up() for _ in range(4)]
    bus = bus_of(api)
    start = bus.stats.subscribers
    async with contextlib.AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(api.ws(w.token)) for w in workers]
        await subscribed(api, sockets[0], "\ud800", PUBLIC)
        for ws in sockets[1:]:
            await subscribed(api, ws, "feed", PUBLIC)
        await rested(api, 4)
        watched: list[Subscriber] = list(bus._subscribers)
        posted = (await create(api, boss, title="For all"))["task"]
        for ws in sockets[1:]:
            assert (await next_data(ws, "feed"))["taskFeed"]["task"]["id"] == posted["id"]
        await until(lambda: bus.stats.subscribers == start + 3)
        assert all(s.pending == 0 for s in watched)
        assert sum(s.phase is Phase.CLOSED for s in watched) == 1
        # And the next event too.
        await create(api, boss, title="Next")
        for ws in sockets[1:]:
            assert (await next_data(ws, "feed"))["taskFeed"]["task"]["title"] == "Next"


@pytest.mark.skipif(
    not os.environ.get("PICOTASK_TEST_DATABASE_URL"),
    reason="several processes share one database only on PostgreSQL (SQLite is one process)",
)
async def test_a_rolling_deploy_loses_no_event(
    database_url: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two instances of this version; a newer one writes a feed event of a kind they have no
    name for. On both, the subscriptions it is for end with their cursor, every other goes on
    through the bus; once this instance is upgraded, a worker resumes there with that cursor and
    gets that event and everything after, nothing twice."""
    async with instances(database_url, backend, **SLOW_RESCUE) as (here, there):
        boss = await employer(here)
        workers = [await here.sign_up() for _ in range(4)]
        async with (
            there.ws(workers[0].token) as old_feed,
            here.ws(workers[1].token) as feed,
            there.ws(workers[2].token) as old_reviews,
            here.ws(workers[3].token) as reviews,
        ):
            for ws in (old_feed, feed):
                await ws.subscribe("feed", FEED)
            for ws in (old_reviews, reviews):
                await ws.subscribe("feed", FEED, {"filter": {"categories": ["REVIEW"]}})
            # Live on both instances once a first event reached all of them.
            warm_up = (await create(here, boss, title="Warm-up", category="REVIEW"))["task"]
            for ws in (old_feed, feed, old_reviews, reviews):
                assert (await next_data(ws, "feed", within=10))["taskFeed"]["task"]["id"] == (
                    warm_up["id"]
                )
            video = (await create(here, boss, title="Video"))["task"]
            before = {}
            for ws in (old_feed, feed):
                before[ws] = (await next_data(ws, "feed"))["taskFeed"]["cursor"]
            listening = Listening(bus_of(here))

            boosted = await newer_event(here, video["id"])
            cursors = [await ended_with_cursor(ws, "feed") for ws in (old_feed, feed)]
            for ws, cursor in zip((old_feed, feed), cursors, strict=True):
                assert event_id(before[ws]) <= event_id(cursor) < boosted
            after = (await create(here, boss, title="After", category="REVIEW"))["task"]
            for ws in (old_reviews, reviews):
                seen = (await next_data(ws, "feed", within=SOON))["taskFeed"]
                assert seen["task"]["id"] == after["id"]
            listening.still()

            # This instance is upgraded: it has a name for the new kind.
            known = event_types.TaskFeedEventKind

            def upgraded(value: str) -> event_types.TaskFeedEventKind:
                return known.UPDATED if value == "BOOSTED" else known(value)

            monkeypatch.setattr(event_types, "TaskFeedEventKind", upgraded)
            for cursor, worker in zip(cursors, workers[:2], strict=True):
                async with here.ws(worker.token) as resumed:
                    await resumed.subscribe("feed", FEED, {"after": cursor})
                    got = [(await next_data(resumed, "feed"))["taskFeed"] for _ in range(2)]
                    assert (event_id(got[0]["cursor"]), got[0]["kind"]) == (boosted, "UPDATED")
                    assert [e["task"]["id"] for e in got] == [video["id"], after["id"]]
                    assert await nothing_more(resumed)
            listening.still()
