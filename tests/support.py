"""Test helpers: databases per test, a live server on loopback, GraphQL clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse, urlunparse

import asyncpg
import httpx
import uvicorn
from starlette.applications import Starlette
from tortoise import Tortoise
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from picotask.models.ledger import Account, AccountKind, LedgerEntry
from picotask.models.tasks import ProofKind, Task, TaskCategory
from picotask.models.users import User as UserModel
from picotask.server import db
from picotask.server.cli import serving
from picotask.server.shutdown import Server
from picotask.services.core.clock import ManualClock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.money.ledger import audit
from picotask.services.money.statement import StatementFilter, StatementService
from picotask.services.money.statement_rows import StatementKind, StatementRow
from picotask.services.registry import Services
from picotask.services.work.task_specs import ProofFieldSpec, TaskSpec
from picotask.settings import Settings
from picotask.subscriptions import sequencer

# How long a test waits for what must come (a frame, a close, a condition). Generous: CI
# machines are shared, and a stalled loop must not fail a test; only a failing test waits it out.
PATIENCE = 20.0
TEST_DATABASE_URL = os.environ.get("PICOTASK_TEST_DATABASE_URL", "")
TEST_BROADCAST_URL = os.environ.get("PICOTASK_TEST_BROADCAST_URL", "")
GRAPHQL_RESPONSE = "application/graphql-response+json"


@dataclass(frozen=True)
class Backend:
    name: str
    database: str  # "sqlite" or a PostgreSQL server URL
    broadcast: str


def current_backend() -> Backend:
    """PostgreSQL (and Redis) when PICOTASK_TEST_DATABASE_URL is set, else SQLite and memory.

    One backend per pytest process: tortoise caches per-model SQL for the first dialect it
    sees, so `make test` runs the suite once per backend, each in its own process.
    """
    if TEST_DATABASE_URL:
        return Backend("postgres", TEST_DATABASE_URL, TEST_BROADCAST_URL or "memory://")
    return Backend("sqlite", "sqlite", "memory://")


# Applying every migration takes seconds; copying a migrated database takes milliseconds. So
# each test run migrates one template per backend and every test gets a copy of it (the app's
# lifespan still applies migrations, and finds none left to apply).
_templates: dict[str, str] = {}


@contextlib.asynccontextmanager
async def fresh_database(backend: Backend, directory: str) -> AsyncIterator[str]:
    """A new database with a random name, migrated to the newest migration, dropped
    afterwards."""
    if backend.database == "sqlite":
        path = f"{directory}/picotask-{secrets.token_hex(4)}.sqlite3"
        await asyncio.to_thread(_copy_sqlite, await _sqlite_template(), path)
        yield f"sqlite://{path}"
        return
    server = urlparse(backend.database)
    name = f"picotask_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(backend.database)
    try:
        template = await _postgres_template(admin, backend.database)
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield urlunparse(server._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _sqlite_template() -> str:
    if "sqlite" not in _templates:
        path = os.path.join(tempfile.mkdtemp(prefix="picotask-template-"), "template.sqlite3")
        await db.apply_migrations(f"sqlite://{path}")
        _templates["sqlite"] = path
    return _templates["sqlite"]


def _copy_sqlite(source: str, target: str) -> None:
    """SQLite's own backup: a consistent copy whatever journal the source keeps."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)


async def _postgres_template(admin: asyncpg.Connection, server_url: str) -> str:
    if "postgres" not in _templates:
        name = f"picotask_template_{secrets.token_hex(6)}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        # Copied only while nobody is connected to it: migrating leaves no connection open.
        await db.apply_migrations(urlunparse(urlparse(server_url)._replace(path=f"/{name}")))
        _templates["postgres"] = name
    return _templates["postgres"]


def drop_templates() -> None:
    """At the end of the test run: the PostgreSQL template goes (SQLite's is a temp file)."""
    name = _templates.pop("postgres", None)
    if name is None:
        return

    async def drop() -> None:
        admin = await asyncpg.connect(TEST_DATABASE_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()

    asyncio.run(drop())


def settings_for(database_url: str, broadcast_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "broadcast_url": broadcast_url,
        # argon2id still, with the cheapest parameters: tests measure behaviour, not cost.
        "argon2_time_cost": 1,
        "argon2_memory_kib": 8,
        "argon2_parallelism": 1,
        # Budgets and throttles out of the way (the clock stands still unless a test moves
        # it); the tests of those limits set their own. Redis keys apart per test: a fresh
        # database reuses user ids.
        "cost_budget": 10**9,
        "log_in_free_failures_per_account": 10**6,
        "log_in_free_failures_per_address": 10**6,
        "sign_up_free_per_address": 10**6,
        "redis_key_prefix": f"picotask-test-{secrets.token_hex(6)}",
        # Webhook receivers are started by the tests on 127.0.0.1.
        "webhook_allow_loopback": True,
        # API tests answer the same whether or not the web app was built (test_web_app.py).
        "web_dir": "",
        # Mail that a test does not read goes to files out of the working tree; the tests
        # that read mail point this at their SMTP server (tests/mail_server.py).
        "mail_url": f"file://{tempfile.gettempdir()}/picotask-test-mail",
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def orm(database_url: str) -> AsyncIterator[None]:
    """The ORM on a migrated database, for domain tests that run without HTTP."""
    await db.apply_migrations(database_url)
    await Tortoise.init(config=db.tortoise_config(database_url), _enable_global_fallback=True)
    try:
        yield
    finally:
        await Tortoise.close_connections()


class LiveServer:
    """The real app (its lifespan included) served by uvicorn on a loopback port."""

    def __init__(self, app: Starlette, send_buffer: int | None = None) -> None:
        """`send_buffer` shrinks the kernel's send buffer of every accepted connection, so a
        client that stops reading blocks the server's sends after a few kilobytes."""
        self.app = app
        self.send_buffer = send_buffer
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            lifespan="on",
            log_level="warning",
            **serving(app.state.services.settings),
        )
        self.server = Server(config, app.state.shutdown)  # as `picotask serve`'s
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    async def __aenter__(self) -> LiveServer:
        sockets = None
        if self.send_buffer is not None:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer)
            listener.bind(("127.0.0.1", 0))
            sockets = [listener]
        self._task = asyncio.create_task(self.server.serve(sockets=sockets))
        while not self.server.started:
            if self._task.done():
                self._task.result()  # start-up failed: raise its error here
                raise RuntimeError("server stopped during start-up")
            await asyncio.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


class Api:
    """A GraphQL client over real HTTP; `token` authenticates as a user."""

    def __init__(self, client: httpx.AsyncClient, server: LiveServer, clock: ManualClock) -> None:
        self.client = client
        self.server = server
        self.clock = clock

    @property
    def services(self) -> Services:
        services: Services = self.server.app.state.services
        return services

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = {"accept": GRAPHQL_RESPONSE}
        if token:
            all_headers["authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        body = {"query": query, "variables": variables or {}}
        return await self.client.post("/graphql", json=body, headers=all_headers)

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """Data of a successful operation; fails the test on any GraphQL error."""
        response = await self.post(query, variables, token)
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def errors(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> list[dict[str, Any]]:
        """The GraphQL errors of an operation that must fail."""
        response = await self.post(query, variables, token)
        body = response.json()
        assert body.get("errors"), body
        errors: list[dict[str, Any]] = body["errors"]
        return errors

    async def sign_up(
        self, email: str | None = None, country: str = "US", display_name: str = "Tester"
    ) -> User:
        email = email or f"user-{secrets.token_hex(4)}@example.com"
        data = await self.gql(
            SIGN_UP,
            {
                "input": {
                    "email": email,
                    "password": "correct horse battery",
                    "displayName": display_name,
                    "country": country,
                }
            },
        )
        payload = data["signUp"]
        assert payload["userErrors"] == [], payload
        return User(payload["viewer"]["id"], email, payload["token"])

    @contextlib.asynccontextmanager
    async def ws(self, token: str | None = None, *, init: bool = True) -> AsyncIterator[WsClient]:
        protocols = [Subprotocol("graphql-transport-ws")]
        async with connect(self.server.ws_url, subprotocols=protocols) as conn:
            client = WsClient(conn)
            if init:
                await client.init(token)
            yield client


@dataclass(frozen=True)
class User:
    id: str
    email: str
    token: str


class WsClient:
    """The client side of graphql-transport-ws."""

    def __init__(self, conn: ClientConnection) -> None:
        self.conn = conn
        self.held: dict[str, list[dict[str, Any]]] = {}

    async def receive_for(self, op_id: str, within: float = PATIENCE) -> dict[str, Any]:
        """The next message of one operation, holding back those of the others."""
        if self.held.get(op_id):
            return self.held[op_id].pop(0)
        while True:
            message = await self.receive(within)
            if message.get("id") == op_id:
                return message
            self.held.setdefault(str(message.get("id")), []).append(message)

    async def send(self, message: dict[str, Any]) -> None:
        await self.conn.send(json.dumps(message))

    async def receive(self, within: float = PATIENCE) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv(), within)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def close_code(self, within: float = PATIENCE) -> int:
        """The code the server closes the socket with; fails if a message comes first, if
        nothing comes within `within` seconds, or if the connection drops without a close."""
        try:
            message = await self.receive(within)
        except ConnectionClosed as closed:
            frame = closed.rcvd
        else:
            raise AssertionError(f"a message came instead of the close: {message}")
        assert frame is not None, "dropped without a close frame"
        return frame.code

    async def init(self, token: str | None) -> None:
        payload = {"authorization": f"Bearer {token}"} if token else {}
        await self.send({"type": "connection_init", "payload": payload})
        assert (await self.receive())["type"] == "connection_ack"

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        await self.send(
            {
                "id": op_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )


SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) {
    token viewer { id email displayName country } userErrors { field message code }
  }
}"""


async def new_user(services: Services, email: str | None = None, country: str = "US") -> UserModel:
    result = await services.users.sign_up(
        email=email or f"user-{secrets.token_hex(4)}@example.com",
        password="correct horse battery",
        display_name="Tester",
        country=country,
        client_address="127.0.0.1",
    )
    return result.user


async def funded_user(services: Services, cents: int, **kwargs: Any) -> UserModel:
    user = await new_user(services, **kwargs)
    if cents:
        await services.payouts.deposit(user, Decimal(cents).scaleb(-2), None)
    return user


async def assert_ledger_balanced() -> None:
    report = await audit()
    assert report.ok, report.describe()
    await assert_statements_reconcile()


async def assert_statements_reconcile() -> None:
    """Every user's statement, read whole, steps from 0 to their balance row by row, one row
    per entry of their balance (and one per payout paid)."""
    statements = StatementService(Settings())
    for account in await Account.filter(kind=AccountKind.USER):
        assert account.owner_id is not None
        rows: list[StatementRow] = []
        after = None
        while True:
            page = await statements.page(account.owner_id, 100, after, StatementFilter())
            rows += [row for _, row in page.rows]
            if not page.has_next_page:
                break
            after = page.rows[-1][0]
        balance = 0
        for row in reversed(rows):
            balance += row.amount
            assert row.balance_after == balance, (account.ref, row)
        assert balance == account.balance, account.ref
        moves = [row for row in rows if row.kind != StatementKind.PAYOUT_PAID]
        assert len(moves) == await LedgerEntry.filter(account_id=account.id).count()


async def refusal(awaitable: Awaitable[object]) -> ErrorCode | None:
    """The code of the DomainError `awaitable` raises, or None if it succeeds."""
    try:
        await awaitable
    except DomainError as e:
        return e.problems[0].code
    return None


def task_spec(**overrides: Any) -> TaskSpec:
    values: dict[str, Any] = {
        "title": "Sign up and confirm your email",
        "instructions": "1. Open the link.\n2. Sign up.\n3. Paste your username.",
        "category": TaskCategory.SIGN_UP,
        "reward": Decimal("1.00"),
        "slots": 3,
        "estimated_minutes": 5,
        "proof_fields": [ProofFieldSpec("Username", ProofKind.TEXT)],
    }
    values.update(overrides)
    return TaskSpec(**values)


async def post_task(services: Services, employer: UserModel, **overrides: Any) -> Task:
    publish = overrides.pop("publish", True)
    return await services.tasks.create(employer, task_spec(**overrides), publish=publish)


async def escrow_balance(task_id: int) -> int:
    account = await Account.get_or_none(ref=f"escrow:{task_id}")
    return account.balance if account else 0


async def assert_escrow_matches(task_id: int) -> None:
    """Escrow holds exactly the money of the slots not yet resolved."""
    task = await Task.get(id=task_id)
    expected = (task.slots - task.slots_resolved) * (task.reward + task.fee)
    assert await escrow_balance(task_id) == (expected if task.published_at else 0)


class QueryCounter(logging.Handler):
    """Counts the SQL statements tortoise sends while installed, but for the event log reads
    of the bus's sequencer: one per instance on its own clock, never per request or subscriber
    (they would make counts depend on timing)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(RuntimeError):  # no running loop: not the sequencer
            task = asyncio.current_task()
            if task is not None and task.get_name() == sequencer.TASK_NAME:
                return
        self.statements.append(record.getMessage())

    @property
    def count(self) -> int:
        return len(self.statements)


@contextlib.contextmanager
def count_queries() -> Iterator[QueryCounter]:
    logger = logging.getLogger("tortoise.db_client")
    counter = QueryCounter()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(previous)


async def next_data(ws: WsClient, op_id: str, within: float = PATIENCE) -> dict[str, Any]:
    """The data of the next `next` message for `op_id`; fails on an error or a close.
    Messages for other operations are kept for their own turn."""
    message = await ws.receive_for(op_id, within)
    assert message["type"] == "next", message
    payload: dict[str, Any] = message["payload"]
    assert "errors" not in payload, payload["errors"]
    data: dict[str, Any] = payload["data"]
    return data


async def nothing_more(ws: WsClient, within: float = 0.3) -> bool:
    """True if no message arrives within `within` seconds and none is held back."""
    if any(ws.held.values()):
        return False
    try:
        await ws.receive(within)
    except TimeoutError:
        return True
    return False


async def until(condition: Callable[[], bool], within: float = PATIENCE) -> None:
    """Wait (bounded) for the server to get there, as real network delivery takes a moment;
    never for a deadline rule (those run on the injected clock)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)
