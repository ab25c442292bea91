"""One execution per event for every subscriber of the same operation, serialized once.

graphql-core runs a subscription as a source stream per subscriber (the resolver: who receives
what, in order, from the log and the bus) and an execution of the selection set per event and
subscriber. The second part is the same work for every subscriber whose operation (document,
operation name, variables) is the same, so this executor does it once per such group and event
(`subscriptions/groups.py`) and hands every subscriber the same payload, already JSON
(`orjson.Fragment`: each frame only adds its operation id around it).

A shared result must never carry what only one subscriber may see. So the shared execution runs
with a `SharedContext` (schema/context.py): no viewer, no session, no connection. A resolver
that asks for any of them marks the group as depending on its subscriber; the shared result is
dropped and the event executed for each subscriber with their own context, as every later
event of that group.

The shared execution also runs outside every subscriber's operation, so none of the schema
extensions' hooks runs for it: not `resolve` (graphql-core's middleware, which may hide or
change any field: a policy, tracing), not what the operation's hooks (`on_operation`,
`on_parse`, `on_validate`, `on_execute`) set up around its executions, and, for a frame
written directly (server/direct.py), not the per-result hooks (`get_results`,
`on_stream_result`). They cannot be run for a group: strawberry makes
each operation's extensions for it and hands them its `ExecutionContext`, the subscriber's
own context and viewer included, where `SharedContext` cannot see them asked for; the ones of
one subscriber would answer for everyone, and new ones would lack the state their own
operation hooks set up (strawberry's OpenTelemetry `resolve` reads the span its
`on_operation` started). So an operation is grouped only when no extension of the schema has
such a hook (`_shareable`), but those checked not to change an event (`safety.SHARED_SAFE`);
otherwise each subscriber's events run through strawberry's own path, hooks and all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Hashable
from typing import Any, cast
from weakref import WeakKeyDictionary

import orjson
from graphql import ExecutionResult, Executor, GraphQLError, GraphQLSchema, OperationType
from strawberry.extensions import SchemaExtension
from strawberry.extensions.base_extension import HOOK_METHODS
from strawberry.schema.schema import Schema, StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

from picotask.schema.context import Context, SharedContext
from picotask.server.safety import SHARED_SAFE
from picotask.subscriptions.direct import outlet
from picotask.subscriptions.groups import Groups


class _Payload:
    """What a group's execution of one event gives each subscriber (or None: run your own)."""

    __slots__ = ("data", "errors")

    def __init__(self, data: Any, errors: list[Any] | None) -> None:
        self.data = data
        self.errors = errors


# Every hook strawberry runs of a schema extension: around the operation and its steps, per
# result, and per field (`resolve`, as graphql-core middleware).
_HOOKS = (*sorted(HOOK_METHODS), "resolve", "get_results")


def _hooked(kind: type[SchemaExtension]) -> bool:
    return any(getattr(kind, hook) is not getattr(SchemaExtension, hook) for hook in _HOOKS)


# Per schema: its list of extensions (a test may give it another) and the answer for it.
_SHAREABLE: WeakKeyDictionary[Schema, tuple[object, bool]] = WeakKeyDictionary()


def _shareable(schema: GraphQLSchema) -> bool:
    """Whether no extension of the schema has a hook that would change an event's execution
    or frames (see the module's docstring), worked out once per schema and list of extensions,
    from what strawberry makes of that list for each operation (the same classes)."""
    strawberry_schema = schema.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if not isinstance(strawberry_schema, Schema):
        return False
    known = _SHAREABLE.get(strawberry_schema)
    if known is None or known[0] is not strawberry_schema.extensions:
        kinds = {type(extension) for extension in strawberry_schema.get_extensions()}
        answer = all(kind in SHARED_SAFE or not _hooked(kind) for kind in kinds)
        known = _SHAREABLE[strawberry_schema] = (strawberry_schema.extensions, answer)
    return known[1]


def _group_of(executor: GroupedExecutor) -> Hashable | None:
    """The operation as the group's key: its document's text, its name and the variables as
    sent; None when the text is not known or an extension's hooks apply to the operation's
    executions (then nothing is shared)."""
    operation = executor.operation
    if operation.loc is None or operation.operation != OperationType.SUBSCRIPTION:
        return None
    manager = executor.middleware_manager  # what strawberry made of the `resolve` hooks
    if (manager is not None and manager.middlewares) or not _shareable(executor.schema):
        return None
    raw = {name: source.value for name, source in executor.variable_values.sources.items()}
    # As a str: orjson's bytes keep the 4 KiB buffer they were written in, per subscriber here.
    variables = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=repr).decode()
    name = operation.name.value if operation.name is not None else None
    return (operation.loc.source.body, name, variables)


class GroupedExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, with each subscription event executed once per group."""

    group: Hashable | None = None
    run: SharedRun | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The operation's transport may write its events directly (server/direct.py).
        transport = outlet.get()
        subscription = self.operation.operation == OperationType.SUBSCRIPTION
        ours = self.context_value is not None  # not a group's `SharedRun.template`
        if transport is not None and transport.executor is None and subscription and ours:
            transport.executor = self

    def grouping(self) -> Hashable | None:
        if "group" not in self.__dict__:
            self.group = _group_of(self)  # once per subscription
        return self.group

    def build_per_event_executor(self, payload: Any) -> Any:
        if self.grouping() is None:
            return super().build_per_event_executor(payload)
        return _Event(self, payload)  # no copy of the executor unless it must execute

    def own_execution(self, payload: Any) -> Awaitable[ExecutionResult]:
        """This subscriber's own execution of the event, with their context."""
        executor = super().build_per_event_executor(payload)
        result = executor.execute_operation(False)
        return _awaited(executor, result)

    def shared_run(self) -> SharedRun | None:
        """Its group's executions (None: not grouped), one for every subscriber of the group:
        made from the first subscriber's executor that asks, kept while any of them holds it
        (this executor, or its direct path once it rests)."""
        if "run" not in self.__dict__:
            group = self.grouping()
            if group is not None:
                runs = cast("Context", self.context_value).bus.groups.runs
                found = runs.get(group)
                if not isinstance(found, SharedRun):
                    found = runs[group] = SharedRun(self, group)
                self.run = found  # once per subscription
            else:
                self.run = None
        return self.run

    def without_subscriber(self) -> GroupedExecutor:
        """The same execution of the same operation for nobody: no context, no abort signal
        of theirs (and no middleware: a grouped operation has none, `_group_of`)."""
        return type(self)(
            self.schema,
            self.fragment_definitions,
            self.fragments,
            None,  # root value: each event's own
            None,  # context: each execution's own `SharedContext`
            self.operation,
            self.variable_values,
            self.field_resolver,
            self.type_resolver,
            self.subscribe_field_resolver,
            self.enable_early_execution,
            None,  # middleware: none, as the operation's own
            self.is_awaitable,
            self.is_async_iterable,
            hide_suggestions=self.hide_suggestions,
            hooks=self.hooks,
            operation_extensions=None,  # what one client sent with its operation
        )


class SharedRun:
    """One group's execution of each event, with nobody's context (`SharedContext`): what the
    direct path (server/direct.py) and each subscriber's generator (`_Event`) share. It holds
    an executor of its own (`without_subscriber`), so a subscriber that rests keeps no executor,
    and the group's results never reach back to whichever subscriber it was made from."""

    __slots__ = ("__weakref__", "bus", "group", "services", "template")

    def __init__(self, executor: GroupedExecutor, group: Hashable) -> None:
        context = cast("Context", executor.context_value)
        self.services, self.bus, self.group = context.services, context.bus, group
        self.template = executor.without_subscriber()

    def execute(self, payload: Any) -> Awaitable[_Payload | None]:
        """The group's execution of this event; None if a resolver asked for a subscriber (the
        group is then executed per subscriber from now on)."""
        context = SharedContext(self.services, self.bus, "shared")
        shared = super(GroupedExecutor, self.template).build_per_event_executor(payload)
        shared.context_value = context
        groups, group = self.bus.groups, self.group

        async def run() -> _Payload | None:
            done = await _awaited(shared, shared.execute_operation(False))
            if context.asked is not None:
                groups.mark_per_subscriber(group)
                return None
            if done.errors:
                return _Payload(done.data, done.errors)
            # Kept by the group's results (`Groups`): the JSON's own size, not orjson's buffer.
            return _Payload(orjson.Fragment(orjson.dumps(done.data).decode()), None)

        return run()


class _Event:
    """One subscription event of one subscriber: what graphql-core's subscription loop runs
    (`execute_operation(False)`) in place of a copy of the whole executor."""

    __slots__ = ("executor", "payload")

    def __init__(self, executor: GroupedExecutor, payload: Any) -> None:
        self.executor, self.payload = executor, payload

    def execute_operation(self, serially: bool | None = None) -> Awaitable[ExecutionResult]:
        return self._run()

    async def _run(self) -> ExecutionResult:
        executor, source = self.executor, self.payload
        group = executor.group
        assert group is not None
        groups = cast("Groups[_Payload | None]", cast("Context", executor.context_value).bus.groups)
        run = executor.shared_run()
        if run is not None and not groups.per_subscriber(group):
            payload = await groups.shared(group, source, lambda: run.execute(source))
            if payload is not None:
                groups.stats.shared_deliveries += 1
                # A list of one's own: error extensions (masking) may edit it.
                errors = list(payload.errors) if payload.errors else None
                return ExecutionResult(payload.data, errors)
        groups.stats.subscriber_executions += 1
        return _encoded(await executor.own_execution(source))


def _encoded(result: ExecutionResult) -> ExecutionResult:
    """A subscriber's own result, its data JSON already as a shared one's is (the frame only
    copies it). Data JSON cannot encode (a value orjson refuses) is this event's error, masked
    as any bug, and the subscription goes on: alone, strawberry's send would end it, and a
    shared execution that failed on it must not end every subscription of its group."""
    if result.data is None:
        return result
    try:
        data: Any = orjson.Fragment(orjson.dumps(result.data))  # strawberry's frame copies it
    except orjson.JSONEncodeError as error:
        failed = GraphQLError(str(error), original_error=error)
        return ExecutionResult(None, [*(result.errors or ()), failed], result.extensions)
    return ExecutionResult(data, result.errors, result.extensions)


async def _awaited(executor: Executor[Any], result: Any) -> ExecutionResult:
    return cast("ExecutionResult", await result if executor.is_awaitable(result) else result)
