"""Bonuses: an employer pays a worker extra, from their balance, for work they have seen."""

from __future__ import annotations

from decimal import Decimal

from tortoise.expressions import F

from picotask.models.submissions import Submission, SubmissionStatus
from picotask.models.users import User
from picotask.services.core import idempotency
from picotask.services.core.amounts import format_cents, parse_amount
from picotask.services.core.clock import Clock
from picotask.services.core.errors import checked_text
from picotask.services.core.events import EventLog
from picotask.services.core.standing import ensure_active
from picotask.services.money.ledger import Ledger
from picotask.services.work.transitions import for_review, wrong_status
from picotask.settings import Settings

MAX_BONUS_REASON = 500
# Work the employer has seen, for which a bonus makes sense.
BONUSABLE = (
    SubmissionStatus.SUBMITTED,
    SubmissionStatus.REVISION_REQUESTED,
    SubmissionStatus.APPROVED,
    SubmissionStatus.REJECTED,
    SubmissionStatus.DISPUTED,
)


class BonusService:
    def __init__(self, settings: Settings, clock: Clock, ledger: Ledger, events: EventLog) -> None:
        self.settings = settings
        self.clock = clock
        self.ledger = ledger
        self.events = events

    async def send_bonus(
        self,
        employer: User,
        submission_id: int | None,
        amount: Decimal,
        reason: str,
        key: str | None,
    ) -> tuple[Submission, int]:
        """Idempotent with `key`. Returns the submission and the bonus in cents."""
        ensure_active(employer)
        submission, _ = await for_review(employer.id, submission_id)
        cents = parse_amount(
            amount,
            ["input", "amount"],
            minimum_cents=1,
            maximum_cents=self.settings.max_reward_cents,
        )
        note = checked_text("reason", reason, required=True, limit=MAX_BONUS_REASON)
        if submission.status not in BONUSABLE:
            raise wrong_status(submission, "given a bonus")

        async def pay() -> int:
            transaction = await self.ledger.bonus(
                employer.id,
                submission.worker_id,
                cents,
                f"bonus on submission {submission.id}: {note}",
                task_id=submission.task_id,
                submission_id=submission.id,
            )
            await User.filter(id=submission.worker_id).update(earned=F("earned") + cents)
            await User.filter(id=employer.id).update(paid_out=F("paid_out") + cents)
            self.events.notify(
                submission.worker_id,
                "bonus.received",
                f"{employer.display_name} sent you a bonus of {format_cents(cents)}: {note}",
                task_id=submission.task_id,
                submission_id=submission.id,
            )
            return int(transaction.id)

        await idempotency.once(
            self.clock,
            user_id=employer.id,
            key=key,
            operation="sendBonus",
            request={"submission": submission.id, "amount": cents, "reason": note},
            create=pay,
            transaction=self.events.transaction,
        )
        return submission, cents
