"""One execution per event for every subscriber of the same operation, serialized once.

graphql-core runs a subscription as a source stream per subscriber (the resolver: who receives
what, in order, from the log and the bus) and an execution of the selection set per event and
subscriber. The second part is the same work for every subscriber whose operation (document,
operation name, variables) is the same, so this executor does it once per such group and event
(`subscriptions/groups.py`) and hands every subscriber the same payload, already JSON
(`orjson.Fragment`: each frame only adds its operation id around it).

A shared result must never carry what only one subscriber may see. So the shared execution runs
with a `SharedContext` (schema/context.py): no viewer, no session, no connection, and no
extension hooks of any one subscriber's operation. A resolver that asks for any of them marks
the group as depending on its subscriber; the shared result is dropped and the event executed
for each subscriber with their own context, as every later event of that group.
"""

from __future__ import annotations

from collections.abc import Awaitable, Hashable
from typing import Any, cast

import orjson
from graphql import ExecutionResult, Executor, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from picotask.schema.context import Context, SharedContext
from picotask.subscriptions.direct import outlet
from picotask.subscriptions.groups import Groups


class _Payload:
    """What a group's execution of one event gives each subscriber (or None: run your own)."""

    __slots__ = ("data", "errors")

    def __init__(self, data: Any, errors: list[Any] | None) -> None:
        self.data = data
        self.errors = errors


def _group_of(executor: GroupedExecutor) -> Hashable | None:
    """The operation as the group's key: its document's text, its name and the variables as
    sent; None when the text is not known (then nothing is shared)."""
    operation = executor.operation
    if operation.loc is None or operation.operation != OperationType.SUBSCRIPTION:
        return None
    raw = {name: source.value for name, source in executor.variable_values.sources.items()}
    # As a str: orjson's bytes keep the 4 KiB buffer they were written in, per subscriber here.
    variables = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=repr).decode()
    name = operation.name.value if operation.name is not None else None
    return (operation.loc.source.body, name, variables)


class GroupedExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, with each subscription event executed once per group."""

    group: Hashable | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The operation's transport may write its events directly (server/direct.py).
        transport = outlet.get()
        subscription = self.operation.operation == OperationType.SUBSCRIPTION
        if transport is not None and transport.executor is None and subscription:
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

    def shared_execution(self, payload: Any) -> Awaitable[_Payload | None]:
        """The group's execution of this event, with nobody's context; None if a resolver
        asked for a subscriber (the group is then executed per subscriber from now on)."""
        subscriber = cast("Context", self.context_value)
        context = SharedContext(subscriber.services, subscriber.bus, "shared")
        shared = super().build_per_event_executor(payload)
        shared.context_value = context
        shared.middleware_manager = None  # extension hooks belong to one subscriber's operation
        shared.abort_signal = None  # one subscriber leaving does not abort it for the others
        group = self.group
        assert group is not None

        async def run() -> _Payload | None:
            done = await _awaited(shared, shared.execute_operation(False))
            if context.asked is not None:
                subscriber.bus.groups.mark_per_subscriber(group)
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
        if not groups.per_subscriber(group):
            payload = await groups.shared(group, source, lambda: executor.shared_execution(source))
            if payload is not None:
                groups.stats.shared_deliveries += 1
                # A list of one's own: error extensions (masking) may edit it.
                errors = list(payload.errors) if payload.errors else None
                return ExecutionResult(payload.data, errors)
        groups.stats.subscriber_executions += 1
        return await executor.own_execution(source)


async def _awaited(executor: Executor[Any], result: Any) -> ExecutionResult:
    return cast("ExecutionResult", await result if executor.is_awaitable(result) else result)
