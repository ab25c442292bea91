"""The client address behind a reverse proxy: forwarded only by the proxies
`PICOTASK_TRUSTED_PROXIES` names (uvicorn's proxy headers, set up by `serving` for `picotask
serve` and the tests' live server alike), and deploy/nginx.conf really run in front of the
instances.

Linux routes all of 127.0.0.0/8 to the loopback interface, so a test's client binds its socket
to 127.0.0.2, 127.0.0.3, ... and is a different peer each time."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from picotask.settings import Settings, SettingsError
from tests.instances import api_with
from tests.support import PATIENCE, SIGN_UP, Backend, WsClient

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
