"""Sessions you can see: `mySessions` tells where each was opened and when it was last used,
and `revokeSession` ends one, its token and its sockets with it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from picotask.models.users import Session
from picotask.models.users import User as UserModel
from picotask.services.accounts.sessions import MAX_LISTED, MAX_USER_AGENT
from picotask.services.core.clock import ManualClock
from tests.support import Api, User, WsClient, count_queries, next_data
from tests.test_sessions_live import ENDED, WITHIN, attempt, works

PASSWORD = "correct horse battery"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148"
SESSIONS = "{ mySessions { id createdAt lastSeenAt clientAddress userAgent current } }"
REVOKE = """mutation($id: ID!) { revokeSession(input: {sessionId: $id}) {
  sessionId userErrors { field message code } } }"""
NODE = """query($id: ID!) { node(id: $id) { __typename ... on Session { id current } } }"""
LOG_IN = """mutation($email: String!, $password: String!) {
  logIn(input: {email: $email, password: $password}) { token userErrors { code } } }"""
ME = "{ me { id } }"


def when(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def log_in(api: Api, user: User, user_agent: str | bytes | None = None) -> str:
    """A new session of `user`, opened with this User-Agent header (bytes: as sent)."""
    agent = user_agent.encode() if isinstance(user_agent, str) else user_agent
    headers = [(b"user-agent", agent)] if agent is not None else []
    body = {"query": LOG_IN, "variables": {"email": user.email, "password": PASSWORD}}
    response = await api.client.post("/graphql", json=body, headers=headers)
    token: str = response.json()["data"]["logIn"]["token"]
    return token


async def sessions(api: Api, token: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await api.gql(SESSIONS, token=token))["mySessions"]
    return rows


async def revoke(api: Api, token: str, session_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.gql(REVOKE, {"id": session_id}, token))["revokeSession"]
    return payload


async def unauthenticated(api: Api, token: str) -> bool:
    errors = await api.errors(ME, token=token)
    return bool(errors[0]["extensions"]["code"] == "UNAUTHENTICATED")


@contextlib.asynccontextmanager
async def socket_as(api: Api, user_agent: str) -> AsyncIterator[WsClient]:
    """A websocket whose upgrade request says `user_agent`, not yet initialised."""
    protocols = [Subprotocol("graphql-transport-ws")]
    async with connect(
        api.server.ws_url, subprotocols=protocols, user_agent_header=user_agent
    ) as conn:
        yield WsClient(conn)


async def test_a_session_keeps_where_it_was_opened_and_the_current_one_is_marked(
    api: Api,
) -> None:
    user = await api.sign_up()
    api.clock.advance(5)
    firefox = await log_in(api, user, FIREFOX)
    api.clock.advance(5)
    odd = await log_in(api, user, b"Curl/8.5 \t (with\x85 controls)  " + b"x" * 500)

    rows = await sessions(api, firefox)
    assert [r["current"] for r in rows] == [False, True, False]  # newest first
    newest, middle, oldest = rows
    assert middle["userAgent"] == FIREFOX
    assert {r["clientAddress"] for r in rows} == {"127.0.0.1"}
    assert oldest["userAgent"].startswith("python-httpx/")
    # Stored trimmed: control characters and runs of blanks become one space, then capped.
    assert newest["userAgent"].startswith("Curl/8.5 (with controls) xxx")
    assert len(newest["userAgent"]) == MAX_USER_AGENT
    assert when(newest["createdAt"]) > when(middle["createdAt"]) > when(oldest["createdAt"])
    assert newest["lastSeenAt"] == newest["createdAt"]
    assert [r["current"] for r in await sessions(api, odd)] == [True, False, False]
    # Neither the token nor its hash is part of what is shown.
    stored = await Session.all().values_list("token_hash", flat=True)
    assert not any(str(h) in str(rows) or firefox in str(rows) for h in stored)


async def test_a_session_opened_over_the_websocket_keeps_its_user_agent(api: Api) -> None:
    user = await api.sign_up()
    async with socket_as(api, PHONE) as ws:
        await ws.init(None)
        await ws.subscribe("in", LOG_IN, {"email": user.email, "password": PASSWORD})
        token = (await next_data(ws, "in"))["logIn"]["token"]
    rows = await sessions(api, token)
    assert rows[0]["current"] is True
    assert rows[0]["userAgent"] == PHONE
    assert rows[0]["clientAddress"] == "127.0.0.1"


async def test_last_seen_moves_only_once_a_minute_has_passed(api: Api) -> None:
    clock: ManualClock = api.clock
    user = await api.sign_up()
    other = await log_in(api, user)
    opened = clock.now()

    clock.advance(59)
    with count_queries() as counter:
        first = await sessions(api, user.token)
    assert not [s for s in counter.statements if s.startswith("UPDATE")]
    assert {when(r["lastSeenAt"]) for r in first} == {opened}

    clock.advance(2)
    seen = clock.now()
    rows = {r["current"]: r for r in await sessions(api, user.token)}
    assert when(rows[True]["lastSeenAt"]) == seen  # the request that asked was one use
    assert when(rows[False]["lastSeenAt"]) == opened  # the other session was not used

    clock.advance(30)
    rows = {r["current"]: r for r in await sessions(api, user.token)}
    assert when(rows[True]["lastSeenAt"]) == seen  # within the minute: not moved again
    assert when((await sessions(api, other))[0]["lastSeenAt"]) == clock.now()


async def test_a_session_in_use_by_a_socket_is_seen(api: Api) -> None:
    clock: ManualClock = api.clock
    user = await api.sign_up()
    other = await log_in(api, user)
    async with api.ws(user.token) as ws:
        await works(ws)
        clock.advance(120)  # beyond the trust in what the socket knows: it is read again
        await works(ws, "again")
    mine = next(r for r in await sessions(api, other) if not r["current"])
    assert when(mine["lastSeenAt"]) == clock.now()


async def test_another_users_session_is_not_found_and_nothing_is_written(api: Api) -> None:
    owner, stranger = await api.sign_up(), await api.sign_up()
    (theirs,) = await sessions(api, owner.token)
    (mine,) = await sessions(api, stranger.token)
    user_id = (await api.gql(ME, token=owner.token))["me"]["id"]

    for session_id in (theirs["id"], user_id, "bm90IGFuIGlk", ""):
        payload = await revoke(api, stranger.token, session_id)
        assert payload["sessionId"] is None
        (error,) = payload["userErrors"]
        assert (error["code"], error["field"]) == ("NOT_FOUND", ["input", "sessionId"])
    assert await Session.filter(revoked_at__not_isnull=True).count() == 0
    assert (await api.gql(ME, token=owner.token))["me"]["id"] == user_id

    # node(id) shows a session to its owner only
    assert (await api.gql(NODE, {"id": theirs["id"]}, stranger.token))["node"] is None
    assert (await api.gql(NODE, {"id": theirs["id"]}))["node"] is None
    found = (await api.gql(NODE, {"id": theirs["id"]}, owner.token))["node"]
    assert found == {"__typename": "Session", "id": theirs["id"], "current": True}
    assert (await api.gql(NODE, {"id": mine["id"]}, stranger.token))["node"]["current"] is True


async def test_revoking_a_session_closes_its_socket_and_its_token_stops_working(
    api: Api,
) -> None:
    user = await api.sign_up()
    laptop = await log_in(api, user, FIREFOX)
    (listed,) = [r for r in await sessions(api, user.token) if r["userAgent"] == FIREFOX]
    async with api.ws(laptop) as ended, api.ws(user.token) as staying:
        await works(ended)
        payload = await revoke(api, user.token, listed["id"])
        assert payload == {"sessionId": listed["id"], "userErrors": []}
        await attempt(ended, "after", ME)
        assert await ended.close_code(WITHIN) == ENDED
        assert (await works(staying))["me"] is not None
    assert await unauthenticated(api, laptop)
    assert [r["current"] for r in await sessions(api, user.token)] == [True]
    again = await revoke(api, user.token, listed["id"])  # ended already: no longer one of them
    assert again["userErrors"][0]["code"] == "NOT_FOUND"


async def test_revoking_the_current_session_logs_out(api: Api) -> None:
    user = await api.sign_up()
    other = await log_in(api, user)
    current = next(r for r in await sessions(api, user.token) if r["current"])
    assert (await revoke(api, user.token, current["id"]))["userErrors"] == []
    assert await unauthenticated(api, user.token)
    assert len(await sessions(api, other)) == 1
    assert await unauthenticated(api, user.token)


async def test_only_live_sessions_are_listed_and_at_most_a_hundred(api: Api) -> None:
    clock: ManualClock = api.clock
    user = await api.sign_up()
    model = await UserModel.get(email=user.email)
    users = api.services.users
    for _ in range(MAX_LISTED + 4):
        clock.advance(1)
        await users.open_session(model)
    newest = clock.now()
    oldest = (
        await Session.filter(user_id=model.id).order_by("id").limit(2).values_list("id", flat=True)
    )
    await Session.filter(id__in=list(oldest)).update(revoked_at=newest)
    clock.advance(1)
    token, _ = await users.open_session(model)
    rows = await sessions(api, token)
    assert len(rows) == MAX_LISTED
    assert rows[0]["current"] is True
    created = [when(r["createdAt"]) for r in rows]
    assert created == sorted(created, reverse=True)
    assert when(rows[1]["createdAt"]) == newest

    # Past their expiry, sessions are neither listed nor usable
    clock.advance(api.services.settings.session_ttl_seconds - 1)
    assert len(await sessions(api, token)) == 1
