"""Start-up migrations leave nothing behind."""

from __future__ import annotations

import os

import asyncpg
import pytest

from picotask.server import db
from tests.support import Backend


@pytest.mark.skipif(
    not os.environ.get("PICOTASK_TEST_DATABASE_URL"),
    reason="connections are counted by PostgreSQL",
)
async def test_applying_migrations_leaves_no_connection_open(
    database_url: str, backend: Backend
) -> None:
    """tortoise's `migrate` initializes Tortoise again; before it ran in a context of its own,
    every start-up left one pooled connection open for the life of the process."""
    name = database_url.rsplit("/", 1)[1]
    await db.apply_migrations(database_url)
    await db.apply_migrations(database_url)
    admin = await asyncpg.connect(backend.database)
    try:
        left = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
        )
    finally:
        await admin.close()
    assert left == 0
