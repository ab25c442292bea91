"""The marketplace through the API: inputs, authorization, discovery, and query counts."""

from __future__ import annotations

from typing import Any

import pytest

from picotask.models.ledger import LedgerEntry
from picotask.models.tasks import Task
from tests.support import Api, User, assert_ledger_balanced, count_queries

CREATE = """mutation($input: CreateTaskInput!) { createTask(input: $input) {
  task { id status title slots slotsRemaining reward { amount currency } fee { amount }
         proofFields { label kind required } targeting { countries minApprovalRate }
         employer { id displayName } claimTimeoutSeconds reviewWindowSeconds }
  userErrors { field message code } } }"""
CLAIM = """mutation($id: ID!) { claimTask(input: {taskId: $id}) {
  submission { id status claimExpiresAt task { id } worker { id } }
  userErrors { field message code } } }"""
SUBMIT = """mutation($id: ID!, $answers: [ProofAnswerInput!]!) {
  submitProof(input: {submissionId: $id, answers: $answers}) {
  submission { id status answers { label value } reviewDeadline }
  userErrors { field message code } } }"""
APPROVE = """mutation($id: ID!) { approveSubmission(input: {submissionId: $id, feedback: "Nice"}) {
  submission { id status feedback } userErrors { field message code } } }"""
REJECT = """mutation($id: ID!) { rejectSubmission(input: {submissionId: $id, reason: WRONG_PROOF,
  comment: "Not your profile"}) { submission { status rejectionReason disputeDeadline }
  userErrors { code } } }"""
PAUSE = """mutation($id: ID!) { pauseTask(input: {taskId: $id}) { task { status }
  userErrors { field code } } }"""
TASKS = """query($first: Int, $after: String, $filter: TaskFilter, $order: TaskOrder) {
  tasks(first: $first, after: $after, filter: $filter, orderBy: $order) {
  totalCount edges { node { id title reward { amount } employer { id displayName } } }
  pageInfo { hasNextPage endCursor } } }"""


def task_input(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": "Watch a 2 minute video",
        "instructions": "Watch it to the end.",
        "category": "WATCH_VIDEO",
        "reward": "0.50",
        "slots": 2,
        "estimatedMinutes": 3,
        "proofFields": [{"label": "Last word said", "kind": "TEXT"}],
    }
    values.update(overrides)
    return {"input": values}


async def submitted(api: Api) -> tuple[User, User, str]:
    """An employer's task with one worker's proof submitted: (employer, worker, submission id)."""
    boss = await employer(api)
    task_id = (await create(api, boss))["task"]["id"]
    worker = await api.sign_up()
    sid = (await api.gql(CLAIM, {"id": task_id}, worker.token))["claimTask"]["submission"]["id"]
    await api.gql(
        SUBMIT, {"id": sid, "answers": [{"label": "Last word said", "value": "x"}]}, worker.token
    )
    return boss, worker, sid


async def employer(api: Api, amount: str = "100.00", **kwargs: Any) -> User:
    user = await api.sign_up(**kwargs)
    data = await api.gql(
        "mutation($a: Decimal!) { createDeposit(input: {amount: $a}) { userErrors { code } } }",
        {"a": amount},
        user.token,
    )
    assert data["createDeposit"]["userErrors"] == []
    return user


async def create(api: Api, user: User, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.gql(CREATE, task_input(**overrides), user.token))[
        "createTask"
    ]
    return payload


async def test_post_claim_submit_approve(api: Api) -> None:
    boss = await employer(api)
    payload = await create(api, boss, targeting={"countries": ["us", "DE"]})
    assert payload["userErrors"] == []
    task = payload["task"]
    assert task["status"] == "OPEN"
    assert (task["slots"], task["slotsRemaining"]) == (2, 2)
    assert task["reward"] == {"amount": "0.50", "currency": "USD"}
    assert task["fee"] == {"amount": "0.05"}
    assert task["targeting"] == {"countries": ["DE", "US"], "minApprovalRate": None}
    assert task["employer"]["id"] == boss.id
    assert (task["claimTimeoutSeconds"], task["reviewWindowSeconds"]) == (3_600, 259_200)

    worker = await api.sign_up(country="US")
    claim = (await api.gql(CLAIM, {"id": task["id"]}, worker.token))["claimTask"]
    assert claim["userErrors"] == []
    submission = claim["submission"]
    assert (submission["status"], submission["worker"]["id"]) == ("CLAIMED", worker.id)

    sent = (
        await api.gql(
            SUBMIT,
            {"id": submission["id"], "answers": [{"label": "last word said", "value": "Goodbye"}]},
            worker.token,
        )
    )["submitProof"]
    assert sent["userErrors"] == []
    assert sent["submission"]["answers"] == [{"label": "Last word said", "value": "Goodbye"}]

    approved = (await api.gql(APPROVE, {"id": submission["id"]}, boss.token))["approveSubmission"]
    assert approved["submission"] == {
        "id": submission["id"],
        "status": "APPROVED",
        "feedback": "Nice",
    }
    stats = (
        await api.gql(
            "query($id: ID!) { node(id: $id) { ... on User { workerStats {"
            " approvedCount approvalRate earned { amount } } } } }",
            {"id": worker.id},
            worker.token,  # earnings are shown to the user only (tests/test_privacy.py)
        )
    )["node"]["workerStats"]
    assert stats == {"approvedCount": 1, "approvalRate": 1.0, "earned": {"amount": "0.50"}}
    boss_stats = (
        await api.gql(
            "query($id: ID!) { node(id: $id) { ... on User { employerStats {"
            " tasksPosted approvedCount totalPaid { amount } medianReviewSeconds } } } }",
            {"id": boss.id},
            boss.token,
        )
    )["node"]
    assert boss_stats["employerStats"] == {
        "tasksPosted": 1,
        "approvedCount": 1,
        "totalPaid": {"amount": "0.50"},
        "medianReviewSeconds": 0,
    }
    await assert_ledger_balanced()


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"title": "t" * 121}, ["title"], "TOO_LONG"),
        ({"title": " "}, ["title"], "TOO_SHORT"),
        ({"instructions": "i" * 10_001}, ["instructions"], "TOO_LONG"),
        ({"reward": "0.001"}, ["reward"], "INVALID_AMOUNT"),
        ({"reward": "0.00"}, ["reward"], "INVALID_AMOUNT"),
        ({"reward": "1000.01"}, ["reward"], "OUT_OF_RANGE"),
        ({"slots": 0}, ["slots"], "OUT_OF_RANGE"),
        ({"slots": 10_001}, ["slots"], "OUT_OF_RANGE"),
        ({"estimatedMinutes": 0}, ["estimatedMinutes"], "OUT_OF_RANGE"),
        ({"estimatedMinutes": 601}, ["estimatedMinutes"], "OUT_OF_RANGE"),
        ({"proofFields": []}, ["proofFields"], "OUT_OF_RANGE"),
        (
            {"proofFields": [{"label": f"f{i}", "kind": "TEXT"} for i in range(21)]},
            ["proofFields"],
            "OUT_OF_RANGE",
        ),
        (
            {"proofFields": [{"label": "A", "kind": "TEXT"}, {"label": "a", "kind": "URL"}]},
            ["proofFields", "1", "label"],
            "DUPLICATE",
        ),
        ({"claimTimeoutSeconds": 59}, ["claimTimeoutSeconds"], "OUT_OF_RANGE"),
        ({"claimTimeoutSeconds": 86_401}, ["claimTimeoutSeconds"], "OUT_OF_RANGE"),
        ({"reviewWindowSeconds": 2_592_001}, ["reviewWindowSeconds"], "OUT_OF_RANGE"),
        ({"expiresAt": "2025-12-31T00:00:00Z"}, ["expiresAt"], "OUT_OF_RANGE"),
        ({"targeting": {"countries": ["US", "XX"]}}, ["targeting", "countries"], "UNKNOWN_COUNTRY"),
        ({"targeting": {"minApprovalRate": 1.5}}, ["targeting", "minApprovalRate"], "OUT_OF_RANGE"),
        ({"slots": 1000, "reward": "1.00"}, ["input"], "INSUFFICIENT_FUNDS"),
    ],
)
async def test_create_task_rejects_bad_input_and_writes_nothing(
    api: Api, overrides: dict[str, Any], field: list[str], code: str
) -> None:
    boss = await employer(api)
    entries = await LedgerEntry.all().count()
    payload = await create(api, boss, **overrides)
    assert payload["task"] is None
    error = payload["userErrors"][0]
    expected_field = ["input", *field] if field != ["input"] else ["input"]
    assert (error["field"], error["code"]) == (expected_field, code)
    assert await Task.all().count() == 0
    assert await LedgerEntry.all().count() == entries


async def test_employers_cannot_touch_each_others_tasks(api: Api) -> None:
    boss, rival = await employer(api), await employer(api)
    task_id = (await create(api, boss))["task"]["id"]
    errors = await api.errors(PAUSE, {"id": task_id}, rival.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.gql(PAUSE, {"id": task_id}, boss.token))["pauseTask"]["task"] == {
        "status": "PAUSED"
    }
    bogus = (await api.gql(PAUSE, {"id": "VGFzazo5OTk"}, boss.token))["pauseTask"]
    assert bogus["userErrors"] == [{"field": ["input", "taskId"], "code": "NOT_FOUND"}]


async def test_workers_cannot_review_and_nobody_sees_anothers_proof(api: Api) -> None:
    boss = await employer(api)
    task_id = (await create(api, boss))["task"]["id"]
    worker, other = await api.sign_up(), await api.sign_up()
    sid = (await api.gql(CLAIM, {"id": task_id}, worker.token))["claimTask"]["submission"]["id"]
    await api.gql(
        SUBMIT, {"id": sid, "answers": [{"label": "Last word said", "value": "Bye"}]}, worker.token
    )
    errors = await api.errors(APPROVE, {"id": sid}, worker.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    stranger = (await api.gql(APPROVE, {"id": sid}, other.token))["approveSubmission"]
    assert stranger["userErrors"] == [
        {"field": ["input", "submissionId"], "message": "No such submission.", "code": "NOT_FOUND"}
    ]
    node = "query($id: ID!) { node(id: $id) { ... on Submission { answers { value } } } }"
    assert (await api.gql(node, {"id": sid}, other.token))["node"] is None
    assert (await api.gql(node, {"id": sid}, worker.token))["node"]["answers"] == [{"value": "Bye"}]
    assert (await api.gql(node, {"id": sid}, boss.token))["node"]["answers"] == [{"value": "Bye"}]
    listing = "query($id: ID!) { task(id: $id) { submissions { totalCount } } }"
    errors = await api.errors(listing, {"id": task_id}, other.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.gql(listing, {"id": task_id}, boss.token))["task"]["submissions"] == {
        "totalCount": 1
    }
    rejected = (await api.gql(REJECT, {"id": sid}, boss.token))["rejectSubmission"]
    assert rejected["submission"]["status"] == "REJECTED"
    assert rejected["submission"]["rejectionReason"] == "WRONG_PROOF"


async def test_drafts_are_private(api: Api) -> None:
    boss = await employer(api)
    draft_id = (await create(api, boss, publish=False))["task"]["id"]
    query = "query($id: ID!) { task(id: $id) { status } }"
    assert (await api.gql(query, {"id": draft_id}, boss.token))["task"] == {"status": "DRAFT"}
    other = await api.sign_up()
    assert (await api.gql(query, {"id": draft_id}, other.token))["task"] is None
    claim = (await api.gql(CLAIM, {"id": draft_id}, other.token))["claimTask"]
    assert claim["userErrors"][0]["code"] == "NOT_FOUND"


async def test_discovery_shows_only_what_the_viewer_can_claim(api: Api) -> None:
    boss = await employer(api, "500.00")
    video = (await create(api, boss, title="Watch cats", reward="0.20"))["task"]["id"]
    review = (
        await create(
            api, boss, title="Review an app", category="REVIEW", reward="2.00", estimatedMinutes=4
        )
    )["task"]["id"]
    german = (await create(api, boss, title="German only", targeting={"countries": ["DE"]}))[
        "task"
    ]["id"]
    veterans = (await create(api, boss, title="Veterans", targeting={"minApprovedCount": 5}))[
        "task"
    ]["id"]
    paused = (await create(api, boss, title="Paused"))["task"]["id"]
    await api.gql(PAUSE, {"id": paused}, boss.token)

    worker = await api.sign_up(country="US")
    seen = (await api.gql(TASKS, {}, worker.token))["tasks"]
    assert [e["node"]["id"] for e in seen["edges"]] == [review, video]
    assert seen["totalCount"] == 2
    assert german not in str(seen)
    assert veterans not in str(seen)
    assert (await api.gql(TASKS, {}, boss.token))["tasks"]["totalCount"] == 0  # own tasks

    await api.gql(CLAIM, {"id": video}, worker.token)
    after_claim = (await api.gql(TASKS, {}, worker.token))["tasks"]
    assert [e["node"]["id"] for e in after_claim["edges"]] == [review]

    other = await api.sign_up(country="US")

    async def ids(variables: dict[str, Any]) -> list[str]:
        data = (await api.gql(TASKS, variables, other.token))["tasks"]
        return [e["node"]["id"] for e in data["edges"]]

    assert await ids({"filter": {"categories": ["REVIEW"]}}) == [review]
    assert await ids({"filter": {"minReward": "0.50"}}) == [review]
    assert await ids({"filter": {"search": "CATS"}}) == [video]
    assert await ids({"order": "HIGHEST_REWARD"}) == [review, video]
    assert await ids({"order": "BEST_PAY_PER_MINUTE"}) == [review, video]
    page = (await api.gql(TASKS, {"first": 1}, other.token))["tasks"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert await ids({"first": 5, "after": page["pageInfo"]["endCursor"]}) == [video]
    errors = await api.errors(TASKS, {"filter": {"minReward": "0.001"}}, other.token)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_listing_pages_take_a_constant_number_of_queries(api: Api) -> None:
    bosses = [await employer(api, "1000.00") for _ in range(3)]
    for i in range(30):
        await create(api, bosses[i % 3], title=f"Task {i}", slots=1)
    worker = await api.sign_up()
    query = """query($first: Int) { tasks(first: $first) { edges { node {
        id employer { id displayName employerStats { tasksPosted medianReviewSeconds } } } } } }"""
    with count_queries() as small:
        await api.gql(query, {"first": 3}, worker.token)
    with count_queries() as large:
        data = await api.gql(query, {"first": 30}, worker.token)
    assert len(data["tasks"]["edges"]) == 30
    assert large.count == small.count, large.statements

    for edge in data["tasks"]["edges"][:20]:
        await api.gql(CLAIM, {"id": edge["node"]["id"]}, worker.token)
    mine = """query($first: Int) { mySubmissions(first: $first) { edges { node {
        id task { id title employer { id } } worker { id displayName } } } } }"""
    with count_queries() as few:
        await api.gql(mine, {"first": 2}, worker.token)
    with count_queries() as many:
        data = await api.gql(mine, {"first": 20}, worker.token)
    assert len(data["mySubmissions"]["edges"]) == 20
    assert many.count == few.count, many.statements
