"""Uploaded images (proof screenshots and avatars) and the near-duplicates found among proofs."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from picotask.models.users import User


class UploadPurpose(StrEnum):
    PROOF_IMAGE = "PROOF_IMAGE"  # private: its worker, the task's employer, dispute moderators
    AVATAR = "AVATAR"  # public


class UploadStatus(StrEnum):
    PENDING = "PENDING"  # a slot: waiting for its bytes until `expires_at`
    READY = "READY"  # bytes checked and stored; removed at `expires_at` unless used
    ATTACHED = "ATTACHED"  # part of a submission's proof, or a user's avatar
    DELETING = "DELETING"  # claimed by a sweeper: its objects and row are being removed


# An upload slot and, once its bytes are in, the cleaned image it became. Objects live in the
# storage under `key` (the image) and `thumb_key`; the PUT token is stored only as a hash.
class Upload(Model):
    id = fields.BigIntField(primary_key=True)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="uploads", on_delete=fields.RESTRICT
    )
    owner_id: int
    purpose = fields.CharEnumField(UploadPurpose, max_length=16)
    status = fields.CharEnumField(UploadStatus, max_length=16, default=UploadStatus.PENDING)
    token_hash = fields.CharField(max_length=64)
    declared_type = fields.CharField(max_length=32)
    declared_size = fields.IntField()
    created_at = fields.DatetimeField()
    # PENDING: the slot closes; READY: the unused image is removed; null once attached.
    expires_at = fields.DatetimeField(null=True)
    # The cleaned image, once received.
    content_type = fields.CharField(max_length=32, null=True)
    key = fields.CharField(max_length=120, null=True)
    thumb_key = fields.CharField(max_length=120, null=True)
    width = fields.IntField(null=True)
    height = fields.IntField(null=True)
    size = fields.IntField(null=True)
    # Perceptual fingerprints (services/media/fingerprints.py), proof images only.
    fingerprints: fields.Field[list[str]] = fields.JSONField(default=list)
    # Where a proof image is used: set when attached to a submission.
    submission_id = fields.BigIntField(null=True)
    task_id = fields.BigIntField(null=True)
    employer_id = fields.BigIntField(null=True)
    attached_at = fields.DatetimeField(null=True)

    class Meta:
        table = "uploads"
        indexes = (
            ("status", "expires_at"),
            ("owner_id", "status"),
            ("submission_id",),
            ("employer_id", "purpose", "status"),
        )


# A proof image that closely matches an image another account submitted earlier on the same
# task or another task of the same employer. Found when the proof is submitted.
class ImageMatch(Model):
    id = fields.BigIntField(primary_key=True)
    submission_id = fields.BigIntField()
    image_id = fields.BigIntField()
    other_submission_id = fields.BigIntField()
    other_image_id = fields.BigIntField()
    same_task = fields.BooleanField()
    distance = fields.SmallIntField()

    class Meta:
        table = "image_matches"
        indexes = (("submission_id",), ("other_image_id",), ("image_id",))
