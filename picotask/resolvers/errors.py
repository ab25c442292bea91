"""Where refusals become answers, once for every root field (the root schema applies these to
each field of `Query` and `Mutation`, so no resolver can forget them):

- a mutation's broken business rule (`DomainError`) becomes its payload with `userErrors`;
- elsewhere it is the client's bad input (`BAD_USER_INPUT`);
- acting on another user's object (`NotPermitted`) is `FORBIDDEN` everywhere;
- a throttled attempt (`Throttled`) is `RATE_LIMITED` everywhere, never a userError: nothing
  about the input was wrong.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField

from picotask.schema.errors import Forbidden, RateLimited, refusals_as_errors, user_errors
from picotask.services.core.errors import DomainError, NotPermitted, Throttled


class UserErrors(FieldExtension):
    """For mutations: every payload type has `userErrors` and defaults for the rest."""

    payload: Callable[..., Any]

    def apply(self, field: StrawberryField) -> None:
        payload = field.type
        if not isinstance(payload, type) or not hasattr(payload, "__strawberry_definition__"):
            raise TypeError(f"mutation {field.python_name} must return a payload type")
        self.payload = payload

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        try:
            return next_(source, info, **kwargs)
        except NotPermitted as e:
            raise Forbidden(str(e)) from None
        except Throttled as e:
            raise RateLimited.from_throttled(e) from None
        except DomainError as e:
            return self.payload(user_errors=user_errors(e))

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except NotPermitted as e:
            raise Forbidden(str(e)) from None
        except Throttled as e:
            raise RateLimited.from_throttled(e) from None
        except DomainError as e:
            return self.payload(user_errors=user_errors(e))


class Refusals(FieldExtension):
    """For queries: a broken rule is BAD_USER_INPUT naming the problem."""

    def resolve(self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any) -> Any:
        with refusals_as_errors():
            return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        with refusals_as_errors():
            return await next_(source, info, **kwargs)
