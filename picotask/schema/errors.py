"""userErrors for broken business rules; coded GraphQL errors for auth failures."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import strawberry
from graphql import GraphQLError

from picotask.services.errors import DomainError, ErrorCode, NotPermitted

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
        return cls(" ".join(p.message for p in error.problems))


@contextlib.contextmanager
def refusals_as_errors() -> Iterator[None]:
    """Outside mutations (queries, subscriptions, nested fields), a broken rule is the
    client's bad input and another user's object is FORBIDDEN."""
    try:
        yield
    except NotPermitted as e:
        raise Forbidden(str(e)) from None
    except DomainError as e:
        raise BadUserInput.from_domain(e) from None


__all__: Sequence[str] = [
    "BadUserInput",
    "CodedError",
    "Forbidden",
    "Unauthenticated",
    "UserError",
    "refusals_as_errors",
    "user_errors",
]
