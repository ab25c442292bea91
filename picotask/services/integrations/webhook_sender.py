"""The webhook worker: turns new event rows into deliveries, and sends them.

Safe with several instances: a stretch of the event log is taken by moving the one cursor row
with a conditional update (in the transaction that writes its deliveries), and each attempt is
claimed by a conditional update on the delivery's attempt count, with a lease that runs out if
its sender dies. Attempts run as their own tasks, each with its own timeout, at most
`webhook_max_concurrency` per instance and `webhook_max_per_endpoint` to one endpoint, so a slow
receiver holds up only its own deliveries.

Just over ~300 lines: the cursor, the claims and the leases are one protocol and are read
together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from datetime import timedelta

import httpx
import orjson
from opentelemetry.trace import Tracer
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from picotask.models.events import Event, Stream
from picotask.models.webhooks import (
    DeliveryStatus,
    WebhookCursor,
    WebhookDelivery,
    WebhookEndpoint,
)
from picotask.services.core.clock import Clock
from picotask.services.core.events import EventLog
from picotask.services.core.rounds import run_rounds
from picotask.services.core.tracing import client_span, failed, with_trace_context
from picotask.services.integrations.webhook_targets import TargetRefused, resolve
from picotask.services.integrations.webhooks import delivery_key, sign, webhook_of
from picotask.settings import Settings

log = logging.getLogger(__name__)
FAN_OUT_BATCH = 500
SEND_BATCH = 200
MAX_BACKOFF = timedelta(hours=1)
SOURCE_STREAMS = (Stream.SUBMISSIONS, Stream.NOTIFICATIONS, Stream.FEED)


class _Taken(Exception):
    """Another instance moved the cursor first: roll back what this one wrote."""


class WebhookDispatcher:
    def __init__(
        self, settings: Settings, clock: Clock, events: EventLog, tracer: Tracer | None = None
    ) -> None:
        self.tracer = tracer  # tracing on: each attempt a span, its trace sent along
        self.settings = settings
        self.clock = clock
        self.events = events
        self._client: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_endpoint: Counter[int] = Counter()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        await run_rounds(
            self._round,
            interval=self.settings.webhook_poll_seconds,
            log=log,
            failed="webhook dispatch failed",
            wake=self._wake,
            stop=stop,
        )
        # Stopped: the attempts under way get their answers (each has its own timeout), so
        # none is sent again, after its lease, by another instance.
        await self.drain()

    async def _round(self) -> None:
        await self.fan_out()
        await self.dispatch()

    async def run_once(self) -> int:
        """Fan out, send every due delivery and wait for the answers (tests and the CLI);
        returns how many attempts were made."""
        await self.fan_out()
        await self.drain()  # attempts already in flight count against their endpoint's bound
        total = 0
        while started := await self.dispatch():  # rounds: the per-endpoint bound holds here too
            await self.drain()
            total += started
        return total

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- from the event log to deliveries ----------------------------------------------------

    async def fan_out(self) -> int:
        """Deliveries for the events logged since the cursor; returns how many were written."""
        cursor = await WebhookCursor.get_or_none(id=1)
        if cursor is None:
            with contextlib.suppress(IntegrityError):  # another instance made it first
                await WebhookCursor.create(id=1, last_event_id=0)
            cursor = await WebhookCursor.get(id=1)
        rows = (
            await Event.filter(id__gt=cursor.last_event_id, stream__in=SOURCE_STREAMS)
            .order_by("id")
            .limit(FAN_OUT_BATCH)
        )
        if not rows:
            return 0
        wanted = [(event, found) for event in rows if (found := webhook_of(event)) is not None]
        owners = {owner for _, (owner, _, _) in wanted}
        endpoints: dict[int, list[WebhookEndpoint]] = {}
        if owners:
            for endpoint in await WebhookEndpoint.filter(owner_id__in=owners, enabled=True):
                endpoints.setdefault(endpoint.owner_id, []).append(endpoint)
        now = self.clock.now()
        retry_until = now + timedelta(seconds=self.settings.webhook_retry_window_seconds)
        deliveries = [
            WebhookDelivery(
                endpoint_id=endpoint.id,
                event_id=event.id,
                event_type=kind,
                payload=data,
                next_attempt_at=now,
                retry_until=retry_until,
                created_at=event.created_at,
            )
            for event, (owner, kind, data) in wanted
            for endpoint in endpoints.get(owner, ())
            if kind in endpoint.event_types and event.id > endpoint.after_event_id
        ]
        try:
            async with in_transaction():
                if not await WebhookCursor.filter(id=1, last_event_id=cursor.last_event_id).update(
                    last_event_id=rows[-1].id
                ):
                    raise _Taken
                if deliveries:
                    await WebhookDelivery.bulk_create(deliveries)
        except (_Taken, IntegrityError):
            return 0
        return len(deliveries)

    # -- sending -------------------------------------------------------------------------------

    async def dispatch(self) -> int:
        """Start an attempt for each due delivery there is room for; returns how many."""
        now = self.clock.now()
        room = self.settings.webhook_max_concurrency - len(self._tasks)
        if room <= 0:
            return 0
        # Endpoints at their bound here are left out of the query, so a slow receiver's backlog
        # never fills the batch ahead of everyone else's deliveries.
        busy = [
            pk
            for pk, n in self._per_endpoint.items()
            if n >= self.settings.webhook_max_per_endpoint
        ]
        due = (
            await WebhookDelivery.filter(
                Q(lease_until=None) | Q(lease_until__lt=now),
                status=DeliveryStatus.PENDING,
                next_attempt_at__lte=now,
                endpoint__enabled=True,
            )
            .exclude(endpoint_id__in=busy)
            .order_by("next_attempt_at", "id")
            .limit(SEND_BATCH)
            .prefetch_related("endpoint")
        )
        started = 0
        for delivery in due:
            if started >= room:
                break
            if self._per_endpoint[delivery.endpoint_id] >= self.settings.webhook_max_per_endpoint:
                continue
            lease = now + timedelta(seconds=self.settings.webhook_timeout_seconds * 2 + 5)
            if not await WebhookDelivery.filter(
                id=delivery.id, attempts=delivery.attempts, status=DeliveryStatus.PENDING
            ).update(attempts=delivery.attempts + 1, lease_until=lease, last_attempt_at=now):
                continue  # another instance took it
            delivery.attempts += 1
            self._per_endpoint[delivery.endpoint_id] += 1
            task = asyncio.create_task(self._attempt(delivery, delivery.endpoint))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started += 1
        return started

    def backoff(self, attempt: int) -> timedelta:
        seconds = self.settings.webhook_retry_base_seconds * 2 ** min(attempt - 1, 20)
        return min(timedelta(seconds=seconds), MAX_BACKOFF)

    def _client_for_sending(self) -> httpx.AsyncClient:
        if self._client is None:
            # No proxies from the environment (they would connect past the address check), no
            # redirects (a redirect could point anywhere), and no kept connections: a pool keys
            # them by address, so one verified for one host name could carry another's request.
            self._client = httpx.AsyncClient(
                trust_env=False,
                follow_redirects=False,
                timeout=self.settings.webhook_timeout_seconds,
                limits=httpx.Limits(
                    max_connections=self.settings.webhook_max_concurrency,
                    max_keepalive_connections=0,
                ),
            )
        return self._client

    async def _attempt(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> None:
        code: int | None = None
        error = ""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.settings.webhook_timeout_seconds):
                code = await self._send(delivery, endpoint)
            if not 200 <= code < 300:
                error = f"The receiver answered {code}."
        except TargetRefused as refused:
            error = str(refused)
        except (TimeoutError, httpx.TimeoutException):
            error = "The receiver did not answer in time."
        except httpx.HTTPError as exc:
            error = f"Could not deliver: {type(exc).__name__}."
        except httpx.InvalidURL as exc:  # not an HTTPError; registration refuses such URLs
            error = f"The URL cannot be sent: {str(exc)[:200]}."
        except Exception as exc:  # a bug of ours: logged, and the delivery retried like a failure
            log.exception("webhook delivery %s failed", delivery.id)
            error = f"Internal error while delivering ({type(exc).__name__})."
        finally:
            self._per_endpoint[delivery.endpoint_id] -= 1
        duration_ms = round((time.perf_counter() - started) * 1000)
        try:
            await self._record(delivery, endpoint, code, duration_ms, error)
        except Exception:  # the lease runs out and the attempt is made again
            log.exception("recording webhook delivery %s failed", delivery.id)

    async def _send(self, delivery: WebhookDelivery, endpoint: WebhookEndpoint) -> int:
        target = await resolve(
            endpoint.url,
            https_only=self.settings.is_production,
            allow_loopback=self.settings.webhook_allow_loopback,
        )
        key = delivery_key(delivery.id)
        body = orjson.dumps(
            {
                "id": key,
                "type": delivery.event_type,
                "createdAt": delivery.created_at.isoformat().replace("+00:00", "Z"),
                "data": delivery.payload,
            }
        )
        timestamp = int(self.clock.now().timestamp())
        port = httpx.URL(endpoint.url).port
        host = f"[{target.host}]" if ":" in target.host else target.host
        headers = {
            "host": host if port is None else f"{host}:{port}",
            "content-type": "application/json",
            "user-agent": "picotask-webhooks/1",
            "picotask-delivery": key,
            "picotask-event": delivery.event_type,
            "picotask-signature": sign(endpoint.secret, timestamp, body),
        }
        client = self._client_for_sending()
        with client_span(self.tracer, "POST", self._span_attributes(delivery, endpoint)) as span:
            if span is not None:
                with_trace_context(headers)
            async with client.stream(
                "POST",
                target.url,
                content=body,
                headers=headers,
                extensions={"sni_hostname": target.host},
            ) as response:
                code = response.status_code  # the body is never read
            if span is not None:
                span.set_attribute("http.response.status_code", code)
                if code >= 400:
                    failed(span, str(code))
            return code

    @staticmethod
    def _span_attributes(
        delivery: WebhookDelivery, endpoint: WebhookEndpoint
    ) -> dict[str, str | int]:
        """HTTP client conventions, without the URL's path and query (a receiver may keep a
        token there)."""
        url = httpx.URL(endpoint.url)
        return {
            "http.request.method": "POST",
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            "url.scheme": url.scheme,
            "picotask.webhook.delivery_id": delivery.id,
            "picotask.webhook.event_type": delivery.event_type,
            "picotask.webhook.attempt": delivery.attempts,
        }

    async def _record(
        self,
        delivery: WebhookDelivery,
        endpoint: WebhookEndpoint,
        code: int | None,
        duration_ms: int,
        error: str,
    ) -> None:
        now = self.clock.now()
        mine = WebhookDelivery.filter(id=delivery.id, attempts=delivery.attempts)
        result = {"response_code": code, "duration_ms": duration_ms, "lease_until": None}
        if not error:
            await mine.update(
                status=DeliveryStatus.SUCCEEDED, delivered_at=now, last_error="", **result
            )
            return
        retry_at = now + self.backoff(delivery.attempts)
        if retry_at <= delivery.retry_until:
            await mine.update(next_attempt_at=retry_at, last_error=error[:300], **result)
            return
        reason = f"Disabled: every attempt failed for the retry window. Last: {error}"[:300]
        async with self.events.transaction():
            if not await mine.update(
                status=DeliveryStatus.FAILED, last_error=error[:300], **result
            ):
                return
            if await WebhookEndpoint.filter(id=endpoint.id, enabled=True).update(
                enabled=False, disabled_reason=reason
            ):
                self.events.notify(
                    endpoint.owner_id,
                    "webhook.disabled",
                    f"Your webhook endpoint {endpoint.url[:150]} was disabled: {error}",
                )
        log.warning("webhook endpoint %s disabled: %s", endpoint.id, error)
