"""Sessions end everywhere: an open websocket acts only as long as its session, as it is now."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from picotask.models.payouts import Payout
from picotask.models.tasks import Task
from picotask.models.users import Session
from picotask.models.users import User as UserModel
from picotask.services.core.clock import SystemClock
from tests.instances import api_with, free_port, redis_server, spawned_instance, wait_for_port
from tests.support import Api, Backend, User, WsClient, count_queries, next_data
from tests.test_marketplace_api import CREATE, employer, task_input

ENDED = 4403
# "Within a second" (the bus brings the news; the check loop runs every half second).
WITHIN = 1.0
ME = "{ me { id displayName } }"
LOG_IN = """mutation($input: LogInInput!) { logIn(input: $input) { token } }"""
LOG_OUT = """mutation($everywhere: Boolean) {
  logOut(input: {everywhere: $everywhere}) { success } }"""
PAYOUT = """mutation { requestPayout(input: {amount: "5.00", method: PAYPAL,
  destination: "me@example.com"}) { payout { status } userErrors { code } } }"""
UPDATE = """mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { token viewer { displayName } userErrors { code } } }"""
SUSPEND = """mutation($id: ID!) { suspendUser(input: {userId: $id, reason: "Fake proofs"}) {
  user { id } } }"""


async def log_in(api: Api, user: User) -> str:
    variables = {"input": {"email": user.email, "password": "correct horse battery"}}
    return str((await api.gql(LOG_IN, variables))["logIn"]["token"])


async def works(ws: WsClient, op_id: str = "me") -> dict[str, Any]:
    """The socket still acts: `me` answers."""
    await ws.subscribe(op_id, ME)
    data = await next_data(ws, op_id)
    assert (await ws.receive_for(op_id))["type"] == "complete"
    return data


async def attempt(
    ws: WsClient, op_id: str, query: str, variables: dict[str, Any] | None = None
) -> None:
    """Try to act on a socket that may already be closed (then the close code says why)."""
    with contextlib.suppress(ConnectionClosed):
        await ws.subscribe(op_id, query, variables)


async def payouts() -> int:
    return await Payout.all().count()


async def test_log_out_everywhere_closes_an_older_socket_before_it_pays_out(api: Api) -> None:
    user = await employer(api, "20.00")
    async with api.ws(user.token) as ws:
        await works(ws)
        other = await log_in(api, user)
        await api.gql(LOG_OUT, {"everywhere": True}, other)
        await attempt(ws, "pay", PAYOUT)
        assert await ws.close_code(WITHIN) == ENDED
    assert await payouts() == 0


async def test_log_out_closes_the_sockets_of_that_session_only(api: Api) -> None:
    user = await api.sign_up()
    other = await log_in(api, user)
    async with api.ws(user.token) as leaving, api.ws(other) as staying:
        await api.gql(LOG_OUT, {}, user.token)
        assert await leaving.close_code(WITHIN) == ENDED
        assert (await works(staying))["me"]["id"] == user.id


async def test_log_out_over_the_socket_answers_then_closes_it(api: Api) -> None:
    user = await api.sign_up()
    async with api.ws(user.token) as ws:
        await ws.subscribe("out", LOG_OUT, {"everywhere": True})
        assert (await next_data(ws, "out"))["logOut"] == {"success": True}
        assert (await ws.receive_for("out"))["type"] == "complete"
        assert await ws.close_code(WITHIN) == ENDED


async def test_a_password_change_closes_the_old_sockets(api: Api) -> None:
    user = await api.sign_up()
    async with api.ws(user.token) as old:
        await works(old)
        change = {"currentPassword": "correct horse battery", "newPassword": "new horse battery"}
        token = (await api.gql(UPDATE, {"input": change}, user.token))["updateProfile"]["token"]
        await attempt(old, "rename", UPDATE, {"input": {"displayName": "Not me"}})
        assert await old.close_code(WITHIN) == ENDED
        async with api.ws(token) as new:
            assert (await works(new))["me"] == {"id": user.id, "displayName": "Tester"}


async def test_a_password_change_over_the_socket_hands_over_the_new_token(api: Api) -> None:
    user = await api.sign_up()
    async with api.ws(user.token) as ws:
        change = {"currentPassword": "correct horse battery", "newPassword": "new horse battery"}
        await ws.subscribe("change", UPDATE, {"input": change})
        token = (await next_data(ws, "change"))["updateProfile"]["token"]
        assert (await ws.receive_for("change"))["type"] == "complete"
        assert await ws.close_code(WITHIN) == ENDED
    async with api.ws(token) as new:
        assert (await works(new))["me"]["id"] == user.id


async def test_an_expired_session_closes_its_idle_socket(api: Api) -> None:
    user = await api.sign_up()
    async with api.ws(user.token) as ws:
        await works(ws)
        api.clock.advance(api.services.settings.session_ttl_seconds)
        assert await ws.close_code(WITHIN) == ENDED


async def test_an_expired_session_runs_no_mutation(api: Api) -> None:
    user = await employer(api, "20.00")
    async with api.ws(user.token) as ws:
        await works(ws)
        api.clock.advance(api.services.settings.session_ttl_seconds)
        await attempt(ws, "pay", PAYOUT)
        assert await ws.close_code(WITHIN) == ENDED
    assert await payouts() == 0


async def test_a_suspension_closes_the_users_sockets(api: Api) -> None:
    worker = await employer(api, "20.00")
    admin = await api.sign_up()
    await UserModel.filter(email=admin.email).update(is_admin=True)
    async with api.ws(worker.token) as ws:
        await works(ws)
        await api.gql(SUSPEND, {"id": worker.id}, admin.token)
        await attempt(ws, "post", CREATE, task_input())
        assert await ws.close_code(WITHIN) == ENDED
    assert await Task.all().count() == 0
    # The session itself lives on: a new socket acts as the user is now, suspended.
    async with api.ws(worker.token) as again:
        await again.subscribe("post", CREATE, task_input())
        refused = (await next_data(again, "post"))["createTask"]
        assert refused["userErrors"][0]["code"] == "SUSPENDED"
    assert await Task.all().count() == 0


async def revoke_unannounced(user: User) -> None:
    """End the user's sessions the way an instance whose announcement was lost would have."""
    await Session.filter(user__email=user.email).update(revoked_at=SystemClock().now())


async def test_a_revocation_never_heard_of_is_read_from_the_database(api: Api) -> None:
    user = await employer(api, "20.00")
    async with api.ws(user.token) as ws:
        await works(ws)
        await revoke_unannounced(user)
        # What a socket knows of its session is trusted only this long.
        api.clock.advance(api.services.settings.session_trust_seconds)
        await attempt(ws, "pay", PAYOUT)
        assert await ws.close_code(WITHIN) == ENDED
    assert await payouts() == 0


async def test_while_the_bus_is_down_sessions_are_read_from_the_database(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    with redis_server(port, tmp_path) as redis:
        await wait_for_port(port)
        redis_url = f"redis://127.0.0.1:{port}/0"
        async with api_with(database_url, redis_url, bus_heartbeat_seconds=0.2) as api:
            user = await api.sign_up()
            async with api.ws(user.token) as ws:
                await works(ws)
                redis.terminate()
                redis.wait(10)
                await revoke_unannounced(user)
                # The clock stands still: only the silent bus makes the socket read again.
                assert await ws.close_code(5.0) == ENDED


async def test_operations_cost_no_query_while_the_session_is_known(api: Api) -> None:
    user = await api.sign_up()
    async with api.ws(user.token) as ws:
        await works(ws)
        with count_queries() as counter:
            for n in range(5):
                await works(ws, f"me{n}")
        assert counter.count == 0


@pytest.mark.skipif(
    not os.environ.get("PICOTASK_TEST_DATABASE_URL"),
    reason="several processes share one database only on PostgreSQL (SQLite is one process)",
)
async def test_a_log_out_on_one_instance_closes_a_socket_on_another(
    database_url: str, backend: Backend
) -> None:
    assert backend.broadcast.startswith("redis"), "needs PICOTASK_TEST_BROADCAST_URL (Redis)"
    # Trusting what it knows for a minute, this instance can only learn it from the bus.
    async with (
        spawned_instance(database_url, backend.broadcast) as other,
        api_with(
            database_url, backend.broadcast, clock=SystemClock(), session_trust_seconds=60
        ) as here,
    ):
        user = await here.sign_up()
        async with (
            httpx.AsyncClient(base_url=other.url) as there_client,
            here.ws(user.token) as ws,
        ):
            await works(ws)
            there = Api(there_client, here.server, here.clock)
            await there.gql(LOG_OUT, {"everywhere": True}, user.token)
            assert await ws.close_code(WITHIN) == ENDED
