"""Fan-out: subscribers of the same operation share one execution (and one JSON) per event;
anything that asks for the viewer is executed per subscriber, so no one sees another's answer."""

from __future__ import annotations

from typing import Any

from picotask.models.users import User as UserModel
from picotask.subscriptions.groups import Groups
from tests.support import Api, WsClient, count_queries, next_data, nothing_more, until
from tests.test_marketplace_api import create, employer
from tests.test_subscriptions import APPROVE, claim_and_submit

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


def groups_of(api: Api) -> Groups[object]:
    groups: Groups[object] = api.server.app.state.bus.groups
    return groups


def counts(api: Api) -> tuple[int, int, int]:
    s = groups_of(api).stats
    return s.shared_executions, s.shared_deliveries, s.subscriber_executions


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
            kinds = []
            for _ in range(3):
                event = (await next_data(b, op_id))[
                    "taskSubmissions" if op_id == "submissions" else "taskAnalytics"
                ]
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
