"""The first page of a nested list for many parents at once (a connection inside a list, such
as each task's submissions): a fixed number of queries, however many parents.

Pages are newest first (by id), as `pagination.NEWEST_FIRST`, with the same cursors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from pypika_tortoise.analytics import RowNumber
from pypika_tortoise.enums import Order
from pypika_tortoise.queries import Table
from tortoise.functions import Count
from tortoise.models import Model

from picotask.services.core.pagination import Page, encode_cursor

M = TypeVar("M", bound=Model)
Counter = Callable[[], Awaitable[int]]


async def first_pages(
    model: type[M],
    parent: str,
    parents: Sequence[int],
    *,
    first: int,
    before_id: int | None,
    where: Mapping[str, Sequence[str]],
    count: Callable[[int], Counter],
) -> dict[int, Page[M]]:
    """Each parent's page of `first` rows (of those with `parent` = its id, `where` column in
    values, id below `before_id`), with `count(parent_id)` as its totalCount. Two queries:
    ROW_NUMBER() per parent picks the ids (SQLite and PostgreSQL alike), then the rows."""
    connection = model._meta.db
    table = Table(model._meta.db_table)
    rank = RowNumber().over(table[parent]).orderby(table.id, order=Order.desc)
    ranked = (
        connection.query_class.from_(table)
        .select(table.id, table[parent], rank.as_("row_in_parent"))
        .where(table[parent].isin(list(parents)))
    )
    for column, values in where.items():
        ranked = ranked.where(table[column].isin(list(values)))
    if before_id is not None:
        ranked = ranked.where(table.id < before_id)
    picked = (
        connection.query_class.from_(ranked)
        .select(ranked.id)
        # One more than the page: whether there is a next page.
        .where(ranked.row_in_parent <= first + 1)
    )
    sql, params = picked.get_parameterized_sql()
    ids = [row["id"] for row in await connection.execute_query_dict(sql, params)]
    rows: dict[int, list[M]] = {p: [] for p in parents}
    for row in await model.filter(id__in=ids).order_by("-id") if ids else []:
        rows[getattr(row, parent)].append(row)
    return {
        p: Page(
            items=[(encode_cursor([row.pk]), row) for row in found[:first]],
            has_next_page=len(found) > first,
            count=count(p),
        )
        for p, found in rows.items()
    }


async def counts(
    model: type[Model], parent: str, parents: Sequence[int], where: Mapping[str, Sequence[str]]
) -> dict[int, int]:
    """How many rows each parent has (those with `where` column in values): one GROUP BY."""
    filters: dict[str, list[object]] = {f"{parent}__in": list(parents)}
    filters.update({f"{column}__in": list(values) for column, values in where.items()})
    found = (
        await model.filter(**filters)
        .annotate(rows=Count("id"))
        .group_by(parent)
        .values(parent, "rows")
    )
    by_parent = {row[parent]: row["rows"] for row in found}
    return {p: by_parent.get(p, 0) for p in parents}
