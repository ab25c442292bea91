"""A batch's items in storage: written in bulk, taken one per claim, freed with their slot.

An item is free while no submission holds it. The slot counter on the task (a conditional
update) decides first whether a claim gets a slot at all, so a claim that got one always finds a
free item: free items are never fewer than `slots - slots_used`.
"""

from __future__ import annotations

from collections.abc import Sequence

from picotask.models.batches import TaskItem
from picotask.models.submissions import Submission

INSERT_CHUNK = 1_000  # rows per INSERT statement (SQLite allows 32,766 parameters)


async def insert_items(task_id: int, rows: Sequence[dict[str, str]]) -> None:
    """Append `rows` to the task's items, numbered after the last one. Inside the transaction
    that took the task's row (its slot update), so two appends cannot interleave."""
    last = await TaskItem.filter(task_id=task_id).order_by("-position").first()
    start = last.position if last else 0
    await TaskItem.bulk_create(
        [
            TaskItem(task_id=task_id, position=start + i, data=data)
            for i, data in enumerate(rows, 1)
        ],
        batch_size=INSERT_CHUNK,
    )


async def take_item(task_id: int, submission_id: int) -> int:
    """The first free item, now held by the submission. A conditional update: when a racing
    claim took the same item first, the next free one is tried."""
    while True:
        free = (
            await TaskItem.filter(task_id=task_id, submission_id__isnull=True)
            .order_by("position")
            .only("id")
            .first()
        )
        if free is None:
            raise RuntimeError(f"task {task_id} gave a slot with no free item")
        if await TaskItem.filter(id=free.id, submission_id__isnull=True).update(
            submission_id=submission_id
        ):
            await Submission.filter(id=submission_id).update(item_id=free.id)
            taken: int = free.id
            return taken


async def release_item(submission: Submission) -> None:
    """The submission's item is free again (its claim ended, or its slot was reopened)."""
    if submission.item_id is not None:
        await TaskItem.filter(id=submission.item_id, submission_id=submission.id).update(
            submission_id=None
        )
