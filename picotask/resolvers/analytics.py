"""Employer dashboards: each task's numbers, all tasks over a range, and live updates."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from picotask.models.events import Stream
from picotask.models.tasks import Task
from picotask.resolvers.events import _after, _messages
from picotask.schema.analytics import (
    AnalyticsNumbers,
    EmployerAnalytics,
    TaskAnalytics,
    TaskAnalyticsEvent,
)
from picotask.schema.context import Info
from picotask.schema.errors import Forbidden
from picotask.schema.events import SubmissionEventKind, event_cursor
from picotask.schema.relay import pk_of
from picotask.schema.submissions import SubmissionType
from picotask.services.events import submission_from_snapshot
from picotask.services.report_range import checked_range
from picotask.services.transitions import can_review
from picotask.subscriptions.streams import audience_accepts, audience_replay

From = Annotated[datetime, strawberry.argument(name="from")]


async def _own_task(info: Info, task_id: strawberry.ID) -> Task:
    """The viewer's task; another's (or none) is FORBIDDEN, as `taskSubmissions` answers."""
    viewer = info.context.require_viewer()
    pk = pk_of(task_id, "Task")
    task = await Task.get_or_none(id=pk) if pk else None
    if task is None or not can_review(task, viewer.id):
        raise Forbidden("taskId is not one of your tasks.")
    return task


async def _task_analytics(info: Info, task: Task) -> TaskAnalytics:
    services = info.context.services
    numbers = await services.analytics.by_task(task.employer_id, (task.id,))
    return TaskAnalytics.of(task, numbers[task.id], services.settings.currency)


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="One of the viewer's tasks: its numbers since it was created.")
    async def task_analytics(self, info: Info, task_id: strawberry.ID) -> TaskAnalytics:
        return await _task_analytics(info, await _own_task(info, task_id))

    @strawberry.field(description="The viewer's tasks over [from, to): totals and per task.")
    async def employer_analytics(self, info: Info, from_: From, to: datetime) -> EmployerAnalytics:
        viewer = info.context.require_viewer()
        services = info.context.services
        within = checked_range(from_, to, services.settings.report_max_range_days)
        assert within.since is not None
        assert within.until is not None
        totals = await services.analytics.totals(viewer.id, within)
        return EmployerAnalytics(
            from_=within.since,
            to=within.until,
            totals=AnalyticsNumbers(_numbers=totals, _currency=services.settings.currency),
            _employer_id=viewer.id,
        )


@strawberry.type
class AnalyticsSubscription:
    @strawberry.subscription(
        description="Each change of a submission on the viewer's task (all their tasks if no "
        "taskId), with that task's numbers as they are after it."
    )
    async def task_analytics(
        self, info: Info, task_id: strawberry.ID | None = None, after: str | None = None
    ) -> AsyncGenerator[TaskAnalyticsEvent, None]:
        viewer = info.context.require_viewer()
        start = _after(after)
        pk = None if task_id is None else (await _own_task(info, task_id)).id
        accepts = audience_accepts(Stream.SUBMISSIONS, viewer.id, pk)
        replay = audience_replay(Stream.SUBMISSIONS, viewer.id, pk)
        async for message in _messages(info, accepts, replay, start):
            # The employer's own dashboard: one set of aggregate queries per event.
            task = await info.context.loaders.task_by_id.load(message.task_id or 0)
            if task is None:
                continue
            submission = submission_from_snapshot(message.payload["submission"])
            yield TaskAnalyticsEvent(
                cursor=event_cursor(message.id),
                kind=SubmissionEventKind(message.payload["kind"]),
                submission=SubmissionType.from_model(submission),
                analytics=await _task_analytics(info, task),
            )
