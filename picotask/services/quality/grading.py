"""Quality without manual review: gold items graded at submit time, each worker's accuracy on
them per employer, and a task's review policy deciding as proof comes in.

At submit, inside its transaction: a gold item is graded (first submission only) and the
worker's record with the employer counted; a submission faster than the task's minimum is
flagged. Then the policy, in this order: a too-fast submission is rejected (if asked); once the
worker has answered `min_gold_answered` gold items, an accuracy below `block_below` blocks them
from the employer's future work, below `auto_reject_below` rejects, at or above
`auto_approve_at` approves; with an overlap of K, once K answers of an item are in, every
pending answer that agrees with a strict majority of them is approved. A minority answer, or
every answer when none has a majority, is left for the employer's review (and the review
window) as today: disagreeing is not proof of being wrong.

What the worker is told (feedback, rejection comment) never states their accuracy: watching it
change from one submission to the next would tell which items were gold.

Every decision is `Settlement.approve` / `Settlement.reject`, the conditional transitions of a
manual review, with `decided_by` naming the policy; its events and notifications are theirs.

Just over ~300 lines: grading and the policy it feeds run in one transaction in this order;
the specs an employer may set are apart (`specs.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from picotask.models.batches import TaskItem
from picotask.models.quality import GoldAccuracy, GoldItem, ReviewPolicy
from picotask.models.submissions import DecidedBy, RejectionReason, Submission, SubmissionStatus
from picotask.models.tasks import ProofKind, Task
from picotask.models.users import User
from picotask.services.accounts.moderation import add_block
from picotask.services.core.clock import Clock
from picotask.services.core.events import EventLog
from picotask.services.core.standing import ensure_active
from picotask.services.quality.specs import (
    GoldItemSpec,
    PolicySpec,
    check_gold,
    check_policy,
    grade,
    normalized,
)
from picotask.services.work.settlement import Settlement
from picotask.services.work.tasks import TaskService

VOTING = (SubmissionStatus.SUBMITTED, SubmissionStatus.APPROVED)


def accuracy(record: GoldAccuracy | None) -> float | None:
    return record.correct / record.answered if record and record.answered else None


async def records_of(keys: Sequence[tuple[int, int]]) -> dict[tuple[int, int], GoldAccuracy]:
    """(employer id, worker id) -> the worker's record with that employer: one query."""
    rows = await GoldAccuracy.filter(
        employer_id__in={e for e, _ in keys}, worker_id__in={w for _, w in keys}
    )
    return {(r.employer_id, r.worker_id): r for r in rows}


def answer_key(task: Task, answers: Sequence[Mapping[str, Any]]) -> str:
    """What two overlapping answers must share to agree: a digest of every non-image answer,
    normalized."""
    given = {str(a["label"]): str(a.get("value", "")) for a in answers}
    values = [
        normalized(given.get(str(f["label"]), ""))
        for f in task.proof_fields
        if f["kind"] != ProofKind.IMAGE.value
    ]
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()


def _of_item(item_id: int | None) -> dict[str, Any]:
    return {"item_id": item_id} if item_id is not None else {"item_id__isnull": True}


AnswerOf = tuple[int, int | None, str]  # task id, item id, answer key


async def agreement_of(keys: Sequence[AnswerOf]) -> dict[AnswerOf, float]:
    """(task id, item id, answer key) -> the share of the item's pending and approved answers
    that have that key: one GROUP BY for all of them."""
    rows = (
        await Submission.filter(task_id__in={k[0] for k in keys}, status__in=VOTING)
        .annotate(n=Count("id"))
        .group_by("task_id", "item_id", "answer_key")
        .values("task_id", "item_id", "answer_key", "n")
    )
    totals: Counter[tuple[int, int | None]] = Counter()
    same: dict[AnswerOf, int] = {}
    for row in rows:
        totals[row["task_id"], row["item_id"]] += int(row["n"])
        same[row["task_id"], row["item_id"], row["answer_key"]] = int(row["n"])
    return {k: same.get(k, 0) / totals[k[0], k[1]] for k in keys if totals[k[0], k[1]]}


async def agreement_of_task(
    task: Task, submissions: Sequence[Submission | None]
) -> dict[int, float]:
    """Submission id -> its agreement, for submissions of one task whose policy has an overlap
    (`Submission.agreement` in the API is the same rule, batched across tasks)."""
    keyed = [s for s in submissions if s is not None and s.answer_key is not None]
    if not keyed or not await ReviewPolicy.filter(task_id=task.id, overlap__isnull=False).exists():
        return {}
    found = await agreement_of([(task.id, s.item_id, str(s.answer_key)) for s in keyed])
    return {
        s.id: found[task.id, s.item_id, str(s.answer_key)]
        for s in keyed
        if (task.id, s.item_id, str(s.answer_key)) in found
    }


class QualityService:
    def __init__(
        self, clock: Clock, events: EventLog, tasks: TaskService, settlement: Settlement
    ) -> None:
        self.clock = clock
        self.events = events
        self.tasks = tasks
        self.settlement = settlement

    # The employer's settings.

    async def set_gold(
        self, employer: User, task_id: int | None, specs: Sequence[GoldItemSpec]
    ) -> Task:
        """Set (or with no answers, clear) the expected answers of some items of the
        employer's task; answers already submitted are not graded again."""
        ensure_active(employer)
        task = await self.tasks.own_task(employer, task_id)
        items: dict[int, int] = {}
        if task.batch_columns is not None:
            positions = [s.position for s in specs if s.position is not None]
            rows = await TaskItem.filter(task_id=task.id, position__in=positions).values(
                "id", "position"
            )
            items = {int(r["position"]): int(r["id"]) for r in rows}
        count = await TaskItem.filter(task_id=task.id).count() if task.batch_columns else 0
        checked = check_gold(task, specs, count)
        now = self.clock.now()
        async with in_transaction():
            await GoldItem.filter(
                task_id=task.id, item_id__in=[items.get(c["position"], 0) for c in checked]
            ).delete()
            await GoldItem.bulk_create(
                [
                    GoldItem(
                        task_id=task.id,
                        item_id=items.get(c["position"], 0),
                        position=c["position"],
                        expected=c["expected"],
                        updated_at=now,
                    )
                    for c in checked
                    if c["expected"]
                ]
            )
        return task

    async def set_policy(self, employer: User, task_id: int | None, spec: PolicySpec) -> Task:
        """Replace the task's review policy (every part optional)."""
        ensure_active(employer)
        task = await self.tasks.own_task(employer, task_id)
        check_policy(task, spec, 1 if task.batch_columns is not None else task.slots)
        values: dict[str, Any] = {
            "auto_approve_at": spec.auto_approve_at,
            "auto_reject_below": spec.auto_reject_below,
            "block_below": spec.block_below,
            "min_gold_answered": spec.min_gold_answered,
            "overlap": spec.overlap,
            "min_seconds": spec.min_seconds,
            "reject_too_fast": spec.reject_too_fast,
            "updated_at": self.clock.now(),
        }
        async with in_transaction():
            if not await ReviewPolicy.filter(task_id=task.id).update(**values):
                await ReviewPolicy.create(task_id=task.id, **values)
        return task

    async def record(self, employer: User, worker_id: int | None) -> GoldAccuracy | None:
        """The worker's accuracy on the viewer's own gold items."""
        if not worker_id:
            return None
        return await GoldAccuracy.get_or_none(employer_id=employer.id, worker_id=worker_id)

    # At submit time, inside the submit's transaction.

    async def grade(self, submission: Submission, task: Task) -> ReviewPolicy | None:
        """Grade a gold item and flag a too-fast submission (on `submission` too); the task's
        policy, if any."""
        policy = await ReviewPolicy.get_or_none(task_id=task.id)
        flags: dict[str, Any] = {"answer_key": answer_key(task, submission.answers)}
        if submission.gold_correct is None:  # a resubmission is not graded again
            gold = await GoldItem.get_or_none(task_id=task.id, item_id=submission.item_id or 0)
            if gold is not None:
                flags["gold_correct"] = grade(gold.expected, submission.answers)
                await self._count(task.employer_id, submission.worker_id, flags["gold_correct"])
        if policy is not None and policy.min_seconds and submission.submitted_at:
            taken = (submission.submitted_at - submission.claimed_at).total_seconds()
            flags["too_fast"] = taken < policy.min_seconds
        await Submission.filter(id=submission.id).update(**flags)
        for name, value in flags.items():
            setattr(submission, name, value)
        return policy

    async def decide(self, submission: Submission, task: Task, policy: ReviewPolicy) -> None:
        decided = False
        if submission.too_fast and policy.reject_too_fast:
            rejected = await self.settlement.reject(
                submission,
                task,
                RejectionReason.INSTRUCTIONS_NOT_FOLLOWED,
                f"Submitted faster than this task can be done (at least {policy.min_seconds} s).",
                DecidedBy.FAST_RESPONSE,
            )
            decided = rejected is not None
        thresholds = (policy.auto_approve_at, policy.auto_reject_below, policy.block_below)
        if any(t is not None for t in thresholds):
            record = await GoldAccuracy.get_or_none(
                employer_id=task.employer_id, worker_id=submission.worker_id
            )
            rate = accuracy(record)
            if rate is not None and record and record.answered >= policy.min_gold_answered:
                decided = await self._by_accuracy(submission, task, policy, rate, decided)
        if policy.overlap:
            await self._majority(task, submission.item_id, policy.overlap)

    async def _by_accuracy(
        self, submission: Submission, task: Task, policy: ReviewPolicy, rate: float, decided: bool
    ) -> bool:
        if policy.block_below is not None and rate < policy.block_below:
            await self._block(submission, task)
        if decided:
            return True
        if policy.auto_reject_below is not None and rate < policy.auto_reject_below:
            rejected = await self.settlement.reject(
                submission,
                task,
                RejectionReason.WRONG_PROOF,
                "Rejected automatically: your accuracy on this employer's checked answers is "
                "below what this task requires.",
                DecidedBy.GOLD_ACCURACY,
            )
            return rejected is not None
        if policy.auto_approve_at is not None and rate >= policy.auto_approve_at:
            approved = await self.settlement.approve(
                submission,
                task,
                "Approved automatically: your accuracy on checked answers is high enough.",
                DecidedBy.GOLD_ACCURACY,
            )
            return approved is not None
        return False

    async def _block(self, submission: Submission, task: Task) -> None:
        """Block the worker from the employer's work, and tell the employer (once)."""
        by = DecidedBy.GOLD_ACCURACY
        now = self.clock.now()
        if await add_block(task.employer_id, submission.worker_id, now, by, task.id):
            self.events.worker_blocked(task.employer_id, submission.worker_id, submission, by)

    async def _majority(self, task: Task, item_id: int | None, overlap: int) -> None:
        """With K answers of the item in, approve the pending ones of a strict majority."""
        # The task's row lock (PostgreSQL): racing submits decide one after the other, each
        # seeing the answers the other committed, so the K-th answer is never missed.
        await Task.filter(id=task.id).update(slots_used=F("slots_used"))
        votes = Submission.filter(task_id=task.id, status__in=VOTING, **_of_item(item_id))
        tally = {
            str(row["answer_key"]): int(row["n"])
            for row in await votes.annotate(n=Count("id"))
            .group_by("answer_key")
            .values("answer_key", "n")
        }
        total = sum(tally.values())
        if total < overlap:
            return
        top, top_count = max(tally.items(), key=lambda kv: kv[1])
        if top_count * 2 <= total:
            return
        pending = Submission.filter(
            task_id=task.id, status=SubmissionStatus.SUBMITTED, answer_key=top, **_of_item(item_id)
        )
        for vote in await pending:
            await self.settlement.approve(
                vote,
                task,
                f"Approved automatically: agrees with {top_count} of {total} answers.",
                DecidedBy.MAJORITY,
            )

    async def _count(self, employer_id: int, worker_id: int, correct: bool) -> None:
        now = self.clock.now()
        bump = {
            "answered": F("answered") + 1,
            "correct": F("correct") + (1 if correct else 0),
            "updated_at": now,
        }
        record = GoldAccuracy.filter(employer_id=employer_id, worker_id=worker_id)
        if await record.update(**bump):
            return
        try:
            async with in_transaction():  # a savepoint: a racing first answer may create it
                await GoldAccuracy.create(
                    employer_id=employer_id,
                    worker_id=worker_id,
                    answered=1,
                    correct=1 if correct else 0,
                    updated_at=now,
                )
        except IntegrityError:
            await record.update(**bump)
