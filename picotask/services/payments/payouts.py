"""Deposits, withdrawals and what a user's wallet page shows."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.functions import Sum
from tortoise.queryset import QuerySet

from picotask.models.ledger import Account, AccountKind, LedgerEntry, TransactionKind
from picotask.models.payouts import Deposit, DepositStatus, Payout, PayoutMethod, PayoutStatus
from picotask.models.users import User
from picotask.services.accounts.two_factor import TwoFactor
from picotask.services.core import idempotency
from picotask.services.core.amounts import parse_amount
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.core.events import EventLog
from picotask.services.core.standing import ensure_active, ensure_confirmed
from picotask.services.money.ledger import Ledger, user_ref
from picotask.services.payments.destinations import check_destination
from picotask.services.payments.payout_methods import METHOD_FIELD, PayoutMethods
from picotask.services.payments.providers import PaymentProvider
from picotask.settings import Settings


@dataclass(frozen=True, slots=True)
class WalletSummary:
    available: int
    held_in_payouts: int
    in_escrow: int
    lifetime_earned: int
    lifetime_deposited: int
    lifetime_withdrawn: int


def deposit_problem(deposit: Deposit) -> DomainError | None:
    """A deposit the provider refused: the mutation answers with it and a userError."""
    if deposit.status != DepositStatus.FAILED:
        return None
    return DomainError(
        ErrorCode.PAYMENT_FAILED,
        deposit.failure_reason or "The payment provider refused the payment.",
        ["input", "amount"],
    )


class PayoutService:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        ledger: Ledger,
        payments: PaymentProvider,
        events: EventLog,
        two_factor: TwoFactor,
        methods: PayoutMethods,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.ledger = ledger
        self.payments = payments
        self.events = events
        self.two_factor = two_factor
        self.methods = methods

    async def balance(self, user_id: int) -> int:
        account = await Account.get_or_none(ref=user_ref(user_id))
        return account.balance if account else 0

    async def summary(self, user_id: int) -> WalletSummary:
        earned = LedgerEntry.filter(
            account__ref=user_ref(user_id),
            amount__gt=0,
            transaction__kind__in=[TransactionKind.ESCROW_RELEASE, TransactionKind.BONUS],
        )
        return WalletSummary(
            available=await self.balance(user_id),
            held_in_payouts=await _sum(
                Account.filter(owner_id=user_id, kind=AccountKind.PAYOUT), "balance"
            ),
            in_escrow=await _sum(
                Account.filter(owner_id=user_id, kind=AccountKind.ESCROW), "balance"
            ),
            lifetime_earned=await _sum(earned, "amount"),
            lifetime_deposited=await _sum(
                Deposit.filter(user_id=user_id, status=DepositStatus.SUCCEEDED), "amount"
            ),
            lifetime_withdrawn=await _sum(
                Payout.filter(user_id=user_id, status=PayoutStatus.PAID), "amount"
            ),
        )

    async def deposit(self, user: User, amount: Decimal, key: str | None) -> Deposit:
        """Charge the payment provider and credit the balance once it confirms."""
        ensure_active(user)
        cents = parse_amount(
            amount,
            ["input", "amount"],
            minimum_cents=1,
            maximum_cents=self.settings.max_deposit_cents,
        )

        async def create() -> int:
            deposit = await Deposit.create(
                user_id=user.id, amount=cents, created_at=self.clock.now()
            )
            return int(deposit.id)

        deposit_id, _ = await idempotency.once(
            self.clock,
            user_id=user.id,
            key=key,
            operation="createDeposit",
            request={"amount": cents},
            create=create,
        )
        # The deposit row (and so its id, the provider's idempotency key) is committed before
        # the provider is called; `settle_deposit` is safe to repeat after a crash.
        await self.settle_deposit(deposit_id)
        return await Deposit.get(id=deposit_id)

    async def settle_deposit(self, deposit_id: int) -> None:
        deposit = await Deposit.get(id=deposit_id)
        if deposit.status != DepositStatus.PENDING:
            return
        result = await self.payments.charge(
            f"deposit-{deposit.id}", deposit.user_id, deposit.amount
        )
        now = self.clock.now()
        async with self.events.transaction():
            pending = Deposit.filter(id=deposit.id, status=DepositStatus.PENDING)
            if result.ok:
                if await pending.update(
                    status=DepositStatus.SUCCEEDED,
                    provider_reference=result.reference,
                    completed_at=now,
                ):
                    await self.ledger.deposit(
                        deposit.user_id,
                        deposit.amount,
                        f"deposit {deposit.id}",
                        deposit_id=deposit.id,
                    )
            else:
                await pending.update(
                    status=DepositStatus.FAILED,
                    failure_reason=result.failure_reason,
                    completed_at=now,
                )

    async def request_payout(
        self,
        user: User,
        amount: Decimal,
        method: PayoutMethod | None,
        destination: str | None,
        key: str | None,
        *,
        payout_method_id: int | None = None,
        two_factor_code: str | None = None,
    ) -> Payout:
        """Move the amount from available into the payout's own account; the processor pays it.

        To a saved payout method (`payout_method_id`: confirmed and past its cool-down), or,
        where settings allow it, to a method and destination typed in. With two factors on, a
        current code is spent in the payout's transaction (a replay with the idempotency key
        returns the first payout without one). Suspended users may still withdraw what they
        already earned."""
        ensure_confirmed(user, self.settings.confirmation_required)
        cents = parse_amount(
            amount,
            ["input", "amount"],
            minimum_cents=self.settings.min_payout_cents,
            maximum_cents=self.settings.max_payout_cents,
        )
        method, address = await self._destination(user, method, destination, payout_method_id)
        self.two_factor.require(user, two_factor_code)

        async def create() -> int:
            await self.two_factor.verify(user, two_factor_code)
            payout = await Payout.create(
                user_id=user.id,
                amount=cents,
                method=method,
                destination=address,
                payout_method_id=payout_method_id,
                created_at=self.clock.now(),
            )
            await self.ledger.hold_payout(
                user.id, payout.id, cents, f"payout {payout.id} to {method.value}"
            )
            return int(payout.id)

        request: dict[str, Any] = {"amount": cents, "method": method.value, "destination": address}
        if payout_method_id is not None:
            request["payoutMethodId"] = payout_method_id
        payout_id, _ = await idempotency.once(
            self.clock,
            user_id=user.id,
            key=key,
            operation="requestPayout",
            request=request,
            create=create,
            transaction=self.events.transaction,
        )
        return await Payout.get(id=payout_id)

    async def _destination(
        self,
        user: User,
        method: PayoutMethod | None,
        destination: str | None,
        payout_method_id: int | None,
    ) -> tuple[PayoutMethod, str]:
        if payout_method_id is None:
            if self.settings.saved_payout_method_required:
                raise DomainError(
                    ErrorCode.REQUIRED,
                    "Payouts go to a saved payout method: give payoutMethodId.",
                    METHOD_FIELD,
                )
            if method is None:
                raise DomainError(ErrorCode.REQUIRED, "Give method.", ["input", "method"])
            if destination is None:
                raise DomainError(ErrorCode.REQUIRED, "Give destination.", ["input", "destination"])
            return method, check_destination(method, destination)
        saved = await self.methods.usable(user, payout_method_id)
        typed = None if destination is None else destination.strip().lower()
        if (method is not None and method != saved.method) or (
            typed is not None and typed != saved.destination.lower()
        ):
            raise DomainError(
                ErrorCode.INVALID,
                "Give payoutMethodId alone, or with its own method and destination.",
                METHOD_FIELD,
            )
        return saved.method, saved.destination


async def _sum(query: QuerySet[Any], field: str) -> int:
    """SUM(field) over the rows of `query`, 0 when there are none (one query)."""
    rows = await query.annotate(total=Sum(field)).values("total")
    return sum(int(row["total"] or 0) for row in rows)
