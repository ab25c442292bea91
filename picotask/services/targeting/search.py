"""A worker's search: tasks whose title or instructions contain the text, case-insensitively,
through an index on each backend (migration 0009).

- PostgreSQL: `title ILIKE '%text%' OR instructions ILIKE '%text%'`, each side served by a
  pg_trgm GIN index (a bitmap OR of the two; a search that matches nothing reads no task).
- SQLite: the FTS5 table `task_search` (trigram tokenizer, the tasks table as its content) with
  the text as one phrase: for trigrams a phrase is exactly a substring of either column.

Trigram indexes need at least three characters (`MIN_SEARCH`); `discovery.check_filter` refuses
shorter searches, so no search falls back to reading every open task.
"""

from __future__ import annotations

from pypika_tortoise.enums import Comparator
from pypika_tortoise.queries import Query, Table
from pypika_tortoise.terms import BasicCriterion, Criterion, Field, ValueWrapper
from tortoise.filters import escape_like

from picotask.services.core.criteria import Where

MIN_SEARCH = 3
SQLITE_INDEX = Table("task_search")


class _FullText(Comparator):
    match = " MATCH "


def phrase(text: str) -> str:
    """`text` as one FTS5 phrase: quoted, a quote inside doubled (nothing else is special)."""
    return '"' + text.replace('"', '""') + '"'


def contains(table: Table, dialect: str, text: str) -> Criterion:
    """The SQL condition: the row of `table` (tasks) contains `text` in a searched column."""
    if dialect == "sqlite":
        hits = (
            Query.from_(SQLITE_INDEX)
            .select(Field("rowid", table=SQLITE_INDEX))
            .where(
                BasicCriterion(
                    _FullText.match,
                    Field("task_search", table=SQLITE_INDEX),
                    ValueWrapper(phrase(text)),
                )
            )
        )
        return Field("id", table=table).isin(hits)
    pattern = f"%{escape_like(text)}%"
    return Field("title", table=table).ilike(pattern) | Field("instructions", table=table).ilike(
        pattern
    )


def task_search(text: str) -> Where:
    """`Task.filter(task_search(text))`: `contains` for the query's backend, combined with every
    other filter, the keyset page and its count."""
    return Where(lambda table, dialect: contains(table, dialect, text))
