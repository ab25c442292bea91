"""Spans of outbound calls (payment and payout providers, webhook deliveries, image storage),
when tracing is on (README, "Tracing").

Each caller holds an OpenTelemetry `Tracer` or None; with None (tracing off, the default)
nothing here runs: the traced wrappers are not even built (services/registry.py), and the one
call site that checks (the webhook sender) checks an attribute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry.propagate import inject
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.util.types import AttributeValue


@contextlib.contextmanager
def client_span(
    tracer: Tracer | None, name: str, attributes: Mapping[str, AttributeValue]
) -> Iterator[Span | None]:
    """A CLIENT span around one outbound call, current while the call runs (an exception
    that leaves it is recorded and marks it failed); nothing when `tracer` is None."""
    if tracer is None:
        yield None
        return
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span


def failed(span: Span | None, error_type: str, description: str = "") -> None:
    """Mark a call that answered but did not do what was asked (a refused payout, a 5xx)."""
    if span is not None:
        span.set_attribute("error.type", error_type)
        span.set_status(Status(StatusCode.ERROR, description or None))


def with_trace_context(headers: dict[str, Any]) -> dict[str, Any]:
    """The headers with the current span's W3C `traceparent` (and `tracestate`) added, so the
    receiver can continue the trace; unchanged when no span is current."""
    inject(headers)
    return headers
