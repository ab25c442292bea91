"""Logs as `picotask serve` writes them (server/logs.py): JSON lines with the request's
context, one access line per GraphQL operation over HTTP and websockets, and no secret in a
whole realistic run logged at debug level."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from picotask.schema.relay import pk_of
from picotask.server import logs
from tests.images import encoded, screenshot
from tests.instances import api_with
from tests.support import Api, Backend, next_data, until
from tests.test_accounts_api import LOG_IN
from tests.test_marketplace_api import create, employer
from tests.test_money_api import deposit, payout
from tests.test_subscriptions import FEED
from tests.test_uploads import open_slot
from tests.test_webhooks import CREATE_ENDPOINT
from tests.webhook_receiver import Receiver

PASSWORD = "correct horse battery"  # Api.sign_up's


class Lines:
    def __init__(self, buffer: io.StringIO) -> None:
        self.buffer = buffer

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def access(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if r["logger"] == "picotask.access"]


@contextlib.contextmanager
def json_logs(level: str = "DEBUG") -> Iterator[Lines]:
    """Every logger into a buffer as `picotask serve` configures it, restored afterwards."""
    root = logging.getLogger()
    saved_root = (list(root.handlers), root.level)
    names = ("uvicorn", "uvicorn.error", "uvicorn.access", *logs.QUIET)
    saved = {
        n: (
            list(logging.getLogger(n).handlers),
            logging.getLogger(n).level,
            logging.getLogger(n).propagate,
        )
        for n in names
    }
    buffer = io.StringIO()
    handler = logs.configure("json", level, stream=buffer)
    try:
        yield Lines(buffer)
    finally:
        root.removeHandler(handler)
        root.handlers[:] = saved_root[0]
        root.setLevel(saved_root[1])
        for name, (handlers, level_, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level_)
            logger.propagate = propagate


async def test_json_lines_carry_the_request_and_one_access_line_per_operation(
    database_url: str, backend: Backend
) -> None:
    async with api_with(database_url, backend.broadcast) as api:
        boss = await employer(api)
        with json_logs("INFO") as lines:
            response = await api.post(
                "query Front { tasks(first: 1) { edges { node { id } } } }",
                token=boss.token,
                headers={"x-request-id": "req-front-1"},
            )
            assert response.status_code == 200
            await api.errors("query Broken { noSuchField }")
        records = lines.records()
        assert records
        for record in records:
            assert {"time", "level", "logger", "message", "request_id"} <= record.keys(), record
        front = [r for r in lines.access() if r.get("operation") == "Front"]
        assert len(front) == 1
        line = front[0]
        assert line["request_id"] == "req-front-1"
        assert line["user_id"] == pk_of(boss.id, "User")
        assert line["operation_type"] == "query"
        assert line["transport"] == "http"
        assert line["errors"] == []
        assert line["duration_ms"] >= 0
        assert line["level"] == "INFO"
        broken = [r for r in lines.access() if r.get("operation") == "Broken"]
        assert [r["errors"] for r in broken] == [["BAD_REQUEST"]]
        assert "user_id" not in broken[0]


async def test_websocket_operations_have_their_access_line_too(
    database_url: str, backend: Backend
) -> None:
    async with api_with(database_url, backend.broadcast) as api:
        boss = await employer(api)
        worker = await api.sign_up()
        with json_logs("INFO") as lines:
            async with api.ws(worker.token) as ws:
                await ws.subscribe("feed", "subscription Feed" + FEED.removeprefix("subscription"))
                await until(lambda: api.server.app.state.bus.stats.subscribers == 1)
                await ws.subscribe("me", "query Me { me { id } }")
                assert (await ws.receive_for("me"))["type"] == "next"
                await create(api, boss, title="Seen live")
                await next_data(ws, "feed")
        by_name = {r.get("operation"): r for r in lines.access()}
        assert by_name["Feed"]["operation_type"] == "subscription"
        assert by_name["Feed"]["transport"] == "websocket"
        assert by_name["Me"]["operation_type"] == "query"
        assert by_name["Me"]["transport"] == "websocket"
        assert by_name["Me"]["user_id"] == by_name["Feed"]["user_id"]
        assert sum(r.get("operation") == "Feed" for r in lines.access()) == 1


async def test_no_secret_is_ever_logged(
    database_url: str, backend: Backend, tmp_path: Path
) -> None:
    """A whole run at debug level: sign-up, log-in (and a bad one), an upload by its tokened
    URL, a webhook with its secret delivered, a payout, errors; then every secret is looked
    for in everything logged."""
    signing = "signing-secret-" + "x" * 24
    settings: dict[str, Any] = {
        "storage_url": f"file://{tmp_path / 'uploads'}",
        "signing_secret": signing,
        "metrics_token": "metrics-token-secret-value",
    }
    receiver = Receiver()
    await receiver.start()
    try:
        async with api_with(database_url, backend.broadcast, **settings) as api:
            # After the server started: uvicorn configures its own loggers as it starts.
            with json_logs("DEBUG") as lines:
                secrets = await _realistic_run(api, receiver)
    finally:
        await receiver.stop()
    text = lines.text
    assert len(lines.access()) >= 10  # the run was logged
    assert any(r["logger"] == "uvicorn.access" for r in lines.records())
    assert any(r["logger"].startswith("tortoise") for r in lines.records())
    for secret in [*secrets, signing, PASSWORD, "metrics-token-secret-value"]:
        assert secret not in text, secret


async def _realistic_run(api: Api, receiver: Receiver) -> list[str]:
    boss = await employer(api)
    worker = await api.sign_up()
    logged_in = (await api.gql(LOG_IN, {"input": {"email": worker.email, "password": PASSWORD}}))[
        "logIn"
    ]
    assert logged_in["userErrors"] == []
    bad = {"input": {"email": worker.email, "password": "wrong password! " + PASSWORD}}
    assert (await api.gql(LOG_IN, bad))["logIn"]["userErrors"]
    # A password sent as the wrong type: its error quotes the value to the client only.
    typed = {"input": {"email": worker.email, "password": [PASSWORD]}}
    assert await api.errors(LOG_IN, typed)

    image = encoded(screenshot(1))
    slot = await open_slot(api, worker, len(image), "PROOF_IMAGE", "image/png")
    assert slot["userErrors"] == [], slot
    upload_token = slot["uploadUrl"].partition("token=")[2]
    assert upload_token
    assert (await api.client.put(slot["uploadUrl"], content=image)).status_code == 200

    made = await api.gql(
        CREATE_ENDPOINT, {"url": receiver.url, "types": ["payout.paid"]}, worker.token
    )
    webhook_secret = made["createWebhookEndpoint"]["secret"]
    receiver.secret = webhook_secret
    await create(api, boss, title="Logged")
    assert (await deposit(api, worker, "20.00"))["userErrors"] == []
    assert (await payout(api, worker, amount="6.00"))["userErrors"] == []
    await api.services.payout_processor.process_due()
    assert await api.services.webhook_dispatcher.run_once() >= 1
    assert (await api.client.get("/metrics")).status_code == 401
    ok = await api.client.get(
        "/metrics", headers={"authorization": "Bearer metrics-token-secret-value"}
    )
    assert ok.status_code == 200
    async with api.ws(worker.token) as ws:
        await ws.subscribe("me", "query Me { me { id } }")
        assert (await ws.receive_for("me"))["type"] == "next"
    assert await api.errors("{ me { nope } }", token=worker.token)
    return [boss.token, worker.token, logged_in["token"], upload_token, webhook_secret]
