"""OpenTelemetry traces, when `PICOTASK_TRACING=on` (README, "Tracing").

One span per GraphQL operation, over HTTP and websockets (`OperationSpans`: an operation-level
hook only, never strawberry's per-field `resolve`, which costs a span per field and turns off
the grouped execution of subscriptions: server/fanout.py), one per database query inside it
(server/db_tracing.py), and one per outbound call (services/core/tracing.py). Off, none of it
is built: no extension in the schema, no wrapper around a query, a provider or the storage.

Each app has its own tracer provider (not OpenTelemetry's global one), so tests can run apps
with and without tracing, each with its own exporter, in one process.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING

from graphql import GraphQLError
from opentelemetry.propagate import extract
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from picotask.server import db_tracing
from picotask.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

# The name OpenTelemetry's GraphQL conventions give an operation span until its type is known
# (a document that does not parse keeps it).
UNKNOWN_OPERATION = "GraphQL Operation"
_MAX_ERROR_EVENTS = 10


class Tracing:
    """One app's tracer: its provider (sampler, resource, processor) and what it installs."""

    def __init__(self, settings: Settings, processor: SpanProcessor | None = None) -> None:
        # The SDK and the exporter only where tracing is on.
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        if processor is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            # Endpoint, headers, timeout: the standard OTEL_EXPORTER_OTLP_* variables.
            processor = BatchSpanProcessor(OTLPSpanExporter())
        service = os.environ.get("OTEL_SERVICE_NAME") or "picotask"
        self.provider: TracerProvider = TracerProvider(
            # A trace started by a client's `traceparent` keeps its decision; ours are sampled.
            sampler=ParentBased(TraceIdRatioBased(settings.trace_sample_ratio)),
            resource=Resource.create({"service.name": service}),
            shutdown_on_exit=False,  # shut down by the app's lifespan
        )
        self.provider.add_span_processor(processor)
        self.tracer: Tracer = self.provider.get_tracer("picotask")

    @classmethod
    def from_settings(
        cls, settings: Settings, processor: SpanProcessor | None = None
    ) -> Tracing | None:
        """None when tracing is off (then `processor`, a test's, is not used)."""
        return cls(settings, processor) if settings.tracing else None

    def extension(self) -> Callable[[], SchemaExtension]:
        return functools.partial(OperationSpans, self.tracer)

    @contextlib.asynccontextmanager
    async def installed(self) -> AsyncIterator[None]:
        """Database queries traced while the app runs; at its end, the spans still waiting
        are exported."""
        db_tracing.install(self.tracer)
        try:
            yield
        finally:
            db_tracing.uninstall(self.tracer)
            self.provider.shutdown()


class OperationSpans(SchemaExtension):
    """A SERVER span around each operation (a subscription: each run of it, from subscribe to
    its end or its rest, server/ws_handler.py), current while it runs so that database and
    outbound spans are its children, continuing the request's `traceparent` when it has one.
    Named and described as OpenTelemetry's GraphQL conventions say, once the operation's type
    is known; with the request id, the document's SHA-256 (never its text, which may carry
    literals), and each error's code and path (a bug's exception recorded, as in the logs)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer

    def on_operation(self) -> Iterator[None]:
        run = self.execution_context
        request = getattr(run.context, "request", None)
        parent = extract(request.headers) if request is not None else None
        with self.tracer.start_as_current_span(
            UNKNOWN_OPERATION, context=parent, kind=SpanKind.SERVER
        ) as span:
            if span.is_recording():
                request_id = getattr(run.context, "request_id", None)
                if request_id is not None:
                    span.set_attribute("picotask.request_id", request_id)
            try:
                yield
            finally:  # also when the operation's run ends by cancellation (a rest, a close)
                if span.is_recording():
                    describe(span, run)


def describe(span: Span, run: ExecutionContext) -> None:
    if run.query:
        digest = hashlib.sha256(run.query.encode()).hexdigest()
        span.set_attribute("picotask.graphql.document.sha256", digest)
    if run.graphql_document is not None:
        name = run.operation_name
        with contextlib.suppress(RuntimeError):  # no such operation in the document
            kind = run.operation_type.value
            span.set_attribute("graphql.operation.type", kind)
            span.update_name(f"{kind} {name}" if name else kind)
        if name:
            span.set_attribute("graphql.operation.name", name)
    if run.pre_execution_errors:
        # Refused before execution: without a code of ours, named as Apollo's codes name them.
        parsed = run.graphql_document is not None
        unnamed = "GRAPHQL_VALIDATION_FAILED" if parsed else "GRAPHQL_PARSE_FAILED"
        record_errors(span, run.pre_execution_errors, unnamed)
    elif run.result is not None and run.result.errors:
        record_errors(span, run.result.errors, "GRAPHQL_ERROR")


def record_errors(span: Span, errors: list[GraphQLError], unnamed: str) -> None:
    """The errors' codes (`unnamed` for one without) and paths as events, never their
    messages (a refused variable's message quotes its value); a bug's exception recorded
    with its stack."""
    codes = []
    for error in errors[:_MAX_ERROR_EVENTS]:
        original = error.original_error
        if original is not None and not isinstance(original, GraphQLError):
            span.record_exception(original)
            codes.append(type(original).__name__)
            continue
        code = str((error.extensions or {}).get("code") or unnamed)
        codes.append(code)
        path = ".".join(str(part) for part in error.path or ())
        span.add_event("graphql.error", {"graphql.error.code": code, "graphql.error.path": path})
    span.set_attribute("error.type", codes[0])
    span.set_status(Status(StatusCode.ERROR))
