"""Webhooks: the viewer's endpoints, their delivery logs, and what can be done to them."""

from __future__ import annotations

import strawberry

from picotask.models.webhooks import WebhookDelivery, WebhookEndpoint
from picotask.schema.context import Info
from picotask.schema.pages import connection
from picotask.schema.relay import Connection, Node, pk_of, to_global_id
from picotask.schema.webhooks import (
    CreateWebhookEndpointInput,
    CreateWebhookEndpointPayload,
    DeleteWebhookEndpointInput,
    DeleteWebhookEndpointPayload,
    RedeliverWebhookInput,
    RotateWebhookSecretInput,
    SendTestWebhookInput,
    SetWebhookEndpointEnabledInput,
    WebhookDeliveryPayload,
    WebhookDeliveryType,
    WebhookEndpointPayload,
    WebhookEndpointType,
)
from picotask.services.core.pagination import NEWEST_FIRST


async def webhook_endpoint_node(info: Info, pk: int) -> Node | None:
    """Its owner only."""
    viewer = info.context.viewer
    found = None if viewer is None else await WebhookEndpoint.get_or_none(id=pk, owner_id=viewer.id)
    return WebhookEndpointType.from_model(found) if found else None


async def webhook_delivery_node(info: Info, pk: int) -> Node | None:
    viewer = info.context.viewer
    found = (
        None
        if viewer is None
        else await WebhookDelivery.get_or_none(id=pk, endpoint__owner_id=viewer.id)
    )
    return WebhookDeliveryType.from_model(found) if found else None


@strawberry.type
class WebhooksQuery:
    @strawberry.field(description="The viewer's webhook endpoints, newest first.")
    async def webhook_endpoints(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[WebhookEndpointType]:
        viewer = info.context.require_viewer()
        query = WebhookEndpoint.filter(owner_id=viewer.id)
        return await connection(query, WebhookEndpointType.from_model, first, after, NEWEST_FIRST)


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(
        description="Register a URL for some of your events; the payload's `secret` signs "
        "them and is shown only once."
    )
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointPayload:
        viewer = info.context.require_viewer()
        endpoint, secret = await info.context.services.webhooks.create(
            viewer, input.url, input.event_types
        )
        return CreateWebhookEndpointPayload(
            endpoint=WebhookEndpointType.from_model(endpoint), secret=secret
        )

    @strawberry.mutation(
        description="A new signing secret for the endpoint, shown only in this payload; the "
        "old one stops signing at once."
    )
    async def rotate_webhook_secret(
        self, info: Info, input: RotateWebhookSecretInput
    ) -> CreateWebhookEndpointPayload:
        viewer = info.context.require_viewer()
        endpoint, secret = await info.context.services.webhooks.rotate_secret(
            viewer, pk_of(input.endpoint_id, "WebhookEndpoint")
        )
        return CreateWebhookEndpointPayload(
            endpoint=WebhookEndpointType.from_model(endpoint), secret=secret
        )

    @strawberry.mutation(description="Disable an endpoint, or enable one again.")
    async def set_webhook_endpoint_enabled(
        self, info: Info, input: SetWebhookEndpointEnabledInput
    ) -> WebhookEndpointPayload:
        viewer = info.context.require_viewer()
        endpoint = await info.context.services.webhooks.set_enabled(
            viewer, pk_of(input.endpoint_id, "WebhookEndpoint"), input.enabled
        )
        info.context.services.webhook_dispatcher.wake()
        return WebhookEndpointPayload(endpoint=WebhookEndpointType.from_model(endpoint))

    @strawberry.mutation(description="Remove an endpoint and its delivery log for good.")
    async def delete_webhook_endpoint(
        self, info: Info, input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointPayload:
        viewer = info.context.require_viewer()
        deleted = await info.context.services.webhooks.delete(
            viewer, pk_of(input.endpoint_id, "WebhookEndpoint")
        )
        return DeleteWebhookEndpointPayload(
            deleted_endpoint_id=strawberry.ID(to_global_id("WebhookEndpoint", deleted))
        )

    @strawberry.mutation(description="Send a `webhook.test` event to one endpoint now.")
    async def send_test_webhook(
        self, info: Info, input: SendTestWebhookInput
    ) -> WebhookDeliveryPayload:
        viewer = info.context.require_viewer()
        delivery = await info.context.services.webhooks.send_test(
            viewer, pk_of(input.endpoint_id, "WebhookEndpoint")
        )
        info.context.services.webhook_dispatcher.wake()
        return WebhookDeliveryPayload(delivery=WebhookDeliveryType.from_model(delivery))

    @strawberry.mutation(description="Send a delivery again now, with the same delivery id.")
    async def redeliver_webhook(
        self, info: Info, input: RedeliverWebhookInput
    ) -> WebhookDeliveryPayload:
        viewer = info.context.require_viewer()
        delivery = await info.context.services.webhooks.redeliver(
            viewer, pk_of(input.delivery_id, "WebhookDelivery")
        )
        info.context.services.webhook_dispatcher.wake()
        return WebhookDeliveryPayload(delivery=WebhookDeliveryType.from_model(delivery))
