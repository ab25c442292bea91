"""GraphQL over HTTP: media types, status codes, limits, masking, health."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import httpx
import pytest
from tortoise import connections

from picotask.server import db
from picotask.server.app import create_app
from picotask.services.core.clock import ManualClock
from tests.support import GRAPHQL_RESPONSE, SIGN_UP, Api, Backend, LiveServer, settings_for


async def test_graphql_response_media_type(api: Api) -> None:
    response = await api.post("{ me { id } }")
    assert response.status_code == 200
    assert response.headers["content-type"] == GRAPHQL_RESPONSE
    assert response.json()["data"] == {"me": None}


async def test_plain_json_when_client_asks_for_it(api: Api) -> None:
    response = await api.post("{ me { id } }", headers={"accept": "application/json"})
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "document",
    ["{ me { id ", "{ noSuchField }", "query { me { id } } query { me { id } }", "mutation { }"],
)
async def test_request_errors_are_400_without_data(api: Api, document: str) -> None:
    response = await api.post(document)
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["message"]


async def test_unparsable_json_body_is_400(api: Api) -> None:
    response = await api.client.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


async def test_get_serves_queries_but_not_mutations(api: Api) -> None:
    ok = await api.client.get(
        "/graphql", params={"query": "{ me { id } }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert ok.status_code == 200
    assert ok.json()["data"] == {"me": None}
    refused = await api.client.get(
        "/graphql",
        params={"query": 'mutation { logIn(input: {email: "a@b.co", password: "x"}) { token } }'},
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert refused.status_code in {400, 405}


async def test_graphiql_in_development(api: Api) -> None:
    response = await api.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_no_field_suggestions(api: Api) -> None:
    errors = (await api.post("{ mee { id } }")).json()["errors"]
    assert "Did you mean" not in errors[0]["message"]


async def test_alias_and_token_limits(api: Api) -> None:
    aliases = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(31)) + " }"
    response = await api.post(aliases)
    assert response.status_code == 400
    assert "aliases" in response.json()["errors"][0]["message"]

    tokens = "{ me { " + "id " * 2_100 + "} }"
    response = await api.post(tokens)
    assert response.status_code == 400
    assert "token" in response.json()["errors"][0]["message"].lower()


async def test_body_size_limit(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        content=b"{" + b" " * 1_100_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


async def test_unexpected_errors_are_masked_and_logged_with_request_id(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # Break the database underneath the app: signing up now fails inside the resolver.
    await connections.get("default").execute_script('DROP TABLE "sessions"')
    with caplog.at_level(logging.ERROR, logger="picotask.graphql"):
        response = await api.post(
            SIGN_UP,
            {
                "input": {
                    "email": "ann@example.com",
                    "password": "correct horse battery",
                    "displayName": "Ann",
                    "country": "DE",
                }
            },
        )
    body = response.json()
    request_id = response.headers["x-request-id"]
    error = body["errors"][0]
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}
    assert "sessions" not in response.text
    assert "Traceback" not in response.text
    logged = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert len(logged) == 1  # once, with its traceback, bounded
    assert "Traceback" in logged[0]
    assert len(logged[0]) < 5_000


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    ready = await api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "bus": True}


async def test_production_refuses_introspection_and_graphiql(
    database_url: str, backend: Backend
) -> None:
    settings = settings_for(database_url, backend.broadcast, env="production")
    async with (
        LiveServer(create_app(settings, ManualClock())) as server,
        httpx.AsyncClient(base_url=server.http_url) as client,
    ):
        introspection = await client.post(
            "/graphql",
            json={"query": "{ __schema { types { name } } }"},
            headers={"accept": GRAPHQL_RESPONSE},
        )
        assert introspection.status_code == 400
        assert "introspection" in introspection.json()["errors"][0]["message"].lower()
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        assert ide.status_code != 200 or "graphiql" not in ide.text.lower()


def test_schema_file_is_in_sync() -> None:
    from picotask.server.schema import schema

    exported = (Path(__file__).parent.parent / "schema.graphql").read_text(encoding="utf-8")
    assert exported == schema.as_str() + "\n", "schema.graphql drifted: run `make schema`"


@pytest.mark.parametrize("body", [b'"just a string"', b"123", b"null", b"true"])
async def test_a_body_that_is_not_an_object_is_400(api: Api, body: bytes) -> None:
    response = await api.client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400


@pytest.mark.parametrize("bad", ["\\u0000", "\\ud800"])
async def test_nul_and_lone_surrogates_are_400(api: Api, bad: str) -> None:
    body = (
        '{"query": "mutation($i: LogInInput!) { logIn(input: $i) { token } }", '
        '"variables": {"i": {"email": "a@b.co", "password": "pass' + bad + 'word!"}}}'
    )
    response = await api.client.post(
        "/graphql",
        content=body.encode(),
        headers={"content-type": "application/json", "accept": GRAPHQL_RESPONSE},
    )
    assert response.status_code == 400
    message = response.json()["errors"][0]["message"]
    assert "variables" not in message  # named from the variable down
    assert "i.password" in message
    assert "NUL" in message or "Unicode" in message


async def test_legacy_json_clients_get_200_for_request_errors(api: Api) -> None:
    response = await api.post("{ me { id ", headers={"accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "data" not in response.json()


async def test_forged_cursors_and_ids_are_bad_input_not_crashes(api: Api) -> None:
    user = await api.sign_up()
    query = "query($after: String) { myPayouts(after: $after) { totalCount } }"
    for values in (["x"], [2**70], [{"at": "2026-01-01T00:00:00"}], [True], [1, 2]):
        cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
        errors = await api.errors(query, {"after": cursor}, user.token)
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT", values
    node = "query($id: ID!) { node(id: $id) { id } }"
    for raw in ("Payout:99999999999999999999999", "User:9223372036854775808", "User:-1"):
        forged = base64.urlsafe_b64encode(raw.encode()).decode()
        assert (await api.gql(node, {"id": forged}, user.token))["node"] is None


def test_database_url_credentials_are_decoded() -> None:
    config = db.tortoise_config("postgres://app:p%40ss%2Fword@db.example:6543/pico%2Dx?ssl=true")
    credentials = config["connections"]["default"]["credentials"]
    assert credentials["user"] == "app"
    assert credentials["password"] == "p@ss/word"
    assert credentials["database"] == "pico-x"
    assert (credentials["host"], credentials["port"], credentials["ssl"]) == (
        "db.example",
        6543,
        "true",
    )
