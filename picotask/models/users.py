"""Accounts and their sessions."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from picotask.models.decisions import DecidedBy


class UserStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


class User(Model):
    id = fields.BigIntField(primary_key=True)
    # Stored lower-cased: email uniqueness is case-insensitive.
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    display_name = fields.CharField(max_length=60)
    country = fields.CharField(max_length=2)
    skills: fields.Field[list[str]] = fields.JSONField(default=list)
    avatar_url = fields.CharField(max_length=500, null=True)
    # An uploaded avatar (its storage key); served publicly. Replaces `avatar_url` when set.
    avatar_key = fields.CharField(max_length=120, null=True)
    bio = fields.TextField(null=True)
    is_admin = fields.BooleanField(default=False)
    status = fields.CharEnumField(UserStatus, max_length=16, default=UserStatus.ACTIVE)
    # When the address was confirmed by the link mailed to it; null until then.
    email_confirmed_at = fields.DatetimeField(null=True)
    # Two factors (services/accounts/two_factor.py). The TOTP secret, base32 as apps take it,
    # stored as it is: the server needs it to check codes (a database leak yields it, as it
    # yields every other column). `pending` until a first code proves the app has it.
    two_factor_secret = fields.CharField(max_length=64, null=True)
    two_factor_pending_secret = fields.CharField(max_length=64, null=True)
    two_factor_enabled_at = fields.DatetimeField(null=True)
    # The 30-second step of the last code accepted: a code is good once (a replay within its
    # window is refused), and none from an earlier step after it.
    two_factor_last_step = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    # Reputation counters, changed in the same transaction as the review that causes them.
    approved_count = fields.IntField(default=0)  # as a worker
    rejected_count = fields.IntField(default=0)  # as a worker, final rejections only
    earned = fields.BigIntField(default=0)  # cents, rewards and bonuses
    tasks_posted = fields.IntField(default=0)  # as an employer
    approvals_given = fields.IntField(default=0)
    rejections_given = fields.IntField(default=0)
    paid_out = fields.BigIntField(default=0)  # cents of rewards and bonuses paid as employer
    worker_stars = fields.IntField(default=0)  # sum of the stars employers gave this worker
    worker_ratings = fields.IntField(default=0)
    employer_stars = fields.IntField(default=0)  # sum of the stars workers gave this employer
    employer_ratings = fields.IntField(default=0)

    class Meta:
        table = "users"


# A bearer token; only its SHA-256 is stored, so a database leak yields no live token.
# (Model docstrings become table comments, which tortoise's SQLite DDL cannot quote.)
class Session(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    user_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    # Where it was opened (the address rate limits use, the User-Agent header), so its owner
    # can tell it apart in mySessions; null when the transport did not say.
    client_address = fields.CharField(max_length=45, null=True)
    user_agent = fields.CharField(max_length=300, null=True)
    # When it last authenticated a request, to the minute (services/accounts/sessions.py
    # `seen`). Null only in the migration that added it, which fills it with created_at.
    last_seen_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sessions"
        indexes = (("user_id", "created_at"),)


# An employer who no longer accepts a worker's work on any of their tasks.
class Block(Model):
    id = fields.BigIntField(primary_key=True)
    employer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="blocks_made", on_delete=fields.CASCADE
    )
    employer_id: int
    worker: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="blocks_received", on_delete=fields.CASCADE
    )
    worker_id: int
    # MANUAL (the employer's blockWorker) or the review policy that blocked the worker.
    decided_by = fields.CharEnumField(DecidedBy, max_length=20, default=DecidedBy.MANUAL)
    # The task whose review policy blocked the worker; null for a manual block.
    task_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "blocks"
        unique_together = (("employer_id", "worker_id"),)


# A two-factor recovery code: shown once, stored only as its SHA-256 (random, 50 bits: no
# slow hash needed), good once.
class RecoveryCode(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="recovery_codes", on_delete=fields.CASCADE
    )
    user_id: int
    code_hash = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "recovery_codes"
        unique_together = (("user_id", "code_hash"),)
