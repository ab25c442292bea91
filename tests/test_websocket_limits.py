"""Websocket limits: time to `connection_init`, sockets per user and per address, message size;
each refused with its own close code, each a setting. (Nesting: test_hostile_input.py.)"""

from __future__ import annotations

import contextlib
import json

import pytest
from websockets.exceptions import ConnectionClosed

from picotask.settings import Settings, SettingsError
from tests.instances import api_with
from tests.support import Api, Backend

INIT_TIMEOUT = 4408
TOO_MANY = 4429
TOO_BIG = 1009


async def assert_serves(api: Api, token: str | None = None) -> None:
    async with api.ws(token) as ws:
        await ws.subscribe("1", "{ me { id } }")
        assert (await ws.receive())["type"] == "next"


async def test_a_socket_without_connection_init_is_closed_with_4408(
    database_url: str, backend: Backend
) -> None:
    async with (
        api_with(database_url, backend.broadcast, ws_init_timeout_seconds=0.2) as api,
        api.ws(init=False) as ws,
    ):
        assert await ws.close_code(2.0) == INIT_TIMEOUT


async def test_sockets_per_address_are_limited_with_4429(
    database_url: str, backend: Backend
) -> None:
    async with api_with(database_url, backend.broadcast, max_sockets_per_address=2) as api:
        async with api.ws() as first, api.ws(), api.ws(init=False) as third:
            assert await third.close_code() == TOO_MANY
            await first.send({"type": "ping"})
            assert (await first.receive())["type"] == "pong"
        # Closed sockets free their place.
        async with api.ws(), api.ws() as again:
            await again.send({"type": "ping"})
            assert (await again.receive())["type"] == "pong"


async def test_sockets_per_user_are_limited_with_4429(database_url: str, backend: Backend) -> None:
    async with api_with(database_url, backend.broadcast, max_sockets_per_user=2) as api:
        user, other = await api.sign_up(), await api.sign_up()
        async with api.ws(user.token), api.ws(user.token):
            async with api.ws(init=False) as third:
                payload = {"authorization": f"Bearer {user.token}"}
                await third.send({"type": "connection_init", "payload": payload})
                assert await third.close_code() == TOO_MANY
            # Other users and anonymous sockets are counted apart.
            await assert_serves(api, other.token)
            await assert_serves(api)
        await assert_serves(api, user.token)


async def test_a_message_over_the_limit_is_refused_with_1009(api: Api) -> None:
    limit = api.services.settings.max_ws_message_bytes
    assert limit == 1_048_576  # as for HTTP bodies
    async with api.ws() as ws:
        fits = json.dumps({"type": "ping", "payload": {"pad": "x" * (limit - 100)}})
        await ws.conn.send(fits)
        assert (await ws.receive())["type"] == "pong"
        too_big = json.dumps({"type": "ping", "payload": {"pad": "x" * limit}})
        with contextlib.suppress(ConnectionClosed):  # the server may close while it comes in
            await ws.conn.send(too_big)
        assert await ws.close_code() == TOO_BIG
    await assert_serves(api)


def test_the_limits_are_settings() -> None:
    settings = Settings.from_env(
        {
            "PICOTASK_WS_INIT_TIMEOUT_SECONDS": "2.5",
            "PICOTASK_MAX_SOCKETS_PER_USER": "5000",
            "PICOTASK_MAX_SOCKETS_PER_ADDRESS": "20000",
            "PICOTASK_MAX_WS_MESSAGE_BYTES": "65536",
            "PICOTASK_SESSION_CHECK_SECONDS": "0.25",
            "PICOTASK_SESSION_TRUST_SECONDS": "10",
        }
    )
    assert settings.ws_init_timeout_seconds == 2.5
    assert (settings.max_sockets_per_user, settings.max_sockets_per_address) == (5_000, 20_000)
    assert settings.max_ws_message_bytes == 65_536
    assert (settings.session_check_seconds, settings.session_trust_seconds) == (0.25, 10)
    defaults = Settings()
    assert defaults.ws_init_timeout_seconds <= 10
    assert defaults.max_sockets_per_user <= 50
    assert defaults.max_ws_message_bytes == 1_048_576


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PICOTASK_WS_INIT_TIMEOUT_SECONDS", "0"),
        ("PICOTASK_WS_INIT_TIMEOUT_SECONDS", "600"),
        ("PICOTASK_MAX_SOCKETS_PER_USER", "0"),
        ("PICOTASK_MAX_SOCKETS_PER_ADDRESS", "-1"),
        ("PICOTASK_MAX_WS_MESSAGE_BYTES", "10"),
        ("PICOTASK_SESSION_CHECK_SECONDS", "0"),
        ("PICOTASK_SESSION_TRUST_SECONDS", "-1"),
    ],
)
def test_bad_limits_name_their_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})
