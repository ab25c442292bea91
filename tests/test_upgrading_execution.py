"""What the GraphQL view, the execution safety extensions, the fast path and the fan-out rely
on in strawberry's and graphql-core's execution (README, "Upgrading")."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeGuard

import pytest
import strawberry
from graphql import Executor, GraphQLResolveInfo, parse, validate
from strawberry.extensions import SchemaExtension, max_aliases, query_depth_limiter
from strawberry.schema import schema as strawberry_schema
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from picotask.server.execution import PlainFieldsExecutor, lean_resolvers
from picotask.server.fanout import GroupedExecutor
from picotask.server.plain_fields import plain_fields
from picotask.server.safety import CachedDocuments, CleanInput, Documents, MaskUnexpectedErrors
from picotask.settings import Settings
from tests.support import Api
from tests.test_upgrading import Query, Subscription, moved, parameters

SUBSCRIPTION_OVER_HTTP = "Subscriptions are served over the websocket on /graphql"


async def test_strawberry_sends_every_http_operation_through_execute_single(api: Api) -> None:
    """server/graphql_view.py: our `execute_single` answers every HTTP request (persisted
    queries, mutations by POST only, no subscription), whatever the client accepts; the
    cross-web HTTPException it raises is strawberry's 400."""
    lost = moved("strawberry-graphql", "AsyncBaseHTTPView.execute_single", "server/graphql_view.py")
    for accept in (
        "application/json",
        'multipart/mixed;subscriptionSpec="1.0"',
        "text/event-stream",
    ):
        response = await api.post(
            "subscription { taskFeed { cursor } }", headers={"accept": accept}
        )
        errors = response.json()["errors"]
        assert [e["message"].startswith(SUBSCRIPTION_OVER_HTTP) for e in errors] == [True], lost
    log_out = "mutation { logOut(input: {}) { success } }"
    mutation = await api.client.get("/graphql", params={"query": log_out})
    assert "use POST" in mutation.json()["errors"][0]["message"], lost
    bad = await api.client.post(
        "/graphql", content="{", headers={"content-type": "application/json"}
    )
    assert (bad.status_code, bad.text) == (400, "Unable to parse request body as JSON"), moved(
        "cross-web", "HTTPException", "server/graphql_view.py (parse_json)"
    )


class _CountingMask(MaskUnexpectedErrors):
    processed: ClassVar[int] = 0

    def _process_result(self, result: object) -> None:
        type(self).processed += 1
        super()._process_result(result)


async def test_strawberry_masks_errors_through_process_result() -> None:
    """server/safety.py replaces MaskErrors._process_result (no runtime Protocol check)."""
    schema = strawberry.Schema(Query, extensions=[_CountingMask])
    result = await schema.execute("{ broken }")
    assert _CountingMask.processed == 1, moved(
        "strawberry-graphql", "MaskErrors.on_operation -> _process_result", "server/safety.py"
    )
    assert [e.message for e in result.errors or []] == ["Internal server error."]


class _Resolving(SchemaExtension):
    def resolve(
        self,
        _next: Callable[..., Any],
        root: Any,
        info: GraphQLResolveInfo[Any],
        *args: str,
        **kwargs: Any,
    ) -> Awaitable[object] | object:
        resolved: object = _next(root, info, *args, **kwargs)
        return resolved


class _PlainSeen(PlainFieldsExecutor):
    seen: ClassVar[list[int]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        type(self).seen.append(len(self.plain))


async def test_strawberry_marks_basic_fields_for_the_fast_path() -> None:
    """server/execution.py finds basic fields by strawberry's `_is_default` mark and its
    definition back-reference, reads `middleware_manager.middlewares` (none: fast path), and
    builds `Info(_raw_info=..., _field=...)` for lean resolvers."""
    lost = moved("strawberry-graphql", "basic field marks (_is_default)", "server/execution.py")
    schema = strawberry.Schema(Query, execution_context_class=_PlainSeen)
    shelf = schema._schema.type_map["Shelf"]
    found = {id(p.field) for p in plain_fields(schema._schema).values()}
    assert id(shelf.fields["label"]) in found, lost  # type: ignore[attr-defined]  # an object type
    assert id(shelf.fields["upper"]) not in found, lost  # type: ignore[attr-defined]  # as above
    assert lean_resolvers(schema) >= 2, moved(
        "strawberry-graphql", "StrawberryField.base_resolver", "server/execution.py (_lean)"
    )
    result = await schema.execute("{ shelf { upper picked ...f } } fragment f on Shelf { label }")
    assert result.data == {"shelf": {"label": "books", "upper": "BOOKS", "picked": True}}, moved(
        "strawberry-graphql", "Info._raw_info", "schema/prefetch.py, server/execution.py"
    )
    wrapped = strawberry.Schema(Query, execution_context_class=_PlainSeen, extensions=[_Resolving])
    await wrapped.execute("{ shelf { label } }")
    lost = moved("strawberry-graphql", "middleware_manager.middlewares", "server/execution.py")
    assert _PlainSeen.seen[0] > 0, lost
    assert _PlainSeen.seen[-1] == 0, lost


class _OnlyExecuteOperation:
    """What GroupedExecutor hands graphql-core per event (`_Event`): execute_operation only."""

    asked: ClassVar[list[str]] = []

    def __init__(self, executor: Executor[Any]) -> None:
        self.executor = executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        return self.executor.execute_operation(serially)

    def __getattr__(self, name: str) -> Any:
        type(self).asked.append(name)
        raise AttributeError(name)


class _PerEvent(StrawberryGraphQLCoreExecutionContext):
    events: ClassVar[list[tuple[object, dict[str, object], object]]] = []

    def build_per_event_executor(self, payload: Any) -> Any:
        variables = {name: s.value for name, s in self.variable_values.sources.items()}
        type(self).events.append((payload, variables, self.operation_extensions))
        return _OnlyExecuteOperation(super().build_per_event_executor(payload))


async def test_graphql_core_runs_each_event_through_build_per_event_executor() -> None:
    """server/fanout.py: strawberry builds its executors from `execution_context_class`
    (with the operation's extensions), and graphql-core asks it for each event's executor and
    calls nothing but its `execute_operation`; the variables as sent are in
    `variable_values.sources` (the group's key)."""
    lost = moved("graphql-core", "Executor.build_per_event_executor", "server/fanout.py")
    schema = strawberry.Schema(Query, subscription=Subscription, execution_context_class=_PerEvent)
    stream = await schema.subscribe(
        "subscription($n: Int!) { ticks(n: $n) }",
        variable_values={"n": 3},
        context_value={"runs": 1},
        operation_extensions={"client": "x"},
    )
    results = [r.data async for r in stream]
    assert results == [{"ticks": 2}, {"ticks": 3}, {"ticks": 4}], lost
    assert _OnlyExecuteOperation.asked == [], lost
    assert [e[1:] for e in _PerEvent.events] == [({"n": 3}, {"client": "x"})] * 3, lost


def _awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    return inspect.isawaitable(value)


def test_graphql_core_executor_keeps_what_without_subscriber_copies() -> None:
    """server/fanout.py builds a group's executor from every argument of the subscriber's,
    read back from its attributes, and blanks the subscriber's own."""
    schema = strawberry.Schema(Query, subscription=Subscription)
    built = GroupedExecutor.build(
        schema._schema,
        parse("subscription { ticks }"),
        context_value=object(),
        enable_early_execution=True,
        is_awaitable=_awaitable,
        hide_suggestions=True,
        operation_extensions={"client": "x"},
    )
    assert isinstance(built, GroupedExecutor)
    names = parameters(Executor.__init__)[1:]
    for name in names:  # each argument kept as the attribute of its name, read back from there
        lost = moved("graphql-core", f"Executor.{name}", "server/fanout.py (without_subscriber)")
        assert hasattr(built, name), lost
    group = built.without_subscriber()
    blanked = {"root_value", "context_value", "middleware_manager", "abort_signal"}
    for name in names:
        expected = None if name in blanked else getattr(built, name)
        lost = moved("graphql-core", f"Executor.{name}", "server/fanout.py (without_subscriber)")
        assert getattr(group, name) is expected, lost
    assert group.operation_extensions is None


async def test_strawberry_skips_the_parse_and_validation_an_extension_did(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """server/safety.py: a document the cache parsed is not parsed again, a validation it
    answered is not run again, its token limit holds for a text strawberry parses itself, and
    errors an `on_validate` hook sets are the answer (CleanInput, cost_limit.py)."""
    calls: list[str] = []
    own_validate = strawberry_schema.validate_document

    def parsing(*args: Any, **kwargs: Any) -> Any:
        calls.append("parse")
        return parse(*args, **kwargs)

    def validating(*args: Any, **kwargs: Any) -> Any:
        calls.append("validate")
        return own_validate(*args, **kwargs)

    monkeypatch.setattr("strawberry.schema.schema.parse", parsing)
    monkeypatch.setattr(strawberry_schema, "validate_document", validating)
    documents = Documents(Settings())
    schema = strawberry.Schema(
        Query,
        extensions=[
            lambda: CachedDocuments(documents),
            lambda: CleanInput(max_depth=10, documents=documents),
        ],
    )
    for _ in range(2):
        assert (await schema.execute("{ shelf { label } }")).data == {"shelf": {"label": "books"}}
    assert (documents.parses, documents.validations, calls) == (1, 1, []), moved(
        "strawberry-graphql",
        "ExecutionContext.graphql_document / pre_execution_errors",
        "server/safety.py (CachedDocuments)",
    )
    aliases = " ".join(f"a{n}: __typename" for n in range(documents.max_tokens))
    [too_long] = (await schema.execute(f"{{ {aliases} }}")).errors or []
    assert "tokens" in too_long.message, moved(
        "strawberry-graphql", "ExecutionContext.parse_options", "server/safety.py"
    )
    [refused] = (await schema.execute('{ shelf(x: "\\u0000") { label } }')).errors or []
    assert refused.message.startswith("A string in the query text"), moved(
        "strawberry-graphql", "pre_execution_errors set in on_validate", "server/safety.py"
    )


def test_strawberry_limit_validators_refuse_what_they_limit() -> None:
    """server/safety.py makes strawberry's depth and alias rules once (`limit_rules`)."""
    schema = strawberry.Schema(Query)._schema
    depth = query_depth_limiter.create_validator(0, should_ignore=None)
    aliases = max_aliases.create_validator(1)
    lost = moved("strawberry-graphql", "create_validator (depth, aliases)", "server/safety.py")
    assert validate(schema, parse("{ shelf { label } }"), [depth]), lost
    assert validate(schema, parse("{ a: broken b: broken }"), [aliases]), lost
    assert validate(schema, parse("{ broken }"), [depth, aliases]) == [], lost
