"""Subscribers whose operation is the same (document, operation name, variables) form a group;
each event is executed once for the group and its result shared (server/fanout.py executes).

Who receives an event stays decided per subscriber, in memory (streams.py); a group only saves
the work of turning an event its subscribers receive into the payload they are sent. What a
subscriber is sent is looked up by the group and by the very object its stream yielded for the
event (the same for every subscriber: the bus hands them the same message), so a payload is
never reused for anything but what it was made from. A shared execution that raises is
logged once and gives no result (None), as one that asked for a subscriber: its subscribers
then each execute the event as their own, so none of them gets another's failure.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar
from weakref import WeakValueDictionary

from picotask.subscriptions.failures import bounded_traceback

log = logging.getLogger(__name__)
T = TypeVar("T")

# Payloads kept: enough for every group's newest events, while a subscriber behind by a few
# events still finds them (one further behind executes again: correct, only slower).
SHARED_RESULTS = 4_096
# Groups remembered as depending on their subscriber (then executed per subscriber at once).
SUBSCRIBER_GROUPS = 10_000


@dataclass
class GroupStats:
    shared_executions: int = 0  # one per group and event
    shared_deliveries: int = 0  # payloads handed out from a shared execution
    subscriber_executions: int = 0  # executions for one subscriber (their group needs them)
    direct_frames: int = 0  # shared deliveries written to the socket directly (server/direct.py)


@dataclass(slots=True, eq=False)
class _Shared(Generic[T]):
    source: object  # kept, so its id cannot be reused while the entry lives
    result: asyncio.Future[T | None]


class Groups(Generic[T]):
    """Per process (one for the bus): the shared results of recent events, per group."""

    def __init__(self, size: int = SHARED_RESULTS) -> None:
        self.size = size
        self.stats = GroupStats()
        self._shared: OrderedDict[tuple[Hashable, int], _Shared[T]] = OrderedDict()
        self._per_subscriber: OrderedDict[Hashable, None] = OrderedDict()
        # Each group's way of executing an event for all (server/fanout.py's `SharedRun`),
        # while any of its subscribers holds it.
        self.runs: WeakValueDictionary[Hashable, object] = WeakValueDictionary()

    def per_subscriber(self, group: Hashable) -> bool:
        """Whether this group's execution was found to depend on its subscriber."""
        return group in self._per_subscriber

    def mark_per_subscriber(self, group: Hashable) -> None:
        self._per_subscriber[group] = None
        self._per_subscriber.move_to_end(group)
        if len(self._per_subscriber) > SUBSCRIBER_GROUPS:
            self._per_subscriber.popitem(last=False)

    def shared(
        self, group: Hashable, source: object, execute: Callable[[], Awaitable[T]]
    ) -> Awaitable[T | None]:
        """The group's result for `source`: executed by the first subscriber to ask, in a task
        of its own (a subscriber leaving does not cancel it for the others) that starts from an
        empty context (nothing of that subscriber's task carries over), awaited by all; None
        if it raised."""
        key = (group, id(source))
        entry = self._shared.get(key)
        # The entry holds the source, so an equal id is this very object.
        if entry is None:
            self.stats.shared_executions += 1
            task = asyncio.get_running_loop().create_task(
                _run(execute), context=contextvars.Context()
            )
            entry = _Shared(source, task)
            self._shared[key] = entry
            if len(self._shared) > self.size:
                self._shared.popitem(last=False)
        return asyncio.shield(entry.result)


async def _run(execute: Callable[[], Awaitable[T]]) -> T | None:
    try:
        return await execute()
    except Exception as error:
        log.error(
            "a shared execution failed; its subscribers execute the event each as their own\n%s",
            bounded_traceback(error),
        )
        return None
