"""Mails about the account itself that other account steps send in their transactions: the
link that confirms an address, and the notice that the password changed."""

from __future__ import annotations

from picotask.models.mail import TokenPurpose
from picotask.models.users import User
from picotask.services.accounts.tokens import EmailTokens
from picotask.services.mail.outbox import Mailbox
from picotask.settings import Settings


class Confirmations:
    def __init__(self, settings: Settings, mail: Mailbox, tokens: EmailTokens) -> None:
        self.settings = settings
        self.mail = mail
        self.tokens = tokens

    async def send(self, user: User) -> None:
        """A new confirmation link (older ones stop working); call it in the transaction that
        makes the address need confirming."""
        await self.tokens.void(user.id, TokenPurpose.CONFIRM_EMAIL)
        ttl = self.settings.confirm_email_seconds
        token = await self.tokens.issue(user.id, TokenPurpose.CONFIRM_EMAIL, ttl)
        await self.mail.send(
            "confirm_email",
            to=user.email,
            user_id=user.id,
            context={
                "name": user.display_name,
                "address": user.email,
                "url": self.mail.link("/confirm-email", token=token),
                "hours": ttl // 3600,
            },
        )

    async def password_changed(self, user: User, how: str) -> None:
        """Tell the owner; a thief who changed it cannot stop this mail."""
        await self.mail.send(
            "password_changed",
            to=user.email,
            user_id=user.id,
            context={
                "name": user.display_name,
                "how": how,
                "url": self.mail.link("/forgot-password"),
            },
        )
