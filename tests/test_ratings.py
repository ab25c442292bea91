"""Ratings both ways, through the API."""

from __future__ import annotations

import pytest

from tests.support import Api
from tests.test_marketplace_api import APPROVE, CLAIM, SUBMIT, create, employer, submitted

RATE_WORKER = """mutation($id: ID!, $stars: Int!) { rateWorker(input: {submissionId: $id,
  stars: $stars}) { submission { id } userErrors { field code } } }"""
RATE_EMPLOYER = """mutation($id: ID!, $stars: Int!) { rateEmployer(input: {submissionId: $id,
  stars: $stars}) { submission { id } userErrors { field code } } }"""
STATS = """query($id: ID!) { node(id: $id) { ... on User {
  workerStats { averageRating ratingCount } employerStats { averageRating ratingCount } } } }"""


async def test_ratings_both_ways(api: Api) -> None:
    boss, worker, sid = await submitted(api)
    early = (await api.gql(RATE_WORKER, {"id": sid, "stars": 5}, boss.token))["rateWorker"]
    assert early["userErrors"][0]["code"] == "INVALID_STATUS"  # only approved work
    before_review = await api.gql(RATE_EMPLOYER, {"id": sid, "stars": 4}, worker.token)
    assert before_review["rateEmployer"]["userErrors"][0]["code"] == "INVALID_STATUS"
    await api.gql(APPROVE, {"id": sid}, boss.token)

    ok = (await api.gql(RATE_WORKER, {"id": sid, "stars": 4}, boss.token))["rateWorker"]
    assert ok["userErrors"] == []
    twice = (await api.gql(RATE_WORKER, {"id": sid, "stars": 5}, boss.token))["rateWorker"]
    assert twice["userErrors"] == [{"field": ["input", "submissionId"], "code": "DUPLICATE"}]
    assert (await api.gql(RATE_EMPLOYER, {"id": sid, "stars": 2}, worker.token))["rateEmployer"][
        "userErrors"
    ] == []

    worker_stats = (await api.gql(STATS, {"id": worker.id}))["node"]["workerStats"]
    assert worker_stats == {"averageRating": 4.0, "ratingCount": 1}
    boss_stats = (await api.gql(STATS, {"id": boss.id}))["node"]["employerStats"]
    assert boss_stats == {"averageRating": 2.0, "ratingCount": 1}
    # Neither side can rate in the other's place.
    wrong = (await api.gql(RATE_WORKER, {"id": sid, "stars": 1}, worker.token))["rateWorker"]
    assert wrong["userErrors"][0]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("stars", [0, 6, -1])
async def test_stars_outside_one_to_five(api: Api, stars: int) -> None:
    boss, worker, sid = await submitted(api)
    await api.gql(APPROVE, {"id": sid}, boss.token)
    result = (await api.gql(RATE_WORKER, {"id": sid, "stars": stars}, boss.token))["rateWorker"]
    assert result["userErrors"] == [{"field": ["input", "stars"], "code": "OUT_OF_RANGE"}]
    stats = (await api.gql(STATS, {"id": worker.id}))["node"]
    assert stats["workerStats"]["ratingCount"] == 0


async def test_employer_sees_proof_reused_by_another_account(api: Api) -> None:
    boss = await employer(api)
    task_id = (await create(api, boss, slots=3))["task"]["id"]
    query = "query($id: ID!) { node(id: $id) { ... on Submission { reusedProof } } }"
    ids = []
    for value in ("Goodbye", " goodbye ", "Hello"):
        worker = await api.sign_up()
        sid = (await api.gql(CLAIM, {"id": task_id}, worker.token))["claimTask"]["submission"]["id"]
        await api.gql(
            SUBMIT,
            {"id": sid, "answers": [{"label": "Last word said", "value": value}]},
            worker.token,
        )
        ids.append((sid, worker))
    seen = [
        (await api.gql(query, {"id": sid}, boss.token))["node"]["reusedProof"] for sid, _ in ids
    ]
    assert seen == [[], ["Last word said"], []]
    sid, worker = ids[1]
    assert (await api.gql(query, {"id": sid}, worker.token))["node"]["reusedProof"] == []
