"""Employer dashboards: each task's funnel, times and money, all tasks over a range, pushed
live as submissions change; checked against the submissions and the ledger after a day."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from picotask.models.ledger import Account
from picotask.models.submissions import Submission, SubmissionStatus
from picotask.schema.relay import pk_of
from picotask.services.accounts.users import median_seconds
from picotask.services.core.pagination import decode_cursor
from picotask.services.registry import Services
from tests.support import (
    Api,
    QueryCounter,
    User,
    WsClient,
    count_queries,
    funded_user,
    next_data,
    nothing_more,
    post_task,
    until,
)
from tests.test_trust import TAKE_DOWN
from tests.workday import Script, Workday, people, post_tasks, task_input, work

NUMBERS = """funnel { claimed submitted working awaitingReview inRevision approved rejected
    disputed returned expired autoApproved disputesRaised }
  approvalRate slotsRemaining tasks
  claimToSubmit { count medianSeconds p90Seconds }
  submitToReview { count medianSeconds p90Seconds }
  money { escrowed { amount } paid { amount } fees { amount } refunded { amount }
    bonuses { amount } inEscrow { amount } }"""
TASK = f"""query($id: ID!) {{ taskAnalytics(taskId: $id) {{ task {{ id }} {NUMBERS} }} }}"""
EMPLOYER = f"""query($from: DateTime!, $to: DateTime!, $first: Int) {{
  employerAnalytics(from: $from, to: $to) {{ from to totals {{ {NUMBERS} }}
    tasks(first: $first) {{ totalCount edges {{ node {{ task {{ id title }} {NUMBERS} }} }} }}
  }} }}"""
LIVE = f"""subscription($id: ID, $after: String) {{ taskAnalytics(taskId: $id, after: $after) {{
  cursor type kind submission {{ id status }} analytics {{ task {{ id }} {NUMBERS} }} }} }}"""
# Another dashboard's selection: a subscription group of its own, the same numbers.
SMALL = """subscription($id: ID) { taskAnalytics(taskId: $id) {
  cursor analytics { slotsRemaining funnel { claimed working } } } }"""
DAY1, DAY3 = "2026-01-01T00:00:00Z", "2026-01-03T00:00:00Z"


def money(**values: str) -> dict[str, Any]:
    names = ("escrowed", "paid", "fees", "refunded", "bonuses", "inEscrow")
    return {name: {"amount": values.get(name, "0.00")} for name in names}


def funnel(**values: int) -> dict[str, int]:
    names = (
        *("claimed", "submitted", "working", "awaitingReview", "inRevision", "approved"),
        *("rejected", "disputed", "returned", "expired", "autoApproved", "disputesRaised"),
    )
    return {name: values.get(name, 0) for name in names}


def p90(values: list[float]) -> float:
    """Nearest rank: the smallest value with at least 90% of the values at or below it."""
    ordered = sorted(values)
    rank = -(-9 * len(ordered) // 10)  # ceil(0.9 n)
    return ordered[rank - 1]


def durations(values: list[float]) -> dict[str, Any]:
    """As the dashboard must count them, from the submissions themselves."""
    if not values:
        return {"count": 0, "medianSeconds": None, "p90Seconds": None}
    median = median_seconds(values)
    assert median is not None
    return {
        "count": len(values),
        "medianSeconds": round(median),
        "p90Seconds": round(p90(values)),
    }


async def from_submissions(task_id: str) -> dict[str, Any]:
    """A task's funnel and times computed in Python from its submission rows."""
    rows = await Submission.filter(task_id=pk_of(task_id, "Task"))
    by_status = dict.fromkeys(SubmissionStatus, 0)
    for row in rows:
        by_status[row.status] += 1
    submitted = [r for r in rows if r.submitted_at is not None]
    reviewed = [
        r
        for r in submitted
        if r.reviewed_at is not None
        and r.submitted_at is not None
        and r.reviewed_at >= r.submitted_at
        and not r.auto_approved
    ]
    return {
        "funnel": funnel(
            claimed=len(rows),
            submitted=len(submitted),
            working=by_status[SubmissionStatus.CLAIMED],
            awaitingReview=by_status[SubmissionStatus.SUBMITTED],
            inRevision=by_status[SubmissionStatus.REVISION_REQUESTED],
            approved=by_status[SubmissionStatus.APPROVED],
            rejected=by_status[SubmissionStatus.REJECTED],
            disputed=by_status[SubmissionStatus.DISPUTED],
            returned=by_status[SubmissionStatus.RETURNED],
            expired=by_status[SubmissionStatus.EXPIRED],
            autoApproved=sum(r.auto_approved for r in rows),
            disputesRaised=sum(r.disputed_at is not None for r in rows),
        ),
        "claimToSubmit": durations(
            [(r.submitted_at - r.claimed_at).total_seconds() for r in submitted if r.submitted_at]
        ),
        "submitToReview": durations(
            [
                (r.reviewed_at - r.submitted_at).total_seconds()
                for r in reviewed
                if r.reviewed_at and r.submitted_at
            ]
        ),
    }


async def test_the_dashboard_of_a_day_matches_the_submissions_and_the_ledger(api: Api) -> None:
    day = await people(api)
    bus = api.server.app.state.bus
    await post_tasks(api, day)
    async with api.ws(day.boss.token) as ws:
        await ws.subscribe("all", LIVE)
        await ws.subscribe("a", LIVE, {"id": day.task_a})
        await until(lambda: bus.stats.subscribers == 2)  # live before the work begins
        await work(api, day)

        a = (await api.gql(TASK, {"id": day.task_a}, day.boss.token))["taskAnalytics"]
        b = (await api.gql(TASK, {"id": day.task_b}, day.boss.token))["taskAnalytics"]
        # What the day did, counted by hand...
        assert a["funnel"] == funnel(
            claimed=4, submitted=4, approved=3, rejected=1, disputesRaised=2
        )
        assert (a["approvalRate"], a["slotsRemaining"], a["tasks"]) == (0.75, 0, 1)
        assert a["money"] == money(
            escrowed="4.40", paid="3.00", fees="0.30", refunded="1.10", bonuses="0.25"
        )
        assert b["funnel"] == funnel(
            claimed=3, submitted=1, awaitingReview=1, returned=1, expired=1
        )
        assert (b["approvalRate"], b["slotsRemaining"]) == (None, 0)
        # ... the money still held for the work in flight on the cancelled task ...
        assert b["money"] == money(escrowed="1.10", refunded="0.55", inEscrow="0.55")
        escrow = await Account.get(ref=f"escrow:{pk_of(day.task_b, 'Task')}")
        assert escrow.balance == 55
        # ... and what the submissions themselves say.
        for numbers, task_id in ((a, day.task_a), (b, day.task_b)):
            expected = await from_submissions(task_id)
            assert {k: numbers[k] for k in expected} == expected
        assert a["claimToSubmit"]["count"] == 4
        assert a["submitToReview"]["count"] == 4

        # The dashboard heard every change, in order, with the numbers after it: each change
        # of a submission, and the task's own changes and money (the bonus, the cancellation).
        heard = await everything_on(ws, "all")
        ids = {day.task_a: "A", day.task_b: "B"}
        workers = {sid: label.split("@")[0] for label, sid in day.submissions.items()}
        assert [
            (ids[c["analytics"]["task"]["id"]], workers[c["submission"]["id"]], c["kind"])
            for c in heard
            if c["submission"]
        ] == list(day.CHANGES)
        # The bonus on A and B's cancellation (closed and refunded: the same numbers, sent once).
        money_or_task = [
            (ids[c["analytics"]["task"]["id"]], c["type"]) for c in heard if not c["submission"]
        ]
        assert ("A", "statement.row") in money_or_task
        assert [t for t, _ in money_or_task].count("B") == 1
        positions = [int(decode_cursor(c["cursor"], [False])[0]) for c in heard]
        assert positions == sorted(set(positions))
        only_a = await everything_on(ws, "a")
        # Both dashboards were sent the same numbers for each change: computed once for it.
        assert only_a == [c for c in heard if c["analytics"]["task"]["id"] == day.task_a]
        # The last numbers each task's dashboard was sent are the numbers now, money and all.
        last_b = [c for c in heard if c["analytics"]["task"]["id"] == day.task_b][-1]
        for last, now in ((only_a[-1]["analytics"], a), (last_b["analytics"], b)):
            assert last == now
        assert await nothing_more(ws)

    everything = await api.gql(EMPLOYER, {"from": DAY1, "to": DAY3, "first": 10}, day.boss.token)
    report = everything["employerAnalytics"]
    assert (report["from"], report["to"]) == (DAY1, DAY3)
    listed = [edge["node"] for edge in report["tasks"]["edges"]]
    assert [n["task"]["id"] for n in listed] == [day.task_b, day.task_a]  # newest first
    assert report["tasks"]["totalCount"] == 2
    for node, alone in zip(listed, (b, a), strict=True):
        assert {k: v for k, v in node.items() if k != "task"} == {
            k: v for k, v in alone.items() if k != "task"
        }
    totals = report["totals"]
    assert totals["funnel"] == {k: a["funnel"][k] + b["funnel"][k] for k in a["funnel"]}
    assert totals["money"] == money(
        escrowed="5.50",
        paid="3.00",
        fees="0.30",
        refunded="1.65",
        bonuses="0.25",
        inEscrow="0.55",
    )
    assert (totals["approvalRate"], totals["tasks"], totals["slotsRemaining"]) == (0.75, 2, 0)
    assert totals["claimToSubmit"]["count"] == 5

    # A range with none of the work: nothing claimed, no money moved.
    later = await api.gql(
        EMPLOYER,
        {"from": DAY3, "to": "2026-01-04T00:00:00Z", "first": 10},
        day.boss.token,
    )
    quiet = later["employerAnalytics"]["totals"]
    assert quiet["funnel"] == funnel()
    assert quiet["money"] == money()
    assert quiet["approvalRate"] is None
    assert quiet["claimToSubmit"] == {"count": 0, "medianSeconds": None, "p90Seconds": None}


async def everything_on(ws: WsClient, op: str) -> list[dict[str, Any]]:
    """Every event sent so far on `op`, until it falls quiet (others' messages are held)."""
    heard: list[dict[str, Any]] = []
    while True:
        try:
            message = await ws.receive_for(op, within=0.5)
        except TimeoutError:
            return heard
        assert message["type"] == "next", message
        heard.append(message["payload"]["data"]["taskAnalytics"])


async def test_numbers_are_pushed_as_each_submission_changes(api: Api) -> None:
    day = await people(api)
    await post_tasks(api, day)
    s = Script(api, day)
    async with api.ws(day.boss.token) as ws:
        await ws.subscribe("a", LIVE, {"id": day.task_a})
        await until(lambda: api.server.app.state.bus.stats.subscribers == 1)
        sid = await s.claim(1, day.task_a, "A")
        claimed = (await next_data(ws, "a"))["taskAnalytics"]
        assert claimed["kind"] == "CLAIMED"
        assert claimed["analytics"]["funnel"] == funnel(claimed=1, working=1)
        assert claimed["analytics"]["slotsRemaining"] == 3
        await s.do("submit", day.workers[0], id=sid)
        sent = (await next_data(ws, "a"))["taskAnalytics"]
        assert sent["analytics"]["funnel"] == funnel(claimed=1, submitted=1, awaitingReview=1)
        assert sent["analytics"]["claimToSubmit"] == {
            "count": 1,
            "medianSeconds": 600,
            "p90Seconds": 600,
        }
        await s.do("approve", day.boss, id=sid)
        approved = (await next_data(ws, "a"))["taskAnalytics"]
        assert approved["submission"] == {"id": sid, "status": "APPROVED"}
        assert approved["analytics"]["funnel"] == funnel(claimed=1, submitted=1, approved=1)
        assert approved["analytics"]["approvalRate"] == 1.0
        assert approved["analytics"]["money"] == money(
            escrowed="4.40", paid="1.00", fees="0.10", inEscrow="3.30"
        )
        # Work on another task is not this dashboard's.
        await s.claim(2, day.task_b, "B")
        assert await nothing_more(ws)

        # Resuming after a cursor replays each change since, then goes on live.
        await ws.subscribe("again", LIVE, {"id": day.task_a, "after": claimed["cursor"]})
        replayed = [(await next_data(ws, "again"))["taskAnalytics"] for _ in range(2)]
        assert [r["kind"] for r in replayed] == ["SUBMITTED", "APPROVED"]
        assert [r["cursor"] for r in replayed] == [sent["cursor"], approved["cursor"]]
        assert await nothing_more(ws)


def on_request(counter: QueryCounter) -> list[str]:
    """The statements a change cost, less the reads each instance makes on its own
    timers, which may fall in either window: the open sockets' sessions (read again after the
    test's clock moves, and marked seen once a minute) and the event log (the sequencer's
    polls). None is per subscriber."""
    return [
        statement
        for statement in counter.statements
        if 'FROM "events"' not in statement
        and '"sessions"."id" IN' not in statement
        and not statement.startswith('UPDATE "sessions" SET "last_seen_at"')
    ]


async def test_the_employers_own_changes_are_pushed_too(api: Api) -> None:
    """Not only submissions move a task's numbers: slots added, a pause, a rejection become
    final, a takedown; each is pushed once, with the numbers after it."""
    day = await people(api)
    await post_tasks(api, day)
    s = Script(api, day)
    a = day.task_a
    action = """mutation($id: ID!) { %s(input: {taskId: $id}) { userErrors { code } } }"""
    more = """mutation($id: ID!) { addSlots(input: {taskId: $id, count: 2}) {
      userErrors { code } } }"""
    async with api.ws(day.boss.token) as ws:
        await ws.subscribe("a", LIVE, {"id": a})
        await until(lambda: api.server.app.state.bus.stats.subscribers == 1)

        async def pushed(query: str, who: User, **variables: Any) -> list[dict[str, Any]]:
            data = await api.gql(query, variables, who.token)
            assert all(v["userErrors"] == [] for v in data.values()), data
            return await everything_on(ws, "a")

        [added] = await pushed(more, day.boss, id=a)  # funded and updated: sent once
        assert added["type"] in {"task.updated", "statement.row"}
        assert (added["kind"], added["submission"]) == (None, None)
        assert added["analytics"]["slotsRemaining"] == 6
        assert added["analytics"]["money"]["escrowed"] == {"amount": "6.60"}
        for verb in ("pauseTask", "resumeTask"):  # the task's status: pushed, numbers alike
            [moved] = await pushed(action % verb, day.boss, id=a)
            assert moved["type"] == "task.updated"
            assert moved["analytics"] == added["analytics"]

        sid = await s.work(1, a, "A")
        await s.do("reject", day.boss, id=sid)
        assert [c["kind"] for c in await everything_on(ws, "a")] == [
            "CLAIMED",
            "SUBMITTED",
            "REJECTED",
        ]
        api.clock.advance(api.services.settings.dispute_window_seconds + 1)
        await api.services.sweeper.sweep()  # the rejection becomes final: money back
        [final] = await everything_on(ws, "a")
        assert (final["type"], final["submission"]) == ("statement.row", None)
        assert final["analytics"]["money"]["refunded"] == {"amount": "1.10"}

        admin = day.admin
        [down] = await pushed(TAKE_DOWN, admin, task=a)  # closed and refunded: sent once
        assert down["type"] in {"task.closed", "statement.row"}
        assert down["analytics"]["slotsRemaining"] == 0
        assert down["analytics"]["money"]["refunded"] == {"amount": "6.60"}  # all of it
        assert down["analytics"]["money"]["inEscrow"] == {"amount": "0.00"}

        # A task that expires: closed and refunded by the sweeper, pushed once.
        deadline = (api.clock.now() + timedelta(hours=1)).isoformat()
        expiring = task_input("Task C", "0.50", 2, expiresAt=deadline)
        c = (await s.do("task", day.boss, **expiring))["task"]["id"]
        await ws.subscribe("c", LIVE, {"id": c})
        await until(lambda: api.server.app.state.bus.stats.subscribers == 2)
        api.clock.advance(3_600)
        assert (await api.services.sweeper.sweep()).tasks_expired == 1
        [expired] = await everything_on(ws, "c")
        assert expired["analytics"]["slotsRemaining"] == 0
        assert expired["analytics"]["money"]["refunded"] == {"amount": "1.10"}
        assert await nothing_more(ws)


async def test_every_dashboard_of_a_task_shares_one_computation_per_change(api: Api) -> None:
    """However many dashboards watch a task (on one socket or several, for the task or for all
    the employer's tasks, with any selection), a change costs the same SQL statements as for
    one dashboard: its numbers are computed once, and each dashboard hears it once."""
    day = await people(api)
    await post_tasks(api, day)
    s = Script(api, day)
    bus = api.server.app.state.bus
    live = api.services.live_analytics
    async with (
        api.ws(day.boss.token) as first,
        api.ws(day.boss.token) as second,
        api.ws(day.boss.token) as third,
    ):
        await first.subscribe("a", LIVE, {"id": day.task_a})
        await until(lambda: bus.stats.subscribers == 1)
        before = live.computed
        with count_queries() as alone:
            await s.claim(1, day.task_a, "A")
            one = (await next_data(first, "a"))["taskAnalytics"]
        assert live.computed == before + 1
        assert one["analytics"]["funnel"] == funnel(claimed=1, working=1)

        await second.subscribe("a", LIVE, {"id": day.task_a})
        await second.subscribe("all", LIVE)
        await third.subscribe("a", SMALL, {"id": day.task_a})
        await third.subscribe("b", LIVE, {"id": day.task_b})  # not told of task A's changes
        await until(lambda: bus.stats.subscribers == 5)
        with count_queries() as crowd:
            await s.claim(2, day.task_a, "A")
            heard = [
                (await next_data(ws, op))["taskAnalytics"]
                for ws, op in ((first, "a"), (second, "a"), (second, "all"), (third, "a"))
            ]
        assert live.computed == before + 2
        assert len(on_request(crowd)) == len(on_request(alone)), crowd.statements
        assert heard[0] == heard[1] == heard[2]
        assert heard[0]["analytics"]["funnel"] == funnel(claimed=2, working=2)
        assert heard[3] == {
            "cursor": heard[0]["cursor"],
            "analytics": {"slotsRemaining": 2, "funnel": {"claimed": 2, "working": 2}},
        }
        for ws in (first, second, third):
            assert await nothing_more(ws)


async def test_live_numbers_are_computed_once_per_event_and_task(services: Services) -> None:
    employer = await funded_user(services, 10_000)
    task = await post_task(services, employer)
    live = services.live_analytics
    with count_queries() as counted:
        asked = await asyncio.gather(*(live.after_event(1, task.id) for _ in range(5)))
    assert live.computed == 1
    assert all(found is asked[0] for found in asked)
    assert asked[0].task is not None
    assert asked[0].task.id == task.id
    assert asked[0].numbers.slots_remaining == task.slots
    assert counted.count == 5, counted.statements  # the task's row and four aggregates
    assert (await live.after_event(2, task.id)) is not asked[0]  # the next event: again
    assert live.computed == 2
    gone = await live.after_event(3, task.id + 1000)
    assert gone.task is None


async def test_another_employers_task_is_forbidden(api: Api) -> None:
    day = await people(api)
    await post_tasks(api, day)
    rival = await api.sign_up()
    errors = await api.errors(TASK, {"id": day.task_a}, rival.token)
    assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
        ("taskId is not one of your tasks.", "FORBIDDEN")
    ]
    assert (await api.errors(TASK, {"id": "nonsense"}, rival.token))[0]["extensions"][
        "code"
    ] == "FORBIDDEN"
    async with api.ws(rival.token) as ws:
        await ws.subscribe("a", LIVE, {"id": day.task_a})
        refused = await ws.receive_for("a")
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Their own dashboard over the same days is empty.
    theirs = await api.gql(EMPLOYER, {"from": DAY1, "to": DAY3}, rival.token)
    assert theirs["employerAnalytics"]["totals"]["tasks"] == 0
    assert theirs["employerAnalytics"]["tasks"]["edges"] == []


async def test_bad_ranges_are_refused(api: Api) -> None:
    user = await api.sign_up()
    for variables, message in (
        ({"from": DAY3, "to": DAY1}, "from must be before to."),
        (
            {"from": "2024-01-01T00:00:00Z", "to": DAY3},
            "from and to are at most 366 days apart; ask for a shorter range.",
        ),
    ):
        errors = await api.errors(EMPLOYER, variables, user.token)
        assert [(e["message"], e["extensions"]["code"]) for e in errors] == [
            (message, "BAD_USER_INPUT")
        ]
    anonymous = await api.errors(EMPLOYER, {"from": DAY1, "to": DAY3})
    assert anonymous[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def employer_with_tasks(api: Api, count: int) -> User:
    """An employer with `count` tasks, each claimed, submitted and approved once."""
    day = Workday(await api.sign_up(), [await api.sign_up()], await api.sign_up())
    s = Script(api, day)
    await s.do("deposit", day.boss, a="100.00")
    for i in range(count):
        task = (await s.do("task", day.boss, **task_input(f"T{i}", "1.00", 2)))["task"]["id"]
        await s.do("approve", day.boss, id=await s.work(1, task, f"T{i}"))
    return day.boss


async def test_a_dashboard_costs_the_same_however_many_tasks(api: Api) -> None:
    small, large = await employer_with_tasks(api, 2), await employer_with_tasks(api, 6)
    variables = {"from": DAY1, "to": DAY3, "first": 50}
    for user in (small, large):  # sessions seen now: not again within the minute
        await api.gql("{ me { id } }", token=user.token)
    with count_queries() as few:
        data = await api.gql(EMPLOYER, variables, small.token)
    assert len(data["employerAnalytics"]["tasks"]["edges"]) == 2
    with count_queries() as many:
        data = await api.gql(EMPLOYER, variables, large.token)
    assert len(data["employerAnalytics"]["tasks"]["edges"]) == 6
    assert data["employerAnalytics"]["totals"]["funnel"]["approved"] == 6
    assert many.count == few.count, many.statements
    # Totals (4) and the page of tasks (its rows, its count, 4 for the numbers), plus the
    # viewer's session.
    assert few.count <= 12, few.statements
