"""`DateTime` (ISO-8601 UTC with `Z`) and `Decimal` (a string such as "0.50")."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import strawberry
from strawberry.types.scalar import ScalarDefinition


def _serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("DateTime must be an ISO-8601 string")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("DateTime must carry a time zone (use Z for UTC)")
    return parsed.astimezone(UTC)


def _parse_decimal(value: object) -> Decimal:
    """Any string; one that is not a number parses to NaN, which the services reject as a
    userError naming the field (a scalar error could not name it)."""
    if not isinstance(value, str):
        raise ValueError('Decimal must be given as a string, such as "0.50"')
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        return Decimal("NaN")


DateTimeScalar: ScalarDefinition = strawberry.scalar(
    name="DateTime",
    description="An ISO-8601 instant in UTC, such as 2026-01-31T12:00:00Z.",
    serialize=_serialize_datetime,
    parse_value=_parse_datetime,
)
DecimalScalar: ScalarDefinition = strawberry.scalar(
    name="Decimal",
    description='A decimal number as a string, such as "0.50".',
    serialize=str,
    parse_value=_parse_decimal,
)
SCALAR_MAP: dict[object, ScalarDefinition] = {datetime: DateTimeScalar, Decimal: DecimalScalar}
