"""Deposits and payouts: the processor, failures, idempotency, races and crashes."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from picotask.models.ledger import LedgerEntry
from picotask.models.payouts import Deposit, DepositStatus, Payout, PayoutMethod, PayoutStatus
from picotask.services.core.clock import ManualClock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.payments.payout_processor import LEASE, PayoutProcessor
from picotask.services.payments.providers import ProviderResult, SandboxPayoutProvider
from picotask.services.registry import Services
from tests.support import assert_ledger_balanced, funded_user, refusal

PAYPAL = PayoutMethod.PAYPAL


async def test_payout_is_held_then_paid(services: Services) -> None:
    user = await funded_user(services, 2_000)
    payout = await services.payouts.request_payout(
        user, Decimal("12.50"), PAYPAL, "Me@Pay.pal", None
    )
    assert payout.status == PayoutStatus.REQUESTED
    assert payout.destination == "me@pay.pal"
    summary = await services.payouts.summary(user.id)
    assert (summary.available, summary.held_in_payouts) == (750, 1_250)

    assert await services.payout_processor.process_due() == 1
    paid = await Payout.get(id=payout.id)
    assert paid.status == PayoutStatus.PAID
    assert paid.completed_at == services.clock.now()
    summary = await services.payouts.summary(user.id)
    assert (summary.available, summary.held_in_payouts, summary.lifetime_withdrawn) == (
        750,
        0,
        1_250,
    )
    provider = services.providers.payouts
    assert isinstance(provider, SandboxPayoutProvider)
    assert list(provider.payments) == [f"payout-{payout.id}"]
    assert await services.payout_processor.process_due() == 0  # nothing is paid twice
    await assert_ledger_balanced()


async def test_failed_payout_returns_the_money(services: Services) -> None:
    user = await funded_user(services, 2_000)
    provider = services.providers.payouts
    assert isinstance(provider, SandboxPayoutProvider)
    provider.fail = True
    payout = await services.payouts.request_payout(user, Decimal("20.00"), PAYPAL, "a@b.co", None)
    assert await services.payouts.balance(user.id) == 0
    await services.payout_processor.process_due()
    await payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert payout.failure_reason
    assert await services.payouts.balance(user.id) == 2_000
    await assert_ledger_balanced()


@pytest.mark.parametrize(
    ("amount", "method", "destination", "field", "code"),
    [
        ("0", PAYPAL, "a@b.co", "amount", "INVALID_AMOUNT"),
        ("-5.00", PAYPAL, "a@b.co", "amount", "INVALID_AMOUNT"),
        ("5.001", PAYPAL, "a@b.co", "amount", "INVALID_AMOUNT"),
        ("NaN", PAYPAL, "a@b.co", "amount", "INVALID_AMOUNT"),
        ("1e400", PAYPAL, "a@b.co", "amount", "OUT_OF_RANGE"),
        ("4.99", PAYPAL, "a@b.co", "amount", "BELOW_MINIMUM"),
        ("10000.01", PAYPAL, "a@b.co", "amount", "OUT_OF_RANGE"),
        ("30.01", PAYPAL, "a@b.co", "amount", "INSUFFICIENT_FUNDS"),
        ("10.00", PAYPAL, "not-an-email", "destination", "INVALID"),
        ("10.00", PayoutMethod.PAYONEER, "", "destination", "INVALID"),
        ("10.00", PayoutMethod.CRYPTO, "a@b.co", "destination", "INVALID"),
        ("10.00", PayoutMethod.CRYPTO, "0x123", "destination", "INVALID"),
    ],
)
async def test_bad_payout_requests_write_nothing(
    services: Services, amount: str, method: PayoutMethod, destination: str, field: str, code: str
) -> None:
    user = await funded_user(services, 3_000)
    entries = await LedgerEntry.all().count()
    with pytest.raises(DomainError) as refused:
        await services.payouts.request_payout(user, Decimal(amount), method, destination, None)
    problem = refused.value.problems[0]
    assert (problem.code.value, problem.field) == (code, ["input", field])
    assert await Payout.all().count() == 0
    assert await LedgerEntry.all().count() == entries
    assert await services.payouts.balance(user.id) == 3_000


async def test_crypto_addresses(services: Services) -> None:
    user = await funded_user(services, 3_000)
    for address in (
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    ):
        payout = await services.payouts.request_payout(
            user, Decimal("5.00"), PayoutMethod.CRYPTO, address, None
        )
        assert payout.destination == address


async def test_same_idempotency_key_returns_the_first_payout(services: Services) -> None:
    user = await funded_user(services, 3_000)
    first = await services.payouts.request_payout(user, Decimal("10.00"), PAYPAL, "a@b.co", "k1")
    again = await services.payouts.request_payout(user, Decimal("10.00"), PAYPAL, "A@b.co", "k1")
    assert again.id == first.id
    assert await services.payouts.balance(user.id) == 2_000
    with pytest.raises(DomainError) as reused:
        await services.payouts.request_payout(user, Decimal("11.00"), PAYPAL, "a@b.co", "k1")
    assert reused.value.problems[0].code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    assert reused.value.problems[0].field == ["input", "idempotencyKey"]
    # Keys are per user: another user may use the same key.
    other = await funded_user(services, 1_000)
    theirs = await services.payouts.request_payout(other, Decimal("10.00"), PAYPAL, "a@b.co", "k1")
    assert theirs.id != first.id
    await assert_ledger_balanced()


async def test_deposit_idempotency_and_key_reuse_across_operations(services: Services) -> None:
    user = await funded_user(services, 0)
    first = await services.payouts.deposit(user, Decimal("7.00"), "dep-1")
    again = await services.payouts.deposit(user, Decimal("7.00"), "dep-1")
    assert first.id == again.id
    assert await services.payouts.balance(user.id) == 700
    with pytest.raises(DomainError) as reused:
        await services.payouts.request_payout(user, Decimal("5.00"), PAYPAL, "a@b.co", "dep-1")
    assert reused.value.problems[0].code == ErrorCode.IDEMPOTENCY_KEY_REUSED
    await assert_ledger_balanced()


async def test_concurrent_payouts_never_exceed_the_balance(services: Services) -> None:
    user = await funded_user(services, 10_000)  # 100.00; 30 requests of 7.00 ask for 210.00

    outcomes = await asyncio.gather(
        *(
            refusal(services.payouts.request_payout(user, Decimal("7.00"), PAYPAL, "a@b.co", None))
            for _ in range(30)
        )
    )
    assert set(outcomes) == {None, ErrorCode.INSUFFICIENT_FUNDS}
    granted = outcomes.count(None)
    assert granted == 14  # floor(100 / 7)
    assert await services.payouts.balance(user.id) == 10_000 - 14 * 700
    assert await Payout.all().count() == 14
    await services.payout_processor.process_due()
    assert await Payout.filter(status=PayoutStatus.PAID).count() == 14
    await assert_ledger_balanced()


async def test_same_key_sent_concurrently_creates_one_payout(services: Services) -> None:
    user = await funded_user(services, 10_000)
    results = await asyncio.gather(
        *(
            services.payouts.request_payout(user, Decimal("9.00"), PAYPAL, "a@b.co", "same")
            for _ in range(10)
        )
    )
    assert len({p.id for p in results}) == 1
    assert await Payout.all().count() == 1
    assert await services.payouts.balance(user.id) == 10_000 - 900
    await assert_ledger_balanced()


class CrashingProvider(SandboxPayoutProvider):
    """Pays, then the process dies before the answer is stored (the worst moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.crash = True

    async def send(
        self, idempotency_key: str, cents: int, method: PayoutMethod, destination: str
    ) -> ProviderResult:
        result = await super().send(idempotency_key, cents, method, destination)
        if self.crash:
            raise asyncio.CancelledError  # the processor task is killed here
        return result


async def test_crash_between_provider_and_settlement_pays_once(
    services: Services, clock: ManualClock
) -> None:
    users = [await funded_user(services, 5_000) for _ in range(3)]
    for user in users:
        await services.payouts.request_payout(user, Decimal("20.00"), PAYPAL, "a@b.co", None)
    provider = CrashingProvider()
    crashed = PayoutProcessor(
        clock, services.ledger, provider, services.payouts.settle_deposit, services.events
    )
    with pytest.raises(asyncio.CancelledError):
        await crashed.process_due()
    assert await Payout.filter(status=PayoutStatus.PROCESSING).count() == 1

    # A restarted processor leaves the claimed payout alone until its lease runs out...
    provider.crash = False
    restarted = PayoutProcessor(
        clock, services.ledger, provider, services.payouts.settle_deposit, services.events
    )
    assert await restarted.process_due() == 2
    assert await Payout.filter(status=PayoutStatus.PROCESSING).count() == 1
    # ...then finishes it with the same idempotency key: the provider pays nobody twice.
    clock.advance(LEASE.total_seconds() + 1)
    assert await restarted.process_due() == 1
    assert await Payout.filter(status=PayoutStatus.PAID).count() == 3
    assert len(provider.payments) == 3
    assert provider.calls == 4
    for user in users:
        assert await services.payouts.balance(user.id) == 3_000
    await assert_ledger_balanced()


async def test_crash_before_provider_call_is_retried_after_the_lease(
    services: Services, clock: ManualClock
) -> None:
    user = await funded_user(services, 5_000)
    payout = await services.payouts.request_payout(user, Decimal("20.00"), PAYPAL, "a@b.co", None)
    # Claimed, then the process died before calling the provider.
    await Payout.filter(id=payout.id).update(
        status=PayoutStatus.PROCESSING, lease_until=clock.now() + LEASE, attempts=1
    )
    assert await services.payout_processor.process_due() == 0
    clock.advance(LEASE.total_seconds() + 1)
    assert await services.payout_processor.process_due() == 1
    await payout.refresh_from_db()
    assert (payout.status, payout.attempts) == (PayoutStatus.PAID, 2)
    await assert_ledger_balanced()


async def test_two_processors_racing_settle_each_payout_once(services: Services) -> None:
    users = [await funded_user(services, 5_000) for _ in range(5)]
    for user in users:
        await services.payouts.request_payout(user, Decimal("10.00"), PAYPAL, "a@b.co", None)
    other = PayoutProcessor(
        services.clock,
        services.ledger,
        services.providers.payouts,
        services.payouts.settle_deposit,
        services.events,
    )
    settled = await asyncio.gather(services.payout_processor.process_due(), other.process_due())
    assert sum(settled) == 5
    assert await Payout.filter(status=PayoutStatus.PAID).count() == 5
    await assert_ledger_balanced()


async def test_deposit_left_pending_by_a_crash_is_recovered(
    services: Services, clock: ManualClock
) -> None:
    user = await funded_user(services, 0)
    deposit = await Deposit.create(user_id=user.id, amount=1_500, created_at=clock.now())
    await services.payout_processor.process_due()
    await deposit.refresh_from_db()
    assert deposit.status == DepositStatus.PENDING  # not yet: it may still be in flight
    clock.advance(LEASE.total_seconds() + 1)
    await services.payout_processor.process_due()
    assert (await Deposit.get(id=deposit.id)).status == DepositStatus.SUCCEEDED
    assert await services.payouts.balance(user.id) == 1_500
    await assert_ledger_balanced()


async def test_a_retry_racing_its_original_gets_the_same_payout(services: Services) -> None:
    user = await funded_user(services, 900)  # exactly one 9.00 payout
    outcomes = await asyncio.gather(
        *(
            services.payouts.request_payout(user, Decimal("9.00"), PAYPAL, "a@b.co", "k1")
            for _ in range(3)
        )
    )
    assert len({p.id for p in outcomes}) == 1
    assert await services.payouts.balance(user.id) == 0
    await assert_ledger_balanced()
