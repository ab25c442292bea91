"""The outside world we cannot reach in tests: payment and payout providers.

Each is an interface with a sandbox implementation that settles at once. Every call carries an
idempotency key (our deposit or payout id), so repeating a call after a crash never moves money
twice at the provider.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from picotask.models.payouts import PayoutMethod


@dataclass(frozen=True, slots=True)
class ProviderResult:
    ok: bool
    reference: str | None = None
    failure_reason: str | None = None


class PaymentProvider(Protocol):
    async def charge(self, idempotency_key: str, user_id: int, cents: int) -> ProviderResult: ...


class PayoutProvider(Protocol):
    async def send(
        self, idempotency_key: str, cents: int, method: PayoutMethod, destination: str
    ) -> ProviderResult: ...


class SandboxPaymentProvider:
    """Charges succeed at once unless `fail` is set; a repeated key returns the first result."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.charges: dict[str, ProviderResult] = {}
        self.calls = 0

    async def charge(self, idempotency_key: str, user_id: int, cents: int) -> ProviderResult:
        self.calls += 1
        if idempotency_key not in self.charges:
            self.charges[idempotency_key] = (
                ProviderResult(False, failure_reason="Card declined (sandbox).")
                if self.fail
                else ProviderResult(True, reference=f"sandbox-charge-{len(self.charges) + 1}")
            )
        return self.charges[idempotency_key]


class SandboxPayoutProvider:
    """Payouts are paid at once unless `fail` is set; a repeated key returns the first result,
    so `payments` holds exactly what the provider would really have sent."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.payments: dict[str, tuple[int, PayoutMethod, str, ProviderResult]] = {}
        self.calls = 0

    async def send(
        self, idempotency_key: str, cents: int, method: PayoutMethod, destination: str
    ) -> ProviderResult:
        self.calls += 1
        if idempotency_key not in self.payments:
            result = (
                ProviderResult(False, failure_reason="Destination refused the payment (sandbox).")
                if self.fail
                else ProviderResult(True, reference=f"sandbox-payout-{len(self.payments) + 1}")
            )
            self.payments[idempotency_key] = (cents, method, destination, result)
        return self.payments[idempotency_key][3]
