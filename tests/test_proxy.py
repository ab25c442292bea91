"""The client address behind a reverse proxy: forwarded only by the proxies
`PICOTASK_TRUSTED_PROXIES` names (uvicorn's proxy headers, set up by `serving` for `picotask
serve` and the tests' live server alike), and deploy/nginx.conf really run in front of the
instances.

Linux routes all of 127.0.0.0/8 to the loopback interface, so a test's client binds its socket
to 127.0.0.2, 127.0.0.3, ... and is a different peer each time."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import re
import secrets
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.typing import Origin, Subprotocol

from picotask.server.app import MAX_BODY_BYTES
from picotask.server.cli import serving
from picotask.settings import Settings, SettingsError
from tests.instances import api_with, free_port, instances
from tests.support import PATIENCE, SIGN_UP, Api, Backend, WsClient, next_data
from tests.test_marketplace_api import create, employer
from tests.test_subscriptions import FEED, TASKS_NOW

TOO_MANY = 4429
# The third sign-up from one address in a row waits (the clock stands still: it stays refused).
THROTTLE: dict[str, Any] = {"sign_up_free_per_address": 1}


def client(base_url: str, source: str, **transport: Any) -> httpx.AsyncClient:
    """An HTTP client whose connections come from `source` (an address of 127.0.0.0/8)."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=httpx.AsyncHTTPTransport(local_address=source, **transport),
        timeout=PATIENCE,
    )


async def sign_up(http: httpx.AsyncClient, forwarded_for: str | None = None) -> int:
    """The status of one sign-up: 200, or 429 once the client's address must wait."""
    variables = {
        "input": {
            "email": f"user-{secrets.token_hex(4)}@example.com",
            "password": "correct horse battery",
            "displayName": "Tester",
            "country": "US",
        }
    }
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for is not None else {}
    answer = await http.post(
        "/graphql", json={"query": SIGN_UP, "variables": variables}, headers=headers
    )
    return answer.status_code


async def sign_ups(http: httpx.AsyncClient, forwarded_for: str | None = None) -> list[int]:
    """Three sign-ups in a row: `[200, 200, 429]` when they count against one address."""
    return [await sign_up(http, forwarded_for) for _ in range(3)]


@contextlib.asynccontextmanager
async def ws_from(
    url: str, source: str, forwarded_for: str | None = None, **options: Any
) -> AsyncIterator[WsClient]:
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for is not None else {}
    async with connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        additional_headers=headers,
        local_addr=(source, 0),
        **options,
    ) as conn:
        yield WsClient(conn)


async def statuses(http: httpx.AsyncClient, forwarded_for: str, times: int) -> list[int]:
    """The statuses of `times` anonymous queries of 41 points each."""
    query = {"query": "{ tasks(first: 20) { edges { node { id } } } }"}
    headers = {"x-forwarded-for": forwarded_for}
    return [
        (await http.post("/graphql", json=query, headers=headers)).status_code for _ in range(times)
    ]


def test_trusted_proxies_are_addresses_and_networks() -> None:
    settings = Settings.from_env({"PICOTASK_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1,::1"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "127.0.0.1/32", "::1/128")
    assert Settings.from_env({}).trusted_proxies == ()
    for wrong in ("*", "localhost", "10.0.0.1/8"):
        with pytest.raises(SettingsError, match="PICOTASK_TRUSTED_PROXIES"):
            Settings.from_env({"PICOTASK_TRUSTED_PROXIES": wrong})


async def test_by_default_nobody_forwards_an_address(
    database_url: str, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not even a local process (uvicorn's own default trusts 127.0.0.1), whatever uvicorn's
    FORWARDED_ALLOW_IPS says: every sign-up from 127.0.0.1 counts against 127.0.0.1."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    async with (
        api_with(database_url, backend.broadcast, **THROTTLE) as api,
        client(api.server.http_url, "127.0.0.1") as local,
    ):
        assert [await sign_up(local, f"192.0.2.{n}") for n in range(3)] == [200, 200, 429]


async def test_a_trusted_proxy_forwards_the_address_and_no_one_else(
    database_url: str, backend: Backend
) -> None:
    async with api_with(
        database_url, backend.broadcast, trusted_proxies="127.0.0.1", **THROTTLE
    ) as api:
        url = api.server.http_url
        async with client(url, "127.0.0.1") as proxy, client(url, "127.0.0.2") as stranger:
            # Through the proxy, each forwarded address counts apart.
            assert await sign_ups(proxy, "192.0.2.1") == [200, 200, 429]
            assert await sign_ups(proxy, "192.0.2.2") == [200, 200, 429]
            # A chain: the right-most address the proxies did not add is the client, not what
            # the client wrote in front of it.
            assert [await sign_up(proxy, f"192.0.2.{n}, 192.0.2.3") for n in (4, 5, 6)] == [
                200,
                200,
                429,
            ]
            # A peer that is no trusted proxy is the client, whatever it forwards.
            assert [await sign_up(stranger, f"192.0.2.{n}") for n in (7, 8, 9)] == [200, 200, 429]
            assert await sign_up(proxy, "192.0.2.10") == 200


async def test_each_forwarded_address_has_its_own_anonymous_cost_budget(
    database_url: str, backend: Backend
) -> None:
    """41 points a query, 100 in each budget (the clock stands still: none refills)."""
    budget: dict[str, Any] = {"cost_budget": 100, "max_query_cost": 100}
    async with api_with(
        database_url, backend.broadcast, trusted_proxies="127.0.0.1", **budget
    ) as api:
        url = api.server.http_url
        async with client(url, "127.0.0.1") as proxy, client(url, "127.0.0.2") as stranger:
            assert await statuses(proxy, "192.0.2.1", 3) == [200, 200, 429]
            assert await statuses(proxy, "192.0.2.2", 1) == [200]
            assert await statuses(stranger, "192.0.2.2", 3) == [200, 200, 429]


async def test_sockets_per_address_count_the_forwarded_address(
    database_url: str, backend: Backend
) -> None:
    async with api_with(
        database_url, backend.broadcast, trusted_proxies="127.0.0.0/31", max_sockets_per_address=1
    ) as api:
        url = api.server.ws_url
        async with ws_from(url, "127.0.0.1", "192.0.2.1") as first:
            await first.init(None)
            async with ws_from(url, "127.0.0.1", "192.0.2.1") as again:
                assert await again.close_code() == TOO_MANY
            async with ws_from(url, "127.0.0.1", "192.0.2.2") as other:
                await other.init(None)
            # 127.0.0.2 is no trusted proxy: the socket is its own, not 192.0.2.3's.
            async with ws_from(url, "127.0.0.2", "192.0.2.3") as stranger:
                await stranger.init(None)
                async with ws_from(url, "127.0.0.2", "192.0.2.4") as again:
                    assert await again.close_code() == TOO_MANY


# deploy/nginx.conf, really run: Debian's nginx (installed by .ci/run and `make test` when
# missing) in front of the instances (two on PostgreSQL and Redis, one on SQLite).
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# CI sets PICOTASK_TEST_NGINX=required: there a missing nginx fails, never skips.
OPTIONAL = os.environ.get("PICOTASK_TEST_NGINX") != "required"
needs_nginx = pytest.mark.skipif(
    OPTIONAL and not Path(NGINX).exists(), reason=f"nginx is not installed ({NGINX})"
)
SHIPPED = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"
# Log-ins that fail count against the client's address; the third in a row waits ten minutes.
LOG_IN_THROTTLE: dict[str, Any] = {
    "log_in_free_failures_per_address": 1,
    "throttle_base_delay_seconds": 600.0,
    "throttle_max_delay_seconds": 600.0,
    "sign_up_free_per_address": 10**6,
}
LOG_IN = """mutation($input: LogInInput!) { logIn(input: $input) { token } }"""


@dataclass
class Proxy:
    """nginx serving the shipped configuration: https on `port`, the redirect on `http_port`."""

    port: int
    http_port: int
    tls: ssl.SSLContext

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/graphql"


def rendered(directory: Path, upstreams: list[int], http_port: int, port: int) -> str:
    """The shipped file with the test's ports and paths; each thing replaced must be there
    exactly once, so the file cannot drift away from what is tested."""
    conf = SHIPPED.read_text()
    instances = "".join(f"    server 127.0.0.1:{upstream};\n" for upstream in upstreams)
    for old, new in (
        ("    server 127.0.0.1:8001;\n    server 127.0.0.1:8002;\n", instances),
        ("    listen [::]:80;\n", ""),
        ("    listen [::]:443 ssl;\n", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;"),
        ("/etc/letsencrypt/live/picotask.example.com/fullchain.pem", str(directory / "cert.pem")),
        ("/etc/letsencrypt/live/picotask.example.com/privkey.pem", str(directory / "key.pem")),
        ("/var/log/nginx/picotask.access.log", str(directory / "access.log")),
    ):
        assert conf.count(old) == 1, f"deploy/nginx.conf no longer holds {old!r} once"
        conf = conf.replace(old, new)
    return conf


def main_conf(directory: Path) -> str:
    """What /etc/nginx/nginx.conf gives the shipped file on a Debian host, in `directory`."""
    # As root, nginx's workers would run as nobody, who cannot enter pytest's directories.
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log stderr notice;
{user}
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/picotask.conf;
}}
"""


def prepare(directory: Path, upstreams: list[int]) -> tuple[int, int]:
    """The configuration in `directory`, and a certificate for 127.0.0.1; the ports nginx will
    listen on (http, https)."""
    directory.mkdir()
    subprocess.run(  # noqa: S603 -- fixed argv
        [
            shutil.which("openssl") or "openssl",
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    http_port, port = free_port(), free_port()
    (directory / "picotask.conf").write_text(rendered(directory, upstreams, http_port, port))
    (directory / "nginx.conf").write_text(main_conf(directory))
    return http_port, port


@contextlib.asynccontextmanager
async def nginx(directory: Path, upstreams: list[int]) -> AsyncIterator[Proxy]:
    """nginx in the foreground with the shipped configuration."""
    http_port, port = await asyncio.to_thread(prepare, directory, upstreams)
    log = directory / "nginx.log"
    with log.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            NGINX, "-p", str(directory), "-c", str(directory / "nginx.conf"), "-e", "stderr",
            stdin=subprocess.DEVNULL, stdout=errors, stderr=errors,
        )  # fmt: skip
    try:
        deadline = asyncio.get_running_loop().time() + PATIENCE
        while not await _listens(port):
            assert process.returncode is None, f"nginx stopped: {log.read_text()}"
            assert asyncio.get_running_loop().time() < deadline, f"nginx: {log.read_text()}"
            await asyncio.sleep(0.05)
        yield Proxy(port, http_port, ssl.create_default_context(cafile=directory / "cert.pem"))
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), PATIENCE)


async def _listens(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


async def log_in(http: httpx.AsyncClient, forwarded_for: str | None = None) -> int:
    """The status of one failed log-in (an account nobody has): 200, or 429 once the client's
    address must wait."""
    variables = {"input": {"email": f"x-{secrets.token_hex(4)}@example.com", "password": "wrong"}}
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for is not None else {}
    answer = await http.post(
        "/graphql", json={"query": LOG_IN, "variables": variables}, headers=headers
    )
    return answer.status_code


def test_the_shipped_limits_match_the_apps() -> None:
    """Bodies as large as the app takes, and no websocket timed out between two pings."""
    conf = SHIPPED.read_text()
    assert f"client_max_body_size {MAX_BODY_BYTES // 1_048_576}m;" in conf
    image_limit = Settings.model_fields["max_image_bytes"].default
    assert f"client_max_body_size {image_limit // 1_048_576}m;" in conf
    defaults = inspect.signature(uvicorn.Config).parameters
    ping, pong = defaults["ws_ping_interval"].default, defaults["ws_ping_timeout"].default
    assert "ws_ping_interval" not in serving(Settings()), "the ping is uvicorn's default"
    for timeout in ("proxy_read_timeout", "proxy_send_timeout"):
        seconds = int(re.findall(rf"{timeout} (\d+)s;", conf)[0])
        assert seconds > ping + pong


@needs_nginx
async def test_nginx_in_front_of_the_instances(
    database_url: str, backend: Backend, tmp_path: Path
) -> None:
    """Requests and a subscription through nginx; two clients (127.0.0.2 and .3) throttled
    apart; what a client writes in X-Forwarded-For believed neither through nginx nor sent
    straight to an instance by a peer that is no trusted proxy (127.0.0.4)."""
    shared = {
        "trusted_proxies": "127.0.0.1",
        "redis_key_prefix": f"picotask-test-{secrets.token_hex(6)}",
        **LOG_IN_THROTTLE,
    }
    async with instances(database_url, backend, **shared) as apis:
        ports = [urlsplit(str(api.client.base_url)).port or 0 for api in apis]
        async with (
            nginx(tmp_path / "nginx", ports) as proxy,
            client(proxy.url, "127.0.0.2", verify=proxy.tls) as ann,
            client(proxy.url, "127.0.0.3", verify=proxy.tls) as bob,
        ):
            assert (await ann.get("/healthz")).json() == {"status": "ok"}
            async with client(f"http://127.0.0.1:{proxy.http_port}", "127.0.0.2") as plain:
                redirect = await plain.get("/x")
            assert (redirect.status_code, redirect.headers["location"]) == (
                301,
                "https://127.0.0.1/x",
            )
            # Apart, whichever instance each request reached: the counters are in Redis.
            assert [await log_in(ann) for _ in range(3)] == [200, 200, 429]
            assert [await log_in(bob, f"192.0.2.{n}") for n in range(3)] == [200, 200, 429]
            assert await log_in(ann, "192.0.2.99") == 429
            # nginx refuses a body larger than the app would take, before buffering it.
            too_large = await ann.post("/graphql", content=b"x" * (MAX_BODY_BYTES + 1))
            assert too_large.status_code == 413

            # Straight to each instance (`picotask serve` on PostgreSQL), from untrusted peers.
            for source, api in zip(("127.0.0.4", "127.0.0.5"), apis, strict=False):
                async with client(str(api.client.base_url), source) as stranger:
                    statuses = [await log_in(stranger, f"198.51.100.{n}") for n in range(3)]
                assert statuses == [200, 200, 429]

            await _subscription_through(proxy, apis)


async def _subscription_through(proxy: Proxy, apis: list[Api]) -> None:
    """A browser's socket (its Origin the site's own) through nginx hears a task posted on
    each instance: on PostgreSQL one of them is not the instance nginx sent the socket to."""
    boss = await employer(apis[0])
    worker = await apis[0].sign_up()
    cursor = (await apis[0].gql(TASKS_NOW, token=worker.token))["tasks"]["feedCursor"]
    site = Origin(f"https://127.0.0.1:{proxy.port}")
    async with ws_from(proxy.ws_url, "127.0.0.2", ssl=proxy.tls, origin=site) as ws:
        await ws.init(worker.token)
        await ws.subscribe("feed", FEED, {"after": cursor})
        posted = [
            (await create(api, boss, title=f"On {n}"))["task"]["id"] for n, api in enumerate(apis)
        ]
        seen = [(await next_data(ws, "feed"))["taskFeed"] for _ in posted]
        assert [(event["kind"], event["task"]["id"]) for event in seen] == [
            ("POSTED", task) for task in posted
        ]


def test_the_shipped_units_and_settings_hold_together() -> None:
    """deploy/picotask.env.example is a valid production configuration trusting the local
    nginx; the instances never migrate, the one migrate unit does."""
    deploy = SHIPPED.parent
    settings = Settings.from_env({"PICOTASK_ENV_FILE": str(deploy / "picotask.env.example")})
    assert settings.is_production
    assert settings.trusted_proxies == ("127.0.0.1/32",)
    assert settings.broadcast_url.startswith("redis://")
    assert settings.storage_url.startswith("s3://")
    instance = (deploy / "picotask@.service").read_text()
    assert "PICOTASK_PORT=%i PICOTASK_MIGRATE_ON_START=false" in instance
    assert "picotask-migrate.service\n" in instance.split("After=")[1]
    assert (
        "ExecStart=/opt/picotask/.venv/bin/picotask migrate"
        in (deploy / "picotask-migrate.service").read_text()
    )
