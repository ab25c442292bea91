"""The web app's build served beside the API: its files, index.html for the app's routes, the
API untouched; without a build, `/` answers as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from picotask.server.app import create_app
from tests.support import Backend, LiveServer, settings_for

INDEX = "<!doctype html><title>picotask</title><div id=app></div>"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    directory = tmp_path / "dist"
    (directory / "assets").mkdir(parents=True)
    (directory / "index.html").write_text(INDEX)
    (directory / "assets" / "index-abc123.js").write_text("console.log('app')")
    (tmp_path / "secret.txt").write_text("not served")
    return directory


@pytest.fixture
async def client(
    database_url: str, backend: Backend, dist: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(database_url, backend.broadcast, web_dir=str(dist))
    async with (
        LiveServer(create_app(settings)) as server,
        httpx.AsyncClient(base_url=server.http_url) as client,
    ):
        yield client


async def test_the_app_is_at_the_root_and_at_every_app_route(client: httpx.AsyncClient) -> None:
    for path in ("/", "/tasks/VGFzazox", "/employer/tasks/VGFzazox"):
        answer = await client.get(path)
        assert answer.status_code == 200, path
        assert answer.text == INDEX
        assert answer.headers["content-type"].startswith("text/html")
        assert answer.headers["cache-control"] == "no-cache"


async def test_hashed_assets_are_cached_for_good_and_missing_files_are_404(
    client: httpx.AsyncClient,
) -> None:
    asset = await client.get("/assets/index-abc123.js")
    assert asset.status_code == 200
    assert asset.text == "console.log('app')"
    assert "immutable" in asset.headers["cache-control"]
    assert asset.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/assets/index-old.js")).status_code == 404
    assert (await client.get("/favicon.ico")).status_code == 404
    escaped = await client.get("/%2e%2e/secret.txt")
    assert escaped.status_code == 404
    assert "not served" not in escaped.text


async def test_the_api_keeps_its_paths(client: httpx.AsyncClient) -> None:
    answer = await client.post("/graphql", json={"query": "{ me { id } }"})
    assert answer.json() == {"data": {"me": None}, "extensions": answer.json()["extensions"]}
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_without_a_build_the_root_is_not_found(
    database_url: str, backend: Backend, tmp_path: Path
) -> None:
    settings = settings_for(database_url, backend.broadcast, web_dir=str(tmp_path / "none"))
    async with (
        LiveServer(create_app(settings)) as server,
        httpx.AsyncClient(base_url=server.http_url) as client,
    ):
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/tasks/VGFzazox")).status_code == 404
