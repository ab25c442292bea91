"""The account flows that go through the user's mailbox: confirming the address (at sign-up
and when it changes) and resetting a forgotten password.

Links carry single-use tokens (services/accounts/tokens.py). Asking for a reset answers the same
and does the same work whether or not the address has an account: the request only writes an
outbox row, and the sender renders the mail (or drops it) when it takes the row. Every mail a
user can ask for is rate limited per address and per client address.
"""

from __future__ import annotations

import hashlib

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from picotask.models.mail import OutboxMail, TokenPurpose
from picotask.models.users import Session, User
from picotask.services.accounts.confirmations import Confirmations
from picotask.services.accounts.rate_limits import Bucket, RateStore
from picotask.services.accounts.sessions import Client, Revocation
from picotask.services.accounts.throttle import address_key, seconds
from picotask.services.accounts.users import (
    MAX_EMAIL,
    AuthResult,
    UserService,
    check_email,
    check_password,
    email_taken,
)
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, Throttled, Validator
from picotask.services.mail.outbox import Rendered
from picotask.settings import Settings

RESET = "password_reset"
_CONFIRMING = (TokenPurpose.CONFIRM_EMAIL, TokenPurpose.CHANGE_EMAIL)


def masked(address: str) -> str:
    """j***@example.com: enough for the owner to recognise, little for anyone else."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


class MailLimits:
    """Mails a client may ask for: a few at once per address, then one more every so often;
    ten times as many per client address (one office, one NAT, many people)."""

    PER_NETWORK = 10

    def __init__(self, store: RateStore, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        burst, every = settings.account_mail_burst, settings.account_mail_every_seconds
        self.per_account = Bucket(burst, 1 / every)
        self.per_network = Bucket(burst * self.PER_NETWORK, self.PER_NETWORK / every)

    async def take(self, email: str, client_address: str | None) -> None:
        account = "mail:account:" + hashlib.sha256(email.encode()).hexdigest()[:32]
        keys = [(account, self.per_account)]
        if client_address is not None:
            keys.append((f"mail:address:{address_key(client_address)}", self.per_network))
        now = self.clock.now().timestamp()
        for key, bucket in keys:
            taken = await self.store.take(key, 1, bucket, now)
            if not taken.allowed:
                raise Throttled(
                    f"Too many mails asked for; try again in {seconds(taken.retry_after)} s.",
                    taken.retry_after,
                )


class AccountRecovery:
    def __init__(
        self,
        settings: Settings,
        users: UserService,
        confirmations: Confirmations,
        limits: MailLimits,
    ) -> None:
        self.settings = settings
        self.users = users
        self.clock = users.clock
        self.confirmations = confirmations
        self.mail = confirmations.mail
        self.tokens = confirmations.tokens
        self.limits = limits
        self.mail.preparers[RESET] = self._prepare_reset

    # -- confirming an address -----------------------------------------------------------

    async def resend_confirmation(self, user: User, client_address: str) -> None:
        if user.email_confirmed_at is not None:
            raise DomainError(ErrorCode.INVALID_STATUS, "Your address is confirmed already.")
        await self.limits.take(user.email, client_address)
        async with in_transaction():
            await self.confirmations.send(user)

    async def confirm_email(self, token: str) -> User:
        """A sign-up's link confirms the address; an address change's link makes the new
        address the account's, confirmed, and tells the old one."""
        field = ["input", "token"]
        now = self.clock.now()
        try:
            async with in_transaction():
                row = await self.tokens.redeem(token, _CONFIRMING, field)
                user = await User.get(id=row.user_id)
                if row.purpose is TokenPurpose.CONFIRM_EMAIL:
                    await User.filter(id=user.id, email_confirmed_at=None).update(
                        email_confirmed_at=now
                    )
                else:
                    old = user.email
                    await User.filter(id=user.id).update(
                        email=row.subject, email_confirmed_at=now, updated_at=now
                    )
                    await self.mail.send(
                        "email_changing",
                        to=old,
                        user_id=user.id,
                        context={
                            "name": user.display_name,
                            "masked": masked(row.subject),
                            "done": True,
                            "url": self.mail.link("/forgot-password"),
                        },
                    )
        except IntegrityError:
            # Someone signed up with the new address meanwhile.
            raise email_taken(field) from None
        await user.refresh_from_db()
        return user

    async def change_email(
        self,
        user: User,
        new_email: str,
        current_password: str,
        client_address: str,
        two_factor_code: str | None = None,
    ) -> str:
        """Mail a link to the new address; it replaces the old one only once confirmed. The
        old address is told at once. Returns the address waiting to be confirmed. With two
        factors on, a current code too."""
        v = Validator()
        address = check_email(v, new_email, ["input", "newEmail"])
        v.check()
        self.users.two_factor.require(user, two_factor_code)
        await self.users.check_password_of(user, current_password)
        if address == user.email:
            raise DomainError(
                ErrorCode.INVALID,
                "newEmail is the account's address already.",
                ["input", "newEmail"],
            )
        if await User.filter(email=address).exists():
            raise email_taken(["input", "newEmail"])
        await self.limits.take(address, client_address)
        ttl = self.settings.confirm_email_seconds
        async with in_transaction():
            await self.users.two_factor.verify(user, two_factor_code)
            await self.tokens.void(user.id, TokenPurpose.CHANGE_EMAIL)
            token = await self.tokens.issue(
                user.id, TokenPurpose.CHANGE_EMAIL, ttl, subject=address
            )
            await self.mail.send(
                "confirm_new_email",
                to=address,
                user_id=user.id,
                context={
                    "name": user.display_name,
                    "address": address,
                    "url": self.mail.link("/confirm-email", token=token),
                    "hours": ttl // 3600,
                },
            )
            await self.mail.send(
                "email_changing",
                to=user.email,
                user_id=user.id,
                context={
                    "name": user.display_name,
                    "masked": masked(address),
                    "done": False,
                    "url": self.mail.link("/forgot-password"),
                },
            )
        return address

    async def pending_email(self, user_id: int) -> str | None:
        """The new address waiting for its confirmation, if any."""
        row = await self.tokens.pending(user_id, TokenPurpose.CHANGE_EMAIL)
        return row.subject if row is not None else None

    # -- a forgotten password ------------------------------------------------------------

    async def request_password_reset(self, email: str, client_address: str) -> None:
        """The same answer, and the same work, for every address: one outbox row."""
        v = Validator()
        address = check_email(v, email, ["input", "email"])
        v.check()
        await self.limits.take(address, client_address)
        async with in_transaction():
            await self.mail.later(RESET, to=address)

    async def _prepare_reset(self, mail: OutboxMail) -> Rendered | None:
        user = (
            await User.get_or_none(email=mail.to_address)
            if len(mail.to_address) <= MAX_EMAIL
            else None
        )
        if user is None:
            return None
        ttl = self.settings.password_reset_seconds
        async with in_transaction():
            await self.tokens.void(user.id, TokenPurpose.PASSWORD_RESET)
            token = await self.tokens.issue(user.id, TokenPurpose.PASSWORD_RESET, ttl)
        return self.mail.render(
            "password_reset",
            to=user.email,
            user_id=user.id,
            context={
                "name": user.display_name,
                "url": self.mail.link("/reset-password", token=token),
                "minutes": ttl // 60,
            },
        )

    async def reset_password(
        self,
        token: str,
        new_password: str,
        client: Client | None = None,
        two_factor_code: str | None = None,
    ) -> AuthResult:
        """A new password from a reset link: every session ends (and its sockets close), and a
        new one is opened for the browser that followed the link (`client`). Following it proves
        the address is the user's, so it is confirmed too. With two factors on, the mailbox
        alone is not enough: a current code (or a recovery code) too."""
        field = ["input", "token"]
        v = Validator()
        check_password(v, "newPassword", new_password)
        v.check()
        row = await self.tokens.peek(token, TokenPurpose.PASSWORD_RESET, field)
        user = await User.get(id=row.user_id)
        self.users.two_factor.require(user, two_factor_code)
        await self.users.refuse_guessable(
            "newPassword", new_password, [user.email, user.display_name]
        )
        password_hash = await self.users.passwords.hash(new_password)
        now = self.clock.now()
        async with in_transaction():
            await self.tokens.redeem(token, TokenPurpose.PASSWORD_RESET, field)
            await self.users.two_factor.verify(user, two_factor_code, recovery=True)
            await User.filter(id=user.id).update(password_hash=password_hash, updated_at=now)
            await User.filter(id=user.id, email_confirmed_at=None).update(email_confirmed_at=now)
            await Session.filter(user_id=user.id, revoked_at=None).update(revoked_at=now)
            session_token, kept = await self.users.open_session(user, client)
            await self.confirmations.password_changed(user, "reset from a link mailed to you")
        await self.users.throttle.password_accepted(user.email, None)
        await self.users.revocations.announce(
            Revocation(user.id, None, "The password was reset.", keep=kept)
        )
        await user.refresh_from_db()
        return AuthResult(user, session_token)
