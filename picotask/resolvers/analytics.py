"""Employer dashboards: each task's numbers and all tasks over a range (pushed live by
`taskAnalytics` in `resolvers/events.py`, beside the other subscriptions)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.models.tasks import Task
from picotask.resolvers.tasks import own_task
from picotask.schema.analytics import AnalyticsNumbers, EmployerAnalytics, TaskAnalytics
from picotask.schema.context import Info
from picotask.schema.scalars import From
from picotask.services.core.report_range import checked_range


async def _task_analytics(info: Info, task: Task) -> TaskAnalytics:
    services = info.context.services
    numbers = await services.analytics.by_task(task.employer_id, (task.id,))
    return TaskAnalytics.of(task, numbers[task.id], services.settings.currency)


@strawberry.type
class AnalyticsQuery:
    @strawberry.field(description="One of the viewer's tasks: its numbers since it was created.")
    async def task_analytics(self, info: Info, task_id: strawberry.ID) -> TaskAnalytics:
        return await _task_analytics(info, await own_task(info, task_id))

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
