"""userErrors for broken business rules; coded GraphQL errors for auth failures."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry
from graphql import GraphQLError

from picotask.services.errors import DomainError, ErrorCode

UserErrorCode = strawberry.enum(ErrorCode, name="UserErrorCode")


@strawberry.type(description="A broken business rule or invalid input; nothing was written.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field, e.g. ["input", "email"]; null for the whole input.'
    )
    message: str
    code: UserErrorCode  # type: ignore[valid-type]  # strawberry.enum returns the enum class


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


__all__: Sequence[str] = [
    "BadUserInput",
    "CodedError",
    "Forbidden",
    "Unauthenticated",
    "UserError",
    "UserErrorCode",
    "user_errors",
]
