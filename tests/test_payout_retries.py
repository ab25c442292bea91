"""A payout provider that raises: retried with backoff under the same key, then failed and
refunded after the last attempt, and shown to moderators. Never paid twice."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from picotask.models.events import Event
from picotask.models.ledger import LedgerTransaction, TransactionKind
from picotask.models.payouts import Payout, PayoutMethod, PayoutStatus
from picotask.models.users import User as UserModel
from picotask.services.core.clock import ManualClock
from picotask.services.payments.payout_processor import PayoutProcessor, payout_incidents
from picotask.services.payments.providers import ProviderResult, SandboxPayoutProvider
from picotask.services.registry import Services
from picotask.settings import Settings, SettingsError
from tests.support import Api, assert_ledger_balanced, funded_user

PAYPAL = PayoutMethod.PAYPAL


class UnreachableProvider(SandboxPayoutProvider):
    """Every call raises before anything is sent; `raising_for` limits it to some keys."""

    def __init__(self, raising_for: set[str] | None = None) -> None:
        super().__init__()
        self.raising_for = raising_for
        self.keys: list[str] = []

    async def send(
        self, idempotency_key: str, cents: int, method: PayoutMethod, destination: str
    ) -> ProviderResult:
        self.keys.append(idempotency_key)
        if self.raising_for is None or idempotency_key in self.raising_for:
            self.calls += 1
            raise ConnectionError("provider unreachable")
        return await super().send(idempotency_key, cents, method, destination)


class LostAnswerProvider(SandboxPayoutProvider):
    """Pays, then the answer is lost (the call raises) `losses` times in a row."""

    def __init__(self, losses: int) -> None:
        super().__init__()
        self.losses = losses

    async def send(
        self, idempotency_key: str, cents: int, method: PayoutMethod, destination: str
    ) -> ProviderResult:
        result = await super().send(idempotency_key, cents, method, destination)
        if self.losses:
            self.losses -= 1
            raise TimeoutError
        return result


async def _kinds(kind: TransactionKind) -> int:
    return await LedgerTransaction.filter(kind=kind).count()


async def test_a_raising_provider_is_retried_with_backoff_then_failed_and_refunded(
    services: Services, clock: ManualClock
) -> None:
    user = await funded_user(services, 5_000)
    payout = await services.payouts.request_payout(user, Decimal("20.00"), PAYPAL, "a@b.co", None)
    provider = UnreachableProvider()
    services.payout_processor.provider = provider

    # Attempts 1..4 raise: each is kept, money still held, and waits base * 2^(n-1) seconds.
    for attempt, wait in enumerate([60, 120, 240, 480], start=1):
        assert await services.payout_processor.process_due() == 0
        await payout.refresh_from_db()
        assert (payout.status, payout.attempts) == (PayoutStatus.PROCESSING, attempt)
        assert payout.lease_until == clock.now() + services.payout_processor.backoff(attempt)
        assert payout.last_error == "ConnectionError: provider unreachable"
        assert await services.payouts.balance(user.id) == 3_000
        clock.advance(wait)
        assert await services.payout_processor.process_due() == 0  # not before the backoff
        assert provider.calls == attempt
        clock.advance(1)

    # The fifth raises too: failed, refunded, the user told, moderators shown.
    assert await services.payout_processor.process_due() == 1
    await payout.refresh_from_db()
    assert payout.status == PayoutStatus.FAILED
    assert (payout.attempts, payout.attempts_exhausted) == (5, True)
    assert payout.failure_reason == "The payout provider did not answer after 5 attempts."
    assert payout.last_error == "ConnectionError: provider unreachable"
    assert payout.completed_at == clock.now()
    assert await services.payouts.balance(user.id) == 5_000
    assert provider.keys == [f"payout-{payout.id}"] * 5  # one key for every call
    notices = await Event.filter(audience_id=user.id, type="payout.failed", payout_id=payout.id)
    assert len(notices) == 1
    assert "returned to your balance" in notices[0].message
    assert [p.id for p in await payout_incidents()] == [payout.id]
    fails, settles = (
        await _kinds(TransactionKind.PAYOUT_FAIL),
        await _kinds(TransactionKind.PAYOUT_SETTLE),
    )
    assert (fails, settles) == (1, 0)

    # Nothing is tried again, however long we wait.
    clock.advance(30 * 86_400)
    assert await services.payout_processor.process_due() == 0
    assert provider.calls == 5
    await assert_ledger_balanced()


async def test_an_answer_lost_twice_is_recovered_by_the_retry_and_paid_once(
    services: Services, clock: ManualClock
) -> None:
    user = await funded_user(services, 5_000)
    payout = await services.payouts.request_payout(user, Decimal("20.00"), PAYPAL, "a@b.co", None)
    provider = LostAnswerProvider(losses=2)
    services.payout_processor.provider = provider

    for _ in range(2):
        assert await services.payout_processor.process_due() == 0
        clock.advance(3_600)
    assert await services.payout_processor.process_due() == 1

    await payout.refresh_from_db()
    assert (payout.status, payout.attempts, payout.attempts_exhausted) == (
        PayoutStatus.PAID,
        3,
        False,
    )
    assert payout.last_error == "TimeoutError"
    assert list(provider.payments) == [f"payout-{payout.id}"]  # sent once, answered three times
    assert provider.calls == 3
    assert await services.payouts.balance(user.id) == 3_000  # no refund of what was paid
    assert await payout_incidents().count() == 0
    assert await _kinds(TransactionKind.PAYOUT_FAIL) == 0
    await assert_ledger_balanced()


async def test_one_raising_payout_does_not_hold_up_the_others(services: Services) -> None:
    stuck_user = await funded_user(services, 5_000)
    stuck = await services.payouts.request_payout(
        stuck_user, Decimal("10.00"), PAYPAL, "a@b.co", None
    )
    user = await funded_user(services, 5_000)
    fine = await services.payouts.request_payout(user, Decimal("10.00"), PAYPAL, "c@d.co", None)
    services.payout_processor.provider = UnreachableProvider({f"payout-{stuck.id}"})

    assert await services.payout_processor.process_due() == 1
    assert (await Payout.get(id=fine.id)).status == PayoutStatus.PAID
    assert (await Payout.get(id=stuck.id)).status == PayoutStatus.PROCESSING
    await assert_ledger_balanced()


class HangingProvider(SandboxPayoutProvider):
    async def send(
        self, idempotency_key: str, cents: int, method: PayoutMethod, destination: str
    ) -> ProviderResult:
        self.calls += 1
        await asyncio.Event().wait()  # never answers
        raise AssertionError("unreachable")


async def test_a_call_that_never_answers_times_out_as_a_failed_attempt(
    services: Services, clock: ManualClock
) -> None:
    user = await funded_user(services, 5_000)
    payout = await services.payouts.request_payout(user, Decimal("20.00"), PAYPAL, "a@b.co", None)
    provider = HangingProvider()
    processor = PayoutProcessor(
        clock,
        services.ledger,
        provider,
        services.payouts.settle_deposit,
        services.events,
        max_attempts=1,
        call_timeout_seconds=0.05,  # real time: the provider is the outside world
    )
    assert await asyncio.wait_for(processor.process_due(), 5) == 1
    await payout.refresh_from_db()
    assert (payout.status, payout.attempts_exhausted, payout.last_error) == (
        PayoutStatus.FAILED,
        True,
        "TimeoutError",
    )
    assert await services.payouts.balance(user.id) == 5_000
    await assert_ledger_balanced()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PICOTASK_PAYOUT_MAX_ATTEMPTS", "0"),
        ("PICOTASK_PAYOUT_MAX_ATTEMPTS", "21"),
        ("PICOTASK_PAYOUT_RETRY_BASE_SECONDS", "0"),
        ("PICOTASK_PAYOUT_RETRY_BASE_SECONDS", "nan"),
        ("PICOTASK_PAYOUT_CALL_TIMEOUT_SECONDS", "60"),
    ],
)
def test_retry_settings_are_checked(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env({variable: value})


def test_retry_settings_are_read() -> None:
    defaults = Settings()
    assert (
        defaults.payout_max_attempts,
        defaults.payout_retry_base_seconds,
        defaults.payout_call_timeout_seconds,
    ) == (5, 60.0, 30.0)
    settings = Settings.from_env(
        {
            "PICOTASK_PAYOUT_MAX_ATTEMPTS": "3",
            "PICOTASK_PAYOUT_RETRY_BASE_SECONDS": "2.5",
            "PICOTASK_PAYOUT_CALL_TIMEOUT_SECONDS": "10",
        }
    )
    assert (
        settings.payout_max_attempts,
        settings.payout_retry_base_seconds,
        settings.payout_call_timeout_seconds,
    ) == (3, 2.5, 10.0)


INCIDENTS = """{ payoutIncidents(first: 10) { totalCount edges { node {
  id status attempts failureReason lastError amount { amount } user { id displayName } } } } }"""
MY_PAYOUTS = "{ myPayouts { edges { node { id status failureReason lastError attempts } } } }"


async def test_moderators_see_payouts_that_exhausted_their_attempts(
    api: Api, clock: ManualClock
) -> None:
    user = await api.sign_up(display_name="Wanda")
    deposit = 'mutation { createDeposit(input: {amount: "20.00"}) { userErrors { code } } }'
    assert (await api.gql(deposit, token=user.token))["createDeposit"]["userErrors"] == []
    requested = await api.gql(
        'mutation { requestPayout(input: {amount: "12.00", method: PAYPAL, '
        'destination: "w@pay.pal"}) { payout { id } userErrors { code } } }',
        token=user.token,
    )
    payout_id = requested["requestPayout"]["payout"]["id"]
    api.services.payout_processor.provider = UnreachableProvider()
    for _ in range(api.services.settings.payout_max_attempts):
        await api.services.payout_processor.process_due()
        clock.advance(86_400)

    admin = await api.sign_up()
    await UserModel.filter(email=admin.email).update(is_admin=True)
    queue = (await api.gql(INCIDENTS, token=admin.token))["payoutIncidents"]
    assert queue["totalCount"] == 1
    assert queue["edges"][0]["node"] == {
        "id": payout_id,
        "status": "FAILED",
        "attempts": 5,
        "failureReason": "The payout provider did not answer after 5 attempts.",
        "lastError": "ConnectionError: provider unreachable",
        "amount": {"amount": "12.00"},
        "user": {"id": user.id, "displayName": "Wanda"},
    }

    # The owner sees the failure and the money back, but not the provider's internals.
    mine = (await api.gql(MY_PAYOUTS, token=user.token))["myPayouts"]["edges"][0]["node"]
    assert (mine["status"], mine["lastError"]) == ("FAILED", None)
    balance = await api.gql("{ me { balance { amount } } }", token=user.token)
    assert balance["me"]["balance"] == {"amount": "20.00"}
    events = await api.gql("{ events { edges { node { type } } } }", token=user.token)
    assert "payout.failed" in [e["node"]["type"] for e in events["events"]["edges"]]

    errors = await api.errors(INCIDENTS, token=user.token)
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    errors = await api.errors(INCIDENTS)
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    await assert_ledger_balanced()
