"""Several instances of the app on one database: this process's own (faults can be injected
into it), others spawned as `picotask serve`, and a relay that can hold back a publish."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from picotask.server.app import create_app
from picotask.services.core.clock import Clock, ManualClock, SystemClock
from picotask.settings import env_name
from tests.support import Api, Backend, LiveServer, WsClient, settings_for


@contextlib.asynccontextmanager
async def api_with(
    database_url: str,
    broadcast_url: str,
    send_buffer: int | None = None,
    clock: Clock | None = None,
    **overrides: Any,
) -> AsyncIterator[Api]:
    settings = settings_for(database_url, broadcast_url, background_workers=False, **overrides)
    clock = clock or ManualClock()
    async with (
        LiveServer(create_app(settings, clock), send_buffer) as server,
        httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
    ):
        yield Api(client, server, ManualClock())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server(port: int, directory: Path) -> Any:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is needed for this test"
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # noqa: S603 -- fixed argv
    try:
        yield process
    finally:
        process.terminate()
        process.wait(10)


async def wait_for_port(port: int, within: float = 60.0) -> None:
    """Until something listens on `port`; a whole `picotask serve` (imports, migrations) can
    take many seconds to start on a busy 2-core machine, so the bound is generous."""
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


@contextlib.asynccontextmanager
async def instances(
    database_url: str, backend: Backend, **settings: Any
) -> AsyncIterator[list[Api]]:
    """On PostgreSQL and Redis two instances: this process's, whose faults a test can inject,
    and `picotask serve` in another process. On SQLite (one process) only the first. Both get
    `settings` (by their field names)."""
    async with api_with(database_url, backend.broadcast, clock=SystemClock(), **settings) as here:
        if backend.database == "sqlite":
            yield [here]
            return
        assert backend.broadcast.startswith("redis"), "needs PICOTASK_TEST_BROADCAST_URL (Redis)"
        async with (
            spawned_instance(database_url, backend.broadcast, **settings) as spawned,
            httpx.AsyncClient(base_url=spawned.url, timeout=10) as client,
        ):
            yield [here, RemoteApi(client, here.server, here.clock, spawned.ws_url)]


class RemoteApi(Api):
    """The client of an instance in another process (whose services are out of reach)."""

    def __init__(
        self, client: httpx.AsyncClient, server: LiveServer, clock: ManualClock, ws_url: str
    ) -> None:
        super().__init__(client, server, clock)
        self.ws_url = ws_url

    @contextlib.asynccontextmanager
    async def ws(self, token: str | None = None, *, init: bool = True) -> AsyncIterator[WsClient]:
        protocols = [Subprotocol("graphql-transport-ws")]
        async with connect(self.ws_url, subprotocols=protocols) as conn:
            client = WsClient(conn)
            if init:
                await client.init(token)
            yield client


@dataclass
class Spawned:
    port: int
    process: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last publish."""
        self.process.send_signal(signal.SIGKILL)


@contextlib.asynccontextmanager
async def spawned_instance(
    database_url: str, broadcast_url: str, **settings: object
) -> AsyncIterator[Spawned]:
    """`picotask serve` in its own process; `settings` by their field names. Its Redis keys
    (persisted queries, cost budgets, the sign-up and log-in counters of 127.0.0.1) are its own
    unless `redis_key_prefix` is given: instances that must share them pass the same one."""
    settings.setdefault("redis_key_prefix", f"picotask-test-{secrets.token_hex(6)}")
    # Mail a test does not read goes to files out of the working tree.
    settings.setdefault("mail_url", f"file://{tempfile.gettempdir()}/picotask-test-mail")
    port = free_port()
    env = {
        **os.environ,
        "PICOTASK_DATABASE_URL": database_url,
        "PICOTASK_BROADCAST_URL": broadcast_url,
        "PICOTASK_PORT": str(port),
        "PICOTASK_ARGON2_MEMORY_KIB": "8",
        "PICOTASK_ARGON2_TIME_COST": "1",
        "PICOTASK_ARGON2_PARALLELISM": "1",
        **{env_name(name): str(value) for name, value in settings.items()},
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "picotask.server.cli",
        "serve",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        await wait_for_port(port)
        yield Spawned(port, process)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 10)


class RedisRelay:
    """A TCP relay to Redis that, once told, holds back the next event publish, and whatever
    follows it on that connection, for good: a publish that never gets through. The other
    connections (the bus's subscription, the rate limits) keep flowing."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.holding = False
        self.held = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()

    def hold_the_next_publish(self) -> None:
        self.holding = True

    async def __aenter__(self) -> RedisRelay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        for source, sink, outbound in (
            (reader, upstream_writer, True),
            (upstream_reader, writer, False),
        ):
            pump = asyncio.create_task(self._pump(source, sink, outbound))
            self._pumps.add(pump)
            pump.add_done_callback(self._pumps.discard)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, outbound: bool
    ) -> None:
        try:
            while data := await source.read(65_536):
                if outbound and self.holding and b"PUBLISH" in data and b'{"events"' in data:
                    self.holding = False
                    self.held.set()
                    await asyncio.Event().wait()  # never sent
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()
