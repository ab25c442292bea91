"""Accounts through the API: sign-up, log-in, sessions, profiles, and every bad input."""

from __future__ import annotations

from typing import Any

import pytest

from picotask.models.users import Session, User
from tests.support import SIGN_UP, Api

ME = "{ me { id email displayName country isAdmin user { id displayName skills bio avatarUrl } } }"
LOG_IN = """mutation($input: LogInInput!) {
  logIn(input: $input) { token viewer { id } userErrors { field message code } } }"""
LOG_OUT = (
    """mutation($input: LogOutInput!) { logOut(input: $input) { success userErrors { code } } }"""
)
UPDATE = """mutation($input: UpdateProfileInput!) {
  updateProfile(input: $input) { token viewer { displayName country user { bio skills avatarUrl } }
  userErrors { field message code } } }"""


def sign_up_input(**overrides: Any) -> dict[str, Any]:
    values = {
        "email": "ann@example.com",
        "password": "correct horse battery",
        "displayName": "Ann",
        "country": "de",
    }
    values.update(overrides)
    return {"input": values}


async def test_sign_up_then_me(api: Api) -> None:
    data = await api.gql(SIGN_UP, sign_up_input(email="  Ann@Example.COM "))
    payload = data["signUp"]
    assert payload["userErrors"] == []
    assert payload["viewer"]["email"] == "ann@example.com"
    assert payload["viewer"]["country"] == "DE"

    me = (await api.gql(ME, token=payload["token"]))["me"]
    assert me["id"] == payload["viewer"]["id"]
    assert me["isAdmin"] is False
    assert me["user"]["id"] == me["id"]
    stored = await User.get(email="ann@example.com")
    assert stored.password_hash.startswith("$argon2id$")
    session = await Session.get(user_id=stored.id)
    assert payload["token"] not in session.token_hash  # only a hash is stored


async def test_me_is_null_when_anonymous(api: Api) -> None:
    assert (await api.gql(ME))["me"] is None


async def test_bad_token_is_unauthenticated(api: Api) -> None:
    errors = await api.errors(ME, token="not-a-real-token")
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"email": "not-an-email"}, "email", "INVALID"),
        ({"email": "a@" + "b" * 260 + ".com"}, "email", "TOO_LONG"),
        ({"password": "short"}, "password", "TOO_SHORT"),
        ({"password": "x" * 201}, "password", "TOO_LONG"),
        ({"country": "XX"}, "country", "UNKNOWN_COUNTRY"),
        ({"country": "Germany"}, "country", "UNKNOWN_COUNTRY"),
        ({"displayName": "   "}, "displayName", "TOO_SHORT"),
        ({"displayName": "n" * 61}, "displayName", "TOO_LONG"),
    ],
)
async def test_sign_up_rejects_bad_input(
    api: Api, overrides: dict[str, Any], field: str, code: str
) -> None:
    payload = (await api.gql(SIGN_UP, sign_up_input(**overrides)))["signUp"]
    assert payload["token"] is None
    assert {"field": ["input", field], "code": code} == {
        k: payload["userErrors"][0][k] for k in ("field", "code")
    }
    assert field in payload["userErrors"][0]["message"]
    assert await User.all().count() == 0


async def test_sign_up_reports_every_bad_field_at_once(api: Api) -> None:
    payload = await api.gql(SIGN_UP, sign_up_input(email="x", password="y", country="ZZ"))
    fields = [e["field"][-1] for e in payload["signUp"]["userErrors"]]
    assert fields == ["email", "password", "country"]


async def test_duplicate_email_is_case_insensitive(api: Api) -> None:
    await api.gql(SIGN_UP, sign_up_input())
    payload = (await api.gql(SIGN_UP, sign_up_input(email="ANN@example.com")))["signUp"]
    assert payload["userErrors"][0]["code"] == "EMAIL_TAKEN"
    assert payload["userErrors"][0]["field"] == ["input", "email"]
    assert await User.all().count() == 1


async def test_log_in_gives_one_message_for_wrong_email_and_wrong_password(api: Api) -> None:
    await api.gql(SIGN_UP, sign_up_input())
    wrong_password = (
        await api.gql(
            LOG_IN, {"input": {"email": "ann@example.com", "password": "wrong password!"}}
        )
    )["logIn"]
    wrong_email = (
        await api.gql(
            LOG_IN, {"input": {"email": "bob@example.com", "password": "correct horse battery"}}
        )
    )["logIn"]
    assert wrong_password["token"] is None
    assert wrong_password["userErrors"] == wrong_email["userErrors"]
    assert wrong_password["userErrors"][0]["code"] == "INVALID_CREDENTIALS"

    ok = (
        await api.gql(
            LOG_IN, {"input": {"email": "ANN@example.com", "password": "correct horse battery"}}
        )
    )["logIn"]
    assert ok["userErrors"] == []
    assert (await api.gql(ME, token=ok["token"]))["me"]["email"] == "ann@example.com"


async def test_log_out_revokes_only_that_session(api: Api) -> None:
    first = await api.sign_up("ann@example.com")
    second = (
        await api.gql(
            LOG_IN, {"input": {"email": "ann@example.com", "password": "correct horse battery"}}
        )
    )["logIn"]["token"]
    assert (await api.gql(LOG_OUT, {"input": {}}, token=first.token))["logOut"]["success"]
    errors = await api.errors(ME, token=first.token)
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await api.gql(ME, token=second))["me"] is not None


async def test_log_out_everywhere(api: Api) -> None:
    first = await api.sign_up("ann@example.com")
    second = (
        await api.gql(
            LOG_IN, {"input": {"email": "ann@example.com", "password": "correct horse battery"}}
        )
    )["logIn"]["token"]
    await api.gql(LOG_OUT, {"input": {"everywhere": True}}, token=first.token)
    for token in (first.token, second):
        assert (await api.errors(ME, token=token))[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_log_out_needs_a_session(api: Api) -> None:
    errors = await api.errors(LOG_OUT, {"input": {}})
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_session_expires(api: Api) -> None:
    user = await api.sign_up()
    api.clock.advance(30 * 86_400 - 1)
    assert (await api.gql(ME, token=user.token))["me"] is not None
    api.clock.advance(2)
    assert (await api.errors(ME, token=user.token))[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_update_profile(api: Api) -> None:
    user = await api.sign_up()
    payload = (
        await api.gql(
            UPDATE,
            {
                "input": {
                    "displayName": " Ann B. ",
                    "country": "fr",
                    "bio": "I test apps.",
                    "skills": ["writing", "testing", "writing", " "],
                    "avatarUrl": "https://img.example/a.png",
                }
            },
            token=user.token,
        )
    )["updateProfile"]
    assert payload["userErrors"] == []
    assert payload["token"] is None
    assert payload["viewer"] == {
        "displayName": "Ann B.",
        "country": "FR",
        "user": {
            "bio": "I test apps.",
            "skills": ["writing", "testing"],
            "avatarUrl": "https://img.example/a.png",
        },
    }


@pytest.mark.parametrize(
    ("values", "field", "code"),
    [
        ({"displayName": ""}, "displayName", "TOO_SHORT"),
        ({"country": "QQ"}, "country", "UNKNOWN_COUNTRY"),
        ({"bio": "b" * 1001}, "bio", "TOO_LONG"),
        ({"avatarUrl": "javascript:alert(1)"}, "avatarUrl", "INVALID"),
        ({"skills": ["s" * 41]}, "skills", "TOO_LONG"),
        ({"skills": [f"s{i}" for i in range(31)]}, "skills", "TOO_LONG"),
        ({"newPassword": "long enough password"}, "currentPassword", "INVALID"),
        (
            {"newPassword": "short", "currentPassword": "correct horse battery"},
            "newPassword",
            "TOO_SHORT",
        ),
        (
            {"newPassword": "long enough password", "currentPassword": "wrong one!"},
            "currentPassword",
            "INVALID_CREDENTIALS",
        ),
    ],
)
async def test_update_profile_rejects_bad_input_and_writes_nothing(
    api: Api, values: dict[str, Any], field: str, code: str
) -> None:
    user = await api.sign_up(display_name="Ann")
    payload = (await api.gql(UPDATE, {"input": {"bio": "changed", **values}}, token=user.token))[
        "updateProfile"
    ]
    assert payload["viewer"] is None
    assert payload["userErrors"][0]["field"] == ["input", field]
    assert payload["userErrors"][0]["code"] == code
    stored = await User.get(email=user.email)
    assert stored.display_name == "Ann"
    assert stored.bio is None


async def test_password_change_revokes_every_session(api: Api) -> None:
    user = await api.sign_up()
    other = (
        await api.gql(LOG_IN, {"input": {"email": user.email, "password": "correct horse battery"}})
    )["logIn"]["token"]
    payload = (
        await api.gql(
            UPDATE,
            {
                "input": {
                    "currentPassword": "correct horse battery",
                    "newPassword": "a brand new password",
                }
            },
            token=user.token,
        )
    )["updateProfile"]
    assert payload["userErrors"] == []
    for old in (user.token, other):
        assert (await api.errors(ME, token=old))[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await api.gql(ME, token=payload["token"]))["me"]["email"] == user.email
    relog = (
        await api.gql(LOG_IN, {"input": {"email": user.email, "password": "a brand new password"}})
    )["logIn"]
    assert relog["userErrors"] == []


async def test_update_profile_needs_authentication(api: Api) -> None:
    errors = await api.errors(UPDATE, {"input": {"bio": "x"}})
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_node_resolves_public_profile_only(api: Api) -> None:
    user = await api.sign_up(display_name="Ann")
    query = "query($id: ID!) { node(id: $id) { id ... on User { displayName } } }"
    node = (await api.gql(query, {"id": user.id}))["node"]
    assert node == {"id": user.id, "displayName": "Ann"}
    for bogus in ("bm9wZToxMjM", "VXNlcjo5OTk5", "!!!", ""):
        assert (await api.gql(query, {"id": bogus}))["node"] is None
