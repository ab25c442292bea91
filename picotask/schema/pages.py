"""Connections from querysets: keyset pages, with a bad cursor or `first` as BAD_USER_INPUT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from picotask.schema.errors import refusals_as_errors
from picotask.schema.relay import Connection
from picotask.services.core.pagination import NEWEST_FIRST, Page, SortKey, keyset_page

M = TypeVar("M", bound=Model)
T = TypeVar("T")


async def connection(
    query: QuerySet[M],
    convert: Callable[[M], T],
    first: int | None,
    after: str | None,
    keys: Sequence[SortKey] = NEWEST_FIRST,
) -> Connection[T]:
    return Connection.of(await page_of(query, first, after, keys), convert)


async def page_of(
    query: QuerySet[M],
    first: int | None,
    after: str | None,
    keys: Sequence[SortKey] = NEWEST_FIRST,
) -> Page[M]:
    """A page for a named connection class: `SubmissionConnection.of(await page_of(...), ...)`."""
    with refusals_as_errors():
        return await keyset_page(query, keys, first, after)
