"""The event log's retention (services/core/retention.py): the sweeper removes events older than
`PICOTASK_EVENT_RETENTION_DAYS`, in batches, once the webhook fan-out has passed them; a cursor
from before what the log keeps is refused with CURSOR_EXPIRED, over HTTP and websockets, and
one at or after the horizon replays exactly. Time moves on the injected clock only."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from picotask.models.events import Event, Stream
from picotask.models.webhooks import WebhookCursor, WebhookDelivery
from picotask.schema.feeds import event_cursor
from picotask.schema.relay import pk_of
from picotask.server.app import create_app
from picotask.services.core import retention
from picotask.services.core.clock import ManualClock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.core.retention import EventRetention, horizon
from picotask.settings import Settings, SettingsError
from picotask.subscriptions.streams import audience_accepts, audience_replay, follow
from tests.support import (
    Api,
    Backend,
    LiveServer,
    User,
    WsClient,
    next_data,
    nothing_more,
    settings_for,
)
from tests.test_event_order import event_id
from tests.test_marketplace_api import CLAIM, create, employer
from tests.test_subscriptions import EVENTS, FEED, MY_EVENTS, SUBMISSIONS, claim_and_submit
from tests.test_webhooks import register
from tests.webhook_receiver import Receiver

DAY = 86_400
WRITE = """mutation($task: ID!, $body: String!) {
  sendMessage(input: {taskId: $task, body: $body}) { userErrors { code } } }"""
FEED_CURSOR = "{ tasks { feedCursor } }"
SUBMISSIONS_CURSOR = "{ myTasks { feedCursor } }"
PAUSE = "mutation($id: ID!) { pauseTask(input: {taskId: $id}) { userErrors { code } } }"
ALL_EVENTS = """query($after: String) { events(first: 100, after: $after) {
  edges { cursor node { type message } } } }"""


@pytest.fixture
async def api(database_url: str, backend: Backend, clock: ManualClock) -> AsyncIterator[Api]:
    """As conftest's, with sessions that outlive the months these tests move the clock on."""
    settings = settings_for(
        database_url, backend.broadcast, background_workers=False, session_ttl_seconds=3650 * DAY
    )
    async with (
        LiveServer(create_app(settings, clock)) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
    ):
        yield Api(client, server, clock)


class Scene:
    """An employer with a task and a worker who writes to them about it (each message a
    notification on the employer's `myEvents`), and cursors taken on the first day."""

    def __init__(self, api: Api, boss: User, worker: User, task_id: str) -> None:
        self.api = api
        self.boss = boss
        self.worker = worker
        self.task_id = task_id
        self.old: dict[str, str] = {}

    @classmethod
    async def first_day(cls, api: Api, messages: int = 5) -> Scene:
        boss = await employer(api)
        task = (await create(api, boss, slots=5))["task"]
        scene = cls(api, boss, await api.sign_up(), task["id"])
        await scene.write("old")
        scene.old = {
            "events": (await api.gql(EVENTS, {}, boss.token))["events"]["edges"][0]["cursor"],
            "feed": (await api.gql(FEED_CURSOR, {}, scene.worker.token))["tasks"]["feedCursor"],
            "submissions": (await api.gql(SUBMISSIONS_CURSOR, {}, boss.token))["myTasks"][
                "feedCursor"
            ],
        }
        for n in range(messages):  # after the cursors: they lead to these
            await scene.write(f"old {n}")
        return scene

    async def write(self, body: str) -> None:
        data = await self.api.gql(WRITE, {"task": self.task_id, "body": body}, self.worker.token)
        assert data["sendMessage"]["userErrors"] == [], data

    async def boss_notifications(self, after: int = 0) -> list[int]:
        audience = pk_of(self.boss.id, "User")
        query = Event.filter(stream=Stream.NOTIFICATIONS, audience_id=audience, id__gt=after)
        return [e.id for e in await query.order_by("id").only("id")]


async def all_ids() -> list[int]:
    return [e.id for e in await Event.all().order_by("id").only("id")]


async def sweep_all(api: Api) -> list[int]:
    """Sweeper rounds until one removes no event: how many each removed. The notification
    mailer (a durable reader too, tests/test_notifications.py) catches up first, as its
    background round would."""
    await api.services.notification_mailer.run_once()
    counts = []
    while removed := (await api.services.sweeper.sweep()).events_removed:
        counts.append(removed)
    return counts


def expired(errors: list[dict[str, Any]]) -> bool:
    return errors[0]["extensions"] == {"code": "CURSOR_EXPIRED", "field": ["after"]} and (
        "after is older than the event log keeps" in errors[0]["message"]
    )


async def test_the_sweeper_removes_what_is_older_than_the_retention_in_batches(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 3)
    monkeypatch.setattr(retention, "BATCHES_PER_ROUND", 2)
    scene = await Scene.first_day(api)
    old = await all_ids()
    assert len(old) > 2 * 3  # more than one round's worth

    api.clock.advance(30 * DAY - 1)  # not yet older than the 30 days kept
    await scene.write("a month later")
    assert await sweep_all(api) == []
    month = [i for i in await all_ids() if i > old[-1]]

    api.clock.advance(2)
    await scene.write("and a moment")
    new = [i for i in await all_ids() if i > old[-1]]
    counts = await sweep_all(api)
    assert len(counts) > 1, counts
    assert all(n <= 2 * 3 for n in counts), counts  # bounded rounds
    assert sum(counts) == len(old)
    assert await all_ids() == new  # the month's events stay, whole
    assert await horizon() == old[-1]

    api.clock.advance(30 * DAY - 1)  # "a month later" is past the retention now, not the rest
    assert sum(await sweep_all(api)) == len(month)
    assert await all_ids() == new[len(month) :]


async def test_the_newest_event_is_always_kept_and_ids_go_on(api: Api) -> None:
    scene = await Scene.first_day(api)
    before = await all_ids()
    api.clock.advance(365 * DAY)
    assert sum(await sweep_all(api)) == len(before) - 1
    assert await all_ids() == before[-1:]  # where the log ends, for every instance
    await scene.write("a year later")
    assert (await all_ids())[-1] > before[-1]  # no id used twice
    page = await api.gql(ALL_EVENTS, {"after": event_cursor(before[-1])}, scene.boss.token)
    assert [e["node"]["message"] for e in page["events"]["edges"]][-1].endswith("a year later")


async def test_no_retention_keeps_everything(api: Api) -> None:
    await Scene.first_day(api)
    before = await all_ids()
    api.clock.advance(3650 * DAY)
    forever = api.services.settings.model_copy(update={"event_retention_days": 0})
    assert await EventRetention(forever, api.clock).sweep() == 0
    assert await all_ids() == before


async def test_events_the_webhook_fan_out_has_not_passed_are_kept(api: Api) -> None:
    scene = await Scene.first_day(api, messages=2)
    receiver = Receiver()
    await receiver.start()
    try:
        await register(api, scene.boss, receiver, ["submission.claimed", "submission.submitted"])
        before_endpoint = await all_ids()
        submission = await claim_and_submit(api, scene.worker, scene.task_id)
        api.clock.advance(31 * DAY)

        # The fan-out has not run yet: it will start at the endpoint's creation.
        assert sum(await sweep_all(api)) == len(before_endpoint)
        # The claim and the submission, kept; the auto-approval, younger.
        after_endpoint = await all_ids()
        assert after_endpoint[0] == before_endpoint[-1] + 1

        await api.services.webhook_dispatcher.fan_out()
        fan_out = (await WebhookCursor.get(id=retention.FAN_OUT)).last_event_id
        assert fan_out > after_endpoint[0]
        api.clock.advance(31 * DAY)  # the auto-approval's events too
        kept = [i for i in after_endpoint if i > min(fan_out, after_endpoint[-2])]
        assert sum(await sweep_all(api)) == len(after_endpoint) - len(kept)
        assert await all_ids() == kept
        # The deliveries carry their own payload: they go out all the same.
        deliveries = await WebhookDelivery.all().order_by("id")
        assert [d.event_type for d in deliveries] == ["submission.claimed", "submission.submitted"]
        assert deliveries[0].payload["submission"]["id"] == submission
        assert await api.services.webhook_dispatcher.run_once() == 2
        assert len(receiver.received) == 2
    finally:
        await receiver.stop()


async def test_a_fan_out_behind_holds_the_log_back(api: Api) -> None:
    await Scene.first_day(api, messages=3)
    ids = await all_ids()
    await WebhookCursor.create(id=retention.FAN_OUT, last_event_id=ids[2])
    api.clock.advance(31 * DAY)
    assert sum(await sweep_all(api)) == 3
    assert await all_ids() == ids[3:]
    await WebhookCursor.filter(id=retention.FAN_OUT).update(last_event_id=ids[-1])
    assert sum(await sweep_all(api)) == len(ids) - 4


async def test_an_events_cursor_from_before_what_is_kept_is_refused(api: Api) -> None:
    scene = await Scene.first_day(api)
    api.clock.advance(31 * DAY)
    for n in range(3):
        await scene.write(f"new {n}")
    await sweep_all(api)
    kept = await horizon()
    assert kept > 0

    errors = await api.errors(ALL_EVENTS, {"after": scene.old["events"]}, scene.boss.token)
    assert expired(errors), errors
    errors = await api.errors(ALL_EVENTS, {"after": event_cursor(kept - 1)}, scene.boss.token)
    assert expired(errors), errors

    # At the horizon (an id that was someone's event, now gone) or after it: exact.
    wanted = await scene.boss_notifications()
    for after in (kept, wanted[0]):
        page = await api.gql(ALL_EVENTS, {"after": event_cursor(after)}, scene.boss.token)
        got = [event_id(e["cursor"]) for e in page["events"]["edges"]]
        assert got == [i for i in wanted if i > after]
    # Without a cursor: what is kept, from its start.
    page = await api.gql(ALL_EVENTS, {}, scene.boss.token)
    assert [e["node"]["message"] for e in page["events"]["edges"]][-1].endswith("new 2")
    # A bad cursor is still a bad cursor, not an expired one.
    errors = await api.errors(ALL_EVENTS, {"after": "nope"}, scene.boss.token)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def refused(ws: WsClient, op_id: str) -> None:
    """The subscription ends with one CURSOR_EXPIRED error frame, and nothing else comes."""
    message = await ws.receive_for(op_id)
    assert message["type"] == "next", message
    assert message["payload"]["data"] is None
    assert expired(message["payload"]["errors"]), message
    assert (await ws.receive_for(op_id))["type"] == "complete"


async def test_subscriptions_from_an_expired_cursor_are_refused_and_the_socket_goes_on(
    api: Api,
) -> None:
    scene = await Scene.first_day(api)
    api.clock.advance(31 * DAY)
    await scene.write("new 0")
    await api.gql(CLAIM, {"id": scene.task_id}, (await api.sign_up()).token)
    await sweep_all(api)
    kept = await horizon()
    wanted = await scene.boss_notifications()
    assert wanted
    assert wanted[0] > kept

    async with api.ws(scene.boss.token) as boss, api.ws(scene.worker.token) as worker:
        await worker.subscribe("feed", FEED, {"after": scene.old["feed"]})
        await refused(worker, "feed")
        await boss.subscribe("submissions", SUBMISSIONS, {"after": scene.old["submissions"]})
        await refused(boss, "submissions")
        await boss.subscribe("mine", MY_EVENTS, {"after": scene.old["events"]})
        await refused(boss, "mine")
        await boss.subscribe("just-before", MY_EVENTS, {"after": event_cursor(kept - 1)})
        await refused(boss, "just-before")

        # The same socket: from the horizon, every kept event once, then live.
        await boss.subscribe("resumed", MY_EVENTS, {"after": event_cursor(kept)})
        got = [event_id((await next_data(boss, "resumed"))["myEvents"]["cursor"]) for _ in wanted]
        assert got == wanted
        await scene.write("live")
        live = (await next_data(boss, "resumed"))["myEvents"]
        assert event_id(live["cursor"]) == (await scene.boss_notifications())[-1]
        assert await nothing_more(boss)
        # And the worker's socket serves a feed from its kept range.
        await worker.subscribe("feed-now", FEED, {"after": event_cursor(kept)})
        await api.gql(PAUSE, {"id": scene.task_id}, scene.boss.token)
        updated = (await next_data(worker, "feed-now"))["taskFeed"]
        assert updated["task"]["id"] == scene.task_id


async def test_a_replay_the_sweeper_overtakes_ends_with_cursor_expired(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subscription replaying the log from near the horizon while the sweeper removes past
    it: the next batch it reads is refused, never silently short."""
    monkeypatch.setattr("picotask.subscriptions.streams.REPLAY_BATCH", 2)
    scene = await Scene.first_day(api, messages=6)
    wanted = await scene.boss_notifications()
    api.clock.advance(31 * DAY)
    await scene.write("new")
    audience = pk_of(scene.boss.id, "User")
    assert audience is not None
    replayed = follow(
        api.server.app.state.bus,
        audience_accepts(Stream.NOTIFICATIONS, audience),
        audience_replay(Stream.NOTIFICATIONS, audience),
        0,
    )
    async with contextlib.aclosing(replayed):
        assert (await anext(replayed)).id == wanted[0]
        assert (await anext(replayed)).id == wanted[1]
        await sweep_all(api)  # removes the rest of what it was replaying
        with pytest.raises(DomainError) as refusal:
            await anext(replayed)
    assert refusal.value.problems[0].code is ErrorCode.CURSOR_EXPIRED


def test_the_retention_setting() -> None:
    assert Settings.from_env({}).event_retention_days == 30
    assert Settings.from_env({"PICOTASK_EVENT_RETENTION_DAYS": "0"}).event_retention_days == 0
    for bad in ("-1", "soon", "36501"):
        with pytest.raises(SettingsError, match="PICOTASK_EVENT_RETENTION_DAYS"):
            Settings.from_env({"PICOTASK_EVENT_RETENTION_DAYS": bad})
