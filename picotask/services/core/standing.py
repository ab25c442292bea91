"""Who may act: every domain refuses a suspended user the same way (DESIGN.md: a suspended
user cannot act, but keeps earnings already approved)."""

from __future__ import annotations

from picotask.models.users import User, UserStatus
from picotask.services.core.errors import DomainError, ErrorCode


def ensure_active(user: User) -> None:
    """A suspended user keeps their account but cannot act."""
    if user.status != UserStatus.ACTIVE:
        raise DomainError(ErrorCode.SUSPENDED, "This account is suspended.")


def ensure_confirmed(user: User, required: bool) -> None:
    """Claiming, posting and withdrawing need a confirmed address where the deployment asks for
    one (`Settings.confirmation_required`): an address nobody confirmed costs nothing to make up,
    so one person could otherwise be any number of workers."""
    if required and user.email_confirmed_at is None:
        raise DomainError(
            ErrorCode.EMAIL_NOT_CONFIRMED,
            "Confirm your email address first: follow the link mailed to you "
            "(resendConfirmation sends another).",
        )
