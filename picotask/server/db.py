"""Database configuration and start-up migrations (tortoise's built-in migration engine)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlparse

import asyncpg
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate

from picotask.models import MODEL_MODULES

log = logging.getLogger(__name__)

MIGRATIONS_MODULE = "picotask.migrations"
# Held while migrating on PostgreSQL, so processes starting together migrate one at a time.
_MIGRATION_LOCK_KEY = 7_315_002


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(database_url)},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _connection(database_url: str) -> str | dict[str, Any]:
    parsed = urlparse(database_url)
    if parsed.scheme == "sqlite":
        path = database_url.removeprefix("sqlite://")
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return database_url
    if parsed.scheme in {"postgres", "postgresql", "asyncpg"}:
        return {
            "engine": "tortoise.backends.asyncpg",
            "credentials": {
                "host": parsed.hostname or "127.0.0.1",
                "port": parsed.port or 5432,
                "user": unquote(parsed.username or "postgres"),
                "password": unquote(parsed.password or ""),
                "database": unquote(parsed.path.lstrip("/")) or "postgres",
                "minsize": 1,
                "maxsize": 10,
                "reset": _keep_session,
                **dict(parse_qsl(parsed.query)),
            },
        }
    raise ValueError(f"unsupported database URL {database_url!r}")


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset of a connection it takes back: nothing beyond asyncpg's own (which rolls
    back a transaction left open). asyncpg's default runs `RESET ALL`, `UNLISTEN *`, `CLOSE ALL`
    and `pg_advisory_unlock_all()` after every statement sent outside a transaction: a round
    trip each time (about one statement in five of a write, measured). None of that state is
    ever left on a pooled connection here: no session settings, no LISTEN (the bus has its own
    connection), no cursors, and the one session lock (migrations, below) is released on the
    connection that took it; transaction locks end with their transaction."""


async def apply_migrations(database_url: str) -> None:
    """Bring the schema up to the newest committed migration."""
    config = tortoise_config(database_url)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        conn = ctx.connections.get("default")
        async with contextlib.AsyncExitStack() as stack:
            if not database_url.startswith("sqlite"):
                # A session lock, so taken and released on one connection held throughout.
                held = await stack.enter_async_context(conn.acquire_connection())
                await held.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_KEY)
                stack.push_async_callback(
                    held.execute, "SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_KEY
                )
            # Its own context: `migrate` initializes Tortoise again, which would otherwise drop
            # this context's connection without closing it (a pool left open per start-up).
            async with TortoiseContext():
                await migrate(config=config)
    log.info("migrations applied")


# `tortoise -c picotask.server.db.TORTOISE_ORM makemigrations` reads this (development only).
TORTOISE_ORM = tortoise_config("sqlite://var/makemigrations.sqlite3")
