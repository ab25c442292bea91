"""Webhooks: a user's endpoints, and each event's delivery to each of them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from picotask.models.users import User


class WebhookEndpoint(Model):
    id = fields.BigIntField(primary_key=True)
    owner: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="webhook_endpoints", on_delete=fields.RESTRICT
    )
    owner_id: int
    url = fields.CharField(max_length=2_000)
    # Public event type names (services/integrations/webhooks.py EVENT_TYPES), as a list.
    event_types: fields.Field[list[str]] = fields.JSONField()
    # The HMAC key: stored as is (signing needs it), shown to its owner only when created.
    secret = fields.CharField(max_length=80)
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.CharField(max_length=300, default="")
    # Events up to this id were logged before the endpoint existed: never sent to it.
    after_event_id = fields.BigIntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "webhook_endpoints"
        indexes = (("owner_id", "id"),)


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # waiting for its first or next attempt
    SUCCEEDED = "SUCCEEDED"  # the receiver answered 2xx
    FAILED = "FAILED"  # retried for the whole retry window; the endpoint was disabled


class WebhookDelivery(Model):
    id = fields.BigIntField(primary_key=True)
    endpoint: fields.ForeignKeyRelation[WebhookEndpoint] = fields.ForeignKeyField(
        "models.WebhookEndpoint", related_name="deliveries", on_delete=fields.CASCADE
    )
    endpoint_id: int
    # The event log row it comes from; null for a test event.
    event_id = fields.BigIntField(null=True)
    event_type = fields.CharField(max_length=40)
    payload: fields.Field[dict[str, Any]] = fields.JSONField()
    status = fields.CharEnumField(DeliveryStatus, max_length=16, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    # Retried until then; a redelivery starts a new window.
    retry_until = fields.DatetimeField()
    # Held by one sender while an attempt is in flight (a dead sender's lease runs out).
    lease_until = fields.DatetimeField(null=True)
    response_code = fields.IntField(null=True)
    duration_ms = fields.IntField(null=True)
    last_error = fields.CharField(max_length=300, default="")
    created_at = fields.DatetimeField()
    last_attempt_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_deliveries"
        unique_together = (("endpoint_id", "event_id"),)
        indexes = (("status", "next_attempt_at"),)


# Row 1 is the webhook fan-out's; row 2 is the event log retention's horizon, the highest event
# id it removed (services/core/retention.py): both positions on the log, moved the same way.
class WebhookCursor(Model):
    """How far the event log has been turned into deliveries: one row, advanced with a
    conditional update, so among several instances each stretch of the log is taken once."""

    id = fields.IntField(primary_key=True)
    last_event_id = fields.BigIntField(default=0)

    class Meta:
        table = "webhook_cursor"
