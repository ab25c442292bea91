"""The tokens of mailed links (confirm, reset, payout method, unsubscribe): random, stored only
as their SHA-256, single-use, expiring. A forged, used and expired token get the same answer."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from picotask.models.mail import AccountToken, TokenPurpose
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode

_FIELD = ["token"]
# One purpose, or any of several (confirmEmail takes a sign-up's link and an address change's).
Purposes = TokenPurpose | tuple[TokenPurpose, ...]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invalid_token(field: list[str] | None = None) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_TOKEN,
        "This link is invalid, used or expired: ask for a new one.",
        field or _FIELD,
    )


class EmailTokens:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def issue(
        self, user_id: int, purpose: TokenPurpose, ttl_seconds: int, *, subject: str = ""
    ) -> str:
        """A new token (the caller puts it in a link); call it in the transaction that mails it."""
        token, row = self.mint(user_id, purpose, ttl_seconds, subject=subject)
        await row.save()
        return token

    def mint(
        self, user_id: int, purpose: TokenPurpose, ttl_seconds: int, *, subject: str = ""
    ) -> tuple[str, AccountToken]:
        """A new token and its row, not stored yet: for many at once, `AccountToken.bulk_create`
        the rows in the transaction that mails them."""
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        row = AccountToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=_hash(token),
            subject=subject,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
        return token, row

    async def peek(
        self, token: str, purposes: Purposes, field: list[str] | None = None
    ) -> AccountToken:
        """The token's row while it still works, unused; INVALID_TOKEN otherwise."""
        if not 20 <= len(token) <= 100:  # never a token of ours: no query for it
            raise invalid_token(field)
        wanted = (purposes,) if isinstance(purposes, TokenPurpose) else purposes
        row = await AccountToken.get_or_none(token_hash=_hash(token), purpose__in=wanted)
        if row is None or row.used_at is not None or row.expires_at <= self.clock.now():
            raise invalid_token(field)
        return row

    async def redeem(
        self, token: str, purposes: Purposes, field: list[str] | None = None
    ) -> AccountToken:
        """The token's row, now used (a conditional update: two redemptions at once, one wins),
        or INVALID_TOKEN. Call it in the transaction of what the token allows."""
        row = await self.peek(token, purposes, field)
        now = self.clock.now()
        if not await AccountToken.filter(id=row.id, used_at=None).update(used_at=now):
            raise invalid_token(field)
        row.used_at = now
        return row

    async def pending(self, user_id: int, purpose: TokenPurpose) -> AccountToken | None:
        """The newest token of the user for this purpose that still works."""
        return (
            await AccountToken.filter(
                user_id=user_id, purpose=purpose, used_at=None, expires_at__gt=self.clock.now()
            )
            .order_by("-id")
            .first()
        )

    async def void(self, user_id: int, purpose: TokenPurpose) -> None:
        """Every unused token of the user for this purpose stops working (a newer one was sent,
        or what they allow was done another way)."""
        await AccountToken.filter(user_id=user_id, purpose=purpose, used_at=None).update(
            used_at=self.clock.now()
        )

    async def remove_expired(self, batch: int = 1_000) -> int:
        """Remove up to `batch` tokens past their expiry (used or not: either way they work no
        more); returns how many. The sweeper calls it each round."""
        ids = await (
            AccountToken.filter(expires_at__lte=self.clock.now())
            .order_by("expires_at")
            .limit(batch)
            .values_list("id", flat=True)
        )
        if not ids:
            return 0
        return await AccountToken.filter(id__in=list(ids)).delete()
