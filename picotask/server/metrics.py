"""`/metrics` in Prometheus' text format, and what feeds it (README, "Metrics").

- `Observe`, a schema extension with operation-level hooks only (no `resolve`: subscriptions
  stay grouped, server/fanout.py), times each operation, counts its errors by code and writes
  its one access line (logger `picotask.access`), for HTTP and websocket operations alike.
- `HttpMetrics`, an ASGI middleware: each HTTP request by method, route template and status.
- `Refresher`: the live state of the bus, the sockets and the pool, read when scraped (and
  every few seconds when several processes share a metrics directory, so each process's
  files stay current), and the counts the bus keeps as plain numbers added to counters.
- `Backlog`: payouts and webhook deliveries waiting or failing, one aggregate query each at
  scrape time (the database is shared: every instance would report the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from tortoise import connections
from tortoise.expressions import Q
from tortoise.functions import Count

from picotask.models.payouts import Payout, PayoutStatus
from picotask.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from picotask.server import logs, series
from picotask.subscriptions.direct import outlet

if TYPE_CHECKING:
    from picotask.server.sockets import Sockets
    from picotask.settings import Settings
    from picotask.subscriptions.bus import EventBus

access = logging.getLogger("picotask.access")
ANONYMOUS = "anonymous"
OTHER = "other"  # a name past the limit of distinct names
REFRESH_SECONDS = 5.0


def enabled(settings: Settings) -> bool:
    return settings.metrics or bool(settings.metrics_token)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class OperationNames:
    """Operation names as label values: the first `limit` distinct names seen, then `other`;
    an operation without a name is `anonymous`. Names are GraphQL names (the document's own,
    checked by its parse), so no label carries arbitrary text."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.known: set[str] = set()

    def label(self, name: str | None) -> str:
        if name is None:
            return ANONYMOUS
        if name in self.known:
            return name
        if len(self.known) >= self.limit:
            return OTHER
        self.known.add(name)
        return name


def error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if isinstance(code, str) and code.isupper() and len(code) <= 40:
        return code
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        return "INTERNAL_SERVER_ERROR"
    return "GRAPHQL_ERROR" if error.path else "BAD_REQUEST"


class Observe(SchemaExtension):
    """Times an operation, counts its errors, writes its access line. A query or mutation is
    done when its result is; a subscription when it started (or was refused), and a run that
    resumes a resting subscription is not a new operation."""

    def __init__(self, names: OperationNames, count: bool = True) -> None:
        self.names = names
        self.count = count
        self.started = 0.0
        self.done = False

    def on_operation(self) -> Iterator[None]:
        self.started = time.perf_counter()
        transport = outlet.get()
        resumed = transport is not None and transport.resumed is not None
        self.done = resumed
        token = None
        if not resumed:
            run = self.execution_context
            name = _name_of(run)
            token = logs.OPERATION.set(name) if name is not None else None
        try:
            yield
        finally:
            if token is not None:
                # A subscription's generator may end in another context than it started in.
                with contextlib.suppress(ValueError):
                    logs.OPERATION.reset(token)
        self._finish()

    def on_execute(self) -> Iterator[None]:
        yield
        if self._kind() == "subscription":
            self._finish()

    def _kind(self) -> str:
        run = self.execution_context
        try:
            return run.operation_type.value if run.graphql_document is not None else "unknown"
        except Exception:  # no such operation in the document (strawberry answers that error)
            return "unknown"

    def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        run = self.execution_context
        seconds = time.perf_counter() - self.started
        kind = self._kind()
        name = _name_of(run)
        errors = run.pre_execution_errors or (run.result.errors if run.result else None) or []
        codes = sorted({error_code(error) for error in errors})
        if self.count:
            label = self.names.label(name if kind != "unknown" else None)
            series.OPERATIONS.labels(kind, label).observe(seconds)
            for code in codes:
                series.ERRORS.labels(kind, label, code).inc()
        context = run.context
        viewer = getattr(context, "viewer", None)
        request = getattr(context, "request", None)
        extra: dict[str, Any] = {
            "operation_type": kind,
            "operation": name,
            "duration_ms": round(seconds * 1000, 3),
            "transport": "http" if isinstance(request, Request) else "websocket",
            "errors": codes,
        }
        if viewer is not None:
            extra["user_id"] = viewer.id
        access.info(
            "%s %s %s in %.1f ms",
            kind,
            name or ANONYMOUS,
            ",".join(codes) or "ok",
            seconds * 1000,
            extra=extra,
        )


def _name_of(run: Any) -> str | None:
    try:
        name = run.operation_name
    except Exception:  # a document strawberry could not read: its error is answered
        return None
    return name[:100] if isinstance(name, str) else None


class HttpMetrics:
    """Each HTTP request by method, route template (`/uploads/{upload_id}`, never the path:
    it may carry a token) and status, and its duration."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sent(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sent)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = str(scope.get("method", "GET"))
            if method not in _METHODS:
                method = "other"
            series.HTTP_REQUESTS.labels(method, template, str(status)).inc()
            series.HTTP_DURATION.labels(method, template).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "POST", "PUT", "HEAD", "OPTIONS", "DELETE", "PATCH"})


class Refresher:
    """This process's live state into its gauges, its plain counts into counters."""

    def __init__(self, bus: EventBus, sockets: Sockets) -> None:
        self.bus = bus
        self.sockets = sockets
        self._counted: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        stats, sequencer, groups = self.bus.stats, self.bus.sequencer, self.bus.groups.stats
        return {
            "events_published": stats.published,
            "events_received": stats.received,
            "events_delivered": sequencer.delivered,
            "bus_reconnects": stats.reconnects,
            "slow_consumer_drops": stats.dropped_clients,
            "subscribers_woken": stats.woken,
            "subscribers_undeliverable": stats.undeliverable,
            "sequencer_log_reads": sequencer.log_reads,
            "sequencer_gap_waits": sequencer.gap_waits,
            "sequencer_events_from_log": sequencer.from_log,
            "shared_executions": groups.shared_executions,
            "shared_deliveries": groups.shared_deliveries,
            "subscriber_executions": groups.subscriber_executions,
            "direct_frames": groups.direct_frames,
        }

    def refresh(self) -> None:
        for name, value in self.counts().items():
            added = value - self._counted.get(name, 0)
            if added > 0:
                series.BUS_COUNTERS[name].inc(added)
            self._counted[name] = value
        resting = self.bus.resting()
        series.SUBSCRIPTIONS.labels("resting").set(resting)
        series.SUBSCRIPTIONS.labels("awake").set(self.bus.stats.subscribers - resting)
        series.GROUPS.set(len(self.bus.groups.runs))
        series.WEBSOCKETS.set(self.sockets.open_count())
        pool = _pool()
        if pool is not None:
            idle = pool.get_idle_size()
            series.DB_POOL.labels("idle").set(idle)
            series.DB_POOL.labels("in_use").set(pool.get_size() - idle)

    async def run_forever(self) -> None:
        while True:
            self.refresh()
            await asyncio.sleep(REFRESH_SECONDS)


def _pool() -> Any:
    try:
        return getattr(connections.get("default"), "_pool", None)
    except Exception:  # no database yet (or any more)
        return None


class Backlog:
    """The background work waiting, read from the database when scraped."""

    def __init__(self) -> None:
        self.values: list[Metric] = []

    async def read(self, now: Any) -> None:
        payouts = dict(
            await Payout.filter(
                status__in=[PayoutStatus.REQUESTED, PayoutStatus.PROCESSING, PayoutStatus.FAILED]
            )
            .annotate(n=Count("id"))
            .group_by("status")
            .values_list("status", "n")
        )
        rows = (
            await WebhookDelivery.filter(status=DeliveryStatus.PENDING)
            .annotate(
                due=Count("id", _filter=Q(next_attempt_at__lte=now)),
                failing=Count("id", _filter=Q(attempts__gt=0)),
            )
            .values("due", "failing")
        )
        waiting = rows[0] if rows else {}
        due, failing = waiting.get("due") or 0, waiting.get("failing") or 0
        disabled = await WebhookEndpoint.filter(enabled=False).count()
        payout = GaugeMetricFamily(
            "picotask_payouts",
            "Payouts by state: due (requested, waiting for the processor), processing, failed.",
            labels=["state"],
        )
        for state, status in (
            ("due", PayoutStatus.REQUESTED),
            ("processing", PayoutStatus.PROCESSING),
            ("failed", PayoutStatus.FAILED),
        ):
            payout.add_metric([state], float(payouts.get(status, 0)))
        webhook = GaugeMetricFamily(
            "picotask_webhook_deliveries",
            "Webhook deliveries waiting: due (their attempt is due now), failing (retried "
            "after a failed attempt).",
            labels=["state"],
        )
        webhook.add_metric(["due"], float(due))
        webhook.add_metric(["failing"], float(failing))
        endpoints = GaugeMetricFamily(
            "picotask_webhook_endpoints_disabled",
            "Webhook endpoints disabled after their deliveries failed for the whole window.",
            value=float(disabled),
        )
        self.values = [payout, webhook, endpoints]

    def collect(self) -> Iterable[Metric]:
        return self.values


class MetricsEndpoint:
    """`GET /metrics`: 404 unless PICOTASK_METRICS or PICOTASK_METRICS_TOKEN allows it; with a
    token, only for `Authorization: Bearer <token>` (401 otherwise)."""

    def __init__(self, settings: Settings, refresher: Refresher, clock_now: Any) -> None:
        self.settings = settings
        self.refresher = refresher
        self.now = clock_now

    async def respond(self, request: Request) -> Response:
        token = self.settings.metrics_token
        if not enabled(self.settings):
            return PlainTextResponse("Not Found", status_code=404)
        if token:
            sent = request.headers.get("authorization", "")
            scheme, _, value = sent.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), token.encode()
            ):
                return PlainTextResponse(
                    "Unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
        self.refresher.refresh()
        backlog = Backlog()
        await backlog.read(self.now())
        return Response(render(backlog), media_type=CONTENT_TYPE_PLAIN_0_0_4)


def forget_process() -> None:
    """A process that stops: its live gauges (sockets, subscriptions) leave the sums."""
    if (path := multiprocess_dir()) is not None:
        mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]  # no annotations


def render(backlog: Backlog) -> bytes:
    """Every series: this process's (or, with a metrics directory, every process's there),
    then the backlog."""
    from prometheus_client import REGISTRY

    path = multiprocess_dir()
    if path is not None:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]  # the module has no annotations
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(backlog)
    return own + generate_latest(extra)


_QUERY_METHODS = ("execute_insert", "execute_many", "execute_query", "execute_query_dict")


def time_queries() -> None:
    """Every database query timed (`picotask_db_query_duration_seconds`): tortoise has no
    hook for it, so its clients' query methods (tortoise-orm is bounded to patch releases) are
    wrapped once per process, each in the classes that define it (a transaction's client
    inherits the others)."""
    from tortoise.backends.asyncpg.client import AsyncpgDBClient
    from tortoise.backends.asyncpg.client import TransactionWrapper as PgTransaction
    from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionWrapper

    for kind in (AsyncpgDBClient, PgTransaction, SqliteClient, SqliteTransactionWrapper):
        for name in _QUERY_METHODS:
            method = kind.__dict__.get(name)
            if method is not None and not getattr(method, "_picotask_timed", False):
                setattr(kind, name, _timed(method))


def _timed(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    observe = series.DB_QUERIES.observe

    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            observe(time.perf_counter() - started)

    timed._picotask_timed = True  # type: ignore[attr-defined]  # a marker: wrapped once
    return timed
