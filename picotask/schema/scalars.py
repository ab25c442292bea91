"""`DateTime` (ISO-8601 UTC with `Z`) and `Decimal` (a string such as "0.50")."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition


def _serialize_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _shown(value: object) -> str:
    """A client's value in an error message, bounded."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _parse_datetime(value: object) -> datetime:
    """Errors are GraphQLErrors: a client's bad value, never a bug to mask (as variables and as
    literals in the query text alike)."""
    expected = "DateTime must be an ISO-8601 string with a time zone, such as 2026-01-31T12:00:00Z"
    if not isinstance(value, str) or len(value) > 40:
        raise GraphQLError(f"{expected}; got {_shown(value)}.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise GraphQLError(f"{expected}; got {_shown(value)}.") from None
    if parsed.tzinfo is None:
        raise GraphQLError(f"{expected}; {_shown(value)} has no time zone (use Z for UTC).")
    return parsed.astimezone(UTC)


def _parse_decimal(value: object) -> Decimal:
    """Any string; one that is not a number parses to NaN, which the services reject as a
    userError naming the field (a scalar error could not name it)."""
    if not isinstance(value, str):
        raise GraphQLError(
            f'Decimal must be given as a string, such as "0.50"; got {_shown(value)}.'
        )
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

# A `from: DateTime!` argument (a Python keyword, so the parameter is `from_`), as reports take.
From = Annotated[datetime, strawberry.argument(name="from")]
