"""Disputes: within the window, held money, both outcomes, the race with the window's end."""

from __future__ import annotations

import asyncio

import pytest

from picotask.models.submissions import (
    DecidedBy,
    DisputeResolution,
    RejectionReason,
    Submission,
    SubmissionStatus,
)
from picotask.models.users import User
from picotask.services.core.clock import ManualClock
from picotask.services.core.errors import ErrorCode, NotPermitted
from picotask.services.registry import Services
from tests.support import (
    Api,
    assert_escrow_matches,
    assert_ledger_balanced,
    escrow_balance,
    funded_user,
    new_user,
    post_task,
    refusal,
)
from tests.test_marketplace import PROOF, UNIT
from tests.test_marketplace_api import REJECT, submitted

WEEK = 7 * 86_400


async def rejected(services: Services) -> tuple[User, User, Submission]:
    boss = await funded_user(services, 10_000)
    task = await post_task(services, boss, slots=1)
    worker = await new_user(services)
    claim = await services.submissions.claim(worker, task.id)
    await services.submissions.submit(worker, claim.id, PROOF)
    submission = await services.submissions.reject(
        boss, claim.id, RejectionReason.WRONG_PROOF, "Not your account", reopen_slot=False
    )
    return boss, worker, submission


async def moderator(services: Services) -> User:
    admin = await new_user(services)
    await User.filter(id=admin.id).update(is_admin=True)
    return await User.get(id=admin.id)


async def test_overturned_dispute_pays_from_the_held_money(
    services: Services, clock: ManualClock
) -> None:
    boss, worker, submission = await rejected(services)
    clock.advance(WEEK - 1)
    disputed = await services.disputes.dispute(worker, submission.id, "It is my account: see")
    assert disputed.status == SubmissionStatus.DISPUTED
    clock.advance(30 * 86_400)
    assert (await services.sweeper.sweep()).rejections_final == 0  # held while disputed
    assert await escrow_balance(submission.task_id) == UNIT
    boss_balance = await services.payouts.balance(boss.id)

    resolved = await services.disputes.resolve(
        await moderator(services), submission.id, DisputeResolution.OVERTURNED, "Proof checks out"
    )
    assert (resolved.status, resolved.dispute_resolution, resolved.decided_by) == (
        SubmissionStatus.APPROVED,
        DisputeResolution.OVERTURNED,
        DecidedBy.DISPUTE,
    )
    assert await services.payouts.balance(worker.id) == 100
    assert await services.payouts.balance(boss.id) == boss_balance
    assert (await User.get(id=worker.id)).approved_count == 1
    await assert_escrow_matches(submission.task_id)
    await assert_ledger_balanced()


async def test_upheld_dispute_returns_the_money_to_the_employer(services: Services) -> None:
    boss, worker, submission = await rejected(services)
    await services.disputes.dispute(worker, submission.id, "Please look again")
    before = await services.payouts.balance(boss.id)
    resolved = await services.disputes.resolve(
        await moderator(services), submission.id, DisputeResolution.UPHELD, None
    )
    assert (resolved.status, resolved.rejection_final) == (SubmissionStatus.REJECTED, True)
    assert await services.payouts.balance(boss.id) == before + UNIT
    assert await services.payouts.balance(worker.id) == 0
    assert (await User.get(id=worker.id)).rejected_count == 1
    await assert_escrow_matches(submission.task_id)
    await assert_ledger_balanced()


async def test_dispute_refusals(services: Services, clock: ManualClock) -> None:
    boss, worker, submission = await rejected(services)
    assert await refusal(services.disputes.dispute(worker, submission.id, " ")) == (
        ErrorCode.TOO_SHORT
    )
    assert await refusal(services.disputes.dispute(boss, submission.id, "x")) == (
        ErrorCode.NOT_FOUND
    )
    await services.disputes.dispute(worker, submission.id, "first")
    assert await refusal(services.disputes.dispute(worker, submission.id, "again")) == (
        ErrorCode.INVALID_STATUS
    )
    with pytest.raises(NotPermitted):
        await services.disputes.resolve(boss, submission.id, DisputeResolution.UPHELD, None)

    _, late_worker, late = await rejected(services)
    clock.advance(WEEK)
    assert await refusal(services.disputes.dispute(late_worker, late.id, "too late")) == (
        ErrorCode.DEADLINE_PASSED
    )


async def test_dispute_racing_the_end_of_the_window_has_one_outcome(
    services: Services, clock: ManualClock
) -> None:
    early = [await rejected(services) for _ in range(3)]
    clock.advance(WEEK - 1)  # one second left: the disputes win, the sweeper finds nothing
    outcomes, sweep = await asyncio.gather(
        asyncio.gather(*(refusal(services.disputes.dispute(w, s.id, "mine")) for _, w, s in early)),
        services.sweeper.sweep(),
    )
    assert outcomes == [None, None, None]
    assert sweep.rejections_final == 0

    pairs = [await rejected(services) for _ in range(4)]
    clock.advance(WEEK)  # exactly at the deadline: the window is closed
    results = await asyncio.gather(
        *(refusal(services.disputes.dispute(w, s.id, "mine")) for _, w, s in pairs),
        services.sweeper.sweep(),
    )
    for (_, _, submission), outcome in zip(pairs, results[:4], strict=True):
        final = await Submission.get(id=submission.id)
        assert outcome == ErrorCode.DEADLINE_PASSED
        assert (final.status, final.rejection_final) == (SubmissionStatus.REJECTED, True)
        await assert_escrow_matches(submission.task_id)
    await assert_ledger_balanced()


async def test_disputes_through_the_api(api: Api) -> None:
    boss, worker, sid = await submitted(api)
    await api.gql(REJECT, {"id": sid}, boss.token)
    dispute = """mutation($id: ID!) { disputeRejection(input: {submissionId: $id,
      statement: "I watched it all"}) { submission { status disputeStatement }
      userErrors { code } } }"""
    data = (await api.gql(dispute, {"id": sid}, worker.token))["disputeRejection"]
    assert data["submission"] == {"status": "DISPUTED", "disputeStatement": "I watched it all"}

    queue = "{ disputes { edges { node { id } } } }"
    assert (await api.errors(queue, token=worker.token))[0]["extensions"]["code"] == "FORBIDDEN"
    admin = await api.sign_up()
    await User.filter(email=admin.email).update(is_admin=True)
    edges = (await api.gql(queue, token=admin.token))["disputes"]["edges"]
    assert [e["node"]["id"] for e in edges] == [sid]
    resolve = """mutation($id: ID!) { resolveDispute(input: {submissionId: $id,
      resolution: OVERTURNED, note: "Fair"}) { submission { status disputeResolution }
      userErrors { code } } }"""
    errors = await api.errors(resolve, {"id": sid}, boss.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    done = (await api.gql(resolve, {"id": sid}, admin.token))["resolveDispute"]
    assert done["submission"] == {"status": "APPROVED", "disputeResolution": "OVERTURNED"}
    log = await api.gql("{ events { edges { node { type } } } }", token=worker.token)
    types = [e["node"]["type"] for e in log["events"]["edges"]]
    assert types[-1] == "dispute.overturned"
    await assert_ledger_balanced()
