"""`picotask serve | migrate | export-schema | check-ledger`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from picotask.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picotask")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the API on PICOTASK_HOST:PICOTASK_PORT")
    commands.add_parser("migrate", help="apply the committed migrations")
    commands.add_parser(
        "check-ledger", help="prove every transaction sums to zero and every balance matches"
    )
    admin = commands.add_parser("make-admin", help="make a user a moderator (isAdmin)")
    admin.add_argument("email")
    export = commands.add_parser("export-schema", help="print or write schema.graphql")
    export.add_argument("--output", type=Path, help="write to this file instead of stdout")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    if args.command == "export-schema":
        from picotask.server.schema import schema

        text = schema.as_str() + "\n"
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"picotask: invalid setting: {exc}", file=sys.stderr)
        return 2

    if args.command == "migrate":
        from picotask.server import db

        asyncio.run(db.apply_migrations(settings.database_url))
        return 0

    if args.command == "check-ledger":
        return asyncio.run(_check_ledger(settings))
    if args.command == "make-admin":
        return asyncio.run(_make_admin(settings, args.email))

    if settings.metrics_dir:
        # Read by prometheus-client when first imported (below): every series in files there.
        Path(settings.metrics_dir).mkdir(parents=True, exist_ok=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = settings.metrics_dir

    import uvicorn

    from picotask.server import logs
    from picotask.server.app import create_app
    from picotask.server.runtime import tune_gc
    from picotask.server.shutdown import Server

    logs.configure(settings.log_format, settings.log_level)
    app = create_app(settings)
    tune_gc(settings.gc_threshold)  # after the imports and the app, which it sets aside
    # uvicorn.run's server, with the restart that loses nothing on SIGTERM. log_config=None:
    # uvicorn's loggers go through the handler `logs.configure` set up.
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_config=None, **serving(settings)
    )
    server = Server(config, app.state.shutdown)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C, raised again once it has stopped
        server.run()
    return server.exit_code


def serving(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for the app, in `serve` and the tests' live server alike."""
    return {
        "ws": "websockets-sansio",
        # Task events are small JSON; compressing each one for every subscriber costs more
        # CPU than it saves on the wire.
        "ws_per_message_deflate": False,
        # A bigger message is refused (1009) before it is buffered or parsed.
        "ws_max_size": settings.max_ws_message_bytes,
        # The client address is the peer's unless the peer is a trusted proxy: then uvicorn
        # takes X-Forwarded-For's right-most address that is not one (and X-Forwarded-Proto).
        # Never uvicorn's default (127.0.0.1, or FORWARDED_ALLOW_IPS), which lets any local
        # process claim any address.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies),
    }


async def _make_admin(settings: Settings, email: str) -> int:
    from tortoise import Tortoise

    from picotask.models.users import User
    from picotask.server import db
    from picotask.services.accounts.users import normalize_email

    await Tortoise.init(config=db.tortoise_config(settings.database_url))
    try:
        updated = await User.filter(email=normalize_email(email)).update(is_admin=True)
    finally:
        await Tortoise.close_connections()
    print(f"{email}: {'now a moderator' if updated else 'no such user'}")
    return 0 if updated else 1


async def _check_ledger(settings: Settings) -> int:
    from tortoise import Tortoise

    from picotask.server import db
    from picotask.services.money.ledger import audit

    await Tortoise.init(config=db.tortoise_config(settings.database_url))
    try:
        report = await audit()
    finally:
        await Tortoise.close_connections()
    print(report.describe())
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
