"""Messages (a thread per task and worker) and task reports with moderator takedowns."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet

from picotask.models.submissions import Submission
from picotask.models.tasks import Task, TaskStatus
from picotask.models.trust import Message, ReportReason, TaskReport
from picotask.models.users import User
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, NotPermitted, checked_text
from picotask.services.core.events import EventLog
from picotask.services.core.standing import ensure_active
from picotask.services.work.tasks import (
    LIVE,
    TaskService,
    can_see,
    may_know,
    not_found,
    wrong_status,
)

MAX_MESSAGE = 2_000
MAX_DETAILS = 1_000


async def _published_task(task_id: int | None, viewer_id: int | None) -> Task:
    """Threads and reports are about published tasks (a draft has neither) that the viewer may
    know of: private work only for its hire groups and its employer, and for anyone else
    the same answer as an id never used. `viewer_id` None: a moderator, who knows them all."""
    task = await Task.get_or_none(id=task_id) if task_id else None
    if task is None or not can_see(task, None):
        raise not_found()
    if viewer_id is not None and not await may_know(task, viewer_id):
        raise not_found()
    return task


class TrustService:
    def __init__(self, clock: Clock, events: EventLog, tasks: TaskService) -> None:
        self.clock = clock
        self.events = events
        self.tasks = tasks

    async def thread(
        self, viewer: User, task_id: int | None, worker_id: int | None
    ) -> QuerySet[Message]:
        """A thread's messages; only its worker and the task's employer may read it."""
        task = await _published_task(task_id, viewer.id)
        worker = worker_id if worker_id is not None else viewer.id
        if viewer.id not in (worker, task.employer_id):
            raise NotPermitted("Only the two parties read a thread.")
        return Message.filter(task_id=task.id, worker_id=worker)

    async def send(
        self, sender: User, task_id: int | None, worker_id: int | None, text: str
    ) -> Message:
        """A worker writes about a task (before or after claiming it); the employer writes to a
        worker who has already written or worked on the task."""
        ensure_active(sender)
        body = checked_text("body", text, required=True, limit=MAX_MESSAGE) or ""
        task = await _published_task(task_id, sender.id)
        if sender.id == task.employer_id:
            if worker_id is None or worker_id == sender.id:
                raise DomainError(
                    ErrorCode.REQUIRED,
                    "workerId is required to write to a worker.",
                    ["input", "workerId"],
                )
            known = await Submission.exists(task_id=task.id, worker_id=worker_id) or (
                await Message.exists(task_id=task.id, worker_id=worker_id)
            )
            if not known:
                raise DomainError(
                    ErrorCode.NOT_FOUND,
                    "That worker has no thread on this task.",
                    ["input", "workerId"],
                )
            worker, recipient = worker_id, worker_id
        else:
            if worker_id is not None and worker_id != sender.id:
                raise NotPermitted("Workers write only in their own thread.")
            worker, recipient = sender.id, task.employer_id
        async with self.events.transaction():
            message = await Message.create(
                task_id=task.id,
                worker_id=worker,
                sender_id=sender.id,
                recipient_id=recipient,
                body=body,
                created_at=self.clock.now(),
            )
            self.events.notify(
                recipient,
                "message.received",
                f"{sender.display_name} about {task.title}: {body}",
                task_id=task.id,
            )
        return message

    async def report(
        self, reporter: User, task_id: int | None, reason: ReportReason, details: str | None
    ) -> TaskReport:
        task = await _published_task(task_id, reporter.id)
        if task.employer_id == reporter.id:
            raise DomainError(
                ErrorCode.OWN_TASK, "You cannot report your own task.", ["input", "taskId"]
            )
        text = checked_text("details", details, required=False, limit=MAX_DETAILS)
        try:
            return await TaskReport.create(
                task_id=task.id,
                reporter_id=reporter.id,
                reason=reason,
                details=text,
                created_at=self.clock.now(),
            )
        except IntegrityError:
            raise DomainError(
                ErrorCode.DUPLICATE, "You already reported this task.", ["input", "taskId"]
            ) from None

    @staticmethod
    def open_reports() -> QuerySet[TaskReport]:
        return TaskReport.filter(resolved_at=None)

    async def take_down(self, admin: User, task_id: int | None, note: str | None) -> Task:
        """Cancel a task for its reports: unfilled slots refunded now; work in flight is
        still reviewed, paid or refunded under the normal rules."""
        if not admin.is_admin:
            raise NotPermitted("Only moderators take tasks down.")
        task = await _published_task(task_id, None)
        text = checked_text("note", note, required=False, limit=MAX_DETAILS)
        now = self.clock.now()
        async with self.events.transaction():
            if task.status not in LIVE or not await self.tasks.close(task.id, TaskStatus.CANCELLED):
                raise wrong_status(await Task.get(id=task.id), "taken down")
            await TaskReport.filter(task_id=task.id, resolved_at=None).update(resolved_at=now)
            self.events.notify(
                task.employer_id,
                "task.taken_down",
                f"Moderators took down {task.title}." + (f" {text}" if text else ""),
                task_id=task.id,
            )
        return await Task.get(id=task.id)
