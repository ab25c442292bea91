from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from picotask.server.app import create_app
from picotask.services.core.clock import ManualClock
from picotask.services.registry import Services
from tests.mail_server import MailServer
from tests.support import (
    Api,
    Backend,
    LiveServer,
    current_backend,
    drop_templates,
    fresh_database,
    orm,
    settings_for,
)

# A developer's `.env` in the working directory stays out of the tests: the servers they start
# (`picotask serve`, which inherits this environment) read none.
os.environ["PICOTASK_ENV_FILE"] = ""


@pytest.fixture(scope="session")
def backend() -> Backend:
    return current_backend()


def pytest_sessionfinish() -> None:
    drop_templates()


def pytest_report_header() -> str:
    b = current_backend()
    return f"picotask backend: {b.name} (bus {b.broadcast})"


@pytest.fixture
async def database_url(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(backend, str(tmp_path)) as url:
        yield url


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """An SMTP server on loopback; point `mail_url` at `mail_server.url`."""
    server = MailServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def services(database_url: str, clock: ManualClock) -> AsyncIterator[Services]:
    """Every service on a fresh migrated database, for domain tests without HTTP."""
    async with orm(database_url):
        yield Services.build(settings_for(database_url, "memory://"), clock)


@pytest.fixture
async def api(database_url: str, backend: Backend, clock: ManualClock) -> AsyncIterator[Api]:
    # Background work is driven by the tests (e.g. `services.payout_processor.process_due()`).
    settings = settings_for(database_url, backend.broadcast, background_workers=False)
    async with (
        LiveServer(create_app(settings, clock)) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
    ):
        yield Api(client, server, clock)
