"""Keyset pagination: a page is the rows after a cursor in a fixed total order."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q
from tortoise.fields import DatetimeField
from tortoise.models import Model
from tortoise.queryset import QuerySet

from picotask.services.core.errors import DomainError, ErrorCode

M = TypeVar("M", bound=Model)
DEFAULT_PAGE = 20
MAX_PAGE = 100
MAX_CURSOR = 200  # characters; two keys of ours take under 100


@dataclass(frozen=True, slots=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(slots=True)
class Page(Generic[M]):
    items: list[tuple[str, M]]
    has_next_page: bool
    count: Callable[[], Awaitable[int]]


MAX_KEY = 2**63 - 1


def _plain(value: Any) -> int | dict[str, str]:
    if isinstance(value, datetime):
        return {"at": value.isoformat()}
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"cannot put {value!r} in a cursor")


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_plain(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _typed(value: object, is_datetime: bool) -> Any:
    """A cursor value of the type its sort key has, or ValueError: a forged cursor must not
    reach the database as a type it cannot compare."""
    if is_datetime:
        if not isinstance(value, dict) or not isinstance(value.get("at"), str):
            raise ValueError("expected a time")
        moment = datetime.fromisoformat(value["at"])
        if moment.tzinfo is None:
            raise ValueError("expected an aware time")
        return moment
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_KEY <= value <= MAX_KEY:
        raise ValueError("expected a whole number")
    return value


def decode_cursor(cursor: str, datetime_keys: Sequence[bool], field: str = "after") -> list[Any]:
    """The key values of `cursor`; `datetime_keys` tells, per sort key, if it is a time.
    Ours are short; a long or deeply nested one is forged and never reaches the JSON parser's
    recursion."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(datetime_keys):
            raise ValueError("not a list of keys")
        return [_typed(v, d) for v, d in zip(values, datetime_keys, strict=True)]
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise DomainError(ErrorCode.INVALID, f"{field} is not a valid cursor.", [field]) from None


def check_first(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"first must be between 0 and {MAX_PAGE}.", ["first"]
        )
    return first


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> Q:
    """Rows strictly after `values` in the order `keys`: (a > x) or (a = x and b > y) ..."""
    clauses: list[Q] = []
    for i, key in enumerate(keys):
        equal = {k.field: v for k, v in zip(keys[:i], values[:i], strict=True)}
        op = "lt" if key.descending else "gt"
        clauses.append(Q(**equal, **{f"{key.field}__{op}": values[i]}))
    result = clauses[0]
    for clause in clauses[1:]:
        result |= clause
    if len(keys) > 1:
        # The same rows, with the first key's bound on its own: an index on the keys can then
        # start at the cursor instead of reading every row before it (OR hides the bound).
        first = keys[0]
        result &= Q(**{f"{first.field}__{'lte' if first.descending else 'gte'}": values[0]})
    return result


async def keyset_page(
    query: QuerySet[M],
    keys: Sequence[SortKey],
    first: int | None,
    after: str | None,
) -> Page[M]:
    """`keys` must end with a unique field (the primary key) so the order is total."""
    limit = check_first(first)
    filtered = query
    if after is not None:
        fields = query.model._meta.fields_map
        is_time = [isinstance(fields[k.field], DatetimeField) for k in keys]
        filtered = query.filter(_after(keys, decode_cursor(after, is_time)))
    ordering = [("-" if k.descending else "") + k.field for k in keys]
    rows = await filtered.order_by(*ordering).limit(limit + 1)
    items = [(encode_cursor([getattr(row, k.field) for k in keys]), row) for row in rows[:limit]]
    return Page(items=items, has_next_page=len(rows) > limit, count=query.count)


ID_ORDER = (SortKey("id"),)
NEWEST_FIRST = (SortKey("id", descending=True),)
