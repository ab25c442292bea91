"""Subscriptions over real websockets: who receives what, resume without gaps, bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from tests.instances import instances
from tests.support import PATIENCE, Api, Backend, User, next_data, nothing_more
from tests.test_marketplace_api import CLAIM, SUBMIT, create, employer

FEED = """subscription($filter: TaskFilter, $after: String) {
  taskFeed(filter: $filter, after: $after) {
    cursor kind task { id title status slotsRemaining } } }"""
SUBMISSIONS = """subscription($taskId: ID, $after: String) {
  taskSubmissions(taskId: $taskId, after: $after) {
    cursor kind submission { id status worker { id } } } }"""
MY_EVENTS = """subscription($after: String) {
  myEvents(after: $after) { cursor type message task { id } submission { id status } } }"""
EVENTS = """query($after: String) { events(after: $after) {
  edges { cursor node { type message } } } }"""
TASKS_NOW = """{ tasks { feedCursor edges { node { id } } } }"""
MY_TASKS_NOW = """{ myTasks { feedCursor edges { node { id } } } }"""
TASK_SUBMISSIONS_NOW = """query($id: ID!) { task(id: $id) {
  submissions { feedCursor edges { node { id } } } } }"""
MY_SUBMISSIONS_NOW = """{ mySubmissions { feedCursor edges { node { id status } } } }"""
APPROVE = """mutation($id: ID!) { approveSubmission(input: {submissionId: $id}) {
  userErrors { code } } }"""


async def claim_and_submit(api: Api, worker: User, task_id: str) -> str:
    claim = (await api.gql(CLAIM, {"id": task_id}, worker.token))["claimTask"]
    assert claim["userErrors"] == [], claim
    submission_id: str = claim["submission"]["id"]
    sent = await api.gql(
        SUBMIT,
        {"id": submission_id, "answers": [{"label": "Last word said", "value": "Bye"}]},
        worker.token,
    )
    assert sent["submitProof"]["userErrors"] == []
    return submission_id


async def test_task_feed_reaches_eligible_workers_only(api: Api) -> None:
    boss = await employer(api)
    american, german = await api.sign_up(country="US"), await api.sign_up(country="DE")
    async with api.ws(american.token) as us, api.ws(german.token) as de, api.ws(boss.token) as own:
        for ws in (us, de, own):
            await ws.subscribe("feed", FEED)
        await us.subscribe("videos", FEED, {"filter": {"categories": ["WATCH_VIDEO"]}})
        await us.subscribe("reviews", FEED, {"filter": {"categories": ["REVIEW"]}})

        german_only = (
            await create(api, boss, title="German only", targeting={"countries": ["DE"]})
        )["task"]
        everyone = (await create(api, boss, title="For everyone"))["task"]

        seen_de = [(await next_data(de, "feed"))["taskFeed"] for _ in range(2)]
        assert [(e["kind"], e["task"]["id"]) for e in seen_de] == [
            ("POSTED", german_only["id"]),
            ("POSTED", everyone["id"]),
        ]
        first_us = (await next_data(us, "feed"))["taskFeed"]
        assert (first_us["kind"], first_us["task"]["id"]) == ("POSTED", everyone["id"])
        assert first_us["task"]["slotsRemaining"] == 2
        assert (await next_data(us, "videos"))["taskFeed"]["task"]["id"] == everyone["id"]

        await api.gql(CLAIM, {"id": everyone["id"]}, american.token)
        updated = (await next_data(us, "feed"))["taskFeed"]
        assert (updated["kind"], updated["task"]["slotsRemaining"]) == ("UPDATED", 1)
        await api.gql(
            "mutation($id: ID!) { cancelTask(input: {taskId: $id}) { task { status } } }",
            {"id": everyone["id"]},
            boss.token,
        )
        closed = (await next_data(us, "feed"))["taskFeed"]
        assert (closed["kind"], closed["task"]["status"]) == ("CLOSED", "CANCELLED")
        videos = [(await next_data(us, "videos"))["taskFeed"]["kind"] for _ in range(2)]
        assert videos == ["UPDATED", "CLOSED"]
        assert await nothing_more(own)  # employers do not see their own tasks on the feed
        assert await nothing_more(us)  # the "reviews" subscription matched nothing


async def test_a_feed_after_the_tasks_page_cursor_misses_nothing_posted_in_between(
    database_url: str, backend: Backend
) -> None:
    """The page is read on one instance, a task is posted, then the feed is subscribed (on
    PostgreSQL on another instance) `after` the page's feedCursor: the task posted in between
    comes once, the one already on the page does not, then the feed goes on live. A feed
    subscribed without `after` at the same moment never hears of the one in between."""
    async with instances(database_url, backend) as apis:
        here, there = apis[0], apis[-1]
        boss = await employer(here)
        worker = await here.sign_up()
        on_the_page = (await create(here, boss, title="On the page"))["task"]
        page = (await here.gql(TASKS_NOW, token=worker.token))["tasks"]
        assert [edge["node"]["id"] for edge in page["edges"]] == [on_the_page["id"]]
        in_between = (await create(here, boss, title="In between"))["task"]

        async with there.ws(worker.token) as resumed, there.ws(worker.token) as plain:
            await resumed.subscribe("feed", FEED, {"after": page["feedCursor"]})
            await plain.subscribe("feed", FEED)
            missed = (await next_data(resumed, "feed"))["taskFeed"]
            assert (missed["kind"], missed["task"]["id"]) == ("POSTED", in_between["id"])
            assert await nothing_more(plain)  # subscribed: the replay came after registering
            live = (await create(here, boss, title="Live"))["task"]
            for ws in (resumed, plain):
                event = (await next_data(ws, "feed"))["taskFeed"]
                assert (event["kind"], event["task"]["id"]) == ("POSTED", live["id"])
            assert await nothing_more(resumed)
            assert await nothing_more(plain)


async def test_submissions_after_the_my_tasks_page_cursor_miss_nothing(api: Api) -> None:
    boss = await employer(api)
    task = (await create(api, boss))["task"]
    page = (await api.gql(MY_TASKS_NOW, token=boss.token))["myTasks"]
    assert [edge["node"]["id"] for edge in page["edges"]] == [task["id"]]
    worker = await api.sign_up()
    assert (await api.gql(CLAIM, {"id": task["id"]}, worker.token))["claimTask"]["userErrors"] == []
    async with api.ws(boss.token) as ws:
        await ws.subscribe("mine", SUBMISSIONS, {"after": page["feedCursor"]})
        claimed = (await next_data(ws, "mine"))["taskSubmissions"]
        assert (claimed["kind"], claimed["submission"]["worker"]["id"]) == ("CLAIMED", worker.id)
        assert await nothing_more(ws)


async def test_a_submission_between_the_task_submissions_page_and_the_subscription_comes_once(
    database_url: str, backend: Backend
) -> None:
    """The employer reads a task's submissions on one instance, a second worker claims and
    submits, then `taskSubmissions(taskId, after: feedCursor)` is subscribed (on PostgreSQL on
    another instance): the submission in between comes once, claimed then submitted; the one
    already on the page does not come again until it changes."""
    async with instances(database_url, backend) as apis:
        here, there = apis[0], apis[-1]
        boss = await employer(here)
        task = (await create(here, boss))["task"]
        first, second = await here.sign_up(), await here.sign_up()
        on_the_page = await claim_and_submit(here, first, task["id"])
        read = await here.gql(TASK_SUBMISSIONS_NOW, {"id": task["id"]}, boss.token)
        page = read["task"]["submissions"]
        assert [edge["node"]["id"] for edge in page["edges"]] == [on_the_page]
        in_between = await claim_and_submit(here, second, task["id"])

        async with there.ws(boss.token) as ws:
            after = {"taskId": task["id"], "after": page["feedCursor"]}
            await ws.subscribe("one", SUBMISSIONS, after)
            missed = [(await next_data(ws, "one"))["taskSubmissions"] for _ in range(2)]
            assert [(e["kind"], e["submission"]["id"]) for e in missed] == [
                ("CLAIMED", in_between),
                ("SUBMITTED", in_between),
            ]
            assert await nothing_more(ws)
            assert (await here.gql(APPROVE, {"id": on_the_page}, boss.token)) == {
                "approveSubmission": {"userErrors": []}
            }
            live = (await next_data(ws, "one"))["taskSubmissions"]
            assert (live["kind"], live["submission"]["id"]) == ("APPROVED", on_the_page)
            assert await nothing_more(ws)


async def test_my_events_after_the_my_submissions_page_cursor_miss_nothing(api: Api) -> None:
    """Approved before the page: shown by it, not replayed; approved after: replayed once."""
    boss = await employer(api)
    worker = await api.sign_up()
    earlier, later = [
        await claim_and_submit(api, worker, (await create(api, boss))["task"]["id"])
        for _ in range(2)
    ]
    await api.gql(APPROVE, {"id": earlier}, boss.token)
    page = (await api.gql(MY_SUBMISSIONS_NOW, token=worker.token))["mySubmissions"]
    assert [edge["node"] for edge in page["edges"]] == [
        {"id": later, "status": "SUBMITTED"},
        {"id": earlier, "status": "APPROVED"},
    ]
    await api.gql(APPROVE, {"id": later}, boss.token)
    async with api.ws(worker.token) as ws:
        await ws.subscribe("me", MY_EVENTS, {"after": page["feedCursor"]})
        approved = (await next_data(ws, "me"))["myEvents"]
        assert approved["type"] == "submission.approved"
        assert approved["submission"] == {"id": later, "status": "APPROVED"}
        assert await nothing_more(ws)


async def test_employers_watch_submissions_on_their_own_tasks(api: Api) -> None:
    boss, rival = await employer(api), await employer(api)
    task = (await create(api, boss))["task"]
    rival_task = (await create(api, rival))["task"]
    worker = await api.sign_up()
    async with api.ws(boss.token) as mine, api.ws(rival.token) as theirs:
        await mine.subscribe("all", SUBMISSIONS)
        await mine.subscribe("one", SUBMISSIONS, {"taskId": task["id"]})
        await theirs.subscribe("all", SUBMISSIONS)
        submission_id = await claim_and_submit(api, worker, task["id"])
        for op in ("all", "one"):
            claimed = (await next_data(mine, op))["taskSubmissions"]
            assert (claimed["kind"], claimed["submission"]["worker"]["id"]) == (
                "CLAIMED",
                worker.id,
            )
            sent = (await next_data(mine, op))["taskSubmissions"]
            assert (sent["kind"], sent["submission"]["id"]) == ("SUBMITTED", submission_id)
        # The rival hears about their own task only.
        await api.gql(CLAIM, {"id": rival_task["id"]}, worker.token)
        assert (await next_data(theirs, "all"))["taskSubmissions"]["kind"] == "CLAIMED"
        assert await nothing_more(theirs)

        await mine.subscribe("bad", SUBMISSIONS, {"taskId": rival_task["id"]})
        refused = await mine.receive_for("bad")
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_my_events_and_the_events_log(api: Api) -> None:
    boss = await employer(api)
    task = (await create(api, boss))["task"]
    worker, bystander = await api.sign_up(), await api.sign_up()
    async with api.ws(worker.token) as ws, api.ws(bystander.token) as other:
        await ws.subscribe("me", MY_EVENTS)
        await other.subscribe("me", MY_EVENTS)
        submission_id = await claim_and_submit(api, worker, task["id"])
        await api.gql(APPROVE, {"id": submission_id}, boss.token)
        event = (await next_data(ws, "me"))["myEvents"]
        assert event["type"] == "submission.approved"
        assert event["task"] == {"id": task["id"]}
        assert event["submission"] == {"id": submission_id, "status": "APPROVED"}
        assert "+0.50" in event["message"]
        await api.gql(
            'mutation($id: ID!) { sendBonus(input: {submissionId: $id, amount: "0.25", '
            'reason: "Quick!"}) { userErrors { code } } }',
            {"id": submission_id},
            boss.token,
        )
        bonus = (await next_data(ws, "me"))["myEvents"]
        assert bonus["type"] == "bonus.received"
        assert await nothing_more(other)

    log = (await api.gql(EVENTS, {}, worker.token))["events"]["edges"]
    assert [e["node"]["type"] for e in log] == ["submission.approved", "bonus.received"]
    assert log[1]["cursor"] == bonus["cursor"]
    assert (await api.gql(EVENTS, {}, bystander.token))["events"]["edges"] == []


async def test_payout_notifications(api: Api) -> None:
    user = await employer(api, "10.00")
    async with api.ws(user.token) as ws:
        await ws.subscribe("me", MY_EVENTS)
        await api.gql(
            'mutation { requestPayout(input: {amount: "5.00", method: PAYPAL, '
            'destination: "me@example.com"}) { userErrors { code } } }',
            token=user.token,
        )
        await api.services.payout_processor.process_due()
        event = (await next_data(ws, "me"))["myEvents"]
        assert event["type"] == "payout.paid"
        assert "5.00" in event["message"]


async def test_resume_after_a_disconnect_loses_and_repeats_nothing(api: Api) -> None:
    boss = await employer(api, "500.00")
    worker = await api.sign_up()
    async with api.ws(worker.token) as ws:
        await ws.subscribe("feed", FEED)
        await create(api, boss, title="Task 0")
        cursor = (await next_data(ws, "feed"))["taskFeed"]["cursor"]
    # Offline: three tasks are posted.
    missed = [(await create(api, boss, title=f"Task {i}"))["task"]["id"] for i in range(1, 4)]
    async with api.ws(worker.token) as ws:
        await ws.subscribe("feed", FEED, {"after": cursor})
        replayed = [(await next_data(ws, "feed"))["taskFeed"] for _ in range(3)]
        assert [e["task"]["id"] for e in replayed] == missed
        live = (await create(api, boss, title="Task 4"))["task"]["id"]
        assert (await next_data(ws, "feed"))["taskFeed"]["task"]["id"] == live
        assert await nothing_more(ws)


async def test_the_events_cursor_resumes_my_events(api: Api) -> None:
    boss = await employer(api)
    task = (await create(api, boss, slots=3))["task"]
    worker = await api.sign_up()
    first = await claim_and_submit(api, worker, task["id"])
    await api.gql(APPROVE, {"id": first}, boss.token)
    cursor = (await api.gql(EVENTS, {}, worker.token))["events"]["edges"][-1]["cursor"]
    await api.gql(
        'mutation($id: ID!) { sendBonus(input: {submissionId: $id, amount: "0.10", '
        'reason: "Thanks"}) { userErrors { code } } }',
        {"id": first},
        boss.token,
    )
    async with api.ws(worker.token) as ws:
        await ws.subscribe("me", MY_EVENTS, {"after": cursor})
        assert (await next_data(ws, "me"))["myEvents"]["type"] == "bonus.received"
        assert await nothing_more(ws)


async def test_bad_subscriptions_fail_alone(api: Api) -> None:
    user = await api.sign_up()
    async with api.ws(user.token) as ws:
        for op, query, variables in (
            ("cursor", FEED, {"after": "not-a-cursor"}),
            ("filter", FEED, {"filter": {"minReward": "0.001"}}),
            ("enum", FEED, {"filter": {"categories": ["NOPE"]}}),
        ):
            await ws.subscribe(op, query, variables)
            message = await ws.receive_for(op)
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["message"], message
        await ws.subscribe("ok", "{ me { id } }")
        assert (await next_data(ws, "ok"))["me"]["id"] == user.id


async def test_subscriptions_need_a_user(api: Api) -> None:
    async with api.ws(None) as ws:
        await ws.subscribe("feed", FEED)
        message = await ws.receive()
        errors: list[dict[str, Any]] = (
            message["payload"]["errors"]
            if isinstance(message["payload"], dict)
            else message["payload"]
        )
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_completed_subscriptions_release_their_bus_subscription(api: Api) -> None:
    user = await api.sign_up()
    bus = api.server.app.state.bus
    async with api.ws(user.token) as ws:
        for n in range(3):
            await ws.subscribe(f"s{n}", MY_EVENTS)
        await _until(lambda: bus.stats.subscribers == 3)
        await ws.send({"id": "s1", "type": "complete"})
        await _until(lambda: bus.stats.subscribers == 2)
    await _until(lambda: bus.stats.subscribers == 0)  # a closed socket releases the rest


async def test_subscriptions_per_connection_are_capped(api: Api) -> None:
    user = await api.sign_up()
    limit = api.services.settings.max_subscriptions_per_connection
    async with api.ws(user.token) as ws:
        for n in range(limit):
            await ws.subscribe(f"s{n}", MY_EVENTS)
        await ws.subscribe("one-too-many", MY_EVENTS)
        refused = await ws.receive_for("one-too-many")
        assert refused["type"] == "error"
        assert "limit" in refused["payload"][0]["message"].lower()


async def _until(condition: Callable[[], bool], within: float = PATIENCE) -> None:
    """Wait (bounded) for the server to act on a websocket message; not a deadline rule."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)
