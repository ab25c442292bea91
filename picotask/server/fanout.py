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

from collections.abc import Hashable
from typing import Any, cast

import orjson
from graphql import ExecutionResult, OperationType
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from picotask.schema.context import Context, SharedContext
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
    variables = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS, default=repr)
    name = operation.name.value if operation.name is not None else None
    return (operation.loc.source.body, name, variables)


class GroupedExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, with each subscription event executed once per group."""

    group: Hashable | None = None

    def build_per_event_executor(self, payload: Any) -> GroupedExecutor:
        if "group" not in self.__dict__:
            self.group = _group_of(self)  # once per subscription; each event's copy has it
        return cast("GroupedExecutor", super().build_per_event_executor(payload))

    def execute_operation(self, serially: bool | None = None) -> Any:
        if self.group is None or serially is not False:
            return super().execute_operation(serially)
        return self._event()

    async def _event(self) -> ExecutionResult:
        context = cast("Context", self.context_value)
        groups = cast("Groups[_Payload | None]", context.bus.groups)
        assert self.group is not None
        if not groups.per_subscriber(self.group):
            payload = await groups.shared(self.group, self.root_value, self._execute_shared)
            if payload is not None:
                groups.stats.shared_deliveries += 1
                # A list of one's own: error extensions (masking) may edit it.
                errors = list(payload.errors) if payload.errors else None
                return ExecutionResult(payload.data, errors)
        groups.stats.subscriber_executions += 1
        return await self._own()

    async def _own(self) -> ExecutionResult:
        """This subscriber's own execution of the event, with their context."""
        result = super().execute_operation(False)
        return cast("ExecutionResult", await result if self.is_awaitable(result) else result)

    async def _execute_shared(self) -> _Payload | None:
        """The group's execution of this event, with nobody's context; None if a resolver
        asked for a subscriber (the group is then executed per subscriber from now on)."""
        subscriber = cast("Context", self.context_value)
        context = SharedContext(subscriber.services, subscriber.bus, "shared")
        shared = cast("GroupedExecutor", super().build_per_event_executor(self.root_value))
        shared.group = None  # a plain execution
        shared.context_value = context
        shared.middleware_manager = None  # extension hooks belong to one subscriber's operation
        shared.abort_signal = None  # one subscriber leaving does not abort it for the others
        result = super(GroupedExecutor, shared).execute_operation(False)
        done = cast("ExecutionResult", await result if shared.is_awaitable(result) else result)
        if context.asked is not None:
            assert self.group is not None
            subscriber.bus.groups.mark_per_subscriber(self.group)
            return None
        if done.errors:
            return _Payload(done.data, done.errors)
        return _Payload(orjson.Fragment(orjson.dumps(done.data)), None)
