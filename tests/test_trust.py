"""Messages between the parties, reports and takedowns, and work done by category."""

from __future__ import annotations

from typing import Any

import pytest

from picotask.models.users import User
from tests.support import Api, assert_ledger_balanced, next_data
from tests.test_marketplace_api import APPROVE, CLAIM, SUBMIT, create, employer
from tests.test_subscriptions import MY_EVENTS

SEND = """mutation($task: ID!, $worker: ID, $body: String!) { sendMessage(input: {taskId: $task,
  workerId: $worker, body: $body}) { message { id body senderId } userErrors { field code } } }"""
THREAD = """query($task: ID!, $worker: ID) { messages(taskId: $task, workerId: $worker) {
  totalCount edges { node { body senderId } } } }"""
REPORT = """mutation($task: ID!, $reason: ReportReason!) { reportTask(input: {taskId: $task,
  reason: $reason, details: "Asks for my password"}) { report { id reason }
  userErrors { field code } } }"""
TAKE_DOWN = """mutation($task: ID!) { takeDownTask(input: {taskId: $task, note: "Scam"}) {
  task { status slotsRemaining } userErrors { code } } }"""


async def test_a_question_before_claiming_and_the_answer(api: Api) -> None:
    boss = await employer(api)
    task = (await create(api, boss))["task"]["id"]
    worker, stranger = await api.sign_up(), await api.sign_up()
    async with api.ws(boss.token) as ws:
        await ws.subscribe("me", MY_EVENTS)
        asked = await api.gql(SEND, {"task": task, "body": "Which country?"}, worker.token)
        assert asked["sendMessage"]["message"]["senderId"] == worker.id
        event = (await next_data(ws, "me"))["myEvents"]
        assert (event["type"], event["task"]) == ("message.received", {"id": task})
        assert "Which country?" in event["message"]

    no_worker = (await api.gql(SEND, {"task": task, "body": "Hi"}, boss.token))["sendMessage"]
    assert no_worker["userErrors"] == [{"field": ["input", "workerId"], "code": "REQUIRED"}]
    unknown = (
        await api.gql(SEND, {"task": task, "worker": stranger.id, "body": "Hi"}, boss.token)
    )["sendMessage"]
    assert unknown["userErrors"] == [{"field": ["input", "workerId"], "code": "NOT_FOUND"}]
    await api.gql(SEND, {"task": task, "worker": worker.id, "body": "Any"}, boss.token)

    thread = (await api.gql(THREAD, {"task": task}, worker.token))["messages"]
    assert [e["node"]["body"] for e in thread["edges"]] == ["Which country?", "Any"]
    as_boss = await api.gql(THREAD, {"task": task, "worker": worker.id}, boss.token)
    assert as_boss["messages"]["totalCount"] == 2
    errors = await api.errors(THREAD, {"task": task, "worker": worker.id}, stranger.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    # A stranger asking starts their own thread, not the worker's.
    await api.gql(SEND, {"task": task, "body": "Me too?"}, stranger.token)
    assert (await api.gql(THREAD, {"task": task}, worker.token))["messages"]["totalCount"] == 2


@pytest.mark.parametrize(("body", "code"), [("   ", "TOO_SHORT"), ("x" * 2_001, "TOO_LONG")])
async def test_empty_or_oversize_messages(api: Api, body: str, code: str) -> None:
    boss = await employer(api)
    task = (await create(api, boss))["task"]["id"]
    worker = await api.sign_up()
    sent = (await api.gql(SEND, {"task": task, "body": body}, worker.token))["sendMessage"]
    assert sent["userErrors"] == [{"field": ["input", "body"], "code": code}]
    assert (await api.gql(THREAD, {"task": task}, worker.token))["messages"]["totalCount"] == 0


async def test_reports_and_a_takedown(api: Api) -> None:
    boss = await employer(api)
    task = (await create(api, boss, slots=3))["task"]["id"]
    worker, reporter = await api.sign_up(), await api.sign_up()
    sid = (await api.gql(CLAIM, {"id": task}, worker.token))["claimTask"]["submission"]["id"]
    await api.gql(
        SUBMIT, {"id": sid, "answers": [{"label": "Last word said", "value": "x"}]}, worker.token
    )

    own = (await api.gql(REPORT, {"task": task, "reason": "SCAM"}, boss.token))["reportTask"]
    assert own["userErrors"] == [{"field": ["input", "taskId"], "code": "OWN_TASK"}]
    first = await api.gql(REPORT, {"task": task, "reason": "SCAM"}, reporter.token)
    assert first["reportTask"]["report"]["reason"] == "SCAM"
    again = await api.gql(REPORT, {"task": task, "reason": "OTHER"}, reporter.token)
    assert again["reportTask"]["userErrors"] == [
        {"field": ["input", "taskId"], "code": "DUPLICATE"}
    ]

    queue = "{ reports { edges { node { taskId reason } } } }"
    assert (await api.errors(queue, token=reporter.token))[0]["extensions"]["code"] == "FORBIDDEN"
    admin = await api.sign_up()
    await User.filter(email=admin.email).update(is_admin=True)
    assert (await api.gql(queue, token=admin.token))["reports"]["edges"] == [
        {"node": {"taskId": task, "reason": "SCAM"}}
    ]
    errors = await api.errors(TAKE_DOWN, {"task": task}, reporter.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    down = (await api.gql(TAKE_DOWN, {"task": task}, admin.token))["takeDownTask"]
    assert down["task"] == {"status": "CANCELLED", "slotsRemaining": 0}
    assert (await api.gql(queue, token=admin.token))["reports"]["edges"] == []
    # Submitted work is still reviewed and paid under the normal rules.
    assert (await api.gql(APPROVE, {"id": sid}, boss.token))["approveSubmission"][
        "userErrors"
    ] == []
    balance = "{ me { wallet { available { amount } inEscrow { amount } } } }"
    wallet: dict[str, Any] = (await api.gql(balance, token=boss.token))["me"]["wallet"]
    assert wallet == {"available": {"amount": "99.45"}, "inEscrow": {"amount": "0.00"}}
    stats = """query($id: ID!) { node(id: $id) { ... on User { workerStats {
      byCategory { category approved } } } } }"""
    by_category = (await api.gql(stats, {"id": worker.id}))["node"]["workerStats"]["byCategory"]
    assert by_category == [{"category": "WATCH_VIDEO", "approved": 1}]
    await assert_ledger_balanced()
