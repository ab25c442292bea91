"""What each user wants mailed, and unsubscribing from one kind by a mailed link.

Every kind is mailed unless the user turned it off (`NotificationSetting`, one row per changed
kind). Each notification mail carries its own unsubscribe token (services/accounts/tokens.py:
random, stored only as its hash, single-use, expiring after `unsubscribe_link_seconds`); the
token names the user and the kind (its `subject`), so following it needs no session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from picotask.models.mail import TokenPurpose
from picotask.models.notifications import NotificationKind, NotificationSetting
from picotask.models.users import User
from picotask.services.accounts.tokens import EmailTokens, invalid_token
from picotask.services.core.clock import Clock
from picotask.services.core.errors import ErrorCode, Validator

KINDS = tuple(NotificationKind)


@dataclass(frozen=True, slots=True)
class Choice:
    kind: NotificationKind
    email: bool


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    user_id: int
    kind: NotificationKind


class NotificationPreferences:
    def __init__(self, clock: Clock, tokens: EmailTokens) -> None:
        self.clock = clock
        self.tokens = tokens

    async def of(self, user_id: int) -> list[Choice]:
        """Every kind, in the enum's order, with whether it is mailed."""
        off = await self.off_for([user_id])
        return [Choice(kind, (user_id, kind) not in off) for kind in KINDS]

    @staticmethod
    async def off_for(user_ids: Iterable[int]) -> set[tuple[int, NotificationKind]]:
        """(user, kind) turned off, for many users in one query."""
        ids = list(set(user_ids))
        if not ids:
            return set()
        rows = await NotificationSetting.filter(user_id__in=ids, email=False).values_list(
            "user_id", "kind"
        )
        return {(int(user), NotificationKind(kind)) for user, kind in rows}

    async def update(self, user: User, choices: Sequence[Choice]) -> list[Choice]:
        """Set the kinds named; the others stay as they were. Each kind at most once."""
        v = Validator()
        if not choices:
            v.add("settings", ErrorCode.REQUIRED, "settings must name at least one kind.")
        seen: set[NotificationKind] = set()
        for i, choice in enumerate(choices):
            if choice.kind in seen:
                v.add(
                    "kind",
                    ErrorCode.DUPLICATE,
                    f"{choice.kind.value} is named twice.",
                    prefix=["input", "settings", str(i)],
                )
            seen.add(choice.kind)
        v.check()
        await self._store(user.id, choices)
        return await self.of(user.id)

    async def unsubscribe(self, token: str, field: list[str] | None = None) -> Unsubscribed:
        """Turn off the kind the token names, for its user; INVALID_TOKEN for a forged, used or
        expired one (nothing written)."""
        field = field or ["input", "token"]
        async with in_transaction():
            row = await self.tokens.redeem(token, TokenPurpose.UNSUBSCRIBE, field)
            try:
                kind = NotificationKind(row.subject)
            except ValueError:  # a kind since removed
                raise invalid_token(field) from None
            await self._store(row.user_id, [Choice(kind, False)])
        return Unsubscribed(row.user_id, kind)

    async def _store(self, user_id: int, choices: Sequence[Choice]) -> None:
        """Replace the rows of the kinds named: a delete and one insert, whatever their number."""
        now = self.clock.now()
        async with in_transaction():
            await NotificationSetting.filter(
                user_id=user_id, kind__in=[c.kind for c in choices]
            ).delete()
            await NotificationSetting.bulk_create(
                [
                    NotificationSetting(user_id=user_id, kind=c.kind, email=c.email, updated_at=now)
                    for c in choices
                ]
            )
