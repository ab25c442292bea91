"""Payment and payout providers whose every call is a CLIENT span, when tracing is on
(README, "Tracing"): the call's idempotency key (our deposit or payout reference), the amount
and, for a payout, its method; an answer that refuses is marked failed with its reason. Built
only with a tracer (services/registry.py)."""

from __future__ import annotations

from opentelemetry.trace import Tracer
from opentelemetry.util.types import AttributeValue

from picotask.models.payouts import PayoutMethod
from picotask.services.core.tracing import client_span, failed
from picotask.services.payments.providers import PaymentProvider, PayoutProvider, ProviderResult


class TracedPaymentProvider:
    def __init__(self, inner: PaymentProvider, tracer: Tracer) -> None:
        self.inner = inner
        self.tracer = tracer

    async def charge(self, idempotency_key: str, user_id: int, cents: int) -> ProviderResult:
        attributes: dict[str, AttributeValue] = {
            "picotask.idempotency_key": idempotency_key,
            "picotask.cents": cents,
        }
        with client_span(self.tracer, "payment.charge", attributes) as span:
            result = await self.inner.charge(idempotency_key, user_id, cents)
            if not result.ok:
                failed(span, "refused", result.failure_reason or "")
            return result


class TracedPayoutProvider:
    def __init__(self, inner: PayoutProvider, tracer: Tracer) -> None:
        self.inner = inner
        self.tracer = tracer

    async def send(
        self, idempotency_key: str, cents: int, method: PayoutMethod, destination: str
    ) -> ProviderResult:
        attributes: dict[str, AttributeValue] = {
            "picotask.idempotency_key": idempotency_key,
            "picotask.cents": cents,
            "picotask.payout.method": str(method.value),
        }
        with client_span(self.tracer, "payout.send", attributes) as span:
            result = await self.inner.send(idempotency_key, cents, method, destination)
            if not result.ok:
                failed(span, "refused", result.failure_reason or "")
            return result
