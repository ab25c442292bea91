"""Webhooks: endpoints a user registers, the events each receives, and how they are signed.

Deliveries come from the event log (`WebhookDispatcher.fan_out` in
services/integrations/webhook_sender.py): an event row commits with the change it records, so
an event whose process died before sending is still delivered. Each body is signed as Stripe
and GitHub do: the header
`Picotask-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`;
`Picotask-Delivery` (also the body's `id`) stays the same across retries and redeliveries, so
a receiver drops what it has seen already.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from picotask.models.events import Event, Stream
from picotask.models.users import User
from picotask.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, Validator
from picotask.services.core.events import EventLog
from picotask.services.core.global_ids import global_id
from picotask.services.core.standing import ensure_active
from picotask.services.integrations.webhook_targets import TargetRefused, resolve
from picotask.settings import Settings

# What an endpoint may subscribe to: the employer's submissions and batches, a worker's payouts.
SUBMISSION_TYPES = {
    "submission.claimed",
    "submission.submitted",
    "submission.resubmitted",
    "submission.approved",
    "submission.rejected",
    "submission.disputed",
}
PAYOUT_TYPES = {"payout.paid", "payout.failed"}
BATCH_COMPLETED = "batch.completed"
WORKER_BLOCKED = "worker.blocked"  # by a review policy; the employer's own blocks are not sent
EVENT_TYPES = frozenset({*SUBMISSION_TYPES, *PAYOUT_TYPES, BATCH_COMPLETED, WORKER_BLOCKED})
TEST_EVENT = "webhook.test"
MAX_URL = 2_000


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The `Picotask-Signature` header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def delivery_key(delivery_id: int) -> str:
    """The id a receiver drops duplicates by; the API's id of the delivery."""
    return global_id("WebhookDelivery", delivery_id)


def webhook_of(event: Event) -> tuple[int, str, dict[str, Any]] | None:
    """(receiving user, public type, data) for an event that webhooks carry, else None."""
    if event.stream == Stream.SUBMISSIONS and event.type in SUBMISSION_TYPES:
        row = event.payload["submission"]
        assert event.audience_id is not None  # the task's employer
        data = {
            "submission": {
                "id": global_id("Submission", row["id"]),
                "status": row["status"],
                "taskId": global_id("Task", row["task_id"]),
                "workerId": global_id("User", row["worker_id"]),
            }
        }
        return event.audience_id, event.type, data
    if event.stream == Stream.NOTIFICATIONS and event.type in PAYOUT_TYPES:
        assert event.audience_id is not None
        assert event.payout_id is not None
        status = event.type.removeprefix("payout.").upper()
        data = {"payout": {"id": global_id("Payout", event.payout_id), "status": status}}
        return event.audience_id, event.type, data
    if event.stream == Stream.NOTIFICATIONS and event.type == WORKER_BLOCKED:
        assert event.audience_id is not None  # the employer whose policy blocked the worker
        assert event.task_id is not None
        assert event.submission_id is not None
        data = {
            "block": {
                "workerId": global_id("User", event.payload["worker_id"]),
                "decidedBy": event.payload["decided_by"],
                "taskId": global_id("Task", event.task_id),
                "submissionId": global_id("Submission", event.submission_id),
            }
        }
        return event.audience_id, event.type, data
    if event.stream == Stream.FEED and event.type == "task.closed":
        task = event.payload["task"]
        if task.get("batch_columns") is None or task["status"] != "COMPLETED":
            return None
        data = {"task": {"id": global_id("Task", task["id"]), "title": task["title"]}}
        return int(task["employer_id"]), BATCH_COMPLETED, data
    return None


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def endpoint_not_found(field: Sequence[str] = ("input", "endpointId")) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No such webhook endpoint of yours.", field)


class WebhookService:
    def __init__(self, settings: Settings, clock: Clock, events: EventLog) -> None:
        self.settings = settings
        self.clock = clock
        self.events = events

    def retry_until(self) -> datetime:
        return self.clock.now() + timedelta(seconds=self.settings.webhook_retry_window_seconds)

    async def check_url(self, url: str) -> str:
        """The URL as given, or INVALID naming `url`: not https in production, or resolving to
        an address that is refused (services/integrations/webhook_targets.py)."""
        field = ["input", "url"]
        if len(url) > MAX_URL:
            raise DomainError(
                ErrorCode.TOO_LONG, f"url must be at most {MAX_URL} characters.", field
            )
        try:
            async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                await resolve(
                    url,
                    https_only=self.settings.is_production,
                    allow_loopback=self.settings.webhook_allow_loopback,
                )
        except TargetRefused as refused:
            raise DomainError(ErrorCode.INVALID, str(refused), field) from None
        except TimeoutError:
            raise DomainError(
                ErrorCode.INVALID, "url: its host name could not be resolved in time.", field
            ) from None
        return url

    async def create(
        self, owner: User, url: str, event_types: Sequence[str]
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its secret (shown only now)."""
        ensure_active(owner)
        v = Validator()
        if not event_types:
            v.add("eventTypes", ErrorCode.REQUIRED, "eventTypes must name at least one type.")
        for i, name in enumerate(event_types):
            if name not in EVENT_TYPES:
                v.add(
                    str(i),
                    ErrorCode.INVALID,
                    f"Unknown event type {name[:60]!r}; one of {', '.join(sorted(EVENT_TYPES))}.",
                    prefix=["input", "eventTypes"],
                )
        v.check()
        url = await self.check_url(url.strip())
        if (
            await WebhookEndpoint.filter(owner_id=owner.id).count()
            >= self.settings.webhook_max_endpoints
        ):
            raise DomainError(
                ErrorCode.LIMIT_REACHED,
                f"At most {self.settings.webhook_max_endpoints} webhook endpoints.",
                ["input"],
            )
        secret = new_secret()
        last = await Event.all().order_by("-id").only("id").first()
        endpoint = await WebhookEndpoint.create(
            owner_id=owner.id,
            url=url,
            event_types=sorted(set(event_types)),
            secret=secret,
            after_event_id=last.id if last is not None else 0,
            created_at=self.clock.now(),
        )
        return endpoint, secret

    async def own_endpoint(self, owner: User, endpoint_id: int | None) -> WebhookEndpoint:
        endpoint = (
            await WebhookEndpoint.get_or_none(id=endpoint_id, owner_id=owner.id)
            if endpoint_id is not None
            else None
        )
        if endpoint is None:
            raise endpoint_not_found()
        return endpoint

    async def rotate_secret(
        self, owner: User, endpoint_id: int | None
    ) -> tuple[WebhookEndpoint, str]:
        """A new secret (shown only now); every delivery from now on is signed with it."""
        endpoint = await self.own_endpoint(owner, endpoint_id)
        endpoint.secret = new_secret()
        await WebhookEndpoint.filter(id=endpoint.id).update(secret=endpoint.secret)
        return endpoint, endpoint.secret

    async def set_enabled(
        self, owner: User, endpoint_id: int | None, enabled: bool
    ) -> WebhookEndpoint:
        endpoint = await self.own_endpoint(owner, endpoint_id)
        await WebhookEndpoint.filter(id=endpoint.id).update(enabled=enabled, disabled_reason="")
        endpoint.enabled, endpoint.disabled_reason = enabled, ""
        return endpoint

    async def delete(self, owner: User, endpoint_id: int | None) -> int:
        """The endpoint and its delivery log are gone; nothing more is sent to it (an attempt in
        flight records nothing). Returns its id."""
        endpoint = await self.own_endpoint(owner, endpoint_id)
        await WebhookEndpoint.filter(id=endpoint.id, owner_id=owner.id).delete()
        deleted: int = endpoint.id
        return deleted

    async def send_test(self, owner: User, endpoint_id: int | None) -> WebhookDelivery:
        """A test event to one endpoint, whatever types it subscribes to."""
        endpoint = await self.own_endpoint(owner, endpoint_id)
        now = self.clock.now()
        return await WebhookDelivery.create(
            endpoint_id=endpoint.id,
            event_type=TEST_EVENT,
            payload={"message": "A test event from picotask."},
            next_attempt_at=now,
            retry_until=self.retry_until(),
            created_at=now,
        )

    async def redeliver(self, owner: User, delivery_id: int | None) -> WebhookDelivery:
        """Send a delivery again (same delivery id), at once, with a new retry window."""
        delivery = (
            await WebhookDelivery.get_or_none(id=delivery_id, endpoint__owner_id=owner.id)
            if delivery_id is not None
            else None
        )
        if delivery is None:
            raise DomainError(
                ErrorCode.NOT_FOUND, "No such webhook delivery of yours.", ["input", "deliveryId"]
            )
        changes: dict[str, Any] = {
            "status": DeliveryStatus.PENDING,
            "next_attempt_at": self.clock.now(),
            "retry_until": self.retry_until(),
        }
        # Not while an attempt is in flight (it would be sent twice at once).
        if not await WebhookDelivery.filter(
            id=delivery.id, attempts=delivery.attempts, lease_until=None
        ).update(**changes):
            raise DomainError(
                ErrorCode.INVALID_STATUS,
                "This delivery is being sent right now.",
                ["input", "deliveryId"],
            )
        await delivery.refresh_from_db()
        return delivery
