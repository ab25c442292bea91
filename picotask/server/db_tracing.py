"""A CLIENT span per database query, while an app with tracing on runs (server/tracing.py).

Tortoise has no OpenTelemetry instrumentation, and the driver-level ones differ by backend
(asyncpg's exists, aiosqlite has none), so the wrap point is tortoise's own: the `execute_*`
methods of its SQLite and asyncpg clients and of their transaction wrappers, through which
every query of the models and every raw query passes, on both backends alike. They are
wrapped when the first traced app starts and put back when the last one stops, so a process
without tracing runs tortoise's methods untouched.

A query is traced only inside a recorded span (an operation, an outbound call): a query with
none around it (the sweeper's and the bus's polls, every second or so) would be a trace of
its own, thousands an hour of one span each, and an operation not sampled costs its queries
one context lookup each. The query's text is tortoise's parameterized SQL (the values are
never in it), cut at 2,000 characters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, get_current_span
from opentelemetry.util.types import AttributeValue
from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionWrapper

_METHODS = ("execute_insert", "execute_many", "execute_query", "execute_query_dict")
_SYSTEMS: dict[type[Any], str] = {
    SqliteClient: "sqlite",
    SqliteTransactionWrapper: "sqlite",
    AsyncpgDBClient: "postgresql",
    TransactionWrapper: "postgresql",
}
MAX_QUERY_TEXT = 2_000

Method = Callable[..., Coroutine[Any, Any, Any]]
_tracers: list[Tracer] = []  # of the traced apps running; the newest one's spans
_originals: dict[tuple[type[Any], str], Method] = {}


def install(tracer: Tracer) -> None:
    _tracers.append(tracer)
    if _originals:
        return
    for kind, system in _SYSTEMS.items():
        for name in _METHODS:
            original = kind.__dict__.get(name)
            if original is not None:
                _originals[kind, name] = original
                setattr(kind, name, _traced(original, system))


def uninstall(tracer: Tracer) -> None:
    _tracers.remove(tracer)
    if _tracers:
        return
    for (kind, name), original in _originals.items():
        setattr(kind, name, original)
    _originals.clear()


def installed() -> bool:
    return bool(_originals)


def _traced(original: Method, system: str) -> Method:
    @functools.wraps(original)
    async def traced(client: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        if not _tracers or not get_current_span().is_recording():
            return await original(client, query, *args, **kwargs)
        operation = query.lstrip()[:16].split(None, 1)[0].upper() if query.strip() else "QUERY"
        attributes: dict[str, AttributeValue] = {
            "db.system.name": system,
            "db.operation.name": operation,
            "db.query.text": query[:MAX_QUERY_TEXT],
        }
        database = getattr(client, "database", None)
        if isinstance(database, str):
            attributes["db.namespace"] = database
        # Not made current: nothing runs inside a query (a context switch less per query).
        span = _tracers[-1].start_span(operation, kind=SpanKind.CLIENT, attributes=attributes)
        try:
            return await original(client, query, *args, **kwargs)
        except Exception as exc:
            span.record_exception(exc)
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            span.end()

    return traced
