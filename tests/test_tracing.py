"""Traces (README, "Tracing"): operation spans over HTTP and websockets, database spans inside
them, outbound spans for payouts and webhook deliveries, sampling, and nothing at all when off.

Spans go to an in-memory exporter handed to the app (`create_app(span_processor=...)`), so no
collector is needed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from strawberry import Schema
from tortoise.backends.sqlite.client import SqliteClient
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from picotask.server import db_tracing, fanout
from picotask.server.app import create_app
from picotask.server.graphql_view import GraphQLView
from picotask.server.tracing import OperationSpans
from picotask.services.core.clock import ManualClock
from tests.support import PATIENCE, Api, Backend, LiveServer, WsClient, next_data, settings_for
from tests.test_webhooks import employer, register
from tests.webhook_receiver import Receiver
from tests.workday import GQL

ME = "query Me { me { id wallet { available { amount } } } }"
MY_EVENTS = "subscription Mine { myEvents { type message } }"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Traced(Api):
    exporter: InMemorySpanExporter

    def spans(self, kind: SpanKind | None = None) -> list[ReadableSpan]:
        return [s for s in self.exporter.get_finished_spans() if kind in (None, s.kind)]

    @property
    def schema(self) -> Schema:
        view: GraphQLView = self.server.app.graphql  # type: ignore[attr-defined]  # server/app.py `App`
        assert isinstance(view.schema, Schema)
        return view.schema


Start = Callable[..., contextlib.AbstractAsyncContextManager[Traced]]


@pytest.fixture
def traced_api(database_url: str, backend: Backend, clock: ManualClock) -> Start:
    """Start the app with tracing on (sampling everything) unless `overrides` say otherwise."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Traced]:
        values: dict[str, Any] = {"background_workers": False, "tracing": True}
        values.update({"trace_sample_ratio": 1.0, **overrides})
        settings = settings_for(database_url, backend.broadcast, **values)
        exporter = InMemorySpanExporter()
        app = create_app(settings, clock, span_processor=SimpleSpanProcessor(exporter))
        async with (
            LiveServer(app) as server,
            httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
        ):
            api = Traced(client, server, clock)
            api.exporter = exporter
            yield api

    return start


async def eventually(found: Callable[[], list[ReadableSpan]]) -> list[ReadableSpan]:
    """The spans once there are some (a span is exported when it ends, maybe just after the
    answer was sent)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not (spans := found()):
        assert loop.time() < deadline, "no span came"
        await asyncio.sleep(0.01)
    return spans


def named(api: Traced, name: str) -> list[ReadableSpan]:
    return [s for s in api.spans() if s.name == name]


async def test_a_query_over_http_is_a_server_span_with_its_queries_inside(
    traced_api: Start, backend: Backend
) -> None:
    async with traced_api() as api:
        user = await api.sign_up()
        api.exporter.clear()
        response = await api.post(ME, token=user.token, headers={"x-request-id": "trace-me-1"})
        assert response.status_code == 200
        assert "errors" not in response.json()

        (operation,) = await eventually(lambda: named(api, "query Me"))
        assert operation.kind == SpanKind.SERVER
        attributes = operation.attributes or {}
        assert attributes["graphql.operation.type"] == "query"
        assert attributes["graphql.operation.name"] == "Me"
        assert attributes["picotask.request_id"] == "trace-me-1"
        assert (
            attributes["picotask.graphql.document.sha256"]
            == hashlib.sha256(ME.encode()).hexdigest()
        )
        assert "graphql.document" not in attributes  # the text is never sent
        assert operation.status.status_code == StatusCode.UNSET
        assert operation.parent is None

        queries = [s for s in api.spans(SpanKind.CLIENT) if s.parent is not None]
        assert queries, "the wallet's balances are read inside the operation"
        system = "sqlite" if backend.name == "sqlite" else "postgresql"
        for query in queries:
            assert query.parent is not None
            assert query.parent.span_id == operation.context.span_id
            assert query.context.trace_id == operation.context.trace_id
            assert (query.attributes or {})["db.system.name"] == system
            assert query.name == "SELECT"
            text = str((query.attributes or {})["db.query.text"])
            assert text.upper().startswith("SELECT")
            assert user.token not in text


async def test_a_clients_traceparent_is_continued_and_errors_are_recorded(
    traced_api: Start,
) -> None:
    async with traced_api() as api:
        headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        response = await api.post("query Broken { me { noSuchField } }", headers=headers)
        assert response.status_code == 400

        (operation,) = await eventually(lambda: named(api, "query Broken"))
        assert f"{operation.context.trace_id:032x}" == TRACE_ID
        assert operation.parent is not None
        assert f"{operation.parent.span_id:016x}" == PARENT_ID
        assert operation.status.status_code == StatusCode.ERROR
        assert (operation.attributes or {})["error.type"] == "GRAPHQL_VALIDATION_FAILED"
        (event,) = [e for e in operation.events if e.name == "graphql.error"]
        assert (event.attributes or {})["graphql.error.code"] == "GRAPHQL_VALIDATION_FAILED"
        assert all("message" not in key for key in (event.attributes or {}))


async def test_a_subscription_over_the_websocket_is_an_operation_span(
    traced_api: Start,
) -> None:
    async with traced_api() as api:
        user = await api.sign_up()
        protocols = [Subprotocol("graphql-transport-ws")]
        headers = {"x-request-id": "trace-socket-1"}
        async with connect(
            api.server.ws_url, subprotocols=protocols, additional_headers=headers
        ) as conn:
            ws = WsClient(conn)
            await ws.init(user.token)
            await ws.subscribe("mine", MY_EVENTS)
            # An event of the subscriber's own: its payout paid.
            await api.gql(GQL["deposit"], {"a": "10.00"}, user.token)
            await api.gql(GQL["payout"], {"a": "5.00"}, user.token)
            await api.services.payout_processor.process_due()
            assert (await next_data(ws, "mine"))["myEvents"]["type"]
            await ws.send({"id": "mine", "type": "complete"})
            spans = await eventually(lambda: named(api, "subscription Mine"))
        operation = spans[0]
        attributes = operation.attributes or {}
        assert operation.kind == SpanKind.SERVER
        assert attributes["graphql.operation.type"] == "subscription"
        assert attributes["graphql.operation.name"] == "Mine"
        assert attributes["picotask.request_id"] == "trace-socket-1"


async def test_payouts_and_webhook_deliveries_are_outbound_spans_with_the_trace_sent_along(
    traced_api: Start,
) -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        async with traced_api() as api:
            worker = await employer(api, "20.00")
            await register(api, worker, receiver, ["payout.paid"])
            paid = await api.gql(GQL["payout"], {"a": "5.00"}, worker.token)
            assert paid["requestPayout"]["userErrors"] == []
            await api.services.payout_processor.process_due()
            assert await api.services.webhook_dispatcher.run_once() == 1

            (payout,) = named(api, "payout.send")
            assert payout.kind == SpanKind.CLIENT
            assert (payout.attributes or {})["picotask.payout.method"] == "PAYPAL"
            assert (payout.attributes or {})["picotask.cents"] == 500
            (charge,) = named(api, "payment.charge")
            assert charge.parent is not None  # inside the createDeposit operation's span

            (delivery,) = named(api, "POST")
            attributes = delivery.attributes or {}
            assert delivery.kind == SpanKind.CLIENT
            assert attributes["http.request.method"] == "POST"
            assert attributes["server.address"] == "127.0.0.1"
            assert attributes["http.response.status_code"] == 200
            assert attributes["picotask.webhook.event_type"] == "payout.paid"
            (received,) = receiver.received
            trace_id = f"{delivery.context.trace_id:032x}"
            span_id = f"{delivery.context.span_id:016x}"
            version, sent_trace, sent_parent, flags = received.headers["traceparent"].split("-")
            assert (version, sent_trace, sent_parent) == ("00", trace_id, span_id)
            assert int(flags, 16) & 1  # sampled
    finally:
        await receiver.stop()


async def test_off_nothing_is_installed_and_no_span_is_made(
    traced_api: Start,
) -> None:
    original = SqliteClient.__dict__["execute_query"]
    async with traced_api(tracing=False) as api:
        user = await api.sign_up()
        await api.gql(ME, token=user.token)
        await api.gql(GQL["deposit"], {"a": "10.00"}, user.token)
        await api.gql(GQL["payout"], {"a": "5.00"}, user.token)
        await api.services.payout_processor.process_due()

        assert not any(isinstance(e, OperationSpans) for e in api.schema.get_extensions())
        assert not db_tracing.installed()
        assert SqliteClient.__dict__["execute_query"] is original
        assert type(api.services.providers.payouts).__name__ == "SandboxPayoutProvider"
        assert api.services.webhook_dispatcher.tracer is None
    assert api.spans() == []


async def test_on_the_database_is_wrapped_while_the_app_runs_and_fan_out_still_groups(
    traced_api: Start,
) -> None:
    original = SqliteClient.__dict__["execute_query"]
    async with traced_api() as api:
        assert db_tracing.installed()
        assert SqliteClient.__dict__["execute_query"] is not original
        schema = api.schema
        assert any(isinstance(e, OperationSpans) for e in schema.get_extensions())
        # Tracing's operation hook is one of those a shared execution may skip.
        assert fanout._shareable(schema._schema)
    assert SqliteClient.__dict__["execute_query"] is original


async def test_a_sample_ratio_of_zero_records_nothing(traced_api: Start) -> None:
    async with traced_api(trace_sample_ratio=0.0) as api:
        user = await api.sign_up()
        await api.gql(ME, token=user.token)
        await api.gql(GQL["deposit"], {"a": "10.00"}, user.token)
        await api.gql(GQL["payout"], {"a": "5.00"}, user.token)
        await api.services.payout_processor.process_due()
        assert db_tracing.installed()  # on, but nothing chosen to be recorded
        # A client's sampled trace is still followed.
        headers = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
        await api.post(ME, token=user.token, headers=headers)
        followed = await eventually(lambda: named(api, "query Me"))
    assert [s for s in api.spans() if f"{s.context.trace_id:032x}" != TRACE_ID] == []
    assert len(followed) == 1
