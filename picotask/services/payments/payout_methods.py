"""Saved payout methods: where a user's money may go.

A method is usable for payouts only once confirmed and past its cool-down, so a thief who just
took over an account (its session, even its password) cannot empty it at once:
- with two factors on, adding one takes a current code and confirms it at once;
- without, a link goes to the account's address, and following it confirms the method.
The cool-down (`payout_method_cooldown_seconds`) runs from the confirmation. Removing a method
is immediate (with two factors, it takes a code too). Every add, confirmation and removal is
mailed to the account's address, which a thief cannot change without its owner hearing of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from picotask.models.mail import TokenPurpose
from picotask.models.payouts import PayoutMethod, SavedPayoutMethod
from picotask.models.users import User
from picotask.services.accounts.recovery import MailLimits
from picotask.services.accounts.tokens import EmailTokens, invalid_token
from picotask.services.accounts.two_factor import TwoFactor, two_factor_on
from picotask.services.core.errors import DomainError, ErrorCode, Validator
from picotask.services.core.user_text import TextKind
from picotask.services.mail.outbox import Mailbox
from picotask.services.payments.destinations import check_destination
from picotask.settings import Settings

MAX_LABEL = 60
METHOD_FIELD = ["input", "payoutMethodId"]
_NAMES = {
    PayoutMethod.PAYPAL: "PayPal",
    PayoutMethod.PAYONEER: "Payoneer",
    PayoutMethod.CRYPTO: "Crypto",
}


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def duration(total: int) -> str:
    """24 hours, 90 minutes, 45 seconds: the words a mail uses for a setting's seconds."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if total >= size and total % size == 0:
            count = total // size
            if unit == "day" and count == 1:
                return "24 hours"
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{total} seconds"


def not_found(field: list[str] | None = None) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No such payout method.", field or METHOD_FIELD)


class PayoutMethods:
    def __init__(
        self,
        settings: Settings,
        mail: Mailbox,
        tokens: EmailTokens,
        two_factor: TwoFactor,
        limits: MailLimits,
    ) -> None:
        self.settings = settings
        self.clock = two_factor.clock
        self.mail = mail
        self.tokens = tokens
        self.two_factor = two_factor
        self.limits = limits
        self.cooldown = timedelta(seconds=settings.payout_method_cooldown_seconds)

    async def mine(self, user_id: int) -> list[SavedPayoutMethod]:
        """The user's methods not removed, newest first."""
        return await SavedPayoutMethod.filter(user_id=user_id, removed_at=None).order_by("-id")

    async def add(
        self,
        user: User,
        method: PayoutMethod,
        destination: str,
        label: str | None,
        code: str | None,
        client_address: str | None,
    ) -> SavedPayoutMethod:
        v = Validator()
        text = v.text("label", label or "", max_length=MAX_LABEL, kind=TextKind.NAME)
        v.check()
        address = check_destination(method, destination)
        self.two_factor.require(user, code)
        active = SavedPayoutMethod.filter(user_id=user.id, removed_at=None)
        if await active.filter(method=method, destination=address).exists():
            raise DomainError(
                ErrorCode.DUPLICATE,
                "This payout method is saved already.",
                ["input", "destination"],
            )
        if await active.count() >= self.settings.max_payout_methods:
            raise DomainError(
                ErrorCode.LIMIT_REACHED,
                f"At most {self.settings.max_payout_methods} payout methods; remove one first.",
                ["input"],
            )
        confirming = not two_factor_on(user)
        if confirming:
            await self.limits.take(user.email, client_address)
        now = self.clock.now()
        async with in_transaction():
            await self.two_factor.verify(user, code)
            row = await SavedPayoutMethod.create(
                user_id=user.id,
                method=method,
                destination=address,
                label=text or None,
                created_at=now,
                confirmed_at=None if confirming else now,
                usable_from=None if confirming else now + self.cooldown,
            )
            if confirming:
                ttl = self.settings.payout_method_link_seconds
                token = await self.tokens.issue(
                    user.id, TokenPurpose.PAYOUT_METHOD, ttl, subject=str(row.id)
                )
                await self.mail.send(
                    "payout_method_confirm",
                    to=user.email,
                    user_id=user.id,
                    context={
                        **self._described(user, row),
                        "url": self.mail.link("/confirm-payout-method", token=token),
                        "hours": ttl // 3600,
                        "cooldown": duration(self.settings.payout_method_cooldown_seconds),
                        "reset_url": self.mail.link("/forgot-password"),
                    },
                )
            else:
                await self._tell(user, row, "added and confirmed")
        return row

    async def confirm(self, token: str) -> SavedPayoutMethod:
        """Follow the mailed link (no session needed: the mailbox is the proof)."""
        field = ["input", "token"]
        now = self.clock.now()
        async with in_transaction():
            used = await self.tokens.redeem(token, TokenPurpose.PAYOUT_METHOD, field)
            pending = SavedPayoutMethod.filter(
                id=int(used.subject), user_id=used.user_id, removed_at=None, confirmed_at=None
            )
            if not await pending.update(confirmed_at=now, usable_from=now + self.cooldown):
                raise invalid_token(field)  # removed (or confirmed) meanwhile
            row = await SavedPayoutMethod.get(id=int(used.subject))
            user = await User.get(id=used.user_id)
            await self._tell(user, row, "confirmed")
        return row

    async def remove(self, user: User, method_id: int, code: str | None) -> SavedPayoutMethod:
        self.two_factor.require(user, code)
        row = await SavedPayoutMethod.get_or_none(id=method_id, user_id=user.id, removed_at=None)
        if row is None:
            raise not_found()
        now = self.clock.now()
        async with in_transaction():
            await self.two_factor.verify(user, code)
            if not await SavedPayoutMethod.filter(id=row.id, removed_at=None).update(
                removed_at=now
            ):
                raise not_found()
            row.removed_at = now
            await self._tell(user, row, "removed")
        return row

    async def usable(self, user: User, method_id: int) -> SavedPayoutMethod:
        """The method money may go to now, or why not (naming payoutMethodId)."""
        row = await SavedPayoutMethod.get_or_none(id=method_id, user_id=user.id, removed_at=None)
        if row is None:
            raise not_found()
        if row.confirmed_at is None or row.usable_from is None:
            raise DomainError(
                ErrorCode.PENDING_CONFIRMATION,
                "This payout method is not confirmed yet: follow the link mailed to you.",
                METHOD_FIELD,
            )
        if row.usable_from > self.clock.now():
            raise DomainError(
                ErrorCode.COOLING_DOWN,
                f"This payout method is new: payouts can go to it from {when(row.usable_from)}.",
                METHOD_FIELD,
            )
        return row

    def _described(self, user: User, row: SavedPayoutMethod) -> dict[str, str]:
        return {
            "name": user.display_name,
            "method": _NAMES[row.method],
            "destination": row.destination,
        }

    async def _tell(self, user: User, row: SavedPayoutMethod, what: str) -> None:
        shown = row.usable_from if row.removed_at is None else None
        await self.mail.send(
            "payout_method_changed",
            to=user.email,
            user_id=user.id,
            context={
                **self._described(user, row),
                "what": what,
                "usable_from": when(shown) if shown is not None else "",
                "url": self.mail.link("/forgot-password"),
            },
        )
