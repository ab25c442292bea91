"""What picotask relies on in starlette, broadcaster and tortoise-orm (README, "Upgrading")."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from broadcaster import Broadcast, BroadcastBackend, Event
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import Router
from starlette.types import Message, Receive, Scope, Send
from tortoise import Tortoise
from tortoise.transactions import in_transaction

from picotask.models.ledger import Account
from picotask.models.submissions import Submission
from picotask.models.tasks import Task
from picotask.models.users import User as UserModel
from picotask.server import db_tracing
from picotask.server.fix_migrations import fix
from picotask.services.core.events import snapshot, task_from_snapshot
from picotask.services.core.nested_pages import first_pages
from picotask.services.registry import Services
from picotask.subscriptions.redis_backend import RedisPubSubBackend
from tests.support import count_queries, new_user, post_task
from tests.test_upgrading import REDIS_BACKEND, moved, parameters


def test_tortoise_init_still_takes_the_global_fallback() -> None:
    """tests/support.py's `orm` (the domain tests' ORM) turns it on by its private name."""
    assert "_enable_global_fallback" in parameters(Tortoise.init), moved(
        "tortoise-orm", "Tortoise.init(_enable_global_fallback=...)", "tests/support.py (orm)"
    )


async def test_starlette_sets_only_the_app_before_its_stack() -> None:
    """server/app.py's `App` does for GraphQL websockets what `Starlette.__call__` does
    (`scope["app"]`) and skips the stack, whose own layers pass a websocket on."""
    seen: list[Scope] = []

    async def stack(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(scope))

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        pass

    app = Starlette()
    layers = []
    layer: Any = app.build_middleware_stack()
    while not isinstance(layer, Router):
        layers.append(type(layer))
        layer = layer.app
    assert layers == [ServerErrorMiddleware, ExceptionMiddleware], moved(
        "starlette", "Starlette.build_middleware_stack", "server/app.py (App)"
    )
    app.middleware_stack = stack
    await app({"type": "websocket", "path": "/graphql"}, receive, send)
    assert seen == [{"type": "websocket", "path": "/graphql", "app": app}], moved(
        "starlette", "Starlette.__call__", "server/app.py (App)"
    )


async def test_broadcaster_uses_only_the_backend_methods_we_implement() -> None:
    """subscriptions/redis_backend.py implements broadcaster's backend interface."""
    called: list[str] = []

    class Recording(BroadcastBackend):
        def __init__(self) -> None:
            self.queue: asyncio.Queue[Event] = asyncio.Queue()

        async def connect(self) -> None:
            called.append("connect")

        async def disconnect(self) -> None:
            called.append("disconnect")

        async def subscribe(self, group: str) -> None:
            called.append("subscribe")

        async def unsubscribe(self, group: str) -> None:
            called.append("unsubscribe")

        async def publish(self, channel: str, message: Any) -> None:
            called.append("publish")
            await self.queue.put(Event(channel=channel, message=message))

        async def next_published(self) -> Event:
            return await self.queue.get()

    lost = moved("broadcaster", "Broadcast's use of BroadcastBackend", REDIS_BACKEND)
    interface = {name for name in vars(BroadcastBackend) if not name.startswith("__")}
    assert interface <= set(vars(RedisPubSubBackend)), lost
    broadcast = Broadcast(backend=Recording())
    await broadcast.connect()
    async with broadcast.subscribe("news") as subscriber:
        await broadcast.publish("news", "hello")
        event = await subscriber.get()
    await broadcast.disconnect()
    assert (event.channel, event.message) == ("news", "hello"), lost
    assert called == ["connect", "subscribe", "publish", "unsubscribe", "disconnect"], lost
    assert set(called) <= set(vars(RedisPubSubBackend)), lost


async def test_tortoise_meta_lists_each_stored_column(services: Services) -> None:
    """services/core/events.py snapshots a row from `_meta.fields_db_projection` (every stored
    column, a foreign key's too) and restores its datetimes by `_meta.fields_map`."""
    lost = moved(
        "tortoise-orm", "Model._meta.fields_db_projection / fields_map", "services/core/events.py"
    )
    assert hasattr(Task._meta, "fields_db_projection"), lost
    task = await post_task(services, await new_user(services), publish=False)
    values = snapshot(task)
    [stored] = await Task.filter(id=task.id).values()
    assert set(values) == set(stored), lost
    assert "employer_id" in values, lost
    assert snapshot(task_from_snapshot(values)) == values, lost
    assert task_from_snapshot(values).created_at == task.created_at, lost


@pytest.mark.usefixtures("services")
async def test_tortoise_connection_builds_and_runs_our_raw_queries() -> None:
    """services/core/nested_pages.py builds SQL with `_meta.db.query_class` (pypika-tortoise) on
    `_meta.db_table`, and runs it with `execute_query_dict`."""

    async def zero() -> int:
        return 0

    lost = moved("tortoise-orm", "Model._meta.db.query_class", "services/core/nested_pages.py")
    assert hasattr(Submission._meta.db, "query_class"), lost

    pages = await first_pages(
        Submission,
        "task_id",
        [1, 2],
        first=2,
        before_id=10,
        where={"status": ["SUBMITTED"]},
        count=lambda parent: zero,
    )
    assert {p: (page.items, page.has_next_page) for p, page in pages.items()} == {
        1: ([], False),
        2: ([], False),
    }, lost


@pytest.mark.usefixtures("services")
async def test_tortoise_logs_every_statement_it_sends() -> None:
    """tests/support.py's `count_queries` (every "no query per item" test) reads tortoise's
    debug log of each statement: silent, those tests would pass whatever the code does."""
    await UserModel.all().count()  # the connection opened (which may log too) before counting
    with count_queries() as counted:
        await UserModel.all().count()
        await UserModel.filter(id=1).first()
    assert counted.count == 2, moved(
        "tortoise-orm", 'the "tortoise.db_client" debug log', "tests/support.py (count_queries)"
    )


@pytest.mark.usefixtures("services")
async def test_tortoise_sends_every_query_through_the_client_methods_tracing_wraps() -> None:
    """server/db_tracing.py wraps the `execute_*` methods of tortoise's SQLite and asyncpg
    clients (and their transaction wrappers): every query of the models must go through one
    of them, with the SQL first, or queries would go untraced without a word."""
    for kind in db_tracing._SYSTEMS:
        for name in db_tracing._METHODS:
            assert parameters(getattr(kind, name))[:2] == ["self", "query"], moved(
                "tortoise-orm", f"{kind.__name__}.{name}", "server/db_tracing.py"
            )
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    await UserModel.all().count()  # the connection opened first
    db_tracing.install(tracer)
    try:
        with tracer.start_as_current_span("operation"):
            await UserModel.all().count()
            await UserModel.filter(id=-1).update(bio="")
            async with in_transaction():
                await UserModel.filter(id=-1).first()
    finally:
        db_tracing.uninstall(tracer)
    names = [span.name for span in exporter.get_finished_spans()]
    assert names == ["SELECT", "UPDATE", "SELECT", "operation"], moved(
        "tortoise-orm", "the client methods every query goes through", "server/db_tracing.py"
    )


def test_tortoise_makemigrations_writes_what_fix_migrations_rewrites() -> None:
    """server/fix_migrations.py moves `Meta.constraints` out of the `CreateModel` that
    `tortoise makemigrations` writes (with the generator and writer it uses) into
    `AddConstraint` operations."""
    from tortoise.migrations.schema_generator.operation_generator import OperationGenerator
    from tortoise.migrations.schema_generator.state import ModelState, State
    from tortoise.migrations.schema_generator.state_apps import StateApps
    from tortoise.migrations.writer import MigrationWriter

    before = State(models={}, apps=StateApps())
    after = State(
        models={("models", "Account"): ModelState.make_from_model("models", Account)},
        apps=StateApps(),
    )
    operations = OperationGenerator(before, after).generate(app_labels=["models"])
    written = MigrationWriter("0001_initial", "models", operations).as_string()
    fixed = fix(written)
    compile(fixed, "migration", "exec")
    lost = moved("tortoise-orm", "MigrationWriter's CreateModel", "server/fix_migrations.py")
    assert "'constraints'" in written, lost
    assert "'constraints'" not in fixed, lost
    assert "ops.AddConstraint(model_name='Account', constraint=CheckConstraint(" in fixed, lost
