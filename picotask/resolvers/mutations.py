"""How every mutation reports failure: broken rules as userErrors, others' objects as FORBIDDEN."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from picotask.schema.errors import Forbidden, UserError, user_errors
from picotask.services.errors import DomainError, NotPermitted

P = TypeVar("P")


async def attempt(action: Awaitable[P], failed: Callable[[list[UserError]], P]) -> P:
    try:
        return await action
    except NotPermitted as e:
        raise Forbidden(str(e)) from None
    except DomainError as e:
        return failed(user_errors(e))
