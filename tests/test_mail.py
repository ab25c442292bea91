"""Mail that really goes out: the outbox and its sender, confirming an address, changing it,
and recovering a forgotten password, read from a real SMTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from picotask.models.mail import AccountToken, MailStatus, OutboxMail
from picotask.models.payouts import Payout
from picotask.models.tasks import Task
from picotask.models.users import User as UserModel
from picotask.server.app import create_app
from picotask.services.core.clock import ManualClock
from picotask.services.mail.sender import MailSender
from picotask.services.mail.transports import open_transport
from tests.mail_server import MailServer, html_of, text_of, token_from
from tests.support import Api, Backend, LiveServer, User, settings_for
from tests.test_logs import json_logs
from tests.test_marketplace_api import task_input
from tests.test_money_api import deposit, payout
from tests.test_sessions_live import ENDED, WITHIN, attempt, works

ME = "{ me { email emailConfirmed pendingEmail } }"
CONFIRM = """mutation($token: String!) { confirmEmail(input: {token: $token}) {
  email userErrors { field message code } } }"""
RESEND = "mutation { resendConfirmation { sent userErrors { field code } } }"
REQUEST_RESET = """mutation($email: String!) { requestPasswordReset(input: {email: $email}) {
  accepted userErrors { field message code } } }"""
RESET = """mutation($token: String!, $password: String!) {
  resetPassword(input: {token: $token, newPassword: $password}) {
  token viewer { email } userErrors { field message code } } }"""
CHANGE = """mutation($email: String!, $password: String!) {
  changeEmail(input: {newEmail: $email, currentPassword: $password}) {
  pendingEmail viewer { email } userErrors { field message code } } }"""
LOG_IN = """mutation($email: String!, $password: String!) {
  logIn(input: {email: $email, password: $password}) { token userErrors { code } } }"""
CLAIM = """mutation($id: ID!) { claimTask(input: {taskId: $id}) {
  submission { id } userErrors { field code message } } }"""
CREATE = """mutation($input: CreateTaskInput!) { createTask(input: $input) {
  task { id status } userErrors { field code message } } }"""
PASSWORD = "correct horse battery"
NEW_PASSWORD = "tangerine orbit lantern"


@pytest.fixture
async def mail_api(
    database_url: str, backend: Backend, clock: ManualClock, mail_server: MailServer
) -> AsyncIterator[Api]:
    """The app sending its mail to the local SMTP server; the tests run the sender."""
    async with served(database_url, backend, clock, mail_url=mail_server.url) as api:
        yield api


@pytest.fixture
async def strict_api(
    database_url: str, backend: Backend, clock: ManualClock, mail_server: MailServer
) -> AsyncIterator[Api]:
    """As in production: claiming, posting and withdrawing wait for a confirmed address."""
    async with served(
        database_url, backend, clock, mail_url=mail_server.url, require_confirmed_email=True
    ) as api:
        yield api


def served(database_url: str, backend: Backend, clock: ManualClock, **overrides: Any) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def run() -> AsyncIterator[Api]:
        settings = settings_for(
            database_url,
            backend.broadcast,
            background_workers=False,
            web_url="https://app.example.test",
            **overrides,
        )
        async with (
            LiveServer(create_app(settings, clock)) as server,
            httpx.AsyncClient(base_url=server.http_url, timeout=10) as client,
        ):
            yield Api(client, server, clock)

    return run()


def titled(mail_server: MailServer, user: User, subject: str) -> EmailMessage:
    """The mail to `user` whose subject starts so (mails sent side by side arrive in any order)."""
    (found,) = [m for m in mail_server.to(user.email) if str(m["Subject"]).startswith(subject)]
    return found


async def deliver(api: Api) -> int:
    return await api.services.mail_sender.run_once()


async def confirmation_token(api: Api, mail_server: MailServer, user: User, count: int = 1) -> str:
    await deliver(api)
    message = await mail_server.wait_for(user.email, count)
    return token_from(message, "/confirm-email")


# -- confirming an address ---------------------------------------------------------------


async def test_sign_up_mails_a_confirmation_link_that_works_once(
    mail_api: Api, mail_server: MailServer
) -> None:
    user = await mail_api.sign_up(display_name="Ann")
    assert (await mail_api.gql(ME, token=user.token))["me"]["emailConfirmed"] is False
    await deliver(mail_api)
    message = await mail_server.wait_for(user.email)
    assert message["Subject"] == "Confirm your email address for picotask"
    assert message["From"] == "picotask <no-reply@picotask.localhost>"
    assert message["Message-ID"].startswith("<mail-")
    assert "Hello Ann," in text_of(message)
    token = token_from(message, "/confirm-email")
    assert f"https://app.example.test/confirm-email?token={token}" in text_of(message)
    assert f'href="https://app.example.test/confirm-email?token={token}"' in html_of(message)

    data = await mail_api.gql(CONFIRM, {"token": token})  # no session needed
    assert data["confirmEmail"] == {"email": user.email, "userErrors": []}
    assert (await mail_api.gql(ME, token=user.token))["me"]["emailConfirmed"] is True
    again = (await mail_api.gql(CONFIRM, {"token": token}))["confirmEmail"]
    assert again["userErrors"][0]["code"] == "INVALID_TOKEN"
    assert again["userErrors"][0]["field"] == ["input", "token"]
    # Sent: its bodies (and the token in them) are gone from the outbox.
    sent = await OutboxMail.get(to_address=user.email)
    assert (sent.status, sent.text_body, sent.html_body) == (MailStatus.SENT, "", "")


@pytest.mark.parametrize("token", ["", "x" * 43, "not a token", "a" * 5000])
async def test_a_forged_token_is_refused_and_writes_nothing(mail_api: Api, token: str) -> None:
    user = await mail_api.sign_up()
    payload = (await mail_api.gql(CONFIRM, {"token": token}))["confirmEmail"]
    assert payload["email"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["INVALID_TOKEN"]
    assert (await mail_api.gql(ME, token=user.token))["me"]["emailConfirmed"] is False


async def test_a_confirmation_link_expires(
    mail_api: Api, mail_server: MailServer, clock: ManualClock
) -> None:
    user = await mail_api.sign_up()
    token = await confirmation_token(mail_api, mail_server, user)
    clock.advance(mail_api.services.settings.confirm_email_seconds + 1)
    payload = (await mail_api.gql(CONFIRM, {"token": token}))["confirmEmail"]
    assert payload["userErrors"][0]["code"] == "INVALID_TOKEN"
    assert (await mail_api.gql(ME, token=user.token))["me"]["emailConfirmed"] is False


async def test_resending_replaces_the_link_and_is_rate_limited(
    mail_api: Api, mail_server: MailServer
) -> None:
    user = await mail_api.sign_up()
    first = await confirmation_token(mail_api, mail_server, user)
    burst = mail_api.services.settings.account_mail_burst
    for _ in range(burst):
        assert (await mail_api.gql(RESEND, token=user.token))["resendConfirmation"]["sent"]
    errors = await mail_api.errors(RESEND, token=user.token)
    assert errors[0]["extensions"]["code"] == "RATE_LIMITED"
    assert errors[0]["extensions"]["retryAfterSeconds"] >= 1
    await confirmation_token(mail_api, mail_server, user, count=1 + burst)
    assert len(mail_server.to(user.email)) == 1 + burst  # the refused one wrote nothing
    # Sent side by side, they may arrive in any order: the newest is the one written last.
    newest = max(mail_server.to(user.email), key=lambda m: int(m["Message-ID"][6:].split(".")[0]))
    latest = token_from(newest, "/confirm-email")
    stale = (await mail_api.gql(CONFIRM, {"token": first}))["confirmEmail"]
    assert stale["userErrors"][0]["code"] == "INVALID_TOKEN"
    assert (await mail_api.gql(CONFIRM, {"token": latest}))["confirmEmail"]["userErrors"] == []
    done = (await mail_api.gql(RESEND, token=user.token))["resendConfirmation"]
    assert done["userErrors"][0]["code"] == "INVALID_STATUS"


async def test_an_unconfirmed_account_may_not_claim_post_or_withdraw(
    strict_api: Api, mail_server: MailServer
) -> None:
    api = strict_api
    employer = await api.sign_up()
    worker = await api.sign_up()
    await deposit(api, employer, "20.00")  # paying in is allowed
    task = task_input(publish=True)
    refused = (await api.gql(CREATE, task, employer.token))["createTask"]
    assert [e["code"] for e in refused["userErrors"]] == ["EMAIL_NOT_CONFIRMED"]
    assert await Task.all().count() == 0
    await api.gql(CONFIRM, {"token": await confirmation_token(api, mail_server, employer)})
    created = (await api.gql(CREATE, task, employer.token))["createTask"]
    assert created["userErrors"] == []
    assert created["task"]["status"] == "OPEN"

    claim = (await api.gql(CLAIM, {"id": created["task"]["id"]}, worker.token))["claimTask"]
    assert [e["code"] for e in claim["userErrors"]] == ["EMAIL_NOT_CONFIRMED"]
    withdraw = await payout(api, worker)
    assert [e["code"] for e in withdraw["userErrors"]] == ["EMAIL_NOT_CONFIRMED"]
    assert await Payout.all().count() == 0
    await api.gql(CONFIRM, {"token": await confirmation_token(api, mail_server, worker)})
    claim = (await api.gql(CLAIM, {"id": created["task"]["id"]}, worker.token))["claimTask"]
    assert claim["userErrors"] == []


async def test_development_does_not_wait_for_the_confirmation(mail_api: Api) -> None:
    assert mail_api.services.settings.confirmation_required is False
    user = await mail_api.sign_up()
    await deposit(mail_api, user, "20.00")
    assert (await payout(mail_api, user))["userErrors"] == []


# -- a forgotten password ----------------------------------------------------------------


async def test_a_forgotten_password_is_recovered_from_the_mail(
    mail_api: Api, mail_server: MailServer
) -> None:
    api = mail_api
    user = await api.sign_up(display_name="Ann")
    await deliver(api)  # the confirmation
    async with api.ws(user.token) as old_socket:
        await works(old_socket)
        answer = await api.post(REQUEST_RESET, {"email": user.email.upper()})
        assert answer.json()["data"] == {
            "requestPasswordReset": {"accepted": True, "userErrors": []}
        }
        await deliver(api)
        message = await mail_server.wait_for(user.email, 2)
        assert message["Subject"] == "Reset your picotask password"
        token = token_from(message, "/reset-password")

        weak = await api.gql(RESET, {"token": token, "password": "password123"})
        assert weak["resetPassword"]["userErrors"][0]["code"] == "COMMON_PASSWORD"
        short = (await api.gql(RESET, {"token": token, "password": "short"}))["resetPassword"]
        assert short["userErrors"][0]["field"] == ["input", "newPassword"]

        reset = (await api.gql(RESET, {"token": token, "password": NEW_PASSWORD}))["resetPassword"]
        assert reset["userErrors"] == []
        assert reset["viewer"]["email"] == user.email
        await attempt(old_socket, "me2", ME)
        assert await old_socket.close_code(WITHIN) == ENDED
    assert (await api.errors(ME, token=user.token))[0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await api.gql(ME, token=reset["token"]))["me"]["emailConfirmed"] is True
    old = (await api.gql(LOG_IN, {"email": user.email, "password": PASSWORD}))["logIn"]
    assert old["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    new = (await api.gql(LOG_IN, {"email": user.email, "password": NEW_PASSWORD}))["logIn"]
    assert new["userErrors"] == []
    used = await api.gql(RESET, {"token": token, "password": "another long phrase"})
    assert used["resetPassword"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    await deliver(api)
    notice = await mail_server.wait_for(user.email, 3)
    assert notice["Subject"] == "Your picotask password was changed"


async def test_a_reset_for_an_unknown_address_answers_and_works_the_same(
    mail_api: Api, mail_server: MailServer
) -> None:
    api = mail_api
    user = await api.sign_up()
    before = await OutboxMail.all().count()
    known = await api.post(REQUEST_RESET, {"email": user.email})
    unknown = await api.post(REQUEST_RESET, {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.json()["data"] == unknown.json()["data"]
    # Each wrote exactly one outbox row, rendered only when the sender takes it.
    rows = await OutboxMail.filter(id__gt=0).order_by("id").offset(before)
    assert [(r.kind, r.subject, r.user_id) for r in rows] == [("password_reset", "", None)] * 2
    assert await AccountToken.filter(purpose="PASSWORD_RESET").count() == 0
    await deliver(api)
    assert [str(m["To"]) for m in mail_server.messages].count(user.email) == 2
    assert mail_server.to("nobody@example.com") == []
    dropped = await OutboxMail.get(to_address="nobody@example.com")
    assert dropped.status == MailStatus.DROPPED


async def test_a_reset_link_is_short_lived(
    mail_api: Api, mail_server: MailServer, clock: ManualClock
) -> None:
    user = await mail_api.sign_up()
    await mail_api.gql(REQUEST_RESET, {"email": user.email})
    await deliver(mail_api)
    await mail_server.wait_for(user.email, 2)
    token = token_from(titled(mail_server, user, "Reset your picotask password"), "/reset-password")
    clock.advance(mail_api.services.settings.password_reset_seconds + 1)
    payload = await mail_api.gql(RESET, {"token": token, "password": NEW_PASSWORD})
    assert payload["resetPassword"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    stored = await UserModel.get(email=user.email)
    assert await mail_api.services.users.passwords.verify(stored.password_hash, PASSWORD)


async def test_reset_requests_are_rate_limited_per_address(mail_api: Api) -> None:
    burst = mail_api.services.settings.account_mail_burst
    for _ in range(burst):
        assert await mail_api.gql(REQUEST_RESET, {"email": "ann@example.com"})
    rows = await OutboxMail.all().count()
    errors = await mail_api.errors(REQUEST_RESET, {"email": "ANN@example.com"})
    assert errors[0]["extensions"]["code"] == "RATE_LIMITED"
    assert await OutboxMail.all().count() == rows
    # Another address is not held up by it, even from the same network.
    other = await mail_api.gql(REQUEST_RESET, {"email": "bob@example.com"})
    assert other["requestPasswordReset"]["accepted"] is True


@pytest.mark.parametrize("email", ["", "not-an-address", "a@b", "x" * 300 + "@example.com"])
async def test_a_reset_for_a_malformed_address_names_the_field(mail_api: Api, email: str) -> None:
    payload = (await mail_api.gql(REQUEST_RESET, {"email": email}))["requestPasswordReset"]
    assert payload["accepted"] is False
    assert payload["userErrors"][0]["field"] == ["input", "email"]
    assert await OutboxMail.filter(kind="password_reset").count() == 0


# -- changing the address ----------------------------------------------------------------


async def test_a_new_address_takes_effect_once_confirmed_and_the_old_one_is_told(
    mail_api: Api, mail_server: MailServer
) -> None:
    api = mail_api
    user = await api.sign_up(email="ann@example.com")
    other = await api.sign_up(email="bob@example.com")
    wrong = await api.gql(CHANGE, {"email": "ann@new.example", "password": "nope"}, user.token)
    assert wrong["changeEmail"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS"
    taken = await api.gql(CHANGE, {"email": other.email, "password": PASSWORD}, user.token)
    assert taken["changeEmail"]["userErrors"][0]["field"] == ["input", "newEmail"]
    bad = await api.gql(CHANGE, {"email": "nope", "password": PASSWORD}, user.token)
    assert bad["changeEmail"]["userErrors"][0] == {
        "field": ["input", "newEmail"],
        "message": "newEmail is not a valid email address.",
        "code": "INVALID",
    }
    changed = await api.gql(CHANGE, {"email": "Ann@New.example", "password": PASSWORD}, user.token)
    assert changed["changeEmail"] == {
        "pendingEmail": "ann@new.example",
        "viewer": {"email": "ann@example.com"},
        "userErrors": [],
    }
    me = (await api.gql(ME, token=user.token))["me"]
    assert me == {
        "email": "ann@example.com",
        "emailConfirmed": False,
        "pendingEmail": "ann@new.example",
    }
    await deliver(api)
    notice = await mail_server.wait_for("ann@example.com", 2)
    assert "a***@new.example" in text_of(notice)
    link = await mail_server.wait_for("ann@new.example")
    token = token_from(link, "/confirm-email")
    confirmed = (await api.gql(CONFIRM, {"token": token}))["confirmEmail"]
    assert confirmed == {"email": "ann@new.example", "userErrors": []}
    me = (await api.gql(ME, token=user.token))["me"]
    assert me == {"email": "ann@new.example", "emailConfirmed": True, "pendingEmail": None}
    logged = (await api.gql(LOG_IN, {"email": "ann@new.example", "password": PASSWORD}))["logIn"]
    assert logged["userErrors"] == []
    await deliver(api)
    assert "which it now is" in text_of(await mail_server.wait_for("ann@example.com", 3))


# -- the sender --------------------------------------------------------------------------


async def test_a_busy_server_is_tried_again_later_and_the_mail_arrives_once(
    mail_api: Api, mail_server: MailServer, clock: ManualClock
) -> None:
    mail_server.busy = True
    user = await mail_api.sign_up()
    assert await deliver(mail_api) == 1
    row = await OutboxMail.get(to_address=user.email)
    assert (row.status, row.attempts, row.handed_at) == (MailStatus.PENDING, 1, None)
    assert "SMTP" in row.last_error
    assert await deliver(mail_api) == 0  # not due before its backoff
    mail_server.busy = False
    clock.advance(mail_api.services.settings.mail_retry_base_seconds + 1)
    assert await deliver(mail_api) == 1
    assert await deliver(mail_api) == 0
    assert len(mail_server.to(user.email)) == 1
    assert (await OutboxMail.get(id=row.id)).status == MailStatus.SENT


async def test_a_refused_recipient_is_not_tried_again(
    mail_api: Api, mail_server: MailServer, clock: ManualClock
) -> None:
    mail_server.refuse.add("gone@example.com")
    await mail_api.sign_up(email="gone@example.com")
    await deliver(mail_api)
    row = await OutboxMail.get(to_address="gone@example.com")
    assert row.status == MailStatus.FAILED
    assert "550" in row.last_error
    clock.advance(86_400)
    assert await deliver(mail_api) == 0


async def test_two_senders_at_once_send_each_mail_once(
    mail_api: Api, mail_server: MailServer, clock: ManualClock
) -> None:
    users = [await mail_api.sign_up() for _ in range(12)]
    services = mail_api.services
    other = MailSender(services.settings, clock, services.mail, open_transport(services.settings))
    await asyncio.gather(services.mail_sender.run_once(), other.run_once())
    assert sorted(str(m["To"]) for m in mail_server.messages) == sorted(u.email for u in users)


async def test_a_mail_handed_over_by_a_sender_that_died_is_never_sent_again(
    mail_api: Api, mail_server: MailServer, clock: ManualClock
) -> None:
    user = await mail_api.sign_up()
    row = await OutboxMail.get(to_address=user.email)
    # What a sender leaves when it dies between DATA and the answer.
    await OutboxMail.filter(id=row.id).update(
        attempts=1, handed_at=clock.now(), lease_until=clock.now()
    )
    clock.advance(1)
    assert await deliver(mail_api) == 0
    row = await OutboxMail.get(id=row.id)
    assert row.status == MailStatus.FAILED
    assert "may have arrived" in row.last_error
    assert mail_server.to(user.email) == []


async def test_development_writes_mails_as_files(
    database_url: str, backend: Backend, clock: ManualClock, tmp_path: Path
) -> None:
    async with served(database_url, backend, clock, mail_url=f"file://{tmp_path}/mail") as api:
        user = await api.sign_up()
        await deliver(api)
        (written,) = (tmp_path / "mail").glob("*.eml")
        content = written.read_text()
        assert f"To: {user.email}" in content
        assert "/confirm-email?token=" in content


async def test_no_token_reaches_a_log_line(mail_api: Api, mail_server: MailServer) -> None:
    """Everything logged at debug level, as `picotask serve` logs it, through a sign-up, a
    failed and a good delivery, a reset and its use."""
    with json_logs("DEBUG") as lines:
        mail_server.busy = True  # a failed attempt logs a warning
        user = await mail_api.sign_up()
        await deliver(mail_api)
        mail_server.busy = False
        mail_api.clock.advance(3_600)
        await mail_api.gql(REQUEST_RESET, {"email": user.email})
        await deliver(mail_api)
        await mail_server.wait_for(user.email, 2)
        confirm = token_from(titled(mail_server, user, "Confirm your email"), "/confirm-email")
        reset = token_from(titled(mail_server, user, "Reset your"), "/reset-password")
        await mail_api.gql(CONFIRM, {"token": confirm})
        await mail_api.gql(RESET, {"token": reset, "password": NEW_PASSWORD})
    assert "not sent" in lines.text  # the failed attempt was logged
    assert any(r["logger"].startswith("tortoise") for r in lines.records())
    assert confirm not in lines.text
    assert reset not in lines.text
