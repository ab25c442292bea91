"""Every place picotask relies on a library's internals has a test that fails loudly, naming
the library, the internal and the module of ours that relies on it, when an upgrade changes it
(README, "Upgrading"; `make upgrade` runs them with the rest of the suite). Here: the
signatures of what we override and call; the behaviours are in tests/test_upgrading_*.py, on
the small schema below (strawberry and graphql-core) or on the app's own parts.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncGenerator, Callable
from typing import Any

import pytest
import strawberry
import uvicorn
from broadcaster import Broadcast, BroadcastBackend, Event
from cross_web import HTTPException
from graphql import Executor
from graphql.pyutils import Path
from starlette.applications import Starlette
from strawberry.asgi import GraphQL
from strawberry.extensions import MaskErrors, max_aliases, query_depth_limiter
from strawberry.schema import schema as strawberry_schema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)

from picotask.schema.prefetch import selects
from picotask.server.app import App
from picotask.server.execution import PlainFieldsExecutor
from picotask.server.fanout import GroupedExecutor
from picotask.server.graphql_view import GraphQLView
from picotask.server.safety import MaskUnexpectedErrors
from picotask.server.shutdown import Server
from picotask.server.ws_handler import SocketHandler
from picotask.subscriptions.direct import Rested
from picotask.subscriptions.redis_backend import RedisPubSubBackend


def moved(library: str, internal: str, ours: str) -> str:
    return f"{library} changed {internal}, which {ours} relies on (README, Upgrading)"


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


WS_HANDLER = "server/ws_handler.py"
REDIS_BACKEND = "subscriptions/redis_backend.py"
# Methods of a library class that one of ours overrides: the same parameters, or strawberry
# and graphql-core call ours with arguments it does not take (or ours skips a new one).
OVERRIDES: list[tuple[str, type, type, str, str]] = [
    *(
        ("strawberry-graphql", GraphQL, GraphQLView, name, "server/graphql_view.py")
        for name in (
            "execute_single",
            "process_result",
            "get_sub_response",
            "get_context",
            "on_ws_connect",
            "encode_json",
            "decode_json",
            "parse_json",
            "create_response",
        )
    ),
    *(
        ("strawberry-graphql", BaseGraphQLTransportWSHandler, SocketHandler, name, WS_HANDLER)
        for name in (
            "__init__",
            "handle",
            "handle_connection_init",
            "handle_subscribe",
            "run_operation",
            "cleanup_operation",
        )
    ),
    *(
        ("strawberry-graphql", MaskErrors, MaskUnexpectedErrors, name, "server/safety.py")
        for name in ("_process_result", "anonymise_error")
    ),
    *(
        ("graphql-core", Executor, PlainFieldsExecutor, name, "server/execution.py")
        for name in ("execute_field", "execute_fields")
    ),
    ("graphql-core", Executor, GroupedExecutor, "build_per_event_executor", "server/fanout.py"),
    *(
        ("broadcaster", BroadcastBackend, RedisPubSubBackend, name, REDIS_BACKEND)
        for name in (
            "connect",
            "disconnect",
            "subscribe",
            "unsubscribe",
            "publish",
            "next_published",
        )
    ),
    ("starlette", Starlette, App, "__call__", "server/app.py"),
    *(
        ("uvicorn", uvicorn.Server, Server, name, "server/shutdown.py")
        for name in ("shutdown", "handle_exit")
    ),
]


@pytest.mark.parametrize(
    ("library", "theirs", "ours", "name", "module"),
    OVERRIDES,
    ids=[f"{o[2].__name__}.{o[3]}" for o in OVERRIDES],
)
def test_our_overrides_take_what_the_library_passes(
    library: str, theirs: type, ours: type, name: str, module: str
) -> None:
    internal = f"{theirs.__name__}.{name}"
    assert any(name in vars(c) for c in theirs.__mro__[:-1]), moved(library, internal, module)
    own = next(vars(c)[name] for c in ours.__mro__ if name in vars(c))
    assert parameters(getattr(theirs, name)) == parameters(own), moved(library, internal, module)


# What our code (or the tests' own set-up) calls, and the parameters it passes.
CALLED: list[tuple[str, Callable[..., Any], str, str]] = [
    (
        "graphql-core",
        Executor.__init__,
        "self schema fragment_definitions fragments root_value context_value operation "
        "variable_values field_resolver type_resolver subscribe_field_resolver "
        "enable_early_execution middleware_manager is_awaitable is_async_iterable "
        "hide_suggestions abort_signal hooks",
        "server/fanout.py (without_subscriber passes them in this order)",
    ),
    (
        "graphql-core",
        Executor.collect_and_execute_subfields,
        "self return_type field_details_list path result position_context",
        "server/execution.py",
    ),
    (
        "graphql-core",
        Executor.handle_field_error,
        "self raw_error return_type field_details_list path",
        "server/execution.py",
    ),
    ("graphql-core", Executor.settle_in_background, "self awaitables", "server/execution.py"),
    ("graphql-core", Executor.execute_operation, "self serially", "server/fanout.py"),
    ("graphql-core", Path.add_key, "self key typename", "server/execution.py"),
    ("strawberry-graphql", BaseGraphQLTransportWSHandler._task_done, "self task", WS_HANDLER),
    ("strawberry-graphql", MaskErrors._process_errors, "self errors", "server/safety.py"),
    (
        "strawberry-graphql",
        strawberry.Info.__init__,
        "self _raw_info _field",
        "server/execution.py",
    ),
    (
        "strawberry-graphql",
        strawberry_schema.validate_document,
        "schema document validation_rules",
        "server/safety.py (Documents)",
    ),
    ("strawberry-graphql", max_aliases.create_validator, "max_alias_count", "server/safety.py"),
    (
        "strawberry-graphql",
        query_depth_limiter.create_validator,
        "max_depth should_ignore callback",
        "server/safety.py",
    ),
    ("cross-web", HTTPException.__init__, "self status_code reason", "server/graphql_view.py"),
    ("broadcaster", Broadcast.__init__, "self url backend", "subscriptions/bus.py"),
    ("broadcaster", Event.__init__, "self channel message", REDIS_BACKEND),
    ("uvicorn", uvicorn.Server.serve, "self sockets", "tests/support.py (LiveServer)"),
]


@pytest.mark.parametrize(
    ("library", "function", "expected", "module"),
    CALLED,
    ids=[f"{c[1].__module__.rsplit('.', 1)[-1]}.{c[1].__qualname__}" for c in CALLED],
)
def test_what_we_call_takes_what_we_pass(
    library: str, function: Callable[..., Any], expected: str, module: str
) -> None:
    assert parameters(function) == expected.split(), moved(library, function.__qualname__, module)


# A small schema of our own, for what strawberry and graphql-core do with it.


@strawberry.type
class Shelf:
    label: str
    picked: bool = False  # whether its query selected `label`, as schema/prefetch.py tells

    @strawberry.field
    def upper(self, info: strawberry.Info) -> str:
        assert info.field_name == "upper"
        return self.label.upper()


@strawberry.type
class Query:
    @strawberry.field
    def shelf(self, info: strawberry.Info) -> Shelf:
        return Shelf(label="books", picked=selects(info, "label"))

    @strawberry.field
    def broken(self) -> str:
        raise ValueError("a bug")


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def ticks(self, info: strawberry.Info, n: int = 1) -> AsyncGenerator[int, None]:
        """Its first run rests (as a resting subscriber's generator ends), its second ends,
        any later one waits after its first value."""
        runs = info.context["runs"] = info.context.get("runs", 0) + 1
        yield runs
        if runs == 1:
            raise Rested
        for more in range(1, n):
            yield runs + more
        if runs > 2:
            await asyncio.Event().wait()
