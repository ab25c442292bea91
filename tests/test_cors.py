"""CORS: a single-page app on its own origin may call the API over HTTP when that origin is
allowed; other origins get no CORS header (their browsers refuse the answer); by default only
the server's own origin is served."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from picotask.server.app import create_app
from tests.support import Backend, LiveServer, settings_for

APP = "http://localhost:5173"
QUERY = {"query": "{ me { id } }"}


@pytest.fixture
async def spa_server(database_url: str, backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(database_url, backend.broadcast, allowed_origins=(APP,))
    async with (
        LiveServer(create_app(settings)) as server,
        httpx.AsyncClient(base_url=server.http_url) as client,
    ):
        yield client


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": method,
        "access-control-request-headers": "authorization, content-type",
    }


async def test_preflight_from_an_allowed_origin_names_what_the_api_uses(
    spa_server: httpx.AsyncClient,
) -> None:
    response = await spa_server.options("/graphql", headers=preflight(APP))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP
    methods = {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    assert {"GET", "POST", "PUT"} <= methods
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed
    assert "content-type" in allowed
    assert "access-control-allow-credentials" not in response.headers


async def test_requests_from_an_allowed_origin_can_read_the_answer_and_its_request_id(
    spa_server: httpx.AsyncClient,
) -> None:
    response = await spa_server.post("/graphql", json=QUERY, headers={"origin": APP})
    assert response.status_code == 200
    assert response.json()["data"] == {"me": None}
    assert response.headers["access-control-allow-origin"] == APP
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "x-request-id" in exposed
    assert "retry-after" in exposed
    assert response.headers["x-request-id"]


async def test_another_origin_gets_no_cors_header(spa_server: httpx.AsyncClient) -> None:
    refused = await spa_server.options("/graphql", headers=preflight("https://evil.example"))
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    answered = await spa_server.post(
        "/graphql", json=QUERY, headers={"origin": "https://evil.example"}
    )
    # The server answers (a browser could have sent it anyway), but no browser lets the
    # other origin's page read it.
    assert "access-control-allow-origin" not in answered.headers


async def test_by_default_only_the_servers_own_origin(api_default: httpx.AsyncClient) -> None:
    refused = await api_default.options("/graphql", headers=preflight(APP))
    assert "access-control-allow-origin" not in refused.headers
    answered = await api_default.post("/graphql", json=QUERY, headers={"origin": APP})
    assert answered.status_code == 200
    assert "access-control-allow-origin" not in answered.headers


UPLOAD = "/uploads/VXBsb2FkOjE?token=x"


async def test_upload_bytes_cross_site_only_from_an_allowed_origin(
    spa_server: httpx.AsyncClient,
) -> None:
    """PUT is never a simple request: a page of another origin sends the bytes only after
    the preflight says yes, and it says yes to the allowed origins alone."""
    allowed = await spa_server.options(UPLOAD, headers=preflight(APP, "PUT"))
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP
    assert "PUT" in allowed.headers["access-control-allow-methods"]
    refused = await spa_server.options(UPLOAD, headers=preflight("https://evil.example", "PUT"))
    assert "access-control-allow-origin" not in refused.headers


async def test_by_default_no_upload_bytes_cross_site(api_default: httpx.AsyncClient) -> None:
    refused = await api_default.options(UPLOAD, headers=preflight(APP, "PUT"))
    assert "access-control-allow-origin" not in refused.headers


@pytest.fixture
async def api_default(database_url: str, backend: Backend) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        LiveServer(create_app(settings_for(database_url, backend.broadcast))) as server,
        httpx.AsyncClient(base_url=server.http_url) as client,
    ):
        yield client
