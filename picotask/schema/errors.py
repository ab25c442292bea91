"""userErrors for broken business rules; coded GraphQL errors for auth failures."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import strawberry
from graphql import GraphQLError

from picotask.services.accounts.throttle import seconds
from picotask.services.core.errors import DomainError, ErrorCode, NotPermitted, Throttled

strawberry.enum(ErrorCode, name="UserErrorCode")


@strawberry.type(description="A broken business rule or invalid input; nothing was written.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field, e.g. ["input", "email"]; null for the whole input.'
    )
    message: str
    code: ErrorCode


def user_errors(error: DomainError) -> list[UserError]:
    return [UserError(field=p.field, message=p.message, code=p.code) for p in error.problems]


class CodedError(GraphQLError):
    """A GraphQL error with `extensions.code`; these are expected and never masked."""

    code = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class Unauthenticated(CodedError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Authentication required.") -> None:
        super().__init__(message)


class Forbidden(CodedError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "You may not do this.") -> None:
        super().__init__(message)


class BadUserInput(CodedError):
    code = "BAD_USER_INPUT"

    @classmethod
    def from_domain(cls, error: DomainError) -> BadUserInput:
        """The problems' messages; `field` and `reason` of the first (as a mutation's
        `userErrors` has them), so a client can point at the input."""
        refusal = cls(" ".join(p.message for p in error.problems))
        assert refusal.extensions is not None
        first = error.problems[0]
        refusal.extensions.update(field=first.field, reason=first.code.value)
        return refusal


class RateLimited(CodedError):
    """Too many attempts or too much work: `retryAfterSeconds` says when to come back (and a
    request refused whole is an HTTP 429 with `Retry-After`)."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: float, **more: object) -> None:
        super().__init__(message)
        assert self.extensions is not None
        self.extensions.update(retryAfterSeconds=seconds(retry_after), **more)

    @classmethod
    def from_throttled(cls, error: Throttled) -> RateLimited:
        return cls(str(error), error.retry_after)


class QueryTooComplex(CodedError):
    code = "QUERY_TOO_COMPLEX"

    def __init__(self, cost: int, limit: int) -> None:
        super().__init__(
            f"This operation may cost {cost} points, more than the {limit} one operation may "
            "cost: ask for fewer items (`first`) or fewer nested lists."
        )
        assert self.extensions is not None
        self.extensions.update(cost=cost, maxCost=limit)


class CursorExpired(CodedError):
    """A cursor from before what the event log keeps (services/core/retention.py): the client
    starts again without it. Its own code, so that a client can tell it from a bad cursor."""

    code = "CURSOR_EXPIRED"

    def __init__(self, error: DomainError) -> None:
        super().__init__(str(error))
        assert self.extensions is not None
        self.extensions.update(field=error.problems[0].field)


def refused(error: DomainError) -> CodedError:
    """A broken rule outside a mutation: the client's bad input."""
    if error.problems[0].code is ErrorCode.CURSOR_EXPIRED:
        return CursorExpired(error)
    return BadUserInput.from_domain(error)


@contextlib.contextmanager
def refusals_as_errors() -> Iterator[None]:
    """Outside mutations (queries, subscriptions, nested fields), a broken rule is the
    client's bad input and another user's object is FORBIDDEN."""
    try:
        yield
    except NotPermitted as e:
        raise Forbidden(str(e)) from None
    except Throttled as e:
        raise RateLimited.from_throttled(e) from None
    except DomainError as e:
        raise refused(e) from None


__all__: Sequence[str] = [
    "BadUserInput",
    "CodedError",
    "CursorExpired",
    "Forbidden",
    "QueryTooComplex",
    "RateLimited",
    "Unauthenticated",
    "UserError",
    "refusals_as_errors",
    "refused",
    "user_errors",
]
