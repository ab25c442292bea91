"""The payout processor: hands requested payouts to the provider and settles them once.

A payout is claimed with a conditional update (REQUESTED → PROCESSING, or a PROCESSING one
whose lease ran out after a crash), which gives one winner among processors. The provider is
called with the payout id as its idempotency key, so a retried call never pays twice; the
settlement is a conditional update PROCESSING → PAID | FAILED, so it is posted once.

A provider call that raises (or times out) proves nothing: the payout may or may not have been
sent. It is retried with the same key after an exponential backoff (kept in `lease_until`), so a
payment whose answer was lost comes back as the provider's first result, not as a second
payment. After `max_attempts` such calls the payout fails, the money returns to the user's
balance, and it is flagged for moderators (`payout_incidents`) to reconcile with the provider
under its key: a provider that paid yet raised on every call is the one case this can pay twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from picotask.models.payouts import Deposit, DepositStatus, Payout, PayoutStatus
from picotask.services.core.amounts import format_cents
from picotask.services.core.clock import Clock
from picotask.services.core.events import EventLog
from picotask.services.core.rounds import run_rounds
from picotask.services.money.ledger import Ledger
from picotask.services.payments.providers import PayoutProvider, ProviderResult

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
BATCH = 50
MAX_ERROR = 500  # Payout.last_error


def payout_incidents() -> QuerySet[Payout]:
    """The moderators' queue: payouts failed because every provider call raised."""
    return Payout.filter(attempts_exhausted=True)


class PayoutProcessor:
    def __init__(
        self,
        clock: Clock,
        ledger: Ledger,
        provider: PayoutProvider,
        settle_deposit: Callable[[int], Awaitable[None]],
        events: EventLog,
        poll_seconds: float = 1.0,
        max_attempts: int = 5,
        retry_base_seconds: float = 60.0,
        call_timeout_seconds: float = 30.0,
    ) -> None:
        self.events = events
        self.clock = clock
        self.ledger = ledger
        self.provider = provider
        self.settle_deposit = settle_deposit
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.retry_base_seconds = retry_base_seconds
        self.call_timeout_seconds = call_timeout_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A payout was requested: process it now rather than at the next poll."""
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        # A payout whose round failed is retried after its lease.
        await run_rounds(
            self.process_due,
            interval=self.poll_seconds,
            log=log,
            failed="payout processing failed",
            wake=self._wake,
            stop=stop,
        )

    async def process_due(self) -> int:
        """Process every payout that is due now; returns how many were settled."""
        now = self.clock.now()
        due = (
            await Payout.filter(
                Q(status=PayoutStatus.REQUESTED)
                | Q(status=PayoutStatus.PROCESSING, lease_until__lt=now)
            )
            .order_by("id")
            .limit(BATCH)
        )
        settled = 0
        for payout in due:
            if await self._claim(payout):
                settled += await self._pay(payout)
        await self._recover_deposits()
        return settled

    async def _claim(self, payout: Payout) -> bool:
        now = self.clock.now()
        claimed = await Payout.filter(
            id=payout.id, status=payout.status, attempts=payout.attempts
        ).update(
            status=PayoutStatus.PROCESSING, lease_until=now + LEASE, attempts=payout.attempts + 1
        )
        payout.attempts += 1
        return claimed == 1

    def backoff(self, attempt: int) -> timedelta:
        """How long to wait after the `attempt`-th call raised: base, 2 * base, 4 * base..."""
        return timedelta(seconds=self.retry_base_seconds * 2 ** (attempt - 1))

    async def _pay(self, payout: Payout) -> int:
        try:
            async with asyncio.timeout(self.call_timeout_seconds):
                result = await self.provider.send(
                    f"payout-{payout.id}", payout.amount, payout.method, payout.destination
                )
        except Exception as exc:  # the provider's failure, whatever its type: retry or give up
            return await self._call_raised(payout, exc)
        return await self._settle(payout, result)

    async def _call_raised(self, payout: Payout, exc: Exception) -> int:
        error = (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:MAX_ERROR]
        give_up = payout.attempts >= self.max_attempts
        log.log(
            logging.ERROR if give_up else logging.WARNING,
            "payout %s: provider call %s of %s raised %s%s",
            payout.id,
            payout.attempts,
            self.max_attempts,
            error,
            "; giving up, it needs reconciling" if give_up else "",
        )
        if give_up:
            reason = f"The payout provider did not answer after {payout.attempts} attempts."
            return await self._settle(payout, ProviderResult(False, failure_reason=reason), error)
        # Still ours (same attempt count): hold it until the backoff has passed.
        await Payout.filter(
            id=payout.id, status=PayoutStatus.PROCESSING, attempts=payout.attempts
        ).update(
            lease_until=self.clock.now() + self.backoff(payout.attempts),
            last_error=error,
        )
        return 0

    async def _settle(
        self, payout: Payout, result: ProviderResult, exhausted_error: str | None = None
    ) -> int:
        """Post the provider's answer once; `exhausted_error` when giving up after the last
        attempt raised (then only while no other processor has taken the payout over)."""
        now = self.clock.now()
        amount = f"{format_cents(payout.amount)} to {payout.method.value.title()}"
        async with self.events.transaction():
            processing = Payout.filter(id=payout.id, status=PayoutStatus.PROCESSING)
            if result.ok:
                if not await processing.update(
                    status=PayoutStatus.PAID,
                    provider_reference=result.reference,
                    completed_at=now,
                    lease_until=None,
                ):
                    return 0
                await self.ledger.settle_payout(payout.id, payout.amount, f"payout {payout.id}")
                self.events.notify(
                    payout.user_id,
                    "payout.paid",
                    f"Your payout of {amount} was paid.",
                    payout_id=payout.id,
                )
            else:
                exhausted: dict[str, object] = {}
                if exhausted_error is not None:
                    processing = processing.filter(attempts=payout.attempts)
                    exhausted = {"attempts_exhausted": True, "last_error": exhausted_error}
                if not await processing.update(
                    status=PayoutStatus.FAILED,
                    failure_reason=result.failure_reason,
                    completed_at=now,
                    lease_until=None,
                    **exhausted,
                ):
                    return 0
                await self.ledger.fail_payout(
                    payout.user_id, payout.id, payout.amount, f"payout {payout.id} failed"
                )
                self.events.notify(
                    payout.user_id,
                    "payout.failed",
                    f"Your payout of {amount} failed and was returned to your balance: "
                    f"{result.failure_reason}",
                    payout_id=payout.id,
                )
        return 1

    async def _recover_deposits(self) -> None:
        """Deposits left PENDING by a crash between the provider call and the posting."""
        stale = await Deposit.filter(
            status=DepositStatus.PENDING, created_at__lt=self.clock.now() - LEASE
        ).only("id")
        for deposit in stale:
            await self.settle_deposit(deposit.id)
