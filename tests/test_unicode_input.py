"""Text others read: NFKC for names and emails (a look-alike email is the same email), and no
character that draws nothing or hides or reorders text (zero-width, bidi controls, fillers)."""

from __future__ import annotations

from typing import Any

import pytest

from picotask.models.users import User as UserModel
from picotask.services.core.user_text import TextKind, first_refused, normalize
from tests.support import SIGN_UP, Api
from tests.test_marketplace_api import create, employer

PASSWORD = "correct horse battery"
PERSIAN = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # needs its zero width non-joiner
FRAKTUR = "\u210c\U0001d522\U0001d529\U0001d529\U0001d52c \u2460"  # Hello 1, dressed up
LOG_IN = """mutation($e: String!, $p: String!) { logIn(input: {email: $e, password: $p}) {
  token viewer { id email } userErrors { field code } } }"""
UPDATE = """mutation($input: UpdateProfileInput!) { updateProfile(input: $input) {
  viewer { displayName user { bio skills } } userErrors { field message code } } }"""
SEND = """mutation($task: ID!, $body: String!) { sendMessage(input: {taskId: $task, body: $body})
  { message { body } userErrors { field message code } } }"""

# Each draws nothing, or hides or reorders the text around it.
INVISIBLE = {
    "zero width space": "\u200b",
    "right-to-left override": "\u202e",
    "first strong isolate": "\u2068",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "tag latin capital a": "\U000e0041",
    "hangul filler": "\u115f",
    "braille blank": "\u2800",
    "bell": "\x07",
    "private use": "\ue000",
}


def full_width(ascii_text: str) -> str:
    """The full-width look-alike (U+FF01..U+FF5E) of printable ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in ascii_text)


async def _sign_up(api: Api, email: str, display_name: str = "Ann") -> dict[str, Any]:
    variables = {
        "input": {
            "email": email,
            "password": PASSWORD,
            "displayName": display_name,
            "country": "US",
        }
    }
    payload: dict[str, Any] = (await api.gql(SIGN_UP, variables))["signUp"]
    return payload


async def test_a_full_width_look_alike_email_is_the_same_account(api: Api) -> None:
    first = await _sign_up(api, "bob@example.com")
    assert first["userErrors"] == []
    again = await _sign_up(api, full_width("bob@example.com"))
    assert again["userErrors"] == [
        {
            "field": ["input", "email"],
            "message": "email is already registered.",
            "code": "EMAIL_TAKEN",
        }
    ]
    assert await UserModel.all().count() == 1

    logged_in = (await api.gql(LOG_IN, {"e": full_width("BOB") + "@Example.com", "p": PASSWORD}))[
        "logIn"
    ]
    assert logged_in["userErrors"] == []
    assert logged_in["viewer"] == {"id": first["viewer"]["id"], "email": "bob@example.com"}


async def test_an_email_with_an_invisible_character_is_refused(api: Api) -> None:
    payload = await _sign_up(api, "bo\u200bb@example.com")
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "email"], "INVALID")
    ]
    assert await UserModel.all().count() == 0


@pytest.mark.parametrize("character", INVISIBLE.values(), ids=INVISIBLE.keys())
async def test_a_display_name_with_an_invisible_character_is_refused(
    api: Api, character: str
) -> None:
    payload = await _sign_up(api, "ann@example.com", f"An{character}n")
    assert payload["token"] is None
    [error] = payload["userErrors"]
    assert (error["field"], error["code"]) == (["input", "displayName"], "INVALID")
    assert f"U+{ord(character):04X}" in error["message"]
    assert await UserModel.all().count() == 0


async def test_a_display_name_is_normalized_to_what_it_looks_like(api: Api) -> None:
    payload = await _sign_up(
        api, "ann@example.com", f"  {full_width('Ann')} \t\n {full_width('Smith')} "
    )
    assert payload["userErrors"] == []
    assert payload["viewer"]["displayName"] == "Ann Smith"
    only_filler = await _sign_up(
        api, "other@example.com", "\u3164"
    )  # NFKC makes it U+1160, as invisible
    assert [e["code"] for e in only_filler["userErrors"]] == ["INVALID"]


async def test_profile_text_others_read_is_checked(api: Api) -> None:
    user = await api.sign_up()

    async def update(**fields: Any) -> dict[str, Any]:
        payload: dict[str, Any] = (await api.gql(UPDATE, {"input": fields}, user.token))[
            "updateProfile"
        ]
        return payload

    refused: list[tuple[dict[str, Any], str]] = [
        ({"displayName": "Admin\u202e"}, "displayName"),
        ({"bio": "Hello\u2066 world"}, "bio"),
        ({"skills": ["Python", "Go\u200b"]}, "skills"),
        ({"avatarUrl": "https://example.com/\u202egnp.exe"}, "avatarUrl"),
    ]
    for fields, field in refused:
        payload = await update(**fields)
        assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
            (["input", field], "INVALID")
        ], fields

    kept = await update(
        displayName=full_width("Maria"),
        bio="Line one\r\nLine two\twith a tab, x² and 👩\u200d💻",
        skills=["Python", full_width("Python"), "Data entry"],
    )
    assert kept["userErrors"] == []
    assert kept["viewer"] == {
        "displayName": "Maria",
        "user": {
            "bio": "Line one\nLine two\twith a tab, x² and 👩\u200d💻",
            "skills": ["Python", "Data entry"],
        },
    }


async def test_task_text_and_messages_are_checked(api: Api) -> None:
    boss = await employer(api)
    hidden_title = await create(api, boss, title="Easy money\u200b")
    assert [(e["field"], e["code"]) for e in hidden_title["userErrors"]] == [
        (["input", "title"], "INVALID")
    ]
    reordered = await create(api, boss, instructions="Send the code to \u202e moc.live")
    assert [(e["field"], e["code"]) for e in reordered["userErrors"]] == [
        (["input", "instructions"], "INVALID")
    ]

    posted = await create(api, boss, title="Watch  a\nvideo", instructions="1. Open\n2. Watch")
    assert posted["userErrors"] == []
    assert posted["task"]["title"] == "Watch a video"

    worker = await api.sign_up()
    task = posted["task"]["id"]
    sent = (await api.gql(SEND, {"task": task, "body": "Pay me\u202e"}, worker.token))[
        "sendMessage"
    ]
    assert [(e["field"], e["code"]) for e in sent["userErrors"]] == [(["input", "body"], "INVALID")]
    fine = (await api.gql(SEND, {"task": task, "body": "Which\ncountry?"}, worker.token))[
        "sendMessage"
    ]
    assert fine["message"] == {"body": "Which\ncountry?"}


@pytest.mark.parametrize(
    ("text", "kind", "refused"),
    [
        ("I \u2764\ufe0f tasks", TextKind.NAME, None),  # emoji presentation selector: fine
        ("A\ufe0f", TextKind.NAME, "\ufe0f"),  # the same selector after a letter: invisible
        (PERSIAN, TextKind.LINE, None),  # Persian needs the zero width non-joiner
        (PERSIAN, TextKind.NAME, "\u200c"),  # names never hold one
        ("\ufdd0", TextKind.PROSE, None),  # a code point with no character (unassigned)
        ("\ufdd0", TextKind.NAME, "\ufdd0"),
        ("a\u2028b", TextKind.PROSE, "\u2028"),  # only \n breaks lines
    ],
)
def test_the_character_rule(text: str, kind: TextKind, refused: str | None) -> None:
    assert first_refused(normalize(text, kind), kind) == refused


def test_names_are_nfkc_prose_keeps_its_characters() -> None:
    assert normalize(FRAKTUR, TextKind.NAME) == "Hello 1"
    assert normalize(FRAKTUR, TextKind.PROSE) == FRAKTUR
    assert normalize("e\u0301", TextKind.PROSE) == "\u00e9"  # NFC still composes
