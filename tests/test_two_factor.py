"""Two factors (TOTP) over the real app: enrolling with a first code, recovery codes shown
once, the code that withdrawing and changing the email or password then need, replays, too
many codes, and leaving again; the mails read from a real SMTP server."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest

from picotask.models.mail import AccountToken, TokenPurpose
from picotask.models.payouts import Payout
from picotask.models.users import RecoveryCode
from picotask.models.users import User as UserModel
from picotask.services.core.clock import ManualClock
from tests.mail_server import MailServer, text_of, token_from
from tests.support import Api, Backend, User
from tests.test_logs import json_logs
from tests.test_mail import NEW_PASSWORD, PASSWORD, REQUEST_RESET, deliver, served, titled
from tests.test_money_api import deposit

ME = "{ me { twoFactorEnabled balance { amount } } }"
START = "mutation { startTwoFactor { secret otpauthUri userErrors { field message code } } }"
ENABLE = """mutation($code: String!) { enableTwoFactor(input: {code: $code}) {
  recoveryCodes viewer { twoFactorEnabled } userErrors { field message code } } }"""
DISABLE = """mutation($code: String!) { disableTwoFactor(input: {code: $code}) {
  viewer { twoFactorEnabled } userErrors { field message code } } }"""
PAYOUT = """mutation($input: RequestPayoutInput!) { requestPayout(input: $input) {
  payout { id amount { amount } destination } viewer { balance { amount } }
  userErrors { field message code } } }"""
CHANGE_EMAIL = """mutation($input: ChangeEmailInput!) { changeEmail(input: $input) {
  pendingEmail userErrors { field message code } } }"""
UPDATE = """mutation($input: UpdateProfileInput!) { updateProfile(input: $input) {
  token userErrors { field message code } } }"""
RESET_WITH_CODE = """mutation($token: String!, $password: String!, $code: String) {
  resetPassword(input: {token: $token, newPassword: $password, twoFactorCode: $code}) {
  token userErrors { field message code } } }"""
CODE_FIELD = ["input", "twoFactorCode"]
LEFT = "{ me { recoveryCodesLeft } }"


@pytest.fixture
async def mail_api(
    database_url: str, backend: Backend, clock: ManualClock, mail_server: MailServer
) -> AsyncIterator[Api]:
    async with served(database_url, backend, clock, mail_url=mail_server.url) as api:
        yield api


def code(secret: str, clock: ManualClock, steps: int = 0) -> str:
    """What the authenticator app shows now (or `steps` of 30 s away)."""
    return pyotp.TOTP(secret).at(clock.now(), counter_offset=steps)


def wrong(secret: str, clock: ManualClock) -> str:
    """A code of six digits that is none of the three accepted now."""
    good = {code(secret, clock, s) for s in (-1, 0, 1)}
    guess = int(code(secret, clock, 7))
    while f"{guess:06d}" in good:
        guess = (guess + 1) % 1_000_000
    return f"{guess:06d}"


async def enrol(api: Api, user: User) -> tuple[str, list[str]]:
    """Two factors on for `user`: the secret and the recovery codes."""
    started = (await api.gql(START, token=user.token))["startTwoFactor"]
    secret = started["secret"]
    enabled = (await api.gql(ENABLE, {"code": code(secret, api.clock)}, user.token))[
        "enableTwoFactor"
    ]
    assert enabled["userErrors"] == []
    # The enrolling code is spent: the next step's code is the first one good for a step.
    api.clock.advance(30)
    return secret, enabled["recoveryCodes"]


async def pay(api: Api, user: User, **values: Any) -> dict[str, Any]:
    request = {"amount": "5.00", "method": "PAYPAL", "destination": "me@example.com"}
    request.update(values)
    payload: dict[str, Any] = (await api.gql(PAYOUT, {"input": request}, user.token))[
        "requestPayout"
    ]
    return payload


async def balance(api: Api, user: User) -> str:
    me = (await api.gql(ME, token=user.token))["me"]
    amount: str = me["balance"]["amount"]
    return amount


def refusal(payload: dict[str, Any]) -> tuple[str, list[str] | None]:
    (error,) = payload["userErrors"]
    return error["code"], error["field"]


async def test_enrolling_takes_a_first_code_and_shows_recovery_codes_once(
    mail_api: Api, mail_server: MailServer
) -> None:
    user = await mail_api.sign_up(display_name="Ann")
    started = (await mail_api.gql(START, token=user.token))["startTwoFactor"]
    secret = started["secret"]
    assert started["userErrors"] == []
    uri = started["otpauthUri"]
    assert uri.startswith("otpauth://totp/picotask:")
    assert f"secret={secret}" in uri
    assert "issuer=picotask" in uri
    # Pending: not on until a code proves the app has the secret.
    assert (await mail_api.gql(ME, token=user.token))["me"]["twoFactorEnabled"] is False

    refused = (await mail_api.gql(ENABLE, {"code": wrong(secret, mail_api.clock)}, user.token))[
        "enableTwoFactor"
    ]
    assert refusal(refused) == ("INVALID_CODE", ["input", "code"])
    assert refused["recoveryCodes"] is None
    row = await UserModel.get(email=user.email)
    assert (row.two_factor_enabled_at, row.two_factor_secret) == (None, None)
    assert await RecoveryCode.all().count() == 0

    enabled = (await mail_api.gql(ENABLE, {"code": code(secret, mail_api.clock)}, user.token))[
        "enableTwoFactor"
    ]
    assert enabled["userErrors"] == []
    assert enabled["viewer"] == {"twoFactorEnabled": True}
    codes = enabled["recoveryCodes"]
    assert len(codes) == len(set(codes)) == 10
    # Stored only as SHA-256 hashes.
    stored = {r.code_hash for r in await RecoveryCode.filter(user_id=row.id)}
    assert stored == {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes}
    assert (await mail_api.gql(ME, token=user.token))["me"]["twoFactorEnabled"] is True

    again = (await mail_api.gql(START, token=user.token))["startTwoFactor"]
    assert refusal(again)[0] == "INVALID_STATUS"
    assert again["secret"] is None
    await deliver(mail_api)
    mail = await mail_server.wait_for(user.email, 2)  # the confirmation link came first
    assert mail["Subject"] == "Two factors were enabled on your picotask account"
    assert "Hello Ann," in text_of(mail)


async def test_a_payout_needs_a_current_code_good_once(mail_api: Api) -> None:
    user = await mail_api.sign_up()
    await deposit(mail_api, user, "25.00")
    secret, _ = await enrol(mail_api, user)
    clock = mail_api.clock

    missing = await pay(mail_api, user)
    assert refusal(missing) == ("TWO_FACTOR_REQUIRED", CODE_FIELD)
    blank = await pay(mail_api, user, twoFactorCode="  ")
    assert refusal(blank) == ("TWO_FACTOR_REQUIRED", CODE_FIELD)
    bad = await pay(mail_api, user, twoFactorCode=wrong(secret, clock))
    assert refusal(bad) == ("INVALID_CODE", CODE_FIELD)
    # A bad request spends no code: the good code still works after it.
    over = await pay(mail_api, user, amount="99.00", twoFactorCode=code(secret, clock))
    assert refusal(over) == ("INSUFFICIENT_FUNDS", ["input", "amount"])
    assert await Payout.all().count() == 0
    assert await balance(mail_api, user) == "25.00"

    now = code(secret, clock)
    paid = await pay(mail_api, user, twoFactorCode=now)
    assert paid["userErrors"] == []
    assert paid["viewer"]["balance"] == {"amount": "20.00"}
    replayed = await pay(mail_api, user, twoFactorCode=now)
    assert refusal(replayed) == ("INVALID_CODE", CODE_FIELD)
    assert "used already" in replayed["userErrors"][0]["message"]
    # Nor a code of an earlier step once a later one was taken.
    clock.advance(30)
    later = await pay(mail_api, user, twoFactorCode=code(secret, clock, 1))
    assert later["userErrors"] == []
    earlier = await pay(mail_api, user, twoFactorCode=code(secret, clock))
    assert refusal(earlier) == ("INVALID_CODE", CODE_FIELD)
    assert await Payout.all().count() == 2
    assert await balance(mail_api, user) == "15.00"

    # A retry with the idempotency key returns the first payout: nothing new to allow.
    clock.advance(60)
    first = await pay(mail_api, user, idempotencyKey="k1", twoFactorCode=code(secret, clock))
    retry = await pay(mail_api, user, idempotencyKey="k1", twoFactorCode=code(secret, clock))
    assert retry["userErrors"] == []
    assert retry["payout"]["id"] == first["payout"]["id"]
    assert await balance(mail_api, user) == "10.00"


async def test_changing_the_email_or_the_password_needs_a_code(mail_api: Api) -> None:
    user = await mail_api.sign_up()
    secret, _ = await enrol(mail_api, user)
    clock = mail_api.clock
    change = {"newEmail": "new@example.com", "currentPassword": PASSWORD}
    password = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    row = await UserModel.get(email=user.email)

    for query, values, name in (
        (CHANGE_EMAIL, change, "changeEmail"),
        (UPDATE, password, "updateProfile"),
    ):
        missing = (await mail_api.gql(query, {"input": values}, user.token))[name]
        assert refusal(missing) == ("TWO_FACTOR_REQUIRED", CODE_FIELD)
        bad = {**values, "twoFactorCode": wrong(secret, clock)}
        refused = (await mail_api.gql(query, {"input": bad}, user.token))[name]
        assert refusal(refused) == ("INVALID_CODE", CODE_FIELD)
    assert await AccountToken.filter(purpose=TokenPurpose.CHANGE_EMAIL).count() == 0
    assert (await UserModel.get(id=row.id)).password_hash == row.password_hash

    # A profile change without a new password needs none.
    renamed = await mail_api.gql(UPDATE, {"input": {"displayName": "Bo"}}, user.token)
    assert renamed["updateProfile"]["userErrors"] == []

    good = {**change, "twoFactorCode": code(secret, clock)}
    changed = (await mail_api.gql(CHANGE_EMAIL, {"input": good}, user.token))["changeEmail"]
    assert changed == {"pendingEmail": "new@example.com", "userErrors": []}
    clock.advance(30)
    good = {**password, "twoFactorCode": code(secret, clock)}
    updated = (await mail_api.gql(UPDATE, {"input": good}, user.token))["updateProfile"]
    assert updated["userErrors"] == []
    assert updated["token"]


async def test_too_many_codes_are_rate_limited_and_write_nothing(
    database_url: str, backend: Backend, clock: ManualClock, mail_server: MailServer
) -> None:
    async with served(
        database_url,
        backend,
        clock,
        mail_url=mail_server.url,
        two_factor_free_failures=3,
        throttle_base_delay_seconds=60,
    ) as api:
        user = await api.sign_up()
        await deposit(api, user, "25.00")
        secret, _ = await enrol(api, user)
        for _ in range(3):
            bad = await pay(api, user, twoFactorCode=wrong(secret, clock))
            assert refusal(bad) == ("INVALID_CODE", CODE_FIELD)
        # The fourth wrong one starts a wait; until it ends even the right code is refused.
        assert refusal(await pay(api, user, twoFactorCode=wrong(secret, clock)))[0] == (
            "INVALID_CODE"
        )
        (error,) = await api.errors(
            PAYOUT,
            {
                "input": {
                    "amount": "5.00",
                    "method": "PAYPAL",
                    "destination": "me@example.com",
                    "twoFactorCode": code(secret, clock),
                }
            },
            user.token,
        )
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfterSeconds"] == 60
        disabled = await api.errors(DISABLE, {"code": code(secret, clock)}, user.token)
        assert disabled[0]["extensions"]["code"] == "RATE_LIMITED"
        assert await Payout.all().count() == 0
        assert await balance(api, user) == "25.00"
        assert (await UserModel.get(email=user.email)).two_factor_enabled_at is not None

        clock.advance(60)
        paid = await pay(api, user, twoFactorCode=code(secret, clock))
        assert paid["userErrors"] == []
        # A good code forgives the failures before it.
        for _ in range(3):
            assert refusal(await pay(api, user, twoFactorCode=wrong(secret, clock)))[0] == (
                "INVALID_CODE"
            )


async def test_leaving_takes_a_code_or_a_recovery_code_once(
    mail_api: Api, mail_server: MailServer
) -> None:
    user = await mail_api.sign_up()
    await deposit(mail_api, user, "25.00")
    secret, codes = await enrol(mail_api, user)
    clock = mail_api.clock

    assert (await mail_api.gql(LEFT, token=user.token))["me"]["recoveryCodesLeft"] == 10
    refused = (await mail_api.gql(DISABLE, {"code": "aaaaa-aaaaa"}, user.token))["disableTwoFactor"]
    assert refusal(refused) == ("INVALID_CODE", ["input", "code"])
    # Recovery codes are for leaving, not for payouts.
    assert refusal(await pay(mail_api, user, twoFactorCode=codes[0]))[0] == "INVALID_CODE"
    left = (await mail_api.gql(DISABLE, {"code": codes[0].upper()}, user.token))["disableTwoFactor"]
    assert left == {"viewer": {"twoFactorEnabled": False}, "userErrors": []}
    assert (await mail_api.gql(LEFT, token=user.token))["me"]["recoveryCodesLeft"] is None
    assert await RecoveryCode.all().count() == 0
    assert (await pay(mail_api, user))["userErrors"] == []  # no code needed any more
    assert refusal(
        (await mail_api.gql(DISABLE, {"code": code(secret, clock)}, user.token))["disableTwoFactor"]
    ) == ("INVALID_STATUS", None)

    # Back on (new secret, new recovery codes): an old recovery code is gone for good.
    clock.advance(30)
    secret, fresh = await enrol(mail_api, user)
    assert not set(fresh) & set(codes)
    old = (await mail_api.gql(DISABLE, {"code": codes[1]}, user.token))["disableTwoFactor"]
    assert refusal(old) == ("INVALID_CODE", ["input", "code"])
    off = (await mail_api.gql(DISABLE, {"code": code(secret, clock)}, user.token))[
        "disableTwoFactor"
    ]
    assert off["userErrors"] == []
    await deliver(mail_api)
    await mail_server.wait_for(user.email, 5)
    subjects = [str(m["Subject"]) for m in mail_server.to(user.email)]
    assert subjects.count("Two factors were enabled on your picotask account") == 2
    assert subjects.count("Two factors were disabled on your picotask account") == 2


async def test_no_secret_code_or_recovery_code_reaches_a_log_line(mail_api: Api) -> None:
    with json_logs("DEBUG") as lines:
        user = await mail_api.sign_up()
        started = (await mail_api.gql(START, token=user.token))["startTwoFactor"]
        secret = started["secret"]
        first = code(secret, mail_api.clock)
        bad = wrong(secret, mail_api.clock)
        await mail_api.gql(ENABLE, {"code": bad}, user.token)
        enabled = (await mail_api.gql(ENABLE, {"code": first}, user.token))["enableTwoFactor"]
        codes = enabled["recoveryCodes"]
        mail_api.clock.advance(30)
        payment = code(secret, mail_api.clock)
        await pay(mail_api, user, twoFactorCode=payment)
        await mail_api.gql(DISABLE, {"code": codes[0]}, user.token)
    assert any(r["logger"].startswith("tortoise") for r in lines.records())
    for value in (secret, *codes, *(c.replace("-", "") for c in codes)):
        assert value not in lines.text
    # Six digits may turn up in a log line by chance (a duration); as a value, never.
    for digits in (first, bad, payment):
        assert f'"{digits}"' not in lines.text
        assert f"'{digits}'" not in lines.text


async def test_a_password_reset_link_needs_a_code_too(
    mail_api: Api, mail_server: MailServer
) -> None:
    user = await mail_api.sign_up()
    secret, codes = await enrol(mail_api, user)
    await mail_api.gql(REQUEST_RESET, {"email": user.email})
    await deliver(mail_api)
    await mail_server.wait_for(user.email, 3)
    token = token_from(titled(mail_server, user, "Reset your"), "/reset-password")
    before = (await UserModel.get(email=user.email)).password_hash

    missing = await mail_api.gql(RESET_WITH_CODE, {"token": token, "password": NEW_PASSWORD})
    assert refusal(missing["resetPassword"]) == ("TWO_FACTOR_REQUIRED", CODE_FIELD)
    bad = {"token": token, "password": NEW_PASSWORD, "code": wrong(secret, mail_api.clock)}
    refused = (await mail_api.gql(RESET_WITH_CODE, bad))["resetPassword"]
    assert refusal(refused) == ("INVALID_CODE", CODE_FIELD)
    assert refused["token"] is None
    # Nothing written: the link still works, the password is the old one.
    assert (await UserModel.get(email=user.email)).password_hash == before
    good = {"token": token, "password": NEW_PASSWORD, "code": codes[0]}  # the app was lost
    reset = (await mail_api.gql(RESET_WITH_CODE, good))["resetPassword"]
    assert reset["userErrors"] == []
    assert reset["token"]


async def test_one_code_sent_twice_at_once_pays_once(mail_api: Api) -> None:
    user = await mail_api.sign_up()
    await deposit(mail_api, user, "25.00")
    secret, _ = await enrol(mail_api, user)
    now = code(secret, mail_api.clock)
    first, second = await asyncio.gather(
        pay(mail_api, user, twoFactorCode=now), pay(mail_api, user, twoFactorCode=now)
    )
    outcomes = sorted(
        p["userErrors"][0]["code"] if p["userErrors"] else "PAID" for p in (first, second)
    )
    assert outcomes == ["INVALID_CODE", "PAID"]
    assert await Payout.all().count() == 1
    assert await balance(mail_api, user) == "20.00"
