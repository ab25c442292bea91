"""Moderation: suspending and reinstating users; employers blocking workers."""

from __future__ import annotations

from datetime import datetime

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from picotask.models.decisions import DecidedBy
from picotask.models.users import Block, User, UserStatus
from picotask.services.accounts.sessions import Revocation, Revocations
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, NotPermitted, checked_text
from picotask.services.core.events import EventLog

MAX_REASON = 500


def _user_not_found() -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No such user.", ["input", "userId"])


async def blocked_by(worker_id: int) -> set[int]:
    """Employers who blocked this worker (read once per subscription, not per event)."""
    rows = await Block.filter(worker_id=worker_id).values("employer_id")
    return {int(row["employer_id"]) for row in rows}


async def add_block(
    employer_id: int,
    worker_id: int,
    now: datetime,
    decided_by: DecidedBy = DecidedBy.MANUAL,
    task_id: int | None = None,
) -> bool:
    """The worker takes none of the employer's work from now on; blocking is idempotent (False
    when the worker was blocked already, and the first block stays as it was). In its own
    savepoint, so inside a caller's transaction a block already there aborts nothing."""
    try:
        async with in_transaction():
            await Block.create(
                employer_id=employer_id,
                worker_id=worker_id,
                decided_by=decided_by,
                task_id=task_id,
                created_at=now,
            )
    except IntegrityError:
        return False
    return True


class ModerationService:
    def __init__(self, clock: Clock, events: EventLog, revocations: Revocations) -> None:
        self.clock = clock
        self.events = events
        self.revocations = revocations

    async def set_suspended(
        self, admin: User, user_id: int | None, suspended: bool, reason: str | None
    ) -> User:
        """A suspended user keeps their account and can still withdraw approved earnings,
        but cannot post, claim, submit or review."""
        if not admin.is_admin:
            raise NotPermitted("Only moderators suspend or reinstate users.")
        user = await User.get_or_none(id=user_id) if user_id else None
        if user is None:
            raise _user_not_found()
        if user.id == admin.id:
            raise DomainError(
                ErrorCode.INVALID, "Moderators cannot suspend themselves.", ["input", "userId"]
            )
        note = checked_text("reason", reason, required=suspended, limit=MAX_REASON)
        old, new = (
            (UserStatus.ACTIVE, UserStatus.SUSPENDED)
            if suspended
            else (UserStatus.SUSPENDED, UserStatus.ACTIVE)
        )
        async with self.events.transaction():
            if not await User.filter(id=user.id, status=old).update(
                status=new, updated_at=self.clock.now()
            ):
                raise DomainError(
                    ErrorCode.INVALID_STATUS, f"The user is not {old.value}.", ["input", "userId"]
                )
            message = (
                f"Your account was suspended: {note}"
                if suspended
                else "Your account was reinstated."
            )
            self.events.notify(user.id, f"account.{new.value.lower()}", message)
        if suspended:
            # Open connections still hold the user as they were: they must reconnect.
            await self.revocations.announce(Revocation(user.id, None, "The account was suspended."))
        return await User.get(id=user.id)

    async def block(self, employer: User, worker_id: int | None) -> User:
        worker = await User.get_or_none(id=worker_id) if worker_id else None
        if worker is None:
            raise _user_not_found()
        if worker.id == employer.id:
            raise DomainError(ErrorCode.INVALID, "You cannot block yourself.", ["input", "userId"])
        await add_block(employer.id, worker.id, self.clock.now())
        return worker

    async def unblock(self, employer: User, worker_id: int | None) -> User:
        worker = await User.get_or_none(id=worker_id) if worker_id else None
        if worker is None:
            raise _user_not_found()
        await Block.filter(employer_id=employer.id, worker_id=worker.id).delete()
        return worker
