"""Messages between a worker and an employer, and reports of tasks to moderators."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


# A thread is one task and one worker: the worker's questions before claiming, and the talk
# about their submission after (one submission per worker per task, so one thread).
class Message(Model):
    id = fields.BigIntField(primary_key=True)
    task_id = fields.BigIntField()
    worker_id = fields.BigIntField()
    sender_id = fields.BigIntField()
    recipient_id = fields.BigIntField()
    body = fields.TextField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "messages"
        indexes = (("task_id", "worker_id", "id"),)


class ReportReason(StrEnum):
    SCAM = "SCAM"
    ILLEGAL = "ILLEGAL"
    MISLEADING = "MISLEADING"
    OTHER = "OTHER"


class TaskReport(Model):
    id = fields.BigIntField(primary_key=True)
    task_id = fields.BigIntField()
    reporter_id = fields.BigIntField()
    reason = fields.CharEnumField(ReportReason, max_length=16)
    details = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    resolved_at = fields.DatetimeField(null=True)

    class Meta:
        table = "task_reports"
        unique_together = (("task_id", "reporter_id"),)
