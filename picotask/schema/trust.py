"""Messages and task reports as the API shows them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.models.trust import Message, ReportReason, TaskReport
from picotask.schema.errors import UserError
from picotask.schema.relay import Connection, Node, to_global_id
from picotask.schema.tasks import TaskType

strawberry.enum(ReportReason, name="ReportReason")


@strawberry.type(name="Message")
class MessageType(Node):
    body: str
    sender_id: strawberry.ID = strawberry.field(description="The User who wrote it.")
    created_at: datetime

    @classmethod
    def from_model(cls, message: Message) -> MessageType:
        return cls(
            id=to_global_id("Message", message.id),
            body=message.body,
            sender_id=to_global_id("User", message.sender_id),
            created_at=message.created_at,
        )


@strawberry.type(name="TaskReport")
class TaskReportType:
    id: strawberry.ID
    task_id: strawberry.ID
    reason: ReportReason
    details: str | None
    created_at: datetime

    @classmethod
    def from_model(cls, report: TaskReport) -> TaskReportType:
        return cls(
            id=to_global_id("TaskReport", report.id),
            task_id=to_global_id("Task", report.task_id),
            reason=report.reason,
            details=report.details,
            created_at=report.created_at,
        )


MessageConnection = Connection[MessageType]
TaskReportConnection = Connection[TaskReportType]


@strawberry.input
class SendMessageInput:
    task_id: strawberry.ID
    body: str
    worker_id: strawberry.ID | None = strawberry.field(
        default=None, description="The worker's thread; required when the employer writes."
    )


@strawberry.input
class ReportTaskInput:
    task_id: strawberry.ID
    reason: ReportReason
    details: str | None = None


@strawberry.input
class TakeDownTaskInput:
    task_id: strawberry.ID
    note: str | None = None


@strawberry.type
class SendMessagePayload:
    message: MessageType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ReportTaskPayload:
    report: TaskReportType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TakeDownTaskPayload:
    task: TaskType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
