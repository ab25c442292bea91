"""Submissions (one worker's slot on one task), their ratings and proof hashes."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.migrations.constraints import UniqueConstraint
from tortoise.models import Model

from picotask.models.decisions import DecidedBy as DecidedBy  # re-exported: its old home
from picotask.models.tasks import Task
from picotask.models.users import User


class SubmissionStatus(StrEnum):
    CLAIMED = "CLAIMED"
    SUBMITTED = "SUBMITTED"
    REVISION_REQUESTED = "REVISION_REQUESTED"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    DISPUTED = "DISPUTED"
    RETURNED = "RETURNED"
    EXPIRED = "EXPIRED"


class RejectionReason(StrEnum):
    INCOMPLETE = "INCOMPLETE"
    WRONG_PROOF = "WRONG_PROOF"
    INSTRUCTIONS_NOT_FOLLOWED = "INSTRUCTIONS_NOT_FOLLOWED"
    FRAUD = "FRAUD"
    OTHER = "OTHER"


class DisputeResolution(StrEnum):
    OVERTURNED = "OVERTURNED"  # the rejection was wrong: approved and paid from the held money
    UPHELD = "UPHELD"  # the rejection stands, for good: the held money returns to the employer


class Submission(Model):
    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="submissions", on_delete=fields.RESTRICT
    )
    task_id: int
    worker: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="submissions", on_delete=fields.RESTRICT
    )
    worker_id: int
    status = fields.CharEnumField(SubmissionStatus, max_length=24, default=SubmissionStatus.CLAIMED)
    claimed_at = fields.DatetimeField()
    claim_expires_at = fields.DatetimeField(null=True)
    submitted_at = fields.DatetimeField(null=True)
    review_deadline = fields.DatetimeField(null=True)
    revision_deadline = fields.DatetimeField(null=True)
    # [{"label", "value"}], plus "images": [upload id, ...] for IMAGE fields
    answers: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    feedback = fields.TextField(null=True)
    rejection_reason = fields.CharEnumField(RejectionReason, max_length=32, null=True)
    rejection_comment = fields.TextField(null=True)
    revision_comment = fields.TextField(null=True)
    reviewed_at = fields.DatetimeField(null=True)
    # A rejection becomes final (its held money returns to the employer) at this time.
    dispute_deadline = fields.DatetimeField(null=True)
    rejection_final = fields.BooleanField(default=False)
    dispute_statement = fields.TextField(null=True)
    disputed_at = fields.DatetimeField(null=True)
    dispute_resolution = fields.CharEnumField(DisputeResolution, max_length=16, null=True)
    dispute_note = fields.TextField(null=True)
    dispute_resolved_at = fields.DatetimeField(null=True)
    # Labels whose answer another account had already submitted on this task.
    reused_labels: fields.Field[list[str]] = fields.JSONField(default=list)
    auto_approved = fields.BooleanField(default=False)
    updated_at = fields.DatetimeField()
    # A batch's item this submission works on (models/batches.py); null on a plain task.
    item_id = fields.BigIntField(null=True)
    # Quality (services/quality/grading.py), for the task's employer: who approved or rejected it,
    # whether it was a gold item answered right, submitted faster than the task's minimum,
    # and a digest of its normalized answers (those that agree share it, for overlap).
    decided_by = fields.CharEnumField(DecidedBy, max_length=20, null=True)
    gold_correct = fields.BooleanField(null=True)
    too_fast = fields.BooleanField(default=False)
    answer_key = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "submissions"
        indexes = (
            ("status", "claim_expires_at"),
            ("status", "review_deadline"),
            ("task_id", "answer_key"),
            ("worker_id", "id"),  # a worker's own submissions, newest first
        )
        constraints = (
            UniqueConstraint(fields=("task_id", "worker_id"), name="submissions_one_per_worker"),
        )


class RatingDirection(StrEnum):
    OF_WORKER = "OF_WORKER"  # the employer rates the work
    OF_EMPLOYER = "OF_EMPLOYER"  # the worker rates the employer


class Rating(Model):
    id = fields.BigIntField(primary_key=True)
    submission: fields.ForeignKeyRelation[Submission] = fields.ForeignKeyField(
        "models.Submission", related_name="ratings", on_delete=fields.RESTRICT
    )
    submission_id: int
    direction = fields.CharEnumField(RatingDirection, max_length=16)
    rater_id = fields.BigIntField()
    ratee_id = fields.BigIntField()
    stars = fields.SmallIntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "ratings"
        unique_together = (("submission_id", "direction"),)


# The hash of each submitted answer, to spot one proof reused by several accounts.
class ProofHash(Model):
    id = fields.BigIntField(primary_key=True)
    task_id = fields.BigIntField()
    submission_id = fields.BigIntField()
    worker_id = fields.BigIntField()
    label = fields.CharField(max_length=80)
    digest = fields.CharField(max_length=64)

    class Meta:
        table = "proof_hashes"
        indexes = (("task_id", "digest"),)
