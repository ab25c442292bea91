"""Notification mail: what each user wants mailed, the employers' submission digests, and how
far the event log has been turned into mail."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from picotask.models.tasks import Task
from picotask.models.users import User


class NotificationKind(StrEnum):
    SUBMISSION_REVIEWED = "SUBMISSION_REVIEWED"  # a worker's submission approved or rejected
    REVISION_REQUESTED = "REVISION_REQUESTED"
    BONUS_RECEIVED = "BONUS_RECEIVED"
    PAYOUT_PAID = "PAYOUT_PAID"
    PAYOUT_FAILED = "PAYOUT_FAILED"
    MESSAGE_RECEIVED = "MESSAGE_RECEIVED"
    DISPUTE_DECIDED = "DISPUTE_DECIDED"  # to the worker and the employer
    NEW_SUBMISSIONS = "NEW_SUBMISSIONS"  # an employer's digest, per task
    BATCH_COMPLETED = "BATCH_COMPLETED"


# A user's choice for one kind; no row: mailed (every kind is on by default).
class NotificationSetting(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notification_settings", on_delete=fields.CASCADE
    )
    user_id: int
    kind = fields.CharEnumField(NotificationKind, max_length=24)
    email = fields.BooleanField(default=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "notification_settings"
        unique_together = (("user_id", "kind"),)


# New submissions on one task not mailed to its employer yet: at most one mail per task per
# `submission_digest_seconds`; the first after a quiet spell goes at once, the rest wait for
# `due_at` and go as one mail with their count.
class SubmissionDigest(Model):
    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="submission_digests", on_delete=fields.CASCADE, unique=True
    )
    task_id: int
    employer_id = fields.BigIntField()
    pending = fields.IntField(default=0)  # submissions not mailed yet
    due_at = fields.DatetimeField(null=True)  # when the pending ones go; null: none waits
    last_sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "submission_digests"
        indexes = (("due_at",),)


# How far the event log has been turned into notification mail: one row, advanced with a
# conditional update in the transaction that writes the mails, so among several instances each
# stretch of the log is mailed once. The migration creates it at the newest event: switching
# the mailer on never mails the log's history.
class MailCursor(Model):
    id = fields.IntField(primary_key=True)
    last_event_id = fields.BigIntField(default=0)

    class Meta:
        table = "mail_cursor"
