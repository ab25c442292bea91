"""Webhook endpoints and their delivery logs as the API shows them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from picotask.schema.context import Info
from picotask.schema.errors import UserError, refusals_as_errors
from picotask.schema.loaders import ChildPageKey
from picotask.schema.relay import Connection, Node, to_global_id
from picotask.services.core.pagination import check_first, decode_cursor

strawberry.enum(DeliveryStatus, name="WebhookDeliveryStatus")


@strawberry.type(
    name="WebhookDelivery",
    description="One event sent (or being sent) to one endpoint. Its `id` is the body's `id` "
    "and the `Picotask-Delivery` header: the same on every retry and redelivery.",
)
class WebhookDeliveryType(Node):
    event_type: str
    status: DeliveryStatus
    attempts: int
    response_code: int | None = strawberry.field(description="Of the last attempt.")
    duration_ms: int | None = strawberry.field(description="Of the last attempt.")
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = strawberry.field(description="While PENDING.")
    delivered_at: datetime | None

    @classmethod
    def from_model(cls, d: WebhookDelivery) -> WebhookDeliveryType:
        return cls(
            id=to_global_id("WebhookDelivery", d.id),
            event_type=d.event_type,
            status=d.status,
            attempts=d.attempts,
            response_code=d.response_code,
            duration_ms=d.duration_ms,
            last_error=d.last_error or None,
            created_at=d.created_at,
            last_attempt_at=d.last_attempt_at,
            next_attempt_at=d.next_attempt_at if d.status == DeliveryStatus.PENDING else None,
            delivered_at=d.delivered_at,
        )


@strawberry.type(name="WebhookEndpoint", description="A URL the viewer's events are sent to.")
class WebhookEndpointType(Node):
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: datetime
    model: strawberry.Private[WebhookEndpoint]

    @strawberry.field(description="The delivery log, newest first.")
    async def deliveries(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[WebhookDeliveryType]:
        with refusals_as_errors():
            size = check_first(first)
            before_id = None if after is None else int(decode_cursor(after, [False])[0])
        # Batched: every endpoint of a list shares the same few queries.
        key = ChildPageKey(self.model.id, size, before_id)
        page = await info.context.loaders.webhook_delivery_page_by_endpoint.load(key)
        return Connection.of(page, WebhookDeliveryType.from_model)

    @classmethod
    def from_model(cls, endpoint: WebhookEndpoint) -> WebhookEndpointType:
        return cls(
            id=to_global_id("WebhookEndpoint", endpoint.id),
            url=endpoint.url,
            event_types=list(endpoint.event_types),
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason or None,
            created_at=endpoint.created_at,
            model=endpoint,
        )


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="https:// (http:// outside production).")
    event_types: list[str] = strawberry.field(
        description="submission.claimed, submission.submitted, submission.resubmitted, "
        "submission.approved, submission.rejected, submission.disputed, batch.completed, "
        "worker.blocked (by a review policy), payout.paid, payout.failed."
    )


@strawberry.type(
    description="The endpoint and its signing secret: shown only here, keep it.",
)
class CreateWebhookEndpointPayload:
    endpoint: WebhookEndpointType | None = None
    secret: str | None = strawberry.field(
        default=None, description="The signing secret: shown only here, keep it."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RotateWebhookSecretInput:
    endpoint_id: strawberry.ID


@strawberry.input
class SetWebhookEndpointEnabledInput:
    endpoint_id: strawberry.ID
    enabled: bool


@strawberry.type
class WebhookEndpointPayload:
    endpoint: WebhookEndpointType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class DeleteWebhookEndpointInput:
    endpoint_id: strawberry.ID


@strawberry.type
class DeleteWebhookEndpointPayload:
    deleted_endpoint_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class SendTestWebhookInput:
    endpoint_id: strawberry.ID


@strawberry.input
class RedeliverWebhookInput:
    delivery_id: strawberry.ID


@strawberry.type
class WebhookDeliveryPayload:
    delivery: WebhookDeliveryType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
