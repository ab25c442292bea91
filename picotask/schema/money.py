"""Money and the wallet summary."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from picotask.services.core.amounts import to_decimal
from picotask.services.payments.payouts import WalletSummary


@strawberry.type
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def of(cls, cents: int, currency: str) -> Money:
        return cls(amount=to_decimal(cents), currency=currency)


@strawberry.type(description="What a user's wallet page shows.")
class Wallet:
    available: Money = strawberry.field(description="Can be spent or withdrawn now.")
    held_in_payouts: Money = strawberry.field(description="Withdrawals not yet paid out.")
    in_escrow: Money = strawberry.field(description="Held for the user's own published tasks.")
    lifetime_earned: Money = strawberry.field(description="Approved rewards and bonuses.")
    lifetime_deposited: Money
    lifetime_withdrawn: Money

    @classmethod
    def of(cls, summary: WalletSummary, currency: str) -> Wallet:
        return cls(
            available=Money.of(summary.available, currency),
            held_in_payouts=Money.of(summary.held_in_payouts, currency),
            in_escrow=Money.of(summary.in_escrow, currency),
            lifetime_earned=Money.of(summary.lifetime_earned, currency),
            lifetime_deposited=Money.of(summary.lifetime_deposited, currency),
            lifetime_withdrawn=Money.of(summary.lifetime_withdrawn, currency),
        )
