"""Deposits, withdrawals and what a user's wallet page shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tortoise.functions import Sum
from tortoise.queryset import QuerySet

from picotask.models.ledger import Account, AccountKind, LedgerEntry, TransactionKind
from picotask.models.payouts import Deposit, DepositStatus, Payout, PayoutMethod, PayoutStatus
from picotask.models.users import User
from picotask.services.accounts.users import is_email
from picotask.services.core import idempotency
from picotask.services.core.amounts import parse_amount
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.core.events import EventLog
from picotask.services.core.standing import ensure_active, ensure_confirmed
from picotask.services.money.ledger import Ledger, user_ref
from picotask.services.payments.providers import PaymentProvider
from picotask.settings import Settings

# Bitcoin (base58 and bech32) and Ethereum-style hex addresses.
_CRYPTO = re.compile(
    r"^(?:(?:1|3)[1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{11,71}|0x[0-9a-fA-F]{40})$"
)


@dataclass(frozen=True, slots=True)
class WalletSummary:
    available: int
    held_in_payouts: int
    in_escrow: int
    lifetime_earned: int
    lifetime_deposited: int
    lifetime_withdrawn: int


def check_destination(method: PayoutMethod, destination: str) -> str:
    value = destination.strip()
    field = ["input", "destination"]
    if method in {PayoutMethod.PAYPAL, PayoutMethod.PAYONEER}:
        if not is_email(value):
            raise DomainError(
                ErrorCode.INVALID,
                f"destination must be the email address of the {method.title()} account.",
                field,
            )
        return value.lower()
    if not _CRYPTO.match(value):
        raise DomainError(
            ErrorCode.INVALID,
            "destination must be a Bitcoin (1…, 3…, bc1…) or Ethereum (0x…) address.",
            field,
        )
    return value


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
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.ledger = ledger
        self.payments = payments
        self.events = events

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
        method: PayoutMethod,
        destination: str,
        key: str | None,
    ) -> Payout:
        """Move the amount from available into the payout's own account; the processor pays it.

        Suspended users may still withdraw what they already earned."""
        ensure_confirmed(user, self.settings.confirmation_required)
        cents = parse_amount(
            amount,
            ["input", "amount"],
            minimum_cents=self.settings.min_payout_cents,
            maximum_cents=self.settings.max_payout_cents,
        )
        address = check_destination(method, destination)

        async def create() -> int:
            payout = await Payout.create(
                user_id=user.id,
                amount=cents,
                method=method,
                destination=address,
                created_at=self.clock.now(),
            )
            await self.ledger.hold_payout(
                user.id, payout.id, cents, f"payout {payout.id} to {method.value}"
            )
            return int(payout.id)

        payout_id, _ = await idempotency.once(
            self.clock,
            user_id=user.id,
            key=key,
            operation="requestPayout",
            request={"amount": cents, "method": method.value, "destination": address},
            create=create,
            transaction=self.events.transaction,
        )
        return await Payout.get(id=payout_id)


async def _sum(query: QuerySet[Any], field: str) -> int:
    """SUM(field) over the rows of `query`, 0 when there are none (one query)."""
    rows = await query.annotate(total=Sum(field)).values("total")
    return sum(int(row["total"] or 0) for row in rows)
