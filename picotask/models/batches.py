"""Batches: a task posted as a template over many items, each item one slot with its own data."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from picotask.models.submissions import Submission
from picotask.models.tasks import Task


# A batch is a Task whose `batch_columns` is set; its slots are its items. An item is free
# while `submission` is null; a claim takes the first free one with a conditional update.
class TaskItem(Model):
    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="items", on_delete=fields.RESTRICT
    )
    task_id: int
    position = fields.IntField()  # 1-based row of the file (after the CSV header)
    data: fields.Field[dict[str, str]] = fields.JSONField()
    # The submission that holds the item now: live, reviewed, or rejected without a reopen.
    submission: fields.ForeignKeyNullableRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    submission_id: int | None

    class Meta:
        table = "task_items"
        unique_together = (("task_id", "position"),)
        indexes = (("task_id", "submission_id"),)
