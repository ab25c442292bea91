"""Quality without manual review, through the API: gold items graded at submit, accuracy per
employer, review policies (accuracy, overlap, fast response) deciding through the same
transitions as a manual review, and nothing of it visible to workers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from picotask.models.events import Event, Stream
from picotask.models.quality import GoldAccuracy, GoldItem, ReviewPolicy
from picotask.models.submissions import DecidedBy, Submission, SubmissionStatus
from picotask.models.tasks import Task
from picotask.models.users import Block
from picotask.services.quality.grading import agreement_of_task
from picotask.services.quality.specs import PolicySpec
from picotask.services.registry import Services
from picotask.services.work.proofs import Answer
from tests.support import (
    Api,
    User,
    assert_escrow_matches,
    assert_ledger_balanced,
    count_queries,
    current_backend,
    funded_user,
    new_user,
    post_task,
)
from tests.test_batches import EXPORT, balance, create_batch, pk_of, rows_of
from tests.test_marketplace_api import create, employer
from tests.test_webhooks import register
from tests.webhook_receiver import Receiver

SET_GOLD = """mutation($input: SetGoldAnswersInput!) { setGoldAnswers(input: $input) {
  task { id goldItems { position answers { label match values tolerance } } }
  userErrors { field message code } } }"""
SET_POLICY = """mutation($input: SetReviewPolicyInput!) { setReviewPolicy(input: $input) {
  task { id reviewPolicy { autoApproveAtAccuracy autoRejectBelowAccuracy blockBelowAccuracy
         minGoldAnswered overlap minSeconds rejectTooFast } }
  userErrors { field message code } } }"""
CLAIM = """mutation($id: ID!) { claimTask(input: {taskId: $id}) {
  submission { id item { position data { column value } } } userErrors { field code } } }"""
SUBMIT = """mutation($id: ID!, $answers: [ProofAnswerInput!]!) {
  submitProof(input: {submissionId: $id, answers: $answers}) {
  submission { id status decidedBy rejectionReason rejectionComment feedback }
  userErrors { field message code } } }"""
SUBMISSION = """query($id: ID!) { node(id: $id) { ... on Submission { status decidedBy
  goldCorrect tooFast agreement workerAccuracy { answered correct accuracy }
  task { goldItems { position } reviewPolicy { overlap } } } } }"""
DISPUTE = """mutation($id: ID!) { disputeRejection(input: {submissionId: $id,
  statement: "My answer is right"}) { submission { status } userErrors { code } } }"""
ACCURACY = """query($id: ID!) { goldAccuracy(workerId: $id) { answered correct accuracy } }"""
EVENTS = "{ events(first: 100) { edges { node { type message } } } }"

QUESTIONS = "question\r\nCapital of France?\r\nCapital of Italy?\r\nCapital of Spain?\r\n"
ANSWER = [{"label": "Answer", "kind": "TEXT"}]


async def gold_batch(api: Api, boss: User, **policy: Any) -> str:
    """Three questions, the first two gold; accurate work approved, careless work rejected
    and blocked, after one gold answer (and `policy`'s other rules)."""
    batch = await create_batch(
        api, boss, csv=QUESTIONS, instructions="Answer: {{question}}", proofFields=ANSWER
    )
    assert batch["userErrors"] == []
    task_id: str = batch["task"]["id"]
    gold = await api.gql(
        SET_GOLD,
        {
            "input": {
                "taskId": task_id,
                "items": [
                    {
                        "position": 1,
                        "answers": [{"label": "Answer", "match": "NORMALIZED", "value": "Paris"}],
                    },
                    {
                        "position": 2,
                        "answers": [
                            {"label": "answer", "match": "ONE_OF", "values": ["Rome", "Roma"]}
                        ],
                    },
                ],
            }
        },
        boss.token,
    )
    assert gold["setGoldAnswers"]["userErrors"] == []
    assert gold["setGoldAnswers"]["task"]["goldItems"] == [
        {
            "position": 1,
            "answers": [
                {"label": "Answer", "match": "NORMALIZED", "values": ["Paris"], "tolerance": None}
            ],
        },
        {
            "position": 2,
            "answers": [
                {
                    "label": "Answer",
                    "match": "ONE_OF",
                    "values": ["Rome", "Roma"],
                    "tolerance": None,
                }
            ],
        },
    ]
    await set_policy(
        api,
        boss,
        task_id,
        autoApproveAtAccuracy=0.8,
        autoRejectBelowAccuracy=0.5,
        blockBelowAccuracy=0.5,
        minGoldAnswered=1,
        **policy,
    )
    return task_id


async def set_policy(api: Api, boss: User, task_id: str, **policy: Any) -> dict[str, Any]:
    data = await api.gql(SET_POLICY, {"input": {"taskId": task_id, **policy}}, boss.token)
    payload: dict[str, Any] = data["setReviewPolicy"]
    assert payload["userErrors"] == [], payload
    return payload


async def claim(api: Api, worker: User, task_id: str) -> dict[str, Any]:
    payload = (await api.gql(CLAIM, {"id": task_id}, worker.token))["claimTask"]
    assert payload["userErrors"] == [], payload
    submission: dict[str, Any] = payload["submission"]
    return submission


async def submit(api: Api, worker: User, submission_id: str, answer: str) -> dict[str, Any]:
    variables = {"id": submission_id, "answers": [{"label": "Answer", "value": answer}]}
    payload = (await api.gql(SUBMIT, variables, worker.token))["submitProof"]
    assert payload["userErrors"] == [], payload
    submission: dict[str, Any] = payload["submission"]
    return submission


async def seen(api: Api, viewer: User, submission_id: str) -> dict[str, Any]:
    node: dict[str, Any] = (await api.gql(SUBMISSION, {"id": submission_id}, viewer.token))["node"]
    return node


async def event_types(api: Api, user: User) -> list[str]:
    edges = (await api.gql(EVENTS, token=user.token))["events"]["edges"]
    return [e["node"]["type"] for e in edges]


async def test_gold_and_auto_approval_pay_the_accurate_and_reject_the_careless(api: Api) -> None:
    boss = await employer(api, "10.00")
    task_id = await gold_batch(api, boss)
    good, careless, newcomer = await api.sign_up(), await api.sign_up(), await api.sign_up()

    first = await claim(api, good, task_id)
    assert first["item"]["position"] == 1
    approved = await submit(api, good, first["id"], "  paris ")
    # Graded at submit, approved by the policy: no review by the employer.
    assert (approved["status"], approved["decidedBy"]) == ("APPROVED", "GOLD_ACCURACY")
    assert await balance(api, good) == "0.20"
    assert "submission.approved" in await event_types(api, good)

    second = await claim(api, careless, task_id)
    assert second["item"]["position"] == 2
    rejected = await submit(api, careless, second["id"], "Madrid")
    assert (rejected["status"], rejected["decidedBy"]) == ("REJECTED", "GOLD_ACCURACY")
    assert rejected["rejectionReason"] == "WRONG_PROOF"
    assert "below" in rejected["rejectionComment"]
    # Neither tells the worker their accuracy (its changes would point out the gold items).
    assert "%" not in rejected["rejectionComment"]
    assert "%" not in approved["feedback"]
    assert await balance(api, careless) == "0.00"
    assert "submission.rejected" in await event_types(api, careless)
    # Open to dispute as any rejection.
    disputed = (await api.gql(DISPUTE, {"id": second["id"]}, careless.token))["disputeRejection"]
    assert disputed == {"submission": {"status": "DISPUTED"}, "userErrors": []}

    # The employer sees the grading and each worker's record with them.
    mine = await seen(api, boss, first["id"])
    assert mine["goldCorrect"] is True
    assert mine["workerAccuracy"] == {"answered": 1, "correct": 1, "accuracy": 1.0}
    theirs = await seen(api, boss, second["id"])
    assert theirs["goldCorrect"] is False
    assert theirs["workerAccuracy"] == {"answered": 1, "correct": 0, "accuracy": 0.0}
    assert (await api.gql(ACCURACY, {"id": careless.id}, boss.token))["goldAccuracy"] == {
        "answered": 1,
        "correct": 0,
        "accuracy": 0.0,
    }

    # Accuracy is kept per employer: on their next task the accurate worker is approved at
    # once, the careless one is blocked from it, a newcomer (no gold answered) waits.
    follow_up = (await create(api, boss, slots=3, proofFields=ANSWER))["task"]["id"]
    await set_policy(api, boss, follow_up, autoApproveAtAccuracy=0.8, minGoldAnswered=1)
    later = await claim(api, good, follow_up)
    again = await submit(api, good, later["id"], "anything")
    assert (again["status"], again["decidedBy"]) == ("APPROVED", "GOLD_ACCURACY")
    assert await balance(api, good) == "0.70"
    refused = (await api.gql(CLAIM, {"id": follow_up}, careless.token))["claimTask"]
    assert refused["userErrors"] == [{"field": ["input", "taskId"], "code": "NOT_ELIGIBLE"}]
    fresh = await claim(api, newcomer, follow_up)
    waiting = await submit(api, newcomer, fresh["id"], "anything")
    assert (waiting["status"], waiting["decidedBy"]) == ("SUBMITTED", None)

    # The employer's stream (taskSubmissions and their webhooks read it) tells automatic
    # decisions as it tells manual ones.
    told = Event.filter(stream=Stream.SUBMISSIONS, audience_id=pk_of(boss.id))
    assert await told.filter(type="submission.approved").count() == 2
    assert await told.filter(type="submission.rejected").count() == 1

    await assert_ledger_balanced()
    await assert_escrow_matches(pk_of(task_id))
    await assert_escrow_matches(pk_of(follow_up))


BLOCK = """mutation($id: ID!) { blockWorker(input: {userId: $id}) { user { id }
  userErrors { code } } }"""
TOLD = """{ events(first: 100) { edges { node { type message task { id }
  submission { id } } } } }"""


async def test_a_policy_block_is_told_to_the_employer_once_and_recorded_as_the_policys(
    api: Api,
) -> None:
    """Given a careless worker holding claims on two of an employer's tasks whose policies block
    below 50% accuracy, when the first wrong gold answer blocks them, then the employer is told
    on their events and by webhook, once (the second wrong answer finds the block made), and the
    block names the policy; a manual block stays silent and MANUAL."""
    receiver = Receiver()
    await receiver.start()
    try:
        boss = await employer(api, "10.00")
        await register(api, boss, receiver, ["worker.blocked"])
        batch_id = await gold_batch(api, boss)
        plain = (await create(api, boss, slots=2, proofFields=ANSWER))["task"]["id"]
        await set_policy(api, boss, plain, blockBelowAccuracy=0.5, minGoldAnswered=1)
        exact = {"label": "Answer", "match": "EXACT", "value": "yes"}
        gold = {"taskId": plain, "items": [{"answers": [exact]}]}
        assert (await api.gql(SET_GOLD, {"input": gold}, boss.token))["setGoldAnswers"][
            "userErrors"
        ] == []
        careless, ignored = await api.sign_up(), await api.sign_up()
        on_batch = await claim(api, careless, batch_id)
        on_plain = await claim(api, careless, plain)

        blocking = await submit(api, careless, on_batch["id"], "Lyon")
        assert blocking["decidedBy"] == "GOLD_ACCURACY"
        await submit(api, careless, on_plain["id"], "no")
        assert (await api.gql(BLOCK, {"id": ignored.id}, boss.token))["blockWorker"] == {
            "user": {"id": ignored.id},
            "userErrors": [],
        }

        blocks = {b.worker_id: (b.decided_by, b.task_id) for b in await Block.all()}
        assert blocks == {
            pk_of(careless.id): (DecidedBy.GOLD_ACCURACY, pk_of(batch_id)),
            pk_of(ignored.id): (DecidedBy.MANUAL, None),
        }
        edges = (await api.gql(TOLD, token=boss.token))["events"]["edges"]
        told = [e["node"] for e in edges if e["node"]["type"] == "worker.blocked"]
        assert len(told) == 1, told
        assert told[0]["task"] == {"id": batch_id}
        assert told[0]["submission"] == {"id": on_batch["id"]}
        assert "%" not in told[0]["message"]
        # The worker is not told (a manual block does not tell them either).
        assert "worker.blocked" not in await event_types(api, careless)

        assert await api.services.webhook_dispatcher.run_once() == 1
        [hook] = receiver.events()
        assert hook["type"] == "worker.blocked"
        assert hook["data"] == {
            "block": {
                "workerId": careless.id,
                "decidedBy": "GOLD_ACCURACY",
                "taskId": batch_id,
                "submissionId": on_batch["id"],
            }
        }
    finally:
        await receiver.stop()


async def test_gold_answers_are_never_shown_to_workers(api: Api) -> None:
    boss = await employer(api, "10.00")
    task_id = await gold_batch(api, boss)
    worker, filler, other = await api.sign_up(), await api.sign_up(), await api.sign_up()
    gold = await claim(api, worker, task_id)
    await claim(api, filler, task_id)
    plain = await claim(api, other, task_id)
    assert (gold["item"]["position"], plain["item"]["position"]) == (1, 3)
    # A gold item's claim looks like any other: the same fields, only the data differs.
    assert gold.keys() == plain.keys()
    assert gold["item"].keys() == plain["item"].keys()
    await submit(api, worker, gold["id"], "Lyon")
    await submit(api, other, plain["id"], "Madrid")

    for viewer, sid in ((worker, gold["id"]), (other, plain["id"])):
        node = await seen(api, viewer, sid)
        assert node["goldCorrect"] is None
        assert node["tooFast"] is None
        assert node["agreement"] is None
        assert node["workerAccuracy"] is None
        assert node["task"] == {"goldItems": None, "reviewPolicy": None}
    # The worker's own "accuracy" query is about gold of their own: the employer's is not there.
    mine = (await api.gql(ACCURACY, {"id": worker.id}, worker.token))["goldAccuracy"]
    assert mine == {"answered": 0, "correct": 0, "accuracy": None}
    # No event (feed, streams, notifications: what workers and webhooks read) carries them.
    logged = json.dumps(await Event.all().values("payload", "message"), default=str)
    for expected in ("Paris", "Rome", "Roma"):
        assert expected not in logged
    assert await GoldItem.filter(task_id=pk_of(task_id)).count() == 2


async def test_batch_results_csv_carries_who_decided_and_the_quality_checks(api: Api) -> None:
    """Given a gold batch whose policy also times proof, when one worker answers a gold item
    right at once and another answers one wrong after two minutes, then the export shows each
    line's decision, grading and timing as the API does, and nothing for the free item."""
    boss = await employer(api, "10.00")
    task_id = await gold_batch(api, boss, minSeconds=60)
    quick, slow = await api.sign_up(), await api.sign_up()
    right = await claim(api, quick, task_id)
    await submit(api, quick, right["id"], "Paris")
    wrong = await claim(api, slow, task_id)
    api.clock.advance(120)
    await submit(api, slow, wrong["id"], "Madrid")

    exported = (await api.gql(EXPORT, {"id": task_id}, boss.token))["batchResultsCsv"]
    header, *lines = rows_of(exported)
    at = header.index("decided_by")
    assert header[at : at + 5] == ["decided_by", "gold_correct", "too_fast", "agreement", "Answer"]
    quality = {line[0]: (line[header.index("submission")], line[at : at + 4]) for line in lines}
    assert quality == {
        "1": (right["id"], ["GOLD_ACCURACY", "true", "true", ""]),
        "2": (wrong["id"], ["GOLD_ACCURACY", "false", "false", ""]),
        "3": ("", ["", "", "", ""]),
    }
    # The same as the submissions say through the API.
    for sid, (decided, correct, fast) in (
        (right["id"], ("GOLD_ACCURACY", True, True)),
        (wrong["id"], ("GOLD_ACCURACY", False, False)),
    ):
        node = await seen(api, boss, sid)
        assert (node["decidedBy"], node["goldCorrect"], node["tooFast"]) == (decided, correct, fast)


async def test_the_exports_agreement_is_the_apis(services: Services) -> None:
    """A batch cannot have an overlap (one slot per item), so its `agreement` column is blank
    today; the rule it reads (`agreement_of_task`) is the API's, shown here on a plain task."""
    boss = await funded_user(services, 5_000)
    task = await post_task(services, boss, slots=3)
    workers = [await new_user(services) for _ in range(3)]
    claims = [await services.submissions.claim(w, task.id) for w in workers]
    for worker, held, text in zip(workers, claims, ("yes", "no", "yes"), strict=True):
        await services.submissions.submit(worker, held.id, [Answer("Username", text)])
    answered = await Submission.filter(task_id=task.id).order_by("id")
    assert await agreement_of_task(task, answered) == {}  # no overlap policy, no agreement
    await services.quality.set_policy(boss, task.id, PolicySpec(overlap=3))
    shares = await agreement_of_task(task, [*answered, None])
    assert shares == {s.id: (2 / 3 if i != 1 else 1 / 3) for i, s in enumerate(answered)}


async def test_an_overlap_of_three_approves_the_majority(api: Api) -> None:
    boss = await employer(api, "10.00")
    task_id = (await create(api, boss, slots=3, proofFields=ANSWER))["task"]["id"]
    await set_policy(api, boss, task_id, overlap=3)
    workers = [await api.sign_up() for _ in range(3)]
    subs = [await claim(api, w, task_id) for w in workers]

    first = await submit(api, workers[0], subs[0]["id"], "A cat")
    second = await submit(api, workers[1], subs[1]["id"], "a  CAT ")
    # Fewer than three answers: nothing is decided yet.
    assert [first["status"], second["status"]] == ["SUBMITTED", "SUBMITTED"]
    third = await submit(api, workers[2], subs[2]["id"], "A dog")

    views = [await seen(api, boss, s["id"]) for s in subs]
    assert [(v["status"], v["decidedBy"]) for v in views] == [
        ("APPROVED", "MAJORITY"),
        ("APPROVED", "MAJORITY"),
        ("SUBMITTED", None),  # the minority waits for the employer's review
    ]
    assert third["status"] == "SUBMITTED"
    assert [round(v["agreement"], 3) for v in views] == [0.667, 0.667, 0.333]
    assert [await balance(api, w) for w in workers] == ["0.50", "0.50", "0.00"]
    assert "submission.approved" in await event_types(api, workers[0])
    # The employer decides the minority by hand.
    reject = """mutation($id: ID!) { rejectSubmission(input: {submissionId: $id,
      reason: WRONG_PROOF, comment: "It is a cat"}) { submission { status decidedBy } } }"""
    manual = (await api.gql(reject, {"id": subs[2]["id"]}, boss.token))["rejectSubmission"]
    assert manual["submission"] == {"status": "REJECTED", "decidedBy": "MANUAL"}
    await assert_ledger_balanced()
    await assert_escrow_matches(pk_of(task_id))


async def test_too_fast_proof_is_flagged_and_rejected_by_policy(api: Api) -> None:
    boss = await employer(api, "10.00")
    task_id = (await create(api, boss, slots=2, proofFields=ANSWER))["task"]["id"]
    await set_policy(api, boss, task_id, minSeconds=60, rejectTooFast=True)
    hasty, careful = await api.sign_up(), await api.sign_up()
    quick, slow = await claim(api, hasty, task_id), await claim(api, careful, task_id)
    api.clock.advance(10)
    rushed = await submit(api, hasty, quick["id"], "done")
    assert (rushed["status"], rushed["decidedBy"]) == ("REJECTED", "FAST_RESPONSE")
    assert rushed["rejectionReason"] == "INSTRUCTIONS_NOT_FOLLOWED"
    api.clock.advance(60)
    fine = await submit(api, careful, slow["id"], "done")
    assert (fine["status"], fine["decidedBy"]) == ("SUBMITTED", None)
    assert (await seen(api, boss, quick["id"]))["tooFast"] is True
    assert (await seen(api, boss, slow["id"]))["tooFast"] is False
    await assert_ledger_balanced()


async def test_bad_quality_input_is_refused_naming_the_field_and_writes_nothing(
    api: Api,
) -> None:
    boss = await employer(api, "20.00")
    task_id = (
        await create(
            api,
            boss,
            slots=3,
            proofFields=[*ANSWER, {"label": "Count", "kind": "NUMBER"}],
        )
    )["task"]["id"]
    batch = await create_batch(
        api, boss, csv=QUESTIONS, instructions="{{question}}", proofFields=ANSWER
    )
    batch_id = batch["task"]["id"]
    stranger = await employer(api, "1.00")

    async def policy_errors(task: str, token: str, **policy: Any) -> list[dict[str, Any]]:
        data = await api.gql(SET_POLICY, {"input": {"taskId": task, **policy}}, token)
        errors: list[dict[str, Any]] = data["setReviewPolicy"]["userErrors"]
        return errors

    async def gold_errors(task: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        data = await api.gql(SET_GOLD, {"input": {"taskId": task, "items": items}}, boss.token)
        errors: list[dict[str, Any]] = data["setGoldAnswers"]["userErrors"]
        return errors

    def fields(errors: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(".".join(e["field"]), e["code"]) for e in errors]

    assert fields(await policy_errors(task_id, boss.token, autoApproveAtAccuracy=1.5)) == [
        ("input.autoApproveAtAccuracy", "OUT_OF_RANGE")
    ]
    assert fields(
        await policy_errors(
            task_id, boss.token, autoRejectBelowAccuracy=-0.1, blockBelowAccuracy=2.0
        )
    ) == [
        ("input.autoRejectBelowAccuracy", "OUT_OF_RANGE"),
        ("input.blockBelowAccuracy", "OUT_OF_RANGE"),
    ]
    assert fields(await policy_errors(task_id, boss.token, overlap=4)) == [
        ("input.overlap", "OUT_OF_RANGE")
    ]
    batch_overlap = await policy_errors(batch_id, boss.token, overlap=2)
    assert fields(batch_overlap) == [("input.overlap", "OUT_OF_RANGE")]
    assert "1 per item of a batch" in batch_overlap[0]["message"]
    assert fields(await policy_errors(task_id, boss.token, rejectTooFast=True)) == [
        ("input.rejectTooFast", "REQUIRED")
    ]
    assert fields(await policy_errors(task_id, boss.token, minGoldAnswered=0)) == [
        ("input.minGoldAnswered", "OUT_OF_RANGE")
    ]
    refused = await api.errors(
        SET_POLICY, {"input": {"taskId": task_id, "overlap": 2}}, stranger.token
    )
    assert [e["extensions"]["code"] for e in refused] == ["FORBIDDEN"]

    exact = {"label": "Answer", "match": "EXACT", "value": "x"}
    assert fields(await gold_errors(task_id, [{"answers": [{**exact, "label": "Colour"}]}])) == [
        ("input.items.0.answers.0.label", "NOT_FOUND")
    ]
    # A number field's expected value, or NUMERIC's, must be a number; ONE_OF takes values.
    assert fields(
        await gold_errors(
            task_id,
            [
                {
                    "answers": [
                        exact,
                        {"label": "Count", "match": "NUMERIC", "value": "many", "tolerance": 1},
                    ]
                }
            ],
        )
    ) == [("input.items.0.answers.1.value", "INVALID")]
    assert fields(await gold_errors(task_id, [{"answers": [{**exact, "match": "ONE_OF"}]}])) == [
        ("input.items.0.answers.0.values", "INVALID")
    ]
    assert fields(await gold_errors(task_id, [{"answers": [{**exact, "tolerance": 0.5}]}])) == [
        ("input.items.0.answers.0.tolerance", "INVALID")
    ]
    assert fields(await gold_errors(task_id, [{"position": 1, "answers": [exact]}])) == [
        ("input.items.0.position", "INVALID")
    ]
    # One bad item among good ones: none of them is written.
    assert fields(
        await gold_errors(
            batch_id,
            [{"position": 1, "answers": [exact]}, {"position": 9, "answers": [exact]}],
        )
    ) == [("input.items.1.position", "NOT_FOUND")]

    assert await GoldItem.all().count() == 0
    assert await ReviewPolicy.all().count() == 0
    assert await GoldAccuracy.all().count() == 0
    assert await Block.all().count() == 0


@pytest.mark.skipif(
    current_backend().name == "sqlite",
    reason="SQLite runs one write transaction at a time: two submits can never both have "
    "written their answer before either counts the votes (the PostgreSQL pass runs it)",
)
async def test_answers_counted_at_once_still_reach_the_overlap(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given an overlap of 3, when all three answers are submitted at once, each in its own
    transaction, and held until all three are written but none committed, then the majority is
    approved once each and paid once, the minority left for review. Without the task's row lock
    in `_majority` every submit would count only its own answer, and nobody would be approved."""
    boss = await funded_user(services, 5_000)
    task = await post_task(services, boss, slots=3)
    await services.quality.set_policy(boss, task.id, PolicySpec(overlap=3))
    workers = [await new_user(services) for _ in range(3)]
    claims = [await services.submissions.claim(w, task.id) for w in workers]

    every_answer_written = asyncio.Barrier(len(workers))
    count_votes = services.quality._majority

    async def once_every_answer_is_written(voted: Task, item_id: int | None, k: int) -> None:
        await every_answer_written.wait()
        await count_votes(voted, item_id, k)

    monkeypatch.setattr(services.quality, "_majority", once_every_answer_is_written)

    async def answer(i: int, text: str) -> None:
        await services.submissions.submit(workers[i], claims[i].id, [Answer("Username", text)])

    async with asyncio.timeout(30):  # a lock that never comes free fails, not hangs
        await asyncio.gather(answer(0, "same"), answer(1, "other"), answer(2, "same"))
    assert every_answer_written.n_waiting == 0
    decided = {
        s.worker_id: (s.status, s.decided_by) for s in await Submission.filter(task_id=task.id)
    }
    assert decided == {
        workers[0].id: (SubmissionStatus.APPROVED, DecidedBy.MAJORITY),
        workers[1].id: (SubmissionStatus.SUBMITTED, None),
        workers[2].id: (SubmissionStatus.APPROVED, DecidedBy.MAJORITY),
    }
    paid = [await services.payouts.balance(w.id) for w in workers]
    assert paid == [task.reward, 0, task.reward]
    approvals = await Event.filter(task_id=task.id, type="submission.approved").count()
    assert approvals == 2 * 2  # the employer's stream and the worker's notification, each once
    await assert_escrow_matches(task.id)
    await assert_ledger_balanced()


async def test_quality_fields_of_a_list_cost_the_same_queries(api: Api) -> None:
    boss = await employer(api, "20.00")
    worker = await api.sign_up()
    for _ in range(4):
        task_id = (await create(api, boss, slots=2, proofFields=ANSWER))["task"]["id"]
        await set_policy(
            api, boss, task_id, autoApproveAtAccuracy=0.9, minGoldAnswered=1, overlap=2
        )
        await api.gql(
            SET_GOLD,
            {
                "input": {
                    "taskId": task_id,
                    "items": [{"answers": [{"label": "Answer", "match": "EXACT", "value": "y"}]}],
                }
            },
            boss.token,
        )
        await submit(api, worker, (await claim(api, worker, task_id))["id"], "y")
    page = """query($first: Int) { myTasks(first: $first) { edges { node {
      goldItems { position answers { values } } reviewPolicy { autoApproveAtAccuracy }
      submissions { edges { node { decidedBy goldCorrect tooFast agreement
        workerAccuracy { accuracy } } } } } } } }"""
    with count_queries() as few:
        await api.gql(page, {"first": 1}, boss.token)
    with count_queries() as many:
        data = await api.gql(page, {"first": 4}, boss.token)
    assert many.count == few.count, many.statements
    nodes = [e["node"] for e in data["myTasks"]["edges"]]
    assert len(nodes) == 4
    assert {n["submissions"]["edges"][0]["node"]["decidedBy"] for n in nodes} == {"GOLD_ACCURACY"}
    assert {n["submissions"]["edges"][0]["node"]["agreement"] for n in nodes} == {1.0}
    assert {n["submissions"]["edges"][0]["node"]["workerAccuracy"]["accuracy"] for n in nodes} == {
        1.0
    }
