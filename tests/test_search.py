"""Search and the orders a worker may ask for: the same answers on both backends, each read
through an index (migration 0009), as the SQL the app sends shows under EXPLAIN."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from picotask.models.tasks import Task
from picotask.services.core.statistics import PlannerStatistics
from tests.support import Api, next_data
from tests.test_marketplace_api import CLAIM, TASKS, create, employer
from tests.test_subscriptions import FEED


async def ids(api: Api, token: str, variables: dict[str, Any]) -> list[str]:
    data = (await api.gql(TASKS, {"first": 50, **variables}, token))["tasks"]
    if "after" not in variables:
        assert data["totalCount"] == len(data["edges"])
    return [edge["node"]["id"] for edge in data["edges"]]


async def posted(api: Api) -> tuple[str, dict[str, str]]:
    """A worker's token and three tasks (oldest first) whose texts test the search."""
    boss = await employer(api, "500.00")
    texts = {
        "review": ("Review our CAT café app", "Rate it from one to five."),
        "video": ("Watch a video", "It is about 100% cotton_shirts."),
        "signup": ("Sign up", 'Say "hello" there; we sell cotton shirts.'),
    }
    tasks = {}
    for name, (title, instructions) in texts.items():
        made = await create(api, boss, title=title, instructions=instructions)
        assert made["userErrors"] == []
        tasks[name] = made["task"]["id"]
    worker = await api.sign_up(country="US")
    return worker.token, tasks


async def test_search_finds_a_substring_of_title_or_instructions(api: Api) -> None:
    token, t = await posted(api)
    newest_first = [t["signup"], t["video"], t["review"]]
    assert await ids(api, token, {}) == newest_first
    cases = {
        "cat": [t["review"]],  # case-insensitive, inside the title
        "CAT CAFÉ": [t["review"]],
        "café": [t["review"]],  # not ASCII
        "rate it": [t["review"]],  # the instructions, across a word boundary
        "cotton": [t["signup"], t["video"]],  # newest first, as without a search
        "100%": [t["video"]],  # LIKE's wildcards are plain characters
        "n_s": [t["video"]],  # (not "cotton shirts")
        '"hello"': [t["signup"]],  # so are FTS5's quotes
        "hello there": [],  # a substring, not words anywhere
        "zebra": [],
    }
    for text, expected in cases.items():
        assert await ids(api, token, {"filter": {"search": text}}) == expected, text
    # A search pages like any list: keyset cursors within the matches.
    first = (await api.gql(TASKS, {"first": 1, "filter": {"search": "cotton"}}, token))["tasks"]
    assert first["pageInfo"]["hasNextPage"] is True
    after = first["pageInfo"]["endCursor"]
    rest = await ids(api, token, {"filter": {"search": "cotton"}, "after": after})
    assert [first["edges"][0]["node"]["id"], *rest] == [t["signup"], t["video"]]
    # A task the worker claimed leaves their search too.
    await api.gql(CLAIM, {"id": t["video"]}, token)
    assert await ids(api, token, {"filter": {"search": "cotton"}}) == [t["signup"]]


async def test_a_changed_title_is_searched_by_its_new_text(api: Api) -> None:
    token, t = await posted(api)
    (task,) = await Task.filter(title="Watch a video")
    task.title = "Watch a film"
    await task.save(update_fields=["title"])
    assert await ids(api, token, {"filter": {"search": "video"}}) == []
    assert await ids(api, token, {"filter": {"search": "a film"}}) == [t["video"]]


@pytest.mark.parametrize("text", ["ab", " ab ", "é"])
async def test_a_search_under_three_characters_is_refused_on_both_transports(
    api: Api, text: str
) -> None:
    token, _ = await posted(api)
    errors = await api.errors(TASKS, {"filter": {"search": text}}, token)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert errors[0]["extensions"]["reason"] == "TOO_SHORT", errors
    assert errors[0]["extensions"]["field"] == ["filter", "search"]
    assert "at least 3 characters" in errors[0]["message"]
    async with api.ws(token) as ws:
        await ws.subscribe("feed", FEED, {"filter": {"search": text}})
        message = await ws.receive_for("feed")
        payload = message["payload"]
        found = payload if message["type"] == "error" else payload["errors"]
        assert found[0]["extensions"]["field"] == ["filter", "search"], message
        await ws.subscribe("ok", "{ me { id } }")  # the socket goes on
        assert (await next_data(ws, "ok"))["me"]["id"]
    # Blank is no search at all.
    assert len(await ids(api, token, {"filter": {"search": "   "}})) == 3


# The SQL the app sends for a page, and its plan.


class Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sent: list[tuple[str, list[Any]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args
        if isinstance(args, tuple) and len(args) == 2 and isinstance(args[0], str):
            values = args[1]
            self.sent.append((args[0], list(values) if isinstance(values, list | tuple) else []))


@contextmanager
def statements() -> Iterator[Statements]:
    logger = logging.getLogger("tortoise.db_client")
    handler, level = Statements(), logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def plan_of(
    api: Api, query: str, variables: dict[str, Any], token: str, table: str, *off: str
) -> str:
    """The plan of the first SELECT from `table` that answering the operation sent, with
    sequential scans priced out on PostgreSQL (a test database is too small for its planner
    to want an index: this asks whether one serves the query); `off` prices out more."""
    with statements() as seen:
        body = (await api.post(query, variables, token)).json()
    assert "errors" not in body, body
    sql, values = next(
        s for s in seen.sent if s[0].startswith("SELECT") and f'FROM "{table}"' in s[0]
    )
    if connections.get("default").capabilities.dialect == "sqlite":
        rows = await connections.get("default").execute_query_dict(
            "EXPLAIN QUERY PLAN " + sql, values
        )
        return "\n".join(str(row["detail"]) for row in rows)
    async with in_transaction() as conn:
        for setting in ("enable_seqscan", *off):
            await conn.execute_script(f"SET LOCAL {setting} = off")
        rows = await conn.execute_query_dict("EXPLAIN " + sql, values)
    return "\n".join(str(row["QUERY PLAN"]) for row in rows)


def is_sqlite() -> bool:
    dialect: str = connections.get("default").capabilities.dialect
    return dialect == "sqlite"


@pytest.mark.parametrize(
    ("order", "index"),
    [
        ("NEWEST", "published_at"),
        ("HIGHEST_REWARD", "reward"),
        ("BEST_PAY_PER_MINUTE", "pay_per_minute"),
    ],
)
async def test_every_order_of_the_open_tasks_reads_its_index(
    api: Api, order: str, index: str
) -> None:
    token, _ = await posted(api)
    plan = await plan_of(api, TASKS, {"order": order, "first": 2}, token, "tasks")
    # The tasks the worker took before are left out by one index probe per candidate, not by
    # reading all of them first: the cost stays with the page, not the worker's history.
    if is_sqlite():
        assert "idx_tasks_status_" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        assert "SEARCH submissions_probe USING COVERING INDEX" in plan, plan
    else:
        assert "Index Scan Backward using idx_tasks_status_" in plan, plan
        assert "Sort" not in plan, plan
        assert "Anti Join" in plan, plan
    names = {
        row["name"]
        for row in await connections.get("default").execute_query_dict(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
            if is_sqlite()
            else "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'tasks'"
        )
    }
    used = next(name for name in names if name in plan)
    columns = await index_columns(used)
    assert columns == ["status", index, "id"], (used, columns)


async def index_columns(name: str) -> list[str]:
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        rows = await conn.execute_query_dict("SELECT name FROM pragma_index_info(?)", [name])
        return [str(row["name"]) for row in rows]
    rows = await conn.execute_query_dict(
        "SELECT a.attname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n) ON true "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE c.relname = $1 ORDER BY k.n",
        [name],
    )
    return [str(row["name"]) for row in rows]


async def test_a_search_reads_the_text_index(api: Api) -> None:
    token, _ = await posted(api)
    if not is_sqlite():
        # PostgreSQL picks by statistics: give it a table where a word is rare.
        columns = ", ".join(f'"{c}"' for c in Task._meta.db_fields if c != "id")
        conn = connections.get("default")
        await conn.execute_query(
            f"INSERT INTO tasks ({columns}) SELECT {columns} FROM tasks, "  # noqa: S608 (our column names, no input)
            "generate_series(1, 3000) WHERE title = 'Sign up'"
        )
        await conn.execute_script("VACUUM ANALYZE tasks")
    # Reading the open tasks in order and filtering would do on a small table: priced out
    # too, what is left is the text index or reading the table (`status`) and sorting.
    off = ("enable_indexscan",)
    plan = await plan_of(api, TASKS, {"filter": {"search": "zebra"}}, token, "tasks", *off)
    if is_sqlite():
        assert "VIRTUAL TABLE INDEX" in plan, plan
        assert "task_search" in plan, plan
    else:
        assert "tasks_title_trgm" in plan, plan
        assert "tasks_instructions_trgm" in plan, plan


async def test_a_workers_submissions_page_reads_its_index(api: Api) -> None:
    token, t = await posted(api)
    await api.gql(CLAIM, {"id": t["video"]}, token)
    query = "{ mySubmissions(first: 5) { edges { node { id } } } }"
    plan = await plan_of(api, query, {}, token, "submissions")
    if is_sqlite():
        assert "idx_submissions_worker_" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert "idx_submissions_worker_" in plan, plan
        assert "Sort" not in plan, plan


async def test_sqlite_gathers_planner_statistics_at_the_first_sweep_then_hourly(api: Api) -> None:
    await posted(api)
    statistics = PlannerStatistics(api.clock)
    if not is_sqlite():
        assert await statistics.refresh() is False  # PostgreSQL's autovacuum keeps its own
        return
    conn = connections.get("default")
    await conn.execute_script("DROP TABLE IF EXISTS sqlite_stat1")
    assert await statistics.refresh() is True
    rows = await conn.execute_query_dict("SELECT tbl, idx FROM sqlite_stat1 WHERE tbl = 'tasks'")
    assert {row["idx"] for row in rows} >= {
        name for name in await task_indexes() if "status" in name
    }
    assert await statistics.refresh() is False
    api.clock.advance(59 * 60)
    assert await statistics.refresh() is False
    api.clock.advance(60)
    assert await statistics.refresh() is True


async def task_indexes() -> set[str]:
    rows = await connections.get("default").execute_query_dict(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tasks'"
    )
    return {str(row["name"]) for row in rows}
