"""Connections from querysets: keyset pages, with a bad cursor or `first` as BAD_USER_INPUT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from picotask.schema.errors import BadUserInput
from picotask.schema.relay import Connection
from picotask.services.errors import DomainError
from picotask.services.pagination import NEWEST_FIRST, SortKey, keyset_page

M = TypeVar("M", bound=Model)
T = TypeVar("T")


async def connection(
    query: QuerySet[M],
    convert: Callable[[M], T],
    first: int | None,
    after: str | None,
    keys: Sequence[SortKey] = NEWEST_FIRST,
) -> Connection[T]:
    try:
        page = await keyset_page(query, keys, first, after)
    except DomainError as e:
        raise BadUserInput.from_domain(e) from None
    return Connection.of(page, convert)
