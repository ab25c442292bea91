"""A task's numbers pushed live: computed once per event and task in this process, whoever and
however many subscribers ask for them.

Each change of a submission is one event on its employer's stream. Every dashboard watching the
task (its own subscription, or the one for all the employer's tasks; any variables, any
selection) receives that same event, and the first to ask starts the computation: the task's row
and its four aggregate statements (`AnalyticsService.numbers`). The others await the same result,
so an event costs the same few statements for one subscriber or a thousand, and every one of
them is sent the same numbers for the same event.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass

from picotask.models.tasks import Task
from picotask.services.campaigns.analytics import AnalyticsService, Numbers

# Results kept: the newest events of every watched task, while a subscriber a few events behind
# still finds its result (one further behind computes again: correct, only later numbers).
KEPT_RESULTS = 1_024


@dataclass(frozen=True, slots=True)
class TaskNumbers:
    task: Task | None  # None: the task is gone
    numbers: Numbers


class LiveAnalytics:
    """One per process (in `Services`): the numbers after each recent event, per task."""

    def __init__(self, analytics: AnalyticsService, kept: int = KEPT_RESULTS) -> None:
        self.analytics = analytics
        self.kept = kept
        self.computed = 0  # computations started (one per event and task)
        self._results: OrderedDict[tuple[int, int], asyncio.Future[TaskNumbers]] = OrderedDict()

    def after_event(self, event_id: int, task_id: int) -> Awaitable[TaskNumbers]:
        """The task's numbers after the event (id) that changed one of its submissions, read
        when the first subscriber asks (so they may include a change committed since, whose own
        event follows). Run in a task of its own, so a subscriber leaving does not cancel it for
        the others."""
        key = (event_id, task_id)
        result = self._results.get(key)
        if result is None:
            self.computed += 1
            result = asyncio.ensure_future(self._compute(task_id))
            result.add_done_callback(lambda done: self._settled(key, done))
            self._results[key] = result
            if len(self._results) > self.kept:
                self._results.popitem(last=False)
        return asyncio.shield(result)

    def _settled(self, key: tuple[int, int], result: asyncio.Future[TaskNumbers]) -> None:
        """A failed computation is not kept: the next subscriber to ask tries again (and the
        error is retrieved here, so an abandoned one is not reported as never retrieved)."""
        failed = result.cancelled() or result.exception() is not None
        if failed and self._results.get(key) is result:
            del self._results[key]

    async def _compute(self, task_id: int) -> TaskNumbers:
        task = await Task.get_or_none(id=task_id)
        if task is None:
            return TaskNumbers(None, Numbers())
        found = await self.analytics.by_task(task.employer_id, (task.id,))
        return TaskNumbers(task, found[task.id])
