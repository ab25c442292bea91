"""Quality without manual review: gold (control) items with their expected answers, each
worker's accuracy on them per employer, and a task's review policy."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from picotask.models.tasks import Task
from picotask.models.users import User


class GoldMatch(StrEnum):
    EXACT = "EXACT"  # the same text (surrounding space aside)
    NORMALIZED = "NORMALIZED"  # the same ignoring case and runs of space
    NUMERIC = "NUMERIC"  # a number within `tolerance` of the expected one
    ONE_OF = "ONE_OF"  # any of `values`, normalized


# A gold item: kept off the task's and the item's rows (as qualification tests are), so the
# expected answers are in no event snapshot, item data or feed a worker can reach.
class GoldItem(Model):
    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="gold_items", on_delete=fields.RESTRICT
    )
    task_id: int
    # The batch's item (models/batches.py TaskItem); 0 on a plain task (the task is the item).
    item_id = fields.BigIntField(default=0)
    position = fields.IntField(default=0)  # the item's position; 0 on a plain task
    # [{"label", "match", "values": [str, ...], "tolerance": float | None}]
    expected: fields.Field[list[dict[str, Any]]] = fields.JSONField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "gold_items"
        unique_together = (("task_id", "item_id"),)


class GoldAccuracy(Model):
    """A worker's record on one employer's gold items, graded as each is submitted."""

    id = fields.BigIntField(primary_key=True)
    employer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="gold_records_kept", on_delete=fields.RESTRICT
    )
    employer_id: int
    worker: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="gold_records", on_delete=fields.RESTRICT
    )
    worker_id: int
    answered = fields.IntField(default=0)
    correct = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "gold_accuracy"
        unique_together = (("employer_id", "worker_id"),)


class ReviewPolicy(Model):
    """Decisions taken at submit time instead of the employer's review (every part optional)."""

    id = fields.BigIntField(primary_key=True)
    task: fields.OneToOneRelation[Task] = fields.OneToOneField(
        "models.Task", related_name="review_policy", on_delete=fields.RESTRICT
    )
    task_id: int
    auto_approve_at = fields.FloatField(null=True)  # accuracy 0..1
    auto_reject_below = fields.FloatField(null=True)
    block_below = fields.FloatField(null=True)
    min_gold_answered = fields.IntField(default=3)
    overlap = fields.IntField(null=True)  # answers per item compared for a majority
    min_seconds = fields.IntField(null=True)  # from claim to submit
    reject_too_fast = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "review_policies"
