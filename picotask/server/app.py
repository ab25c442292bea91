"""The app factory and its lifespan: database, migrations, bus, GraphQL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from tortoise import connections
from tortoise.contrib.starlette import RegisterTortoise

from picotask.server import db
from picotask.server.files import Files, upload_refusal
from picotask.server.graphql_view import GraphQLView
from picotask.server.metrics import (
    HttpMetrics,
    MetricsEndpoint,
    Refresher,
    forget_process,
    multiprocess_dir,
    time_queries,
)
from picotask.server.metrics import enabled as metrics_on
from picotask.server.request_id import (
    BodySizeLimitMiddleware,
    RequestIdMiddleware,
    assign_request_id,
    plain_refusal,
)
from picotask.server.schema import build_schema
from picotask.server.shutdown import Shutdown
from picotask.server.tracing import Tracing
from picotask.server.unsubscribe import Unsubscribe
from picotask.server.web import WebApp
from picotask.services.core.clock import Clock, SystemClock
from picotask.services.registry import Services
from picotask.settings import Settings
from picotask.subscriptions.bus import EventBus, channel_for

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 1_048_576
GRAPHQL_PATH = "/graphql"
AsgiCall = Callable[[Scope, Receive, Send], Coroutine[Any, Any, None]]


def create_app(
    settings: Settings, clock: Clock | None = None, span_processor: SpanProcessor | None = None
) -> Starlette:
    """`span_processor`: where spans go when tracing is on (a test's in-memory exporter);
    by default the OTLP exporter (server/tracing.py)."""
    tracing = Tracing.from_settings(settings, span_processor)
    bus = EventBus(
        settings.broadcast_url,
        channel=channel_for(settings.database_url),
        queue_size=settings.subscriber_queue_size,
        heartbeat_seconds=settings.bus_heartbeat_seconds,
        log_poll_seconds=settings.bus_log_poll_seconds,
        gap_grace_seconds=settings.bus_gap_grace_seconds,
    )
    services = Services.build(
        settings,
        clock or SystemClock(),
        publish=bus.publish,
        tracer=tracing.tracer if tracing else None,
    )
    schema = build_schema(settings, extra=[tracing.extension()] if tracing else ())
    view = GraphQLView(schema, services, bus)
    # Ended sessions close their sockets here first (before the bus can echo the news back, so
    # a logOut sent over a socket still gets its answer), then on every other instance.
    services.revocations.listen(view.sockets.revoke)
    services.revocations.listen(bus.announce)
    bus.on_revoked(view.sockets.revoke)
    shutdown = Shutdown(settings.shutdown_grace_seconds, bus, view.sockets)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await db.apply_migrations(settings.database_url)
        traced = tracing.installed() if tracing else contextlib.nullcontext()
        config = db.tortoise_config(settings.database_url)
        async with traced, RegisterTortoise(app, config=config):
            await bus.connect()
            # Not a background worker: open sockets must end with their sessions in every process.
            # Loops with no round to finish: cancelled at the end, not waited for.
            forever = [asyncio.create_task(view.sockets.run_forever())]
            if metrics_on(settings) and multiprocess_dir() is not None:
                # Each process's files current, whichever process answers the scrape.
                forever.append(asyncio.create_task(refresher.run_forever()))
            workers = []
            if settings.background_workers:
                # Each stops after the round it is in when the instance shuts down.
                stop = shutdown.stopping
                workers.append(asyncio.create_task(services.payout_processor.run_forever(stop)))
                workers.append(asyncio.create_task(services.sweeper.run_forever(stop)))
                workers.append(asyncio.create_task(services.webhook_dispatcher.run_forever(stop)))
                workers.append(asyncio.create_task(services.mail_sender.run_forever(stop)))
                workers.append(asyncio.create_task(services.notification_mailer.run_forever(stop)))
            try:
                log.info("picotask ready (%s, bus %s)", settings.env, settings.broadcast_url)
                yield
            finally:
                for loop in forever:
                    loop.cancel()
                await shutdown.wait_for(workers)
                await asyncio.gather(*forever, return_exceptions=True)
                await services.webhook_dispatcher.close()
                await bus.disconnect()
                await services.storage.close()
                await view.persisted.close()
                await services.rate_store.close()
                forget_process()  # its live gauges count no more

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        checks = {"database": await _database_answers(), "bus": await bus.ping()}
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )

    refresher = Refresher(bus, view.sockets)
    if metrics_on(settings):
        time_queries()
    metrics = MetricsEndpoint(settings, refresher, services.clock.now)
    app = App(
        view,
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics.respond),
            Route(GRAPHQL_PATH, view, methods=["GET", "POST"]),
            WebSocketRoute(GRAPHQL_PATH, view),
            *Files(services).routes(),
            *Unsubscribe(services).routes(),
            *WebApp(settings.web_dir).routes(),  # last: its fallback takes any other path
        ],
        # Not on the way of websockets to /graphql (`App`).
        middleware=[
            *([Middleware(HttpMetrics)] if metrics_on(settings) else []),
            cors(settings),
            Middleware(RequestIdMiddleware),
            Middleware(
                BodySizeLimitMiddleware,
                max_bytes=MAX_BODY_BYTES,
                larger={"/uploads/": settings.max_image_bytes},
                refusal=lambda path, limit: (
                    upload_refusal(path, limit)
                    if path.startswith("/uploads/")
                    else plain_refusal(path, limit)
                ),
            ),
        ],
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.bus = bus
    app.state.shutdown = shutdown  # what SIGTERM does (server/shutdown.py)
    return app


class App(Starlette):
    """Starlette, with the GraphQL websockets handed straight to the view.

    A websocket's ASGI call lasts as long as the socket, and each middleware and routing step
    on its way holds a suspended frame for that long (about 4 KiB a socket in all), while for
    this view's websockets none of them does anything but pass it on: CORS and the body limit
    are for HTTP (the view checks a websocket's origin itself), the error middlewares re-raise
    what the view raises (it raises none of the exceptions they would turn into a close), and
    the router only finds the view. So a websocket to `/graphql` gets its request id (the one
    thing on the way it needs) and goes to the view without them. Every other request, and a
    websocket to any other path, takes the whole stack; a middleware added to the app for
    websockets too must be added to this path as well."""

    def __init__(self, graphql: AsgiCall, **options: Any) -> None:
        super().__init__(**options)
        self.graphql = graphql

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and _route_path(scope) == GRAPHQL_PATH:
            scope["app"] = self
            assign_request_id(scope)
            await self.graphql(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the root path uvicorn puts in front of it when
    the app is served under one (`--root-path`)."""
    path, root = str(scope["path"]), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def cors(settings: Settings) -> Middleware:
    """Browsers on the allowed origins (the websocket's own list) may call the API: the
    preflight names what the API uses (GraphQL over GET and POST, image bytes over PUT, bearer
    tokens, JSON), and the request id and `Retry-After` are readable. No cookies are used, so
    no credentials mode. Any other origin gets no CORS header, and its browser refuses."""
    return Middleware(
        CORSMiddleware,
        allow_origins=list(settings.allowed_origins),
        allow_methods=["GET", "POST", "PUT"],
        allow_headers=["authorization", "content-type", "x-request-id"],
        expose_headers=["x-request-id", "retry-after"],
        allow_credentials=False,
        max_age=600,
    )


async def _database_answers() -> bool:
    try:
        await asyncio.wait_for(connections.get("default").execute_query("SELECT 1"), 2.0)
    except Exception:  # any driver failure means "not ready"
        log.warning("database is not answering", exc_info=True)
        return False
    return True
