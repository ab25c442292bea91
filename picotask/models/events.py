"""The event log: every watched state change, written in the transaction that made it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model


class Stream(StrEnum):
    FEED = "FEED"  # task posted / updated / closed: filtered per worker in memory
    SUBMISSIONS = "SUBMISSIONS"  # claims, submissions, returns... for the task's employer
    NOTIFICATIONS = "NOTIFICATIONS"  # a user's own notifications
    STATEMENT = "STATEMENT"  # a user's new statement rows (myEvents on request)


class Event(Model):
    id = fields.BigIntField(primary_key=True)
    stream = fields.CharEnumField(Stream, max_length=16)
    type = fields.CharField(max_length=40)
    # The one user who may see it; null for the feed, which any eligible worker may see.
    audience_id = fields.BigIntField(null=True)
    task_id = fields.BigIntField(null=True)
    submission_id = fields.BigIntField(null=True)
    payout_id = fields.BigIntField(null=True)
    message = fields.CharField(max_length=300)
    # A snapshot of what subscribers need to filter and render without a query.
    payload: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField()

    class Meta:
        table = "events"
        indexes = (("stream", "audience_id", "id"),)
