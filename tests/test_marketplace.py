"""The marketplace's rules without HTTP: every transition, every refusal, every money path."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from picotask.models.submissions import RejectionReason, Submission, SubmissionStatus
from picotask.models.tasks import ProofKind, Task, TaskStatus
from picotask.models.users import User, UserStatus
from picotask.services.core.clock import ManualClock
from picotask.services.core.errors import DomainError, ErrorCode, NotPermitted
from picotask.services.registry import Services
from picotask.services.work.proofs import Answer
from picotask.services.work.task_specs import ProofFieldSpec
from tests.support import (
    assert_escrow_matches,
    assert_ledger_balanced,
    escrow_balance,
    funded_user,
    new_user,
    post_task,
    refusal,
)

UNIT = 100 + 10  # reward 1.00 + 10% fee, per slot
PROOF = [Answer("Username", "ann_b")]


async def finish(services: Services, task_id: int) -> None:
    await assert_escrow_matches(task_id)
    await assert_ledger_balanced()


async def employer_and_task(services: Services, **overrides: object) -> tuple[User, Task]:
    employer = await funded_user(services, 10_000)
    task = await post_task(services, employer, **overrides)
    return employer, task


async def submitted(services: Services, task: Task, **kwargs: str) -> tuple[User, Submission]:
    worker = await new_user(services, **kwargs)
    claim = await services.submissions.claim(worker, task.id)
    return worker, await services.submissions.submit(worker, claim.id, PROOF)


async def test_publishing_funds_escrow(services: Services) -> None:
    employer, task = await employer_and_task(services)
    assert task.status == TaskStatus.OPEN
    assert (task.reward, task.fee, task.slots) == (100, 10, 3)
    assert await escrow_balance(task.id) == 3 * UNIT
    assert await services.payouts.balance(employer.id) == 10_000 - 3 * UNIT
    assert (await User.get(id=employer.id)).tasks_posted == 1
    await finish(services, task.id)


async def test_publishing_without_enough_balance_writes_nothing(services: Services) -> None:
    employer = await funded_user(services, 200)
    code = await refusal(post_task(services, employer, slots=2))
    assert code == ErrorCode.INSUFFICIENT_FUNDS
    assert await Task.all().count() == 0
    assert await services.payouts.balance(employer.id) == 200


async def test_draft_then_publish(services: Services) -> None:
    employer = await funded_user(services, 1_000)
    draft = await post_task(services, employer, publish=False)
    assert draft.status == TaskStatus.DRAFT
    assert await escrow_balance(draft.id) == 0
    published = await services.tasks.publish(employer, draft.id)
    assert published.status == TaskStatus.OPEN
    assert await escrow_balance(draft.id) == 3 * UNIT
    assert await refusal(services.tasks.publish(employer, draft.id)) == ErrorCode.INVALID_STATUS
    await finish(services, draft.id)


async def test_full_lifecycle_pays_and_completes(services: Services) -> None:
    employer, task = await employer_and_task(services, slots=2)
    worker_a, first = await submitted(services, task)
    worker_b, second = await submitted(services, task)
    assert first.status == SubmissionStatus.SUBMITTED
    assert first.answers == [{"label": "Username", "value": "ann_b"}]

    await services.submissions.approve(employer, first.id, "Thanks!")
    approved = await services.submissions.approve(employer, second.id, None)
    assert approved.status == SubmissionStatus.APPROVED
    assert await services.payouts.balance(worker_a.id) == 100
    assert await services.payouts.balance(worker_b.id) == 100
    done = await Task.get(id=task.id)
    assert done.status == TaskStatus.COMPLETED
    assert await escrow_balance(task.id) == 0
    a = await User.get(id=worker_a.id)
    assert (a.approved_count, a.earned) == (1, 100)
    e = await User.get(id=employer.id)
    assert (e.approvals_given, e.paid_out) == (2, 200)
    await finish(services, task.id)


async def test_claim_refusals(services: Services) -> None:
    employer, task = await employer_and_task(services, slots=1, countries=["DE", "FR"])
    assert await refusal(services.submissions.claim(employer, task.id)) == ErrorCode.OWN_TASK
    american = await new_user(services, country="US")
    assert await refusal(services.submissions.claim(american, task.id)) == ErrorCode.NOT_ELIGIBLE
    german = await new_user(services, country="DE")
    await services.submissions.claim(german, task.id)
    assert await refusal(services.submissions.claim(german, task.id)) == ErrorCode.ALREADY_CLAIMED
    french = await new_user(services, country="FR")
    assert await refusal(services.submissions.claim(french, task.id)) == ErrorCode.NO_SLOTS_LEFT
    assert await refusal(services.submissions.claim(french, 999_999)) == ErrorCode.NOT_FOUND
    await services.tasks.pause(employer, task.id)
    assert await refusal(services.submissions.claim(french, task.id)) == ErrorCode.INVALID_STATUS


async def test_reputation_targeting(services: Services) -> None:
    _employer, task = await employer_and_task(services, min_approved_count=1, min_approval_rate=0.8)
    newcomer = await new_user(services)
    assert await refusal(services.submissions.claim(newcomer, task.id)) == ErrorCode.NOT_ELIGIBLE
    await User.filter(id=newcomer.id).update(approved_count=3, rejected_count=1)
    veteran = await User.get(id=newcomer.id)
    assert (
        await refusal(services.submissions.claim(veteran, task.id)) == ErrorCode.NOT_ELIGIBLE
    )  # 75%
    await User.filter(id=newcomer.id).update(approved_count=4)
    assert (
        await refusal(services.submissions.claim(await User.get(id=newcomer.id), task.id)) is None
    )


async def test_suspended_worker_cannot_claim(services: Services) -> None:
    _, task = await employer_and_task(services)
    worker = await new_user(services)
    await User.filter(id=worker.id).update(status=UserStatus.SUSPENDED)
    code = await refusal(services.submissions.claim(await User.get(id=worker.id), task.id))
    assert code == ErrorCode.SUSPENDED


async def test_release_and_claim_timeout_free_the_slot(
    services: Services, clock: ManualClock
) -> None:
    _, task = await employer_and_task(services, slots=1, claim_timeout_seconds=600)
    worker = await new_user(services)
    claim = await services.submissions.claim(worker, task.id)
    released = await services.submissions.release(worker, claim.id)
    assert released.status == SubmissionStatus.RETURNED
    assert (await Task.get(id=task.id)).slots_used == 0
    assert await refusal(services.submissions.release(worker, claim.id)) == ErrorCode.INVALID_STATUS

    other = await new_user(services)
    claim = await services.submissions.claim(other, task.id)
    clock.advance(599)
    assert (await services.sweeper.sweep()).claims_expired == 0
    clock.advance(1)
    assert (await services.sweeper.sweep()).claims_expired == 1
    assert (await Submission.get(id=claim.id)).status == SubmissionStatus.EXPIRED
    assert (await Task.get(id=task.id)).slots_used == 0
    code = await refusal(services.submissions.submit(other, claim.id, PROOF))
    assert code == ErrorCode.INVALID_STATUS
    await finish(services, task.id)


async def test_submit_after_the_claim_timeout_but_before_the_sweep(
    services: Services, clock: ManualClock
) -> None:
    _, task = await employer_and_task(services, claim_timeout_seconds=60)
    worker = await new_user(services)
    claim = await services.submissions.claim(worker, task.id)
    clock.advance(60)
    assert (
        await refusal(services.submissions.submit(worker, claim.id, PROOF))
        == ErrorCode.DEADLINE_PASSED
    )


@pytest.mark.parametrize(
    ("answers", "field", "code"),
    [
        ([], "Username", ErrorCode.REQUIRED),
        ([Answer("Username", "  ")], "Username", ErrorCode.REQUIRED),
        ([Answer("Username", "x"), Answer("Nope", "y")], "1", ErrorCode.INVALID),
        ([Answer("Username", "x"), Answer("username", "y")], "1", ErrorCode.DUPLICATE),
        ([Answer("Username", "x"), Answer("Profile", "ftp://x")], "1", ErrorCode.INVALID),
        ([Answer("Username", "x"), Answer("Followers", "12k")], "1", ErrorCode.INVALID),
        ([Answer("Username", "x" * 5_001)], "0", ErrorCode.TOO_LONG),
    ],
)
async def test_proof_is_checked_against_the_fields(
    services: Services, answers: list[Answer], field: str, code: ErrorCode
) -> None:
    _, task = await employer_and_task(
        services,
        proof_fields=[
            ProofFieldSpec("Username", ProofKind.TEXT),
            ProofFieldSpec("Profile", ProofKind.URL, required=False),
            ProofFieldSpec("Followers", ProofKind.NUMBER, required=False),
        ],
    )
    worker = await new_user(services)
    claim = await services.submissions.claim(worker, task.id)
    with pytest.raises(DomainError) as refused:
        await services.submissions.submit(worker, claim.id, answers)
    assert (refused.value.problems[0].code, refused.value.problems[0].field) == (
        code,
        ["input", "answers", field],
    )
    assert (await Submission.get(id=claim.id)).status == SubmissionStatus.CLAIMED


async def test_rejection_holds_the_money_until_the_dispute_window_closes(
    services: Services, clock: ManualClock
) -> None:
    employer, task = await employer_and_task(services, slots=1)
    worker, submission = await submitted(services, task)
    rejected = await services.submissions.reject(
        employer, submission.id, RejectionReason.WRONG_PROOF, "Wrong username", reopen_slot=False
    )
    assert rejected.status == SubmissionStatus.REJECTED
    assert rejected.dispute_deadline == clock.now() + timedelta(days=7)
    before = await services.payouts.balance(employer.id)
    assert await escrow_balance(task.id) == UNIT  # held
    clock.advance(7 * 86_400 - 1)
    assert (await services.sweeper.sweep()).rejections_final == 0
    clock.advance(1)
    assert (await services.sweeper.sweep()).rejections_final == 1
    assert (await services.sweeper.sweep()).rejections_final == 0
    assert await services.payouts.balance(employer.id) == before + UNIT
    assert (await User.get(id=worker.id)).rejected_count == 1
    assert (await Task.get(id=task.id)).status == TaskStatus.COMPLETED
    await finish(services, task.id)


async def test_reject_with_reopened_slot(services: Services) -> None:
    employer, task = await employer_and_task(services, slots=1)
    _, submission = await submitted(services, task)
    await services.submissions.reject(
        employer, submission.id, RejectionReason.FRAUD, "Fake account", reopen_slot=True
    )
    reopened = await Task.get(id=task.id)
    assert (reopened.slots, reopened.slots_used) == (2, 1)
    assert await escrow_balance(task.id) == 2 * UNIT
    another, _ = await submitted(services, task)
    assert another.id
    await finish(services, task.id)


async def test_rejection_needs_a_comment(services: Services) -> None:
    employer, task = await employer_and_task(services)
    _, submission = await submitted(services, task)
    code = await refusal(
        services.submissions.reject(employer, submission.id, RejectionReason.OTHER, "  ", False)
    )
    assert code == ErrorCode.TOO_SHORT
    assert (await Submission.get(id=submission.id)).status == SubmissionStatus.SUBMITTED


async def test_revision_then_resubmit_then_approve(services: Services, clock: ManualClock) -> None:
    employer, task = await employer_and_task(services)
    worker, submission = await submitted(services, task)
    sent_back = await services.submissions.request_revision(
        employer, submission.id, "Add a screenshot"
    )
    assert sent_back.status == SubmissionStatus.REVISION_REQUESTED
    assert sent_back.revision_deadline == clock.now() + timedelta(days=1)
    clock.advance(3_600)
    again = await services.submissions.submit(worker, submission.id, [Answer("Username", "ann_c")])
    assert again.status == SubmissionStatus.SUBMITTED
    assert again.answers == [{"label": "Username", "value": "ann_c"}]
    await services.submissions.approve(employer, submission.id, None)
    assert await services.payouts.balance(worker.id) == 100
    await finish(services, task.id)


async def test_missed_revision_deadline_becomes_a_rejection(
    services: Services, clock: ManualClock
) -> None:
    employer, task = await employer_and_task(services)
    worker, submission = await submitted(services, task)
    await services.submissions.request_revision(employer, submission.id, "Add a screenshot")
    clock.advance(86_400)
    assert (await services.sweeper.sweep()).revisions_expired == 1
    rejected = await Submission.get(id=submission.id)
    assert rejected.status == SubmissionStatus.REJECTED
    assert rejected.rejection_reason == RejectionReason.INCOMPLETE
    assert await refusal(services.submissions.submit(worker, submission.id, PROOF)) == (
        ErrorCode.INVALID_STATUS
    )
    clock.advance(7 * 86_400)
    assert (await services.sweeper.sweep()).rejections_final == 1
    await finish(services, task.id)


async def test_review_window_auto_approves(services: Services, clock: ManualClock) -> None:
    employer, task = await employer_and_task(services, review_window_seconds=3_600)
    worker, submission = await submitted(services, task)
    clock.advance(3_599)
    assert (await services.sweeper.sweep()).auto_approved == 0
    clock.advance(1)
    assert (await services.sweeper.sweep()).auto_approved == 1
    approved = await Submission.get(id=submission.id)
    assert (approved.status, approved.auto_approved) == (SubmissionStatus.APPROVED, True)
    assert await services.payouts.balance(worker.id) == 100
    code = await refusal(services.submissions.approve(employer, submission.id, None))
    assert code == ErrorCode.INVALID_STATUS
    await finish(services, task.id)


async def test_cancel_refunds_unfilled_and_in_flight_work_still_resolves(
    services: Services,
) -> None:
    employer, task = await employer_and_task(services, slots=4)
    worker_a, done = await submitted(services, task)
    worker_b = await new_user(services)
    holding = await services.submissions.claim(worker_b, task.id)
    start = await services.payouts.balance(employer.id)

    cancelled = await services.tasks.cancel(employer, task.id)
    assert cancelled.status == TaskStatus.CANCELLED
    assert await services.payouts.balance(employer.id) == start + 2 * UNIT  # two unfilled slots
    assert await escrow_balance(task.id) == 2 * UNIT
    latecomer = await new_user(services)
    assert await refusal(services.submissions.claim(latecomer, task.id)) == ErrorCode.INVALID_STATUS

    await services.submissions.approve(employer, done.id, None)
    assert await services.payouts.balance(worker_a.id) == 100
    await services.submissions.release(worker_b, holding.id)
    assert await services.payouts.balance(employer.id) == start + 3 * UNIT
    assert await escrow_balance(task.id) == 0
    assert await refusal(services.tasks.cancel(employer, task.id)) == ErrorCode.INVALID_STATUS
    await finish(services, task.id)


async def test_task_expiry(services: Services, clock: ManualClock) -> None:
    _employer, task = await employer_and_task(
        services, slots=3, expires_at=clock.now() + timedelta(hours=2)
    )
    worker, _submission = await submitted(services, task)
    clock.advance(7_200)
    assert (await services.sweeper.sweep()).tasks_expired == 1
    assert (await Task.get(id=task.id)).status == TaskStatus.EXPIRED
    assert await escrow_balance(task.id) == UNIT  # the submitted slot is still owed
    clock.advance(72 * 3_600)
    assert (await services.sweeper.sweep()).auto_approved == 1
    assert await services.payouts.balance(worker.id) == 100
    assert await escrow_balance(task.id) == 0
    await finish(services, task.id)


async def test_add_slots_funds_more_and_reopens_a_completed_task(services: Services) -> None:
    employer, task = await employer_and_task(services, slots=1)
    _, submission = await submitted(services, task)
    await services.submissions.approve(employer, submission.id, None)
    assert (await Task.get(id=task.id)).status == TaskStatus.COMPLETED
    more = await services.tasks.add_slots(employer, task.id, 2)
    assert (more.status, more.slots) == (TaskStatus.OPEN, 3)
    assert await escrow_balance(task.id) == 2 * UNIT
    assert await refusal(services.tasks.add_slots(employer, task.id, 0)) == ErrorCode.OUT_OF_RANGE
    await finish(services, task.id)


async def test_only_the_employer_manages_a_task(services: Services) -> None:
    _, task = await employer_and_task(services)
    stranger = await funded_user(services, 1_000)
    for action in (services.tasks.pause, services.tasks.cancel, services.tasks.publish):
        with pytest.raises(NotPermitted):
            await action(stranger, task.id)


async def test_only_the_employer_reviews(services: Services) -> None:
    _, task = await employer_and_task(services)
    worker, submission = await submitted(services, task)
    with pytest.raises(NotPermitted):
        await services.submissions.approve(worker, submission.id, None)
    stranger = await new_user(services)
    assert await refusal(services.submissions.approve(stranger, submission.id, None)) == (
        ErrorCode.NOT_FOUND
    )
    assert (
        await refusal(services.submissions.release(stranger, submission.id)) == ErrorCode.NOT_FOUND
    )


async def test_bonus(services: Services) -> None:
    employer, task = await employer_and_task(services)
    worker, submission = await submitted(services, task)
    before = await services.payouts.balance(employer.id)
    await services.bonuses.send_bonus(employer, submission.id, Decimal("0.50"), "Fast!", "b1")
    await services.bonuses.send_bonus(employer, submission.id, Decimal("0.50"), "Fast!", "b1")
    assert await services.payouts.balance(worker.id) == 50
    assert await services.payouts.balance(employer.id) == before - 50
    assert (await services.payouts.summary(worker.id)).lifetime_earned == 50
    assert (
        await refusal(
            services.bonuses.send_bonus(employer, submission.id, Decimal("1000.00"), "x", None)
        )
        == ErrorCode.INSUFFICIENT_FUNDS
    )
    assert (
        await refusal(
            services.bonuses.send_bonus(employer, submission.id, Decimal("0.50"), " ", None)
        )
        == ErrorCode.TOO_SHORT
    )
    other = await new_user(services)
    claim = await services.submissions.claim(other, task.id)
    assert (
        await refusal(
            services.bonuses.send_bonus(employer, claim.id, Decimal("0.50"), "early", None)
        )
        == ErrorCode.INVALID_STATUS
    )
    await finish(services, task.id)


async def test_concurrent_claims_on_the_last_slot_have_one_winner(services: Services) -> None:
    _, task = await employer_and_task(services, slots=1)
    workers = [await new_user(services) for _ in range(12)]
    outcomes = await asyncio.gather(
        *(refusal(services.submissions.claim(w, task.id)) for w in workers)
    )
    assert outcomes.count(None) == 1
    assert set(outcomes) == {None, ErrorCode.NO_SLOTS_LEFT}
    assert await Submission.all().count() == 1
    assert (await Task.get(id=task.id)).slots_used == 1


async def test_same_worker_claiming_twice_at_once_holds_one_slot(services: Services) -> None:
    _, task = await employer_and_task(services, slots=5)
    worker = await new_user(services)
    outcomes = await asyncio.gather(
        *(refusal(services.submissions.claim(worker, task.id)) for _ in range(5))
    )
    assert outcomes.count(None) == 1
    assert (await Task.get(id=task.id)).slots_used == 1


async def test_approve_racing_auto_approve_pays_once(
    services: Services, clock: ManualClock
) -> None:
    employer, task = await employer_and_task(services, slots=3, review_window_seconds=60)
    pairs = [await submitted(services, task) for _ in range(3)]
    clock.advance(60)
    manual, swept = await asyncio.gather(
        asyncio.gather(
            *(refusal(services.submissions.approve(employer, s.id, None)) for _, s in pairs)
        ),
        asyncio.gather(services.sweeper.sweep(), services.sweeper.sweep()),
    )
    for worker, _ in pairs:
        assert await services.payouts.balance(worker.id) == 100
    assert manual.count(None) + sum(s.auto_approved for s in swept) == 3
    await finish(services, task.id)


async def test_concurrent_cancel_and_claims_keep_escrow_exact(services: Services) -> None:
    employer, task = await employer_and_task(services, slots=6)
    workers = [await new_user(services) for _ in range(6)]
    await asyncio.gather(
        *(refusal(services.submissions.claim(w, task.id)) for w in workers),
        refusal(services.tasks.cancel(employer, task.id)),
    )
    closed = await Task.get(id=task.id)
    assert closed.status == TaskStatus.CANCELLED
    assert closed.slots == closed.slots_used == await Submission.all().count()
    await finish(services, task.id)
