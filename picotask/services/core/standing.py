"""Who may act: every domain refuses a suspended user the same way (DESIGN.md: a suspended
user cannot act, but keeps earnings already approved)."""

from __future__ import annotations

from picotask.models.users import User, UserStatus
from picotask.services.core.errors import DomainError, ErrorCode


def ensure_active(user: User) -> None:
    """A suspended user keeps their account but cannot act."""
    if user.status != UserStatus.ACTIVE:
        raise DomainError(ErrorCode.SUSPENDED, "This account is suspended.")
