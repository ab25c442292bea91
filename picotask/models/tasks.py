"""Tasks: the jobs employers post, with their slots, targeting and proof fields."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from picotask.models.users import User


class TaskCategory(StrEnum):
    SIGN_UP = "SIGN_UP"
    WATCH_VIDEO = "WATCH_VIDEO"
    APP_TESTING = "APP_TESTING"
    REVIEW = "REVIEW"
    SOCIAL = "SOCIAL"
    DATA_ENTRY = "DATA_ENTRY"
    RESEARCH = "RESEARCH"
    OTHER = "OTHER"


class TaskStatus(StrEnum):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


class ProofKind(StrEnum):
    TEXT = "TEXT"
    URL = "URL"
    NUMBER = "NUMBER"
    IMAGE = "IMAGE"


# Slot bookkeeping (all counters change only by conditional updates):
#   slots           funded slots; escrow holds (slots - slots_resolved) * (reward + fee)
#   slots_used      slots held by a live or reviewed submission (not RETURNED / EXPIRED)
#   slots_resolved  slots whose money has left escrow (approved, or rejected for good)
class Task(Model):
    id = fields.BigIntField(primary_key=True)
    employer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="tasks", on_delete=fields.RESTRICT
    )
    employer_id: int
    title = fields.CharField(max_length=120)
    instructions = fields.TextField()
    category = fields.CharEnumField(TaskCategory, max_length=16)
    status = fields.CharEnumField(TaskStatus, max_length=16, default=TaskStatus.DRAFT)
    reward = fields.BigIntField()  # cents per slot, to the worker
    fee = fields.BigIntField()  # cents per slot, to the platform, paid by the employer
    slots = fields.IntField()
    slots_used = fields.IntField(default=0)
    slots_resolved = fields.IntField(default=0)
    estimated_minutes = fields.IntField()
    # reward per minute in hundredths of a cent, for ordering by BEST_PAY_PER_MINUTE
    pay_per_minute = fields.BigIntField()
    claim_timeout_seconds = fields.IntField()
    review_window_seconds = fields.IntField()
    expires_at = fields.DatetimeField(null=True)
    proof_fields: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    # ",US,DE," (searchable with LIKE on SQLite and PostgreSQL alike); "" = everywhere
    target_countries = fields.CharField(max_length=1_000, default="")
    min_approval_rate = fields.FloatField(null=True)
    min_approved_count = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    published_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    # A batch (models/batches.py): the columns of its items' data, which `{{name}}` in the
    # instructions refer to; null for a plain task.
    batch_columns: fields.Field[list[str] | None] = fields.JSONField(null=True)
    # Private work: ",3,7," the hire groups (models/groups.py) it is restricted to; "" = none.
    target_groups = fields.CharField(max_length=1_000, default="")
    # [{"id": qualification id, "min_score": 0..100}] every one of which a worker must hold.
    required_qualifications: fields.Field[list[dict[str, int]]] = fields.JSONField(default=list)

    class Meta:
        table = "tasks"
        # Each order a worker may ask of the open tasks (NEWEST, HIGHEST_REWARD,
        # BEST_PAY_PER_MINUTE: keyset pages read along one of these); an employer's own tasks
        # (their list, their dashboard). Search has its own index (migration 0009).
        indexes = (
            ("status", "published_at", "id"),
            ("status", "reward", "id"),
            ("status", "pay_per_minute", "id"),
            ("employer_id", "id"),
        )
