"""Messages, reports and takedowns."""

from __future__ import annotations

import strawberry

from picotask.schema.context import Info
from picotask.schema.errors import Forbidden
from picotask.schema.pages import connection
from picotask.schema.relay import pk_of
from picotask.schema.tasks import TaskType
from picotask.schema.trust import (
    MessageConnection,
    MessageType,
    ReportTaskInput,
    ReportTaskPayload,
    SendMessageInput,
    SendMessagePayload,
    TakeDownTaskInput,
    TakeDownTaskPayload,
    TaskReportConnection,
    TaskReportType,
)
from picotask.services.core.pagination import ID_ORDER


@strawberry.type
class TrustQuery:
    @strawberry.field(
        description="A thread, oldest first: the viewer's own on a task, or (for the task's "
        "employer) a worker's."
    )
    async def messages(
        self,
        info: Info,
        task_id: strawberry.ID,
        worker_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> MessageConnection:
        viewer = info.context.require_viewer()
        worker = pk_of(worker_id, "User") if worker_id is not None else None
        thread = await info.context.services.trust.thread(viewer, pk_of(task_id, "Task"), worker)
        return await connection(thread, MessageType.from_model, first, after, ID_ORDER)

    @strawberry.field(description="Moderators: open reports, oldest first.")
    async def reports(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> TaskReportConnection:
        viewer = info.context.require_viewer()
        if not viewer.is_admin:
            raise Forbidden("Only moderators see reports.")
        reports = info.context.services.trust.open_reports()
        return await connection(reports, TaskReportType.from_model, first, after, ID_ORDER)


@strawberry.type
class TrustMutation:
    @strawberry.mutation(description="Write in a task's thread; the other party is notified.")
    async def send_message(self, info: Info, input: SendMessageInput) -> SendMessagePayload:
        viewer = info.context.require_viewer()
        trust = info.context.services.trust
        worker = pk_of(input.worker_id, "User") if input.worker_id is not None else None
        message = await trust.send(viewer, pk_of(input.task_id, "Task"), worker, input.body)
        return SendMessagePayload(message=MessageType.from_model(message))

    @strawberry.mutation(description="Tell moderators a task is a scam, illegal or misleading.")
    async def report_task(self, info: Info, input: ReportTaskInput) -> ReportTaskPayload:
        viewer = info.context.require_viewer()
        trust = info.context.services.trust
        task_id = pk_of(input.task_id, "Task")
        report = await trust.report(viewer, task_id, input.reason, input.details)
        return ReportTaskPayload(report=TaskReportType.from_model(report))

    @strawberry.mutation(description="Moderators: cancel a task; unfilled slots are refunded.")
    async def take_down_task(self, info: Info, input: TakeDownTaskInput) -> TakeDownTaskPayload:
        viewer = info.context.require_viewer()
        services = info.context.services
        task = await services.trust.take_down(viewer, pk_of(input.task_id, "Task"), input.note)
        return TakeDownTaskPayload(task=TaskType.from_model(task, services.settings.currency))
