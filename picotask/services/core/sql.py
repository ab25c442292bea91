"""Raw SQL for reports (statements, analytics) on SQLite and PostgreSQL alike.

Reports are aggregates, window functions and CTEs, which the ORM cannot say; the few places
where the two dialects differ (parameter style, dates, time differences) are written once here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient


class Sql:
    """One statement's parameters, numbered (`$1` on PostgreSQL, `?1` on SQLite), so a
    statement may be assembled from its parts in any order."""

    def __init__(self, connection: BaseDBAsyncClient | None = None) -> None:
        self.connection = connection or connections.get("default")
        self.postgres = self.connection.capabilities.dialect == "postgres"
        self.params: list[Any] = []

    def __call__(self, value: Any) -> str:
        """A placeholder bound to `value` (times in UTC, as they are stored)."""
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
        self.params.append(value)
        return f"${len(self.params)}" if self.postgres else f"?{len(self.params)}"

    def each(self, values: Iterable[Any]) -> str:
        """A parenthesized list of placeholders for IN; `(NULL)` (matches nothing) when empty."""
        placeholders = [self(v) for v in values]
        return f"({', '.join(placeholders)})" if placeholders else "(NULL)"

    def day(self, column: str) -> str:
        """The UTC calendar day of a stored time, as 'YYYY-MM-DD'. (SQLite stores the offset
        with the text, and its date() applies it.)"""
        if self.postgres:
            return f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        return f"date({column})"

    def seconds_between(self, start: str, end: str) -> str:
        if self.postgres:
            return f"EXTRACT(EPOCH FROM ({end} - {start}))"
        return f"((julianday({end}) - julianday({start})) * 86400.0)"

    async def rows(self, statement: str) -> list[dict[str, Any]]:
        return await self.connection.execute_query_dict(statement, self.params)
