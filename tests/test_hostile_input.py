"""Input a hostile client sends: each gets a clear client error naming the problem, writes
nothing, and leaves a bounded log without a traceback. Over HTTP and over the websocket alike."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from picotask.models.tasks import Task
from picotask.models.users import User as UserModel
from picotask.server.app import create_app
from tests.support import GRAPHQL_RESPONSE, Api, LiveServer, settings_for
from tests.test_marketplace_api import CREATE, employer, task_input

LOG_LIMIT = 10_000  # no log line may carry more than this of a client's input


def _no_internal_errors(body: dict[str, Any]) -> None:
    for error in body.get("errors", []):
        assert error.get("extensions", {}).get("code") != "INTERNAL_SERVER_ERROR", error
        assert error["message"] != "Internal server error.", error


def _bounded_logs(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()[:300]
        assert len(record.getMessage()) < LOG_LIMIT


async def test_deeply_nested_variables_are_a_clear_400(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    nested: Any = "x"
    for _ in range(400):
        nested = [nested]
    caplog.set_level(logging.INFO)
    response = await api.post("query($v: [String]) { me { id } }", {"v": nested})
    assert response.status_code == 400
    assert "nested" in response.text.lower()
    _bounded_logs(caplog)


async def test_a_long_email_at_log_in_is_refused_not_crashed(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for email in ("a" * 250 + "@example.com", "b" * 900_000 + "@example.com"):
        query = (
            "mutation($e: String!) { logIn(input: {email: $e, password: $e}) "
            "{ token userErrors { code } } }"
        )
        response = await api.post(query, {"e": email})
        body = response.json()
        _no_internal_errors(body)
        assert body["data"]["logIn"] == {
            "token": None,
            "userErrors": [{"code": "INVALID_CREDENTIALS"}],
        }
    _bounded_logs(caplog)


BAD_TEXT = ["a\x00b", "a\ud800b"]


@pytest.mark.parametrize("bad", BAD_TEXT)
async def test_unclean_text_over_the_websocket_is_refused(api: Api, bad: str) -> None:
    boss = await employer(api)
    async with api.ws(boss.token) as ws:
        # json.dumps escapes the lone surrogate as \ud800, exactly as a hostile client would.
        await ws.send(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": CREATE, "variables": task_input(title=bad)},
            }
        )
        message = await ws.receive_for("1")
    assert message["type"] == "error"
    text = json.dumps(message["payload"])
    assert "NUL" in text or "Unicode" in text
    assert "Internal server error" not in text
    assert await Task.all().count() == 0


async def test_a_nul_escape_in_the_query_text_is_refused(api: Api) -> None:
    boss = await employer(api)
    document = (
        CREATE.replace("$input: CreateTaskInput!", "")
        .replace(
            "createTask(input: $input)",
            'createTask(input: {title: "a\\u0000b", instructions: "x", category: OTHER, '
            'reward: "0.50", slots: 1, estimatedMinutes: 1, proofFields: []})',
        )
        .replace("mutation()", "mutation")
    )
    response = await api.post(document, token=boss.token)
    assert response.status_code == 400
    body = response.json()
    _no_internal_errors(body)
    assert "NUL" in body["errors"][0]["message"]
    assert await Task.all().count() == 0


async def test_a_cursor_of_deeply_nested_json_is_bad_input(api: Api) -> None:
    user = await api.sign_up()
    cursor = base64.urlsafe_b64encode(("[" * 5_000 + "]" * 5_000).encode()).decode()
    body = (
        await api.post(
            "query($a: String) { tasks(first: 2, after: $a) { edges { cursor } } }",
            {"a": cursor},
            user.token,
        )
    ).json()
    _no_internal_errors(body)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("literal", "named"),
    [
        ('reward: 5, expiresAt: "2030-01-01T00:00:00Z"', "Decimal"),
        ('reward: "0.50", expiresAt: "tomorrow"', "DateTime"),
    ],
)
async def test_bad_scalar_literals_are_clear_validation_errors(
    api: Api, caplog: pytest.LogCaptureFixture, literal: str, named: str
) -> None:
    boss = await employer(api)
    document = (
        'mutation { createTask(input: {title: "t", instructions: "x", category: OTHER, '
        f"{literal}, slots: 1, estimatedMinutes: 1, proofFields: []}}) {{ task {{ id }} }} }}"
    )
    caplog.set_level(logging.INFO)
    response = await api.post(document, token=boss.token)
    assert response.status_code == 400
    body = response.json()
    _no_internal_errors(body)
    assert named in body["errors"][0]["message"]
    assert await Task.all().count() == 0
    _bounded_logs(caplog)


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_subscription_over_http_is_refused_clearly(api: Api, method: str) -> None:
    user = await api.sign_up()
    document = "subscription { myEvents { cursor } }"
    headers = {"accept": GRAPHQL_RESPONSE, "authorization": f"Bearer {user.token}"}
    if method == "POST":
        response = await api.client.post("/graphql", json={"query": document}, headers=headers)
    else:
        response = await api.client.get("/graphql", params={"query": document}, headers=headers)
    assert response.status_code in {400, 405}
    body = response.json()
    _no_internal_errors(body)
    assert "websocket" in body["errors"][0]["message"].lower()


@pytest.mark.parametrize(
    "incoming", ["x" * 65, "two words", "line\nbreak", "<script>", "ok-id.1_2"]
)
async def test_a_client_request_id_is_used_only_when_short_and_safe(
    api: Api, incoming: str
) -> None:
    try:
        response = await api.client.post(
            "/graphql",
            json={"query": "{ me { id } }"},
            headers={"x-request-id": incoming, "accept": GRAPHQL_RESPONSE},
        )
    except Exception:  # httpx itself refuses a header with a newline: nothing reached us
        assert "\n" in incoming
        return
    returned = response.headers["x-request-id"]
    if incoming == "ok-id.1_2":
        assert returned == incoming
    else:
        assert returned != incoming
        assert 0 < len(returned) <= 64


PRODUCTION_ERRORS = [
    ("{ tasks(frist: 1) { totalCount } }", "first"),
    ("{ tasks(orderBy: NEWES) { totalCount } }", "NEWEST"),
    ("query($f: TaskFiltr) { tasks(filter: $f) { totalCount } }", "TaskFilter"),
    ("{ tasks(filter: {categorys: [OTHER]}) { totalCount } }", "categories"),
    ("{ mee { id } }", "me"),
]


@pytest.mark.parametrize(("document", "hidden"), PRODUCTION_ERRORS)
async def test_production_never_suggests_names(
    database_url: str, backend: Any, document: str, hidden: str
) -> None:
    settings = settings_for(database_url, backend.broadcast, env="production")
    async with LiveServer(create_app(settings)) as server:
        import httpx

        async with httpx.AsyncClient(base_url=server.http_url) as client:
            response = await client.post(
                "/graphql", json={"query": document}, headers={"accept": GRAPHQL_RESPONSE}
            )
    message = response.json()["errors"][0]["message"]
    assert "Did you mean" not in message
    assert f"'{hidden}'" not in message


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
    ],
)
async def test_media_type_follows_the_accept_header(
    api: Api, accept: str | None, expected: str
) -> None:
    headers = {} if accept is None else {"accept": accept}
    response = await api.client.post("/graphql", json={"query": "{ me { id } }"}, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == expected


async def test_no_user_was_written_by_refused_sign_ups(api: Api) -> None:
    query = "mutation($i: SignUpInput!) { signUp(input: $i) { token userErrors { field code } } }"
    response = await api.post(
        query,
        {
            "i": {
                "email": "n\x00@example.com",
                "password": "x" * 20,
                "displayName": "N",
                "country": "DE",
            }
        },
    )
    assert response.status_code == 400
    assert await UserModel.all().count() == 0


async def test_a_deeply_nested_websocket_message_closes_with_a_code(api: Api) -> None:
    user = await api.sign_up()
    async with api.ws(user.token) as ws:
        await ws.conn.send(
            '{"type": "subscribe", "id": "1", "payload": ' + "[" * 50_000 + "]" * 50_000 + "}"
        )
        with pytest.raises(ConnectionClosed):
            await ws.receive()
        assert ws.conn.close_code == 4400
