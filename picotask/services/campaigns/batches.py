"""Batches: one task template over many items, each item one slot with its own data.

A batch is a Task (its lifecycle, escrow, pause, resume and cancel are the task's: a cancel
refunds every item never done) whose `batch_columns` name its items' data. Creating one checks
the whole file first, then writes the task and its items in bulk and funds them all in one
ledger posting, in one transaction: an unfundable batch writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tortoise.functions import Count

from picotask.models.batches import TaskItem
from picotask.models.submissions import Submission
from picotask.models.tasks import Task
from picotask.models.users import User
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.quality.grading import agreement_of_task
from picotask.services.work.batch_files import ItemSource, check_placeholders, read_items
from picotask.services.work.task_specs import TaskSpec
from picotask.services.work.tasks import TaskService
from picotask.settings import Settings

FREE = "FREE"  # an item no submission holds (never claimed, or its claim ended)


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One item of a batch with the submission that holds it, if any."""

    position: int
    data: dict[str, str]
    submission: Submission | None

    @property
    def status(self) -> str:
        return self.submission.status.value if self.submission else FREE

    @property
    def submitted_at(self) -> datetime | None:
        return self.submission.submitted_at if self.submission else None


@dataclass(frozen=True, slots=True)
class BatchResults:
    task: Task
    rows: list[ResultRow]
    # Submission id -> the share of its item's answers that agree with it (an overlap policy).
    agreement: dict[int, float] = field(default_factory=dict)


async def progress_of(task_ids: list[int]) -> dict[int, dict[str, int]]:
    """For each batch, its items by state (FREE, or the holding submission's status): one
    GROUP BY for all of them."""
    found = (
        await TaskItem.filter(task_id__in=task_ids)
        .annotate(items=Count("id"))
        .group_by("task_id", "submission__status")
        .values("task_id", "submission__status", "items")
    )
    result: dict[int, dict[str, int]] = {pk: {} for pk in task_ids}
    for row in found:
        state = row["submission__status"] or FREE
        result[row["task_id"]][str(state)] = int(row["items"])
    return result


class BatchService:
    def __init__(self, settings: Settings, tasks: TaskService) -> None:
        self.settings = settings
        self.tasks = tasks

    async def create(
        self, employer: User, spec: TaskSpec, source: ItemSource, *, publish: bool
    ) -> Task:
        items = read_items(source, self.settings)
        check_placeholders(spec.instructions, items.columns)
        return await self.tasks.create(employer, spec, publish=publish, items=items)

    async def add_items(self, employer: User, task_id: int | None, source: ItemSource) -> Task:
        task = await self.tasks.own_task(employer, task_id)
        if task.batch_columns is None:
            raise DomainError(
                ErrorCode.INVALID, "This task is not a batch: use addSlots.", ["input", "taskId"]
            )
        items = read_items(source, self.settings, columns=task.batch_columns)
        return await self.tasks.add_slots(employer, task.id, len(items.rows), items=items)

    async def results(self, employer: User, task_id: int | None) -> BatchResults:
        """Every item of the employer's batch, in file order, with its submission (one query),
        and with an overlap policy each answer's agreement (one more)."""
        task = await self.tasks.own_task(employer, task_id)
        if task.batch_columns is None:
            raise DomainError(ErrorCode.INVALID, "This task is not a batch.", ["taskId"])
        items = (
            await TaskItem.filter(task_id=task.id).select_related("submission").order_by("position")
        )
        rows = [ResultRow(item.position, item.data, item.submission) for item in items]
        return BatchResults(task, rows, await agreement_of_task(task, [r.submission for r in rows]))
