"""What a batch shows on its task and on each submission: its columns, progress, and the item a
worker took (the way from `Task` and `Submission` here is one-way, so no cycle)."""

from __future__ import annotations

import strawberry

from picotask.models.batches import TaskItem
from picotask.models.tasks import Task
from picotask.schema.context import Info
from picotask.services.campaigns.batches import FREE
from picotask.services.work.transitions import can_review


@strawberry.type
class BatchValue:
    column: str
    value: str


@strawberry.type(name="BatchItem", description="One item of a batch: a row of its file.")
class BatchItemType:
    position: int = strawberry.field(description="Its row in the file, from 1.")
    data: list[BatchValue]

    @classmethod
    def of(cls, item: TaskItem, columns: list[str]) -> BatchItemType:
        return cls(
            position=item.position,
            data=[BatchValue(column=c, value=item.data.get(c, "")) for c in columns],
        )


@strawberry.type(description="A batch's items by state (each item is one slot).")
class BatchProgress:
    items: int
    free: int = strawberry.field(description="Not held by anyone: never claimed, or freed.")
    claimed: int
    submitted: int
    revision_requested: int
    approved: int
    rejected: int
    disputed: int

    @classmethod
    def of(cls, states: dict[str, int]) -> BatchProgress:
        return cls(
            items=sum(states.values()),
            free=states.get(FREE, 0),
            claimed=states.get("CLAIMED", 0),
            submitted=states.get("SUBMITTED", 0),
            revision_requested=states.get("REVISION_REQUESTED", 0),
            approved=states.get("APPROVED", 0),
            rejected=states.get("REJECTED", 0),
            disputed=states.get("DISPUTED", 0),
        )


@strawberry.type(name="Batch", description="A task posted over many items, one slot each.")
class BatchType:
    columns: list[str] = strawberry.field(description="What `{{column}}` may name.")
    task: strawberry.Private[Task]

    @strawberry.field(description="The employer only (null for everyone else).")
    async def progress(self, info: Info) -> BatchProgress | None:
        viewer = info.context.viewer
        if not can_review(self.task, viewer.id if viewer else None):
            return None
        return BatchProgress.of(
            await info.context.loaders.batch_progress_by_task.load(self.task.id)
        )

    @classmethod
    def of_task(cls, task: Task) -> BatchType | None:
        if task.batch_columns is None:
            return None
        return cls(columns=list(task.batch_columns), task=task)
