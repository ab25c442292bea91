"""Conditions tortoise's filters cannot say, as `Q`s that combine with every other filter.

`Where(build)` resolves, for the query it is part of, to the pypika criterion that
`build(table, dialect)` returns: `table` is the query's own table (so a condition can refer to
its row), `dialect` "sqlite" or "postgres". Values go in as parameters (pypika's
`ValueWrapper`), never into the text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pypika_tortoise.context import SqlContext
from pypika_tortoise.queries import Table
from pypika_tortoise.terms import Criterion, ValueWrapper
from tortoise.expressions import Q, ResolveContext
from tortoise.query_utils import QueryModifier

Build = Callable[[Table, str], Criterion]


class Where(Q):
    def __init__(self, build: Build) -> None:
        super().__init__()
        self.build = build

    def __bool__(self) -> bool:
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Where) and other.build is self.build and super().__eq__(other)

    def __hash__(self) -> int:
        return id(self.build)

    def resolve(self, resolve_context: ResolveContext, *_: Any) -> QueryModifier:
        dialect: str = resolve_context.model._meta.db.capabilities.dialect
        condition = self.build(resolve_context.table, dialect)
        return QueryModifier(where_criterion=condition.negate() if self._is_negated else condition)


class NoRowIn(Criterion):
    """`NOT EXISTS (SELECT 1 FROM other AS alias WHERE alias.link = table.id AND alias.key =
    value)`: an anti-join the planner can answer with one index probe per candidate row (where
    `NOT IN (subquery)` reads every row of the subquery first)."""

    def __init__(self, table: Table, other: str, link: str, key: str, value: object) -> None:
        super().__init__()
        self.table, self.other, self.link, self.key, self.value = table, other, link, key, value

    def get_sql(self, ctx: SqlContext) -> str:
        q = ctx.quote_char
        alias = f"{q}{self.other}_probe{q}"
        value = ValueWrapper(self.value).get_sql(ctx)
        return (
            f"NOT EXISTS (SELECT 1 FROM {q}{self.other}{q} {alias} "
            f"WHERE {alias}.{q}{self.link}{q}={q}{self.table.get_table_name()}{q}.{q}id{q} "
            f"AND {alias}.{q}{self.key}{q}={value})"
        )
