"""Growth benchmark (issue #26): the pages a worker and an employer load, and a feed
subscription's catch-up, on a small database and again after it grew in place to a large one,
over HTTP against one picotask server; their p50 compared (large / small, flagged above 1.5x).

    python -m bench.growth                               # SQLite, then PostgreSQL if reachable
    python -m bench.growth --backend postgres            # 1,000 -> 1,000,000 tasks
    python -m bench.growth --backend postgres --tasks 300000 --requests 30
    python -m bench.growth --quick                       # CI: 200 -> 5,000 tasks, both backends
    python -m bench.growth --backend postgres --explain-ms 20   # plans in the server log

A new migrated database per backend (`bench.http.database`) and one picotask server (uvicorn,
production settings, as bench/http.py runs it) for the whole run. The world is made over the
API: two employers deposit and each posts three tasks (distinct titles, instructions, rewards
and minutes); a worker ("me") claims and submits four of them and gets three approved (their
statement and mySubmissions have rows); three crowd workers, and a second worker who browses
`tasks` and subscribes to the feed.

Then the database is grown in SQL, one INSERT ... SELECT per table (PostgreSQL's
generate_series, SQLite's recursive CTE), first to `--small` tasks ("small"), measured, then
in place to `--tasks` ("large"), measured again with the same requests. The server is stopped
while the database grows and a new one started for each measurement: a server running through
the growth would read every copied event from the log (subscriptions/sequencer.py reads past
its position, 500 at a time) while it is measured. Each request gets warm-ups first.
- tasks: copies of a real OPEN task, alternately of either employer, with the copy's number
  appended to the title, reward, pay per minute and published_at varied (copies are older
  than the real tasks, each a second older than the one before), all OPEN with free slots.
  Exactly 25 copies of each grown block, spread evenly over it, have the word "quokka" in the
  title (the search that matches a few); no task has "zyzzyvax" (the search that matches none).
- submissions (`--submissions`, default: as many as tasks): copies of me's approved
  submission, on the block's new tasks; one in 50 is me's (so ~20 in the small database,
  ~20,000 at 1,000,000: a heavy worker), the rest the crowd's.
- events (`--events`, default 10 x tasks): one in 10 a FEED `task.posted` (audience null, the
  real event's task snapshot as payload), three in 10 SUBMISSIONS and six in 10
  NOTIFICATIONS events with an audience of other (made-up) user ids, like the real streams.
- ANALYZE after each growth (on SQLite bounded, as the sweeper runs it). The ledger (hence
  `statement`) is not grown.

Requests (p50/p90 of `--requests` sequential requests after 3 warm-ups, HTTP keep-alive,
POST /graphql with the viewer's token): tasks(first: 20) by NEWEST, HIGHEST_REWARD and
BEST_PAY_PER_MINUTE, with a search that matches nothing and one that matches a few, NEWEST's
second page; the employer's myTasks(first: 20); me's mySubmissions(first: 20) and
statement(first: 20); and the feed catch-up: a `taskFeed(after:)` subscription over
graphql-transport-ws from the cursor just before the last 100 FEED events of the log, timed
from `subscribe` until the 100th replayed event arrives. (A cursor from before the growth would
replay every copied task's event: a throughput figure, not one comparable across sizes.)
No connection asks for totalCount (one COUNT each). Every answer is checked: no errors, the
expected number of edges, and the same ids in the same order on every repetition; a wrong
answer exits non-zero, a slow ratio never does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from bench.http import (
    CLAIM,
    CREATE,
    DEPOSIT,
    REDIS_URL,
    SUBMIT,
    Seeder,
    database,
    free_port,
    postgres_reachable,
    server,
    server_env,
    uvicorn_argv,
)
from bench.writes import APPROVE
from picotask.services.core import statistics
from picotask.services.core.pagination import encode_cursor

FEW = "quokka"  # in the titles of 25 copies per grown block
NONE = "zyzzyvax"  # in no task
FEW_PER_BLOCK = 25
MINE_EVERY = 50  # one copied submission in 50 is the measuring worker's
CATCH_UP = 100  # FEED events the catch-up replays
WARMUPS = 3
SLOW = 1.5

TASK_FIELDS = "edges { cursor node { id title reward { amount } } } pageInfo { endCursor }"
TASKS = (
    "query($o: TaskOrder, $f: TaskFilter, $a: String) { tasks(first: 20, orderBy: $o, "
    f"filter: $f, after: $a) {{ {TASK_FIELDS} }} }}"
)
MY_TASKS = f"{{ myTasks(first: 20) {{ {TASK_FIELDS} }} }}"
MY_SUBMISSIONS = "{ mySubmissions(first: 20) { edges { node { id status task { id title } } } } }"
STATEMENT = (
    "{ statement(first: 20) { edges { node { cursor kind amount { amount } "
    "balanceAfter { amount } } } } }"
)
FEED = "subscription($a: String) { taskFeed(after: $a) { cursor kind task { id title } } }"


# Seeding in SQL. `{cols}` / `{exprs}` are filled from the table's own columns (names read
# from the database); every number goes as a parameter. `g` runs from 1 to $1.
SERIES = {
    "postgres": "{insert} SELECT {exprs} FROM {table} t, "
    "generate_series(1, CAST($1 AS BIGINT)) AS g WHERE t.id = $2",
    "sqlite": "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?1) "
    "{insert} SELECT {exprs} FROM {table} t, s WHERE t.id = ?2",
}
# tasks: $3 copies per "quokka" title, $4 seconds already used by older blocks, $5 the other
# employer.
AGO = {
    "postgres": "t.{c} - make_interval(secs => g + CAST($4 AS BIGINT))",
    # tortoise writes "YYYY-MM-DD HH:MM:SS.ffffff+00:00": the seconds moved, the rest kept
    "sqlite": "strftime('%Y-%m-%d %H:%M:%S', t.{c}, '-' || (g + ?4) || ' seconds') "
    "|| substr(t.{c}, 20)",
}
TASK_EXPRS = {
    "title": "substr(t.title, 1, 80) || ' #' || g || CASE WHEN g % CAST($3 AS BIGINT) = 0 THEN ' "
    + FEW
    + "' ELSE '' END",
    "reward": "t.reward + (g * 37) % 900",
    "pay_per_minute": "t.pay_per_minute + (g * 7919) % 100000",
    "employer_id": "CASE WHEN g % 2 = 0 THEN t.employer_id ELSE CAST($5 AS BIGINT) END",
    "status": "'OPEN'",
    "slots_used": "0",
    "slots_resolved": "0",
}
# submissions: $3 the block's first task id, $4 its number of tasks, $5 me, $6..$8 the crowd
# (every parameter cast: PostgreSQL cannot infer their types in a CASE).
FIRST, BLOCK, ME = "CAST($3 AS BIGINT)", "CAST($4 AS BIGINT)", "CAST($5 AS BIGINT)"
CROWD = ["CAST($6 AS BIGINT)", "CAST($7 AS BIGINT)", "CAST($8 AS BIGINT)"]
SUBMISSION_EXPRS = {
    "task_id": f"{FIRST} + (g - 1) % {BLOCK}",
    "worker_id": f"CASE WHEN g % {MINE_EVERY} = 0 AND g <= {BLOCK} THEN {ME} "
    f"WHEN ((g - 1) / {BLOCK}) % 3 = 0 THEN {CROWD[0]} "
    f"WHEN ((g - 1) / {BLOCK}) % 3 = 1 THEN {CROWD[1]} ELSE {CROWD[2]} END",
}
EVENT_EXPRS = {
    "stream": "CASE WHEN g % 10 = 0 THEN 'FEED' WHEN g % 10 < 4 THEN 'SUBMISSIONS' "
    "ELSE 'NOTIFICATIONS' END",
    "type": "CASE WHEN g % 10 = 0 THEN 'task.posted' WHEN g % 10 < 4 "
    "THEN 'submission.submitted' ELSE 'message.received' END",
    "audience_id": "CASE WHEN g % 10 = 0 THEN NULL ELSE 1000000 + g % 5000 END",
    "submission_id": "NULL",
    "payout_id": "NULL",
    "payload": "CASE WHEN g % 10 = 0 THEN t.payload ELSE '{}' END",
}


class Db:
    """Direct SQL on the bench's database, beside the server (asyncpg or sqlite3)."""

    def __init__(self, backend: str, url: str) -> None:
        self.backend, self.url = backend, url
        self.pg: Any = None
        self.lite: sqlite3.Connection | None = None

    async def __aenter__(self) -> Db:
        if self.backend == "postgres":
            import asyncpg

            self.pg = await asyncpg.connect(self.url)
        else:
            self.lite = sqlite3.connect(self.url.removeprefix("sqlite://"), timeout=60)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.pg is not None:
            await self.pg.close()
        if self.lite is not None:
            self.lite.close()

    def _sqlite(self, sql: str) -> str:
        for n in range(9, 0, -1):
            sql = sql.replace(f"${n}", f"?{n}")
        return sql

    async def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.pg is not None:
            return [tuple(r) for r in await self.pg.fetch(sql, *args)]
        assert self.lite is not None
        return self.lite.execute(self._sqlite(sql), args).fetchall()

    async def value(self, sql: str, *args: Any) -> Any:
        return (await self.rows(sql, *args))[0][0]

    async def execute(self, sql: str, *args: Any) -> None:
        if self.pg is not None:
            await self.pg.execute(sql, *args)
            return
        assert self.lite is not None
        with self.lite:
            self.lite.execute(self._sqlite(sql), args)

    async def columns(self, table: str) -> list[str]:
        if self.pg is not None:
            found = await self.rows(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                "ORDER BY ordinal_position",
                table,
            )
        else:
            assert self.lite is not None
            found = [(r[1],) for r in self.lite.execute(f"PRAGMA table_info({table})")]
        return [str(r[0]) for r in found if r[0] != "id"]

    async def copy(
        self, table: str, count: int, template: int, exprs: dict[str, str], *args: Any
    ) -> None:
        """`count` copies of row `template` of `table` in one statement, `exprs` for some
        columns (the others copied as they are)."""
        if count <= 0:
            return
        cols = await self.columns(table)
        ago = AGO[self.backend]
        chosen = []
        for c in cols:
            if c in exprs:
                chosen.append(exprs[c])
            elif table == "tasks" and c in ("published_at", "created_at"):
                chosen.append(ago.format(c=c))
            else:
                chosen.append(f"t.{c}")
        insert = f"INSERT INTO {table} ({', '.join(cols)})"
        sql = SERIES[self.backend].format(insert=insert, exprs=", ".join(chosen), table=table)
        await self.execute(sql, count, template, *args)


@dataclass
class World:
    """What the API made, and the ids the SQL copies start from."""

    employer: str  # token
    browser: str  # the worker who reads tasks and the feed
    me: str  # the worker with submissions and a statement
    me_id: int = 0
    other_employer_id: int = 0
    crowd_ids: list[int] = field(default_factory=list)
    template_task: int = 0
    template_submission: int = 0
    template_event: int = 0
    tasks: int = 0  # tasks copied so far
    ago: int = 0  # seconds of published_at used by the copies so far


async def make_world(http: httpx.AsyncClient) -> World:
    seeder = Seeder(http)
    bosses = [await seeder.account(f"employer {n}") for n in range(2)]
    created: list[str] = []
    for b, boss in enumerate(bosses):
        await seeder.gql(DEPOSIT, {"i": {"amount": "5000.00"}}, boss)
        for n in range(3):
            task = await seeder.gql(
                CREATE,
                {
                    "i": {
                        "title": f"Growth task {b}.{n}: rate {['apps', 'songs', 'maps'][n]}",
                        "instructions": f"Open the link, rate what you see ({b}.{n}), "
                        "and paste the confirmation code.",
                        "category": ["REVIEW", "APP_TESTING", "RESEARCH"][n],
                        "reward": f"{1 + b}.{25 * n + 10}",
                        "slots": 50,
                        "estimatedMinutes": 3 + 4 * n + b,
                        "proofFields": [{"label": "Code", "kind": "TEXT"}],
                    }
                },
                boss,
            )
            created.append(task["task"]["id"])
    me = await seeder.account("me worker")
    submissions = []
    for task_id in created[:4]:
        claimed = await seeder.gql(CLAIM, {"i": {"taskId": task_id}}, me)
        sid = claimed["submission"]["id"]
        answers = [{"label": "Code", "value": f"code-{task_id}"}]
        await seeder.gql(SUBMIT, {"i": {"submissionId": sid, "answers": answers}}, me)
        submissions.append((task_id, sid))
    for task_id, sid in submissions[:3]:
        boss = bosses[0] if task_id in created[:3] else bosses[1]
        await seeder.gql(APPROVE, {"i": {"submissionId": sid}}, boss)
    for n in range(3):
        await seeder.account(f"crowd {n}")
    return World(employer=bosses[0], browser=await seeder.account("browser"), me=me)


async def locate(world: World, db: Db) -> None:
    """The rows the copies are made from, by what the API made."""
    world.me_id = await db.value(
        "SELECT worker_id FROM submissions WHERE status = 'APPROVED' ORDER BY id LIMIT 1"
    )
    world.template_submission = await db.value(
        "SELECT id FROM submissions WHERE status = 'APPROVED' ORDER BY id LIMIT 1"
    )
    employers = [r[0] for r in await db.rows("SELECT DISTINCT employer_id FROM tasks")]
    first = await db.value("SELECT employer_id FROM tasks ORDER BY id LIMIT 1")
    world.other_employer_id = next(e for e in employers if e != first)
    # An OPEN task of the first employer (the one whose myTasks is measured).
    world.template_task = await db.value(
        "SELECT id FROM tasks WHERE employer_id = $1 ORDER BY id DESC LIMIT 1", first
    )
    world.template_event = await db.value(
        "SELECT id FROM events WHERE stream = 'FEED' AND task_id = $1 ORDER BY id LIMIT 1",
        world.template_task,
    )
    known = {world.me_id, *employers}
    users = [r[0] for r in await db.rows("SELECT id FROM users ORDER BY id")]
    world.crowd_ids = [u for u in users if u not in known][:3]
    world.tasks = await db.value("SELECT COUNT(*) FROM tasks")


async def grow(world: World, db: Db, tasks: int, submissions: int, events: int) -> dict[str, float]:
    """To `tasks` tasks, `submissions` submissions and `events` events in all (those already
    there count), one statement per table; the seconds each took."""
    seconds: dict[str, float] = {}
    have = await db.value("SELECT COUNT(*) FROM tasks")
    new = max(0, tasks - have)
    first = await db.value("SELECT MAX(id) FROM tasks") + 1
    started = time.perf_counter()
    await db.copy(
        "tasks",
        new,
        world.template_task,
        TASK_EXPRS,
        max(1, new // FEW_PER_BLOCK),
        world.ago,
        world.other_employer_id,
    )
    seconds["tasks"] = time.perf_counter() - started
    world.ago += new
    last = await db.value("SELECT MAX(id) FROM tasks")
    if new and last - first + 1 != new:
        raise SystemExit(f"the copied tasks' ids are not contiguous: {first}..{last}, {new}")
    have = await db.value("SELECT COUNT(*) FROM submissions")
    wanted = max(0, submissions - have)
    if wanted > 3 * new:
        raise SystemExit(f"{submissions:,} submissions need more tasks (3 per task at most)")
    started = time.perf_counter()
    if new:
        await db.copy(
            "submissions",
            wanted,
            world.template_submission,
            SUBMISSION_EXPRS,
            first,
            new,
            world.me_id,
            *world.crowd_ids,
        )
    seconds["submissions"] = time.perf_counter() - started
    have = await db.value("SELECT COUNT(*) FROM events")
    started = time.perf_counter()
    await db.copy("events", events - have, world.template_event, EVENT_EXPRS)
    seconds["events"] = time.perf_counter() - started
    # The planner's statistics, as production would have them: PostgreSQL's autovacuum, and on
    # SQLite the sweeper's (services/core/statistics.py; the bench's server runs no sweeper).
    started = time.perf_counter()
    if db.backend == "postgres":
        await db.execute("ANALYZE")
    else:
        await db.execute(f"PRAGMA analysis_limit = {statistics.ANALYSIS_LIMIT}")
        await db.execute("ANALYZE")
    seconds["analyze"] = time.perf_counter() - started
    return seconds


# Requests.


@dataclass
class Request:
    name: str
    who: str  # "browser", "employer" or "me"
    query: str
    variables: dict[str, Any] = field(default_factory=dict)
    # (root field, edges wanted): None = at least one, the same every time
    edges: Callable[[Sizes], int | None] = lambda _: 20


@dataclass
class Sizes:
    tasks: int
    submissions: int
    events: int
    mine: int  # me's submissions


def requests() -> list[Request]:
    return [
        Request("tasks NEWEST", "browser", TASKS, {"o": "NEWEST"}),
        Request("tasks HIGHEST_REWARD", "browser", TASKS, {"o": "HIGHEST_REWARD"}),
        Request("tasks BEST_PAY_PER_MINUTE", "browser", TASKS, {"o": "BEST_PAY_PER_MINUTE"}),
        Request(f'tasks search "{NONE}"', "browser", TASKS, {"f": {"search": NONE}}, lambda _: 0),
        Request(f'tasks search "{FEW}"', "browser", TASKS, {"f": {"search": FEW}}),
        Request("tasks NEWEST page 2", "browser", TASKS, {"o": "NEWEST", "a": "(page 1)"}),
        Request("myTasks", "employer", MY_TASKS),
        Request("mySubmissions", "me", MY_SUBMISSIONS, edges=lambda s: min(20, s.mine)),
        Request("statement", "me", STATEMENT, edges=lambda _: None),
    ]


@dataclass
class Timing:
    name: str
    ms: list[float]

    def p(self, q: float) -> float:
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def edges_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(next(iter(body["data"].values()))["edges"])


def ids_of(edges: list[dict[str, Any]]) -> list[str]:
    return [str(e["node"].get("id") or e["node"].get("cursor")) for e in edges]


async def measure_request(
    http: httpx.AsyncClient, token: str, request: Request, sizes: Sizes, count: int
) -> Timing:
    headers = {"authorization": f"Bearer {token}"}
    variables = dict(request.variables)
    if variables.get("a") == "(page 1)":
        first = await http.post(
            "/graphql", json={"query": TASKS, "variables": {"o": "NEWEST"}}, headers=headers
        )
        variables["a"] = first.json()["data"]["tasks"]["pageInfo"]["endCursor"]
        page_one = set(ids_of(edges_of(first.json())))
    else:
        page_one = set()
    body = json.dumps({"query": request.query, "variables": variables}).encode()
    headers["content-type"] = "application/json"
    wanted = request.edges(sizes)
    seen: list[str] | None = None
    timing = Timing(request.name, [])
    for n in range(WARMUPS + count):
        started = time.perf_counter()
        response = await http.post("/graphql", content=body, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        answer = response.json()
        if response.status_code != 200 or answer.get("errors"):
            raise SystemExit(f"{request.name}: {response.status_code} {str(answer)[:1000]}")
        ids = ids_of(edges_of(answer))
        if wanted is not None and len(ids) != wanted:
            raise SystemExit(f"{request.name}: {len(ids)} edges, {wanted} expected")
        if wanted is None and not ids:
            raise SystemExit(f"{request.name}: no edges")
        if seen is None:
            seen = ids
        elif ids != seen:
            raise SystemExit(f"{request.name}: the order changed between runs:\n{seen}\n{ids}")
        if page_one & set(ids):
            raise SystemExit(f"{request.name}: the second page repeats the first")
        if request.name.endswith(f'"{FEW}"') and any(
            FEW not in e["node"]["title"] for e in edges_of(answer)
        ):
            raise SystemExit(f"{request.name}: a task without {FEW!r}")
        check_order(request, edges_of(answer))
        if n >= WARMUPS:
            timing.ms.append(elapsed)
    return timing


def check_order(request: Request, edges: list[dict[str, Any]]) -> None:
    """NEWEST starts with the newest real task (the copies are older); HIGHEST_REWARD's
    rewards do not increase."""
    if request.name == "tasks NEWEST" and not edges[0]["node"]["title"].startswith("Growth"):
        raise SystemExit(f"{request.name}: a copy before the real tasks: {edges[0]}")
    if request.name == "tasks HIGHEST_REWARD":
        rewards = [float(e["node"]["reward"]["amount"]) for e in edges]
        if rewards != sorted(rewards, reverse=True):
            raise SystemExit(f"{request.name}: rewards out of order: {rewards}")


@contextlib.asynccontextmanager
async def feed_socket(port: int, token: str) -> AsyncIterator[Any]:
    protocols = [Subprotocol("graphql-transport-ws")]
    async with connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=protocols) as ws:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await ws.recv())
        if ack.get("type") != "connection_ack":
            raise SystemExit(f"feed: no connection_ack: {ack}")
        yield ws


async def measure_feed(port: int, token: str, after: str, count: int) -> Timing:
    """`taskFeed(after:)` replays `CATCH_UP` events: the time from subscribe to the last."""
    timing = Timing(f"taskFeed catch-up ({CATCH_UP})", [])
    seen: list[str] | None = None
    for n in range(WARMUPS + count):
        async with feed_socket(port, token) as ws:
            started = time.perf_counter()
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": FEED, "variables": {"a": after}},
                    }
                )
            )
            got: list[str] = []
            while len(got) < CATCH_UP:
                message = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if message.get("type") != "next" or message["payload"].get("errors"):
                    raise SystemExit(f"feed: {str(message)[:1000]}")
                event = message["payload"]["data"]["taskFeed"]
                if event["kind"] != "POSTED":
                    raise SystemExit(f"feed: {event}")
                got.append(event["cursor"])
            elapsed = (time.perf_counter() - started) * 1000
            await ws.send(json.dumps({"id": "1", "type": "complete"}))
        if seen is None:
            seen = got
        elif got != seen:
            raise SystemExit("feed: the catch-up replayed other events than before")
        if n >= WARMUPS:
            timing.ms.append(elapsed)
    return timing


async def sizes(db: Db, world: World) -> Sizes:
    return Sizes(
        await db.value("SELECT COUNT(*) FROM tasks"),
        await db.value("SELECT COUNT(*) FROM submissions"),
        await db.value("SELECT COUNT(*) FROM events"),
        await db.value("SELECT COUNT(*) FROM submissions WHERE worker_id = $1", world.me_id),
    )


async def measure(
    http: httpx.AsyncClient, port: int, db: Db, world: World, count: int
) -> tuple[Sizes, list[Timing]]:
    found = await sizes(db, world)
    tokens = {"browser": world.browser, "employer": world.employer, "me": world.me}
    timings = []
    for request in requests():
        timing = await measure_request(http, tokens[request.who], request, found, count)
        print(
            f"    {timing.name:<32} p50 {timing.p(0.5):8.2f} ms  p90 {timing.p(0.9):8.2f} ms",
            flush=True,
        )
        timings.append(timing)
    before = await db.value(
        "SELECT id FROM events WHERE stream = 'FEED' ORDER BY id DESC LIMIT 1 OFFSET $1",
        CATCH_UP,
    )
    timing = await measure_feed(port, world.browser, encode_cursor([before]), count)
    print(
        f"    {timing.name:<32} p50 {timing.p(0.5):8.2f} ms  p90 {timing.p(0.9):8.2f} ms",
        flush=True,
    )
    timings.append(timing)
    return found, timings


async def auto_explain(url: str, ms: int) -> None:
    """The server's own statements slower than `ms` with their EXPLAIN ANALYZE, in the
    PostgreSQL server's log, for this database only (set before the server connects)."""
    import asyncpg

    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(url)
    try:
        for setting, value in (
            ("session_preload_libraries", "auto_explain"),
            ("auto_explain.log_min_duration", f"{ms}ms"),
            ("auto_explain.log_analyze", "on"),
            ("auto_explain.log_buffers", "on"),
        ):
            await conn.execute(f"ALTER DATABASE \"{name}\" SET {setting} = '{value}'")
    finally:
        await conn.close()
    print(f"  auto_explain over {ms} ms: database {name} in the PostgreSQL log", flush=True)


def show_sizes(label: str, s: Sizes) -> str:
    return (
        f"{label}: {s.tasks:,} tasks, {s.submissions:,} submissions ({s.mine:,} me's), "
        f"{s.events:,} events"
    )


@contextlib.asynccontextmanager
async def serving(url: str, broadcast: str) -> AsyncIterator[tuple[httpx.AsyncClient, int]]:
    """One picotask server (its own process) and a keep-alive client of it."""
    port = free_port()
    argv = uvicorn_argv("bench.http:picotask_app", port, "--factory")
    async with (
        server(argv, port, server_env(url, broadcast, port)),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http,
    ):
        yield http, port


async def run(backend: str, args: argparse.Namespace) -> bool:
    """One backend; False if a ratio is above `SLOW`."""
    print(f"\n== {backend}", flush=True)
    broadcast = REDIS_URL if backend == "postgres" else "memory://"
    with tempfile.TemporaryDirectory() as folder:
        async with database(backend, folder) as url:
            if backend == "postgres" and args.explain_ms is not None:
                await auto_explain(url, args.explain_ms)
            async with Db(backend, url) as db:
                started = time.perf_counter()
                async with serving(url, broadcast) as (http, _):
                    world = await make_world(http)
                await locate(world, db)
                print(f"  the world over the API: {time.perf_counter() - started:.1f} s")
                results: list[tuple[Sizes, list[Timing]]] = []
                for label, tasks in (("small", args.small), ("large", args.tasks)):
                    subs = tasks if args.submissions is None else args.submissions
                    events = 10 * tasks if args.events is None else args.events
                    if label == "small":
                        subs, events = args.small, 10 * args.small
                    started = time.perf_counter()
                    seconds = await grow(world, db, tasks, subs, events)
                    took = time.perf_counter() - started
                    parts = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
                    print(f"  seeding {label} in SQL: {took:.1f} s ({parts})", flush=True)
                    # A server started after the growth: one running through it would read
                    # every copied event from the log (subscriptions/sequencer.py) while
                    # measured.
                    async with serving(url, broadcast) as (http, port):
                        found, timings = await measure(http, port, db, world, args.requests)
                    print("  " + show_sizes(label, found), flush=True)
                    results.append((found, timings))
    (small, small_t), (large, large_t) = results
    print(f"\n{backend}, p50 of {args.requests} sequential requests each (ms)")
    print("  " + show_sizes("small", small))
    print("  " + show_sizes("large", large))
    print(
        f"  {'request':<32} {'small p50':>10} {'large p50':>10} {'ratio':>7}  "
        f"{'small p90':>10} {'large p90':>10}"
    )
    fine = True
    for a, b in zip(small_t, large_t, strict=True):
        ratio = b.p(0.5) / max(a.p(0.5), 1e-9)
        flag = f"  > {SLOW}x" if ratio > SLOW else ""
        fine = fine and not flag
        print(
            f"  {a.name:<32} {a.p(0.5):>10.2f} {b.p(0.5):>10.2f} {ratio:>6.2f}x  "
            f"{a.p(0.9):>10.2f} {b.p(0.9):>10.2f}{flag}"
        )
    return fine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--small", type=int, default=1000, help="tasks in the small database")
    parser.add_argument(
        "--tasks", type=int, help="in the large one (default 1,000,000; SQLite 100,000)"
    )
    parser.add_argument("--submissions", type=int, help="in the large one (default: --tasks)")
    parser.add_argument("--events", type=int, help="in the large one (default: 10 x --tasks)")
    parser.add_argument("--requests", type=int, default=50, help="measured, per request")
    parser.add_argument("--quick", action="store_true", help="CI: 200 -> 5,000 tasks")
    parser.add_argument(
        "--explain-ms",
        type=int,
        help="PostgreSQL: log EXPLAIN ANALYZE of the server's statements slower than this",
    )
    args = parser.parse_args()
    if args.quick:
        args.small, args.tasks, args.requests = 200, 5000, 10
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if args.backend == "all" and not postgres_reachable():
        print("PostgreSQL does not answer: SQLite only", file=sys.stderr)
        backends = ["sqlite"]
    started = time.perf_counter()
    slow = []
    for backend in backends:
        chosen = argparse.Namespace(**vars(args))
        if chosen.tasks is None:
            chosen.tasks = 1_000_000 if backend == "postgres" else 100_000
        if not asyncio.run(run(backend, chosen)):
            slow.append(backend)
    print(f"\n{time.perf_counter() - started:.0f} s in all", end="")
    print(f"; above {SLOW}x (timing only, not a failure): {', '.join(slow)}" if slow else "")


if __name__ == "__main__":
    main()
