"""Money: integer cents inside, decimal strings with at most two places outside."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from picotask.services.core.errors import DomainError, ErrorCode

CENT = Decimal("0.01")


def to_decimal(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def format_cents(cents: int) -> str:
    return f"{to_decimal(cents):.2f}"


def parse_amount(
    value: Decimal, field: Sequence[str], *, minimum_cents: int, maximum_cents: int
) -> int:
    """Cents for a positive amount with at most two decimals, within the bounds."""
    name = field[-1]
    if not value.is_finite():
        raise DomainError(
            ErrorCode.INVALID_AMOUNT, f'{name} must be a number such as "5.00".', field
        )
    if value <= 0:
        raise DomainError(ErrorCode.INVALID_AMOUNT, f"{name} must be positive.", field)
    # Checked before quantizing: a huge exponent would overflow the decimal context.
    if value.adjusted() > 15:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"{name} must be at most {format_cents(maximum_cents)}.", field
        )
    if value != value.quantize(CENT):
        raise DomainError(
            ErrorCode.INVALID_AMOUNT, f"{name} must have at most two decimal places.", field
        )
    cents = int(value * 100)
    if cents < minimum_cents:
        raise DomainError(
            ErrorCode.BELOW_MINIMUM,
            f"{name} must be at least {format_cents(minimum_cents)}.",
            field,
        )
    if cents > maximum_cents:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"{name} must be at most {format_cents(maximum_cents)}.", field
        )
    return cents
