"""Fan-out: subscribers of the same operation share one execution (and one JSON) per event;
anything that asks for the viewer is executed per subscriber, so no one sees another's answer."""

from __future__ import annotations

from typing import Any

from picotask.models.users import User as UserModel
from picotask.subscriptions.bus import EventBus
from picotask.subscriptions.groups import Groups
from tests.instances import api_with
from tests.support import Api, Backend, WsClient, count_queries, next_data, nothing_more, until
from tests.test_marketplace_api import create, employer
from tests.test_realtime_resilience import PAUSE, RESUME
from tests.test_subscriptions import APPROVE, FEED, claim_and_submit

PUBLIC = """subscription($filter: TaskFilter) { taskFeed(filter: $filter) {
  cursor kind task { id title reward { amount } employer { id displayName } } } }"""
# The employer's lifetime earnings: theirs and moderators' only (services.users.may_see_money).
MONEY = "workerStats { earned { amount } }"
FEED_MONEY = f"subscription {{ taskFeed {{ task {{ id employer {{ {MONEY} }} }} }} }}"
SUBMISSIONS_MONEY = f"""subscription {{ taskSubmissions {{ kind
  submission {{ task {{ employer {{ {MONEY} }} }} }} }} }}"""
ANALYTICS_MONEY = f"""subscription {{ taskAnalytics {{ kind
  submission {{ task {{ employer {{ {MONEY} }} }} }} }} }}"""
EVENTS_MONEY = f"""subscription {{ myEvents {{ type
  submission {{ worker {{ {MONEY} }} }} }} }}"""
COST = "{ me { id } }"


def groups_of(api: Api) -> Groups[object]:
    groups: Groups[object] = api.server.app.state.bus.groups
    return groups


def counts(api: Api) -> tuple[int, int, int]:
    s = groups_of(api).stats
    return s.shared_executions, s.shared_deliveries, s.subscriber_executions


def bus_of(api: Api) -> EventBus:
    bus: EventBus = api.server.app.state.bus
    return bus


async def rested(api: Api, count: int) -> None:
    """Wait until `count` subscribers rest (no task, no generator: subscriptions/direct.py)."""
    await until(lambda: bus_of(api).resting() == count)


async def subscribed(api: Api, ws: WsClient, op_id: str, query: str, **variables: Any) -> None:
    """Subscribe and wait until the bus has it (so the next event is offered to it)."""
    before = api.server.app.state.bus.stats.subscribers
    await ws.subscribe(op_id, query, variables or None)
    await until(lambda: api.server.app.state.bus.stats.subscribers > before)


async def test_a_public_selection_executes_once_per_event_however_many_subscribe(
    api: Api,
) -> None:
    boss = await employer(api)
    workers = [await api.sign_up() for _ in range(3)]
    async with (
        api.ws(workers[0].token) as first,
        api.ws(workers[0].token) as second,
        api.ws(workers[1].token) as third,
        api.ws(workers[2].token) as fourth,
    ):
        sockets = [first, second, third, fourth]
        await subscribed(api, first, "feed", PUBLIC)
        # One subscriber: what one event costs the group (its employer is one query).
        before = counts(api)
        with count_queries() as alone:
            posted = (await create(api, boss, title="Alone"))["task"]
            seen = (await next_data(first, "feed"))["taskFeed"]
        assert seen["task"]["id"] == posted["id"]
        assert seen["task"]["employer"] == {"id": boss.id, "displayName": "Tester"}
        assert counts(api) == (before[0] + 1, before[1] + 1, before[2])

        for n, ws in enumerate(sockets[1:]):
            await subscribed(api, ws, f"feed{n}", PUBLIC)
        # The same document with other variables is another group.
        await subscribed(api, fourth, "other", PUBLIC, filter={"categories": ["WATCH_VIDEO"]})
        before = counts(api)
        with count_queries() as together:
            posted = (await create(api, boss, title="Together"))["task"]
            received = [(await next_data(first, "feed"))["taskFeed"]]
            for n, ws in enumerate(sockets[1:]):
                received.append((await next_data(ws, f"feed{n}"))["taskFeed"])
            received.append((await next_data(fourth, "other"))["taskFeed"])
        assert all(r == received[0] for r in received)
        assert received[0]["task"]["id"] == posted["id"]
        # Two groups: two executions for five subscribers, none of their own.
        assert counts(api) == (before[0] + 2, before[1] + 5, before[2])
        # The second group costs its own employer query; the other four subscribers nothing.
        assert together.count == alone.count + 1, together.statements


async def test_a_viewer_dependent_feed_selection_runs_for_each_subscriber(api: Api) -> None:
    boss = await employer(api)
    worker, moderator = await api.sign_up(), await api.sign_up()
    await UserModel.filter(email=moderator.email).update(is_admin=True)
    async with api.ws(worker.token) as w, api.ws(moderator.token) as m:
        await subscribed(api, w, "feed", FEED_MONEY)
        await subscribed(api, m, "feed", FEED_MONEY)
        # Idle, they rest (tests/test_resting.py): before any event, nobody knows the selection
        # asks for a viewer.
        await rested(api, 2)
        woken = bus_of(api).stats.woken
        spent = (await api.post(COST, token=worker.token)).json()["extensions"]["cost"]
        for n in range(2):
            before = counts(api)
            posted = (await create(api, boss, title=f"Task {n}"))["task"]
            mine = (await next_data(w, "feed"))["taskFeed"]["task"]
            moderated = (await next_data(m, "feed"))["taskFeed"]["task"]
            assert mine["id"] == moderated["id"] == posted["id"]
            # The worker may not see the employer's money, the moderator may: each their own.
            assert mine["employer"]["workerStats"]["earned"] is None
            assert moderated["employer"]["workerStats"]["earned"] == {"amount": "0.00"}
            # The first event tried a shared execution once (thrown away); then never again.
            assert counts(api) == (before[0] + (1 if n == 0 else 0), before[1], before[2] + 2)
            # It woke each of them once; executed for each from then on, they stay awake.
            assert bus_of(api).stats.woken == woken + 2
            assert bus_of(api).resting() == 0
        # Running their operations again charged nothing: the budget only lost this query.
        after = (await api.post(COST, token=worker.token)).json()["extensions"]["cost"]
        left = spent["throttleStatus"]["currentlyAvailable"] - spent["requestedQueryCost"]
        assert after["throttleStatus"]["currentlyAvailable"] == left


async def test_viewer_dependent_selections_on_every_stream_answer_their_own_viewer(
    api: Api,
) -> None:
    boss, rival = await employer(api), await employer(api)
    worker = await api.sign_up()
    async with api.ws(boss.token) as b, api.ws(rival.token) as r, api.ws(worker.token) as w:
        for ws in (b, r):
            await subscribed(api, ws, "submissions", SUBMISSIONS_MONEY)
            await subscribed(api, ws, "analytics", ANALYTICS_MONEY)
        await subscribed(api, w, "events", EVENTS_MONEY)
        before = counts(api)
        task = (await create(api, boss, title="Watched"))["task"]
        submission_id = await claim_and_submit(api, worker, task["id"])
        approved = await api.gql(APPROVE, {"id": submission_id}, boss.token)
        assert approved["approveSubmission"]["userErrors"] == []

        # The employer sees their own money on their task's events; the rival got none of them.
        for op_id in ("submissions", "analytics"):
            kinds: list[str] = []
            while len(kinds) < 3:
                event = (await next_data(b, op_id))[
                    "taskSubmissions" if op_id == "submissions" else "taskAnalytics"
                ]
                if event["submission"] is None:  # the dashboard hears the task posted too
                    assert op_id == "analytics", event
                    continue
                assert event["submission"]["task"]["employer"]["workerStats"]["earned"] == {
                    "amount": "0.00"
                }
                kinds.append(event["kind"])
            assert kinds == ["CLAIMED", "SUBMITTED", "APPROVED"]
        # The worker sees their own earnings once paid.
        while True:
            event = (await next_data(w, "events"))["myEvents"]
            if event["type"] == "submission.approved":
                break
        assert event["submission"]["worker"]["workerStats"]["earned"] == {"amount": "0.50"}
        assert await nothing_more(r)
        assert counts(api)[2] >= before[2] + 7  # each of them executed for its subscriber


def direct_frames(api: Api) -> int:
    return groups_of(api).stats.direct_frames


async def test_live_events_of_a_public_selection_go_straight_to_the_sockets(api: Api) -> None:
    boss = await employer(api)
    workers = [await api.sign_up() for _ in range(3)]
    async with api.ws(workers[0].token) as a, api.ws(workers[1].token) as b:
        await subscribed(api, a, "feed", PUBLIC)
        await subscribed(api, b, "mine", PUBLIC)
        before, frames = counts(api), direct_frames(api)
        posted = [(await create(api, boss, title=f"Direct {n}"))["task"] for n in range(3)]
        seen_a = [(await next_data(a, "feed"))["taskFeed"] for _ in posted]
        seen_b = [(await next_data(b, "mine"))["taskFeed"] for _ in posted]
        # In order, each once, the same payload for both (each frame with its own id).
        assert [e["task"]["id"] for e in seen_a] == [t["id"] for t in posted]
        assert seen_a == seen_b
        # One execution per event, every frame written directly, none by a generator.
        assert direct_frames(api) == frames + 6
        assert counts(api) == (before[0] + 3, before[1] + 6, before[2])
        assert await nothing_more(a)
        assert await nothing_more(b)
        # The frames are what strawberry sends: resuming from the first cursor replays the
        # other two through the generator, executed and formatted there.
        async with api.ws(workers[2].token) as c:
            after = {"after": seen_a[0]["cursor"]}
            await c.subscribe(
                "replayed",
                """subscription($after: String) { taskFeed(after: $after) {
                cursor kind task { id title reward { amount } employer { id displayName } } } }""",
                after,
            )
            replayed = [(await next_data(c, "replayed"))["taskFeed"] for _ in range(2)]
            assert replayed == seen_a[1:]


async def test_a_slow_socket_on_the_direct_path_is_dropped_with_its_cursor(
    database_url: str, backend: Backend
) -> None:
    async with api_with(
        database_url, backend.broadcast, send_buffer=4_096, subscriber_queue_size=4
    ) as api:
        boss = await employer(api)
        task = (await create(api, boss, instructions="x" * 10_000))["task"]
        worker = await api.sign_up()
        copies = " ".join(f"i{n}: instructions" for n in range(10))  # about 100 kB an event
        big = f"subscription {{ taskFeed {{ cursor kind task {{ id {copies} }} }} }}"
        async with api.ws(worker.token) as slow, api.ws(worker.token) as fast:
            await subscribed(api, slow, "feed", big)
            await subscribed(api, fast, "feed", PUBLIC)
            bus, frames = api.server.app.state.bus, direct_frames(api)
            published = 0
            while not bus.stats.dropped_clients:  # `slow` reads nothing meanwhile
                assert published < 80, "never dropped"
                await api.gql(
                    PAUSE if published % 2 == 0 else RESUME, {"id": task["id"]}, boss.token
                )
                published += 1
                assert (await next_data(fast, "feed"))["taskFeed"]["kind"] == "UPDATED"
            assert direct_frames(api) > frames + published  # both sockets, directly
            # Now it reads: the frames that went out, in order, then the drop with the cursor
            # of the last of them, then the end of the operation.
            cursors = []
            while (message := await slow.receive_for("feed"))["type"] == "next":
                payload = message["payload"]
                if "errors" in payload:
                    break
                cursors.append(payload["data"]["taskFeed"]["cursor"])
            assert 0 < len(cursors) < published
            assert payload["data"] is None
            [error] = payload["errors"]
            assert error["extensions"] == {"code": "SLOW_CONSUMER", "cursor": cursors[-1]}
            assert (await slow.receive_for("feed"))["type"] == "complete"
            # Resuming from it gives the rest, none twice, none missed.
            await slow.subscribe("again", FEED, {"after": cursors[-1]})
            missed = published - len(cursors)
            rest = [(await next_data(slow, "again"))["taskFeed"] for _ in range(missed)]
            assert all(e["kind"] == "UPDATED" for e in rest)
            assert len({*cursors, *(e["cursor"] for e in rest)}) == published
            assert await nothing_more(slow)
