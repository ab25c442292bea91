"""Mail waiting to leave, and the single-use tokens its links carry."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from picotask.models.users import User


class MailStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    # Every attempt failed for the retry window, or the server refused the recipient.
    FAILED = "FAILED"
    # Nothing to send: a password reset asked for an address that has no account.
    DROPPED = "DROPPED"


# One mail, written in the transaction of the change that causes it and sent by the mail
# sender (services/mail/sender.py). Its bodies are emptied once it is sent: a link's token
# lives in the database only as long as the mail has not left.
class OutboxMail(Model):
    id = fields.BigIntField(primary_key=True)
    user_id = fields.BigIntField(null=True)
    to_address = fields.CharField(max_length=254)
    # The template it was rendered from (confirm_email, password_reset, ...).
    kind = fields.CharField(max_length=40)
    subject = fields.CharField(max_length=300)
    text_body = fields.TextField()
    html_body = fields.TextField()
    # Extra headers (List-Unsubscribe, List-Unsubscribe-Post).
    headers: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    status = fields.CharEnumField(MailStatus, max_length=16, default=MailStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    # Set just before the message is handed to the server (SMTP DATA): a sender that dies
    # after this point may have sent it, so such a row is never tried again.
    handed_at = fields.DatetimeField(null=True)
    last_error = fields.CharField(max_length=300, default="")
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mail_outbox"
        indexes = (("status", "next_attempt_at"),)


class TokenPurpose(StrEnum):
    CONFIRM_EMAIL = "CONFIRM_EMAIL"
    # Confirms a new address; `subject` holds it until then.
    CHANGE_EMAIL = "CHANGE_EMAIL"
    PASSWORD_RESET = "PASSWORD_RESET"  # noqa: S105 - a purpose's name, not a password
    PAYOUT_METHOD = "PAYOUT_METHOD"
    UNSUBSCRIBE = "UNSUBSCRIBE"


# A token of a link in a mail: random, stored only as its SHA-256, single-use, expiring.
class AccountToken(Model):
    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="account_tokens", on_delete=fields.CASCADE
    )
    user_id: int
    purpose = fields.CharEnumField(TokenPurpose, max_length=20)
    token_hash = fields.CharField(max_length=64, unique=True)
    # What the token is about: a new email address, a payout method's id, a mail kind.
    subject = fields.CharField(max_length=254, default="")
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "account_tokens"
        # expires_at: the sweeper removes expired tokens (every notification mail has one).
        indexes = (("user_id", "purpose", "created_at"), ("expires_at",))
