"""Relay conventions: opaque global ids, the Node interface and keyset connections."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Self, TypeVar

import strawberry
from tortoise.models import Model

from picotask.services.core.global_ids import global_id
from picotask.services.core.pagination import Page

T = TypeVar("T")
MAX_PK = 2**63 - 1  # BIGINT: a larger id would overflow the driver, so it names nothing
M = TypeVar("M", bound=Model)


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(global_id(type_name, pk))


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, primary key), or None for an id that is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
        type_name, _, pk = raw.partition(":")
        value = int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not type_name or not 0 < value <= MAX_PK or str(value) != pk:
        return None
    return type_name, value


def pk_of(global_id: str, type_name: str) -> int | None:
    parsed = from_global_id(global_id)
    if parsed is None or parsed[0] != type_name:
        return None
    return parsed[1]


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole list holds (one COUNT query).")
    async def total_count(self) -> int:
        return await self._count()

    @classmethod
    def of(cls, page: Page[M], convert: Callable[[M], T], **fields: Any) -> Self:
        """`fields`: a subclass's own fields."""
        edges = [Edge(cursor=cursor, node=convert(row)) for cursor, row in page.items]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            _count=page.count,
            **fields,
        )
