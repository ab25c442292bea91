"""Suspension (can't act, can still withdraw) and employers blocking workers."""

from __future__ import annotations

from picotask.models.users import User
from tests.support import Api, next_data
from tests.test_marketplace_api import CLAIM, TASKS, create, employer
from tests.test_subscriptions import FEED

SUSPEND = """mutation($id: ID!) { suspendUser(input: {userId: $id, reason: "Fake proofs"}) {
  user { id } userErrors { field code } } }"""
REINSTATE = """mutation($id: ID!) { reinstateUser(input: {userId: $id}) {
  user { id } userErrors { code } } }"""
BLOCK = """mutation($id: ID!) { blockWorker(input: {userId: $id}) { user { id }
  userErrors { field code } } }"""
UNBLOCK = """mutation($id: ID!) { unblockWorker(input: {userId: $id}) { user { id } } }"""
PAYOUT = """mutation { requestPayout(input: {amount: "5.00", method: PAYPAL,
  destination: "me@example.com"}) { payout { status } userErrors { code } } }"""


async def test_a_suspended_user_cannot_act_but_can_withdraw(api: Api) -> None:
    boss = await employer(api)
    task_id = (await create(api, boss))["task"]["id"]
    worker = await employer(api, "10.00")
    admin = await api.sign_up()
    await User.filter(email=admin.email).update(is_admin=True)

    errors = await api.errors(SUSPEND, {"id": worker.id}, boss.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.gql(SUSPEND, {"id": worker.id}, admin.token))["suspendUser"]["user"] == {
        "id": worker.id
    }
    claim = (await api.gql(CLAIM, {"id": task_id}, worker.token))["claimTask"]
    assert claim["userErrors"][0]["code"] == "SUSPENDED"
    payout = (await api.gql(PAYOUT, token=worker.token))["requestPayout"]
    assert (payout["userErrors"], payout["payout"]["status"]) == ([], "REQUESTED")
    again = (await api.gql(SUSPEND, {"id": worker.id}, admin.token))["suspendUser"]
    assert again["userErrors"] == [{"field": ["input", "userId"], "code": "INVALID_STATUS"}]

    await api.gql(REINSTATE, {"id": worker.id}, admin.token)
    claim = (await api.gql(CLAIM, {"id": task_id}, worker.token))["claimTask"]
    assert claim["userErrors"] == []
    log = await api.gql("{ events { edges { node { type } } } }", token=worker.token)
    assert [e["node"]["type"] for e in log["events"]["edges"]] == [
        "account.suspended",
        "account.active",
    ]


async def test_a_blocked_worker_neither_sees_nor_claims_the_employers_tasks(api: Api) -> None:
    boss, other_boss = await employer(api), await employer(api)
    mine = (await create(api, boss, title="Mine"))["task"]["id"]
    worker = await api.sign_up()
    assert (await api.gql(BLOCK, {"id": worker.id}, boss.token))["blockWorker"]["user"] == {
        "id": worker.id
    }
    await api.gql(BLOCK, {"id": worker.id}, boss.token)  # twice is fine
    seen = (await api.gql(TASKS, {}, worker.token))["tasks"]["edges"]
    assert seen == []
    claim = (await api.gql(CLAIM, {"id": mine}, worker.token))["claimTask"]
    assert claim["userErrors"][0]["code"] == "NOT_ELIGIBLE"

    async with api.ws(worker.token) as ws:
        await ws.subscribe("feed", FEED)
        await create(api, boss, title="Blocked")
        theirs = (await create(api, other_boss, title="Open to you"))["task"]["id"]
        event = (await next_data(ws, "feed"))["taskFeed"]
        assert event["task"]["id"] == theirs  # the blocked employer's task never arrived

    await api.gql(UNBLOCK, {"id": worker.id}, boss.token)
    assert (await api.gql(CLAIM, {"id": mine}, worker.token))["claimTask"]["userErrors"] == []
    self_block = (await api.gql(BLOCK, {"id": boss.id}, boss.token))["blockWorker"]
    assert self_block["userErrors"] == [{"field": ["input", "userId"], "code": "INVALID"}]
