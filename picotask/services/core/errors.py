"""Typed domain errors: a broken business rule, reported to the client as a userError."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from picotask.services.core.user_text import TextKind, describe, first_refused, normalize


class ErrorCode(StrEnum):
    INVALID = "INVALID"
    TOO_LONG = "TOO_LONG"
    TOO_SHORT = "TOO_SHORT"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    UNKNOWN_COUNTRY = "UNKNOWN_COUNTRY"
    INVALID_AMOUNT = "INVALID_AMOUNT"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    BELOW_MINIMUM = "BELOW_MINIMUM"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    NOT_FOUND = "NOT_FOUND"
    INVALID_STATUS = "INVALID_STATUS"
    SUSPENDED = "SUSPENDED"
    NOT_ELIGIBLE = "NOT_ELIGIBLE"
    OWN_TASK = "OWN_TASK"
    ALREADY_CLAIMED = "ALREADY_CLAIMED"
    NO_SLOTS_LEFT = "NO_SLOTS_LEFT"
    DEADLINE_PASSED = "DEADLINE_PASSED"
    DUPLICATE = "DUPLICATE"
    REQUIRED = "REQUIRED"
    COMMON_PASSWORD = "COMMON_PASSWORD"  # noqa: S105 - an error code, not a password
    UNSUPPORTED_IMAGE = "UNSUPPORTED_IMAGE"
    TOO_LARGE = "TOO_LARGE"
    LIMIT_REACHED = "LIMIT_REACHED"
    # A cursor from before what the event log keeps (services/core/retention.py).
    CURSOR_EXPIRED = "CURSOR_EXPIRED"
    # A mailed link's token that is forged, used or expired.
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 - an error code, not a token
    # Claiming, posting and withdrawing wait for a confirmed email address.
    EMAIL_NOT_CONFIRMED = "EMAIL_NOT_CONFIRMED"
    # Two factors are on: this step needs a current code (twoFactorCode).
    TWO_FACTOR_REQUIRED = "TWO_FACTOR_REQUIRED"
    # A two-factor or recovery code that is wrong, already used, or from outside its window.
    INVALID_CODE = "INVALID_CODE"
    # A saved payout method whose mailed link was not followed yet.
    PENDING_CONFIRMATION = "PENDING_CONFIRMATION"
    # A saved payout method still in its cool-down after confirmation.
    COOLING_DOWN = "COOLING_DOWN"


class DomainError(Exception):
    """One or more rule violations; each names the input field it concerns."""

    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.problems: list[Problem] = [Problem(code, message, list(field) if field else None)]

    @classmethod
    def of(cls, problems: Sequence[Problem]) -> DomainError:
        error = cls(problems[0].code, problems[0].message, problems[0].field)
        error.problems = list(problems)
        return error


class NotPermitted(Exception):
    """The viewer may see the object but not act on it (another employer's task, say)."""


class Throttled(Exception):
    """Too many attempts or too much work from one client: nothing was done; try again after
    `retry_after` seconds. Not a broken rule of the input, so never a userError."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Problem:
    __slots__ = ("code", "field", "message")

    def __init__(self, code: ErrorCode, message: str, field: list[str] | None) -> None:
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"Problem({self.code}, {self.message!r}, {self.field})"


class Validator:
    """Collects every problem in an input before raising, so the client sees them all."""

    def __init__(self, prefix: Sequence[str] = ("input",)) -> None:
        self.prefix = list(prefix)
        self.problems: list[Problem] = []

    def add(
        self, field: str, code: ErrorCode, message: str, prefix: Sequence[str] | None = None
    ) -> None:
        base = self.prefix if prefix is None else list(prefix)
        self.problems.append(Problem(code, message, [*base, field]))

    def text(
        self,
        field: str,
        value: str,
        *,
        max_length: int,
        min_length: int = 0,
        kind: TextKind = TextKind.LINE,
    ) -> str:
        """`value` normalized for its kind (services/core/user_text.py); TOO_SHORT, TOO_LONG, or
        INVALID for a character that draws nothing or hides or reorders text."""
        stripped = normalize(value, kind)
        refused = first_refused(stripped, kind)
        if len(stripped) < min_length:
            if min_length == 1:
                self.add(field, ErrorCode.TOO_SHORT, f"{field} must not be empty.")
            else:
                self.add(
                    field, ErrorCode.TOO_SHORT, f"{field} must be at least {min_length} characters."
                )
        elif len(stripped) > max_length:
            self.add(field, ErrorCode.TOO_LONG, f"{field} must be at most {max_length} characters.")
        elif refused is not None:
            self.add(field, ErrorCode.INVALID, refused_message(field, refused))
        return stripped

    def check(self) -> None:
        if self.problems:
            raise DomainError.of(self.problems)


MAX_COMMENT = 2_000


def refused_message(field: str, ch: str) -> str:
    return (
        f"{field} must not contain invisible, control or direction-changing characters "
        f"(found {describe(ch)})."
    )


def checked_text(
    name: str, value: str | None, *, required: bool, limit: int = MAX_COMMENT
) -> str | None:
    """Free text from the user (prose: several lines), normalized; TOO_SHORT / TOO_LONG /
    INVALID naming the field."""
    v = Validator()
    text = v.text(
        name,
        value or "",
        min_length=1 if required else 0,
        max_length=limit,
        kind=TextKind.PROSE,
    )
    v.check()
    return text or None
