"""Notification mail: each kind arrives after its action through the API, the employers'
digest of new submissions, settings per kind, one-click unsubscribe without a session, and
two instances sending each notification once. Mail is read from a real SMTP server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

import pytest

from picotask.models.events import Event
from picotask.models.mail import AccountToken, OutboxMail, TokenPurpose
from picotask.models.notifications import MailCursor, NotificationSetting
from picotask.models.users import User as UserModel
from picotask.services.core.clock import ManualClock
from picotask.services.core.retention import EventRetention
from picotask.services.integrations.mailer import NotificationMailer
from picotask.services.payments.providers import SandboxPayoutProvider
from tests.mail_server import MailServer, html_of, text_of, token_from
from tests.support import Api, Backend, User, count_queries
from tests.test_batches import create_batch
from tests.test_mail import served
from tests.test_trust import SEND
from tests.workday import GQL, task_input

API_URL = "https://api.example.test"
WEB_URL = "https://app.example.test"
SETTINGS = "{ me { notificationSettings { kind email } } }"
UPDATE = """mutation($settings: [NotificationSettingInput!]!) {
  updateNotificationSettings(input: {settings: $settings}) {
  settings { kind email } userErrors { field message code } } }"""
UNSUBSCRIBE = """mutation($token: String!) { unsubscribe(input: {token: $token}) {
  kind userErrors { field message code } } }"""
RESUBMIT = """mutation($id: ID!) { submitProof(input: {submissionId: $id,
  answers: [{label: "Code", value: "done again"}]}) { userErrors { code message } } }"""
PATIENCE = 10.0


@pytest.fixture
async def api(
    database_url: str, backend: Backend, clock: ManualClock, mail_server: MailServer
) -> AsyncIterator[Api]:
    """Mail to the local SMTP server; the API's own address differs from the web app's."""
    async with served(
        database_url, backend, clock, mail_url=mail_server.url, public_url=API_URL
    ) as api:
        yield api


async def mail_out(api: Api) -> None:
    """One round of the mailer, then of the sender (the tests run them; no background work)."""
    await api.services.notification_mailer.run_once()
    await api.services.mail_sender.run_once()


async def arrived(
    mail_server: MailServer, user: User, subject: str, within: float = PATIENCE
) -> EmailMessage:
    """The one mail to `user` whose subject starts so, once it arrived."""
    deadline = time.monotonic() + within
    while True:
        found = [m for m in mail_server.to(user.email) if str(m["Subject"]).startswith(subject)]
        if found:
            assert len(found) == 1, [str(m["Subject"]) for m in found]
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail {subject!r} to {user.email}: {mail_server.summary()}")
        await asyncio.sleep(0.02)


def notices(mail_server: MailServer, user: User) -> list[str]:
    """The subjects of the notification mails `user` got (the confirmation left out)."""
    return sorted(str(m["Subject"]) for m in mail_server.to(user.email) if "List-Unsubscribe" in m)


def one_click_url(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    assert header.startswith("<"), header
    assert header.endswith(">"), header
    return header[1:-1]


async def employer(api: Api, name: str = "Boss") -> User:
    user = await api.sign_up(display_name=name)
    assert (await api.gql(GQL["deposit"], {"a": "50.00"}, user.token))["createDeposit"][
        "userErrors"
    ] == []
    return user


async def post(api: Api, boss: User, slots: int = 4) -> str:
    data = await api.gql(GQL["task"], task_input("Label it", "1.00", slots), boss.token)
    assert data["createTask"]["userErrors"] == [], data
    task_id: str = data["createTask"]["task"]["id"]
    return task_id


async def do(api: Api, user: User, name: str, **variables: Any) -> dict[str, Any]:
    data = await api.gql(GQL[name], variables, user.token)
    payload: dict[str, Any] = next(iter(data.values()))
    assert payload["userErrors"] == [], data
    return payload


async def submitted(api: Api, task_id: str, name: str = "Worker") -> tuple[User, str]:
    worker = await api.sign_up(display_name=name)
    submission: str = (await do(api, worker, "claim", id=task_id))["submission"]["id"]
    await do(api, worker, "submit", id=submission)
    return worker, submission


# -- every kind ------------------------------------------------------------------------------


async def test_each_kind_arrives_after_its_action(
    api: Api, mail_server: MailServer, clock: ManualClock
) -> None:
    boss = await employer(api)
    task = await post(api, boss)
    ann, good = await submitted(api, task, "Ann")
    await mail_out(api)
    digest = await arrived(mail_server, boss, "1 new submission on Label it")
    assert "1 new submission is waiting for your review on Label it." in text_of(digest)
    assert f"{WEB_URL}/employer/tasks/{task}" in text_of(digest)

    await do(api, boss, "approve", id=good)
    await do(api, boss, "bonus", id=good)
    bob, bad = await submitted(api, task, "Bob")
    await do(api, boss, "reject", id=bad)
    cid, revised = await submitted(api, task, "Cid")
    await do(api, boss, "revise", id=revised)
    await api.gql(SEND, {"task": task, "body": "Which video?"}, cid.token)
    await mail_out(api)

    approved = await arrived(mail_server, ann, "Your work on Label it was approved")
    assert "Hello Ann," in text_of(approved)
    assert "Your work on Label it was approved: +1.00" in text_of(approved)
    assert f"{WEB_URL}/work/{good}" in text_of(approved)
    bonus = await arrived(mail_server, ann, "You received a bonus on Label it")
    assert "Boss sent you a bonus of 0.25: Quick and right" in text_of(bonus)
    rejected = await arrived(mail_server, bob, "Your work on Label it was rejected")
    assert "Not the code" in text_of(rejected)
    revision = await arrived(mail_server, cid, "Revision requested on Label it")
    assert "Add the code" in text_of(revision)
    message = await arrived(mail_server, boss, "New message about Label it")
    assert "Cid about Label it: Which video?" in text_of(message)
    # Within the digest's period: Bob's and Cid's submissions wait for the next mail.
    assert notices(mail_server, boss) == ["1 new submission on Label it", message["Subject"]]

    await do(api, bob, "dispute", id=bad)
    admin = await api.sign_up()
    await UserModel.filter(email=admin.email).update(is_admin=True)
    await do(api, admin, "resolve", id=bad, r="UPHELD")
    await mail_out(api)
    for user in (bob, boss):
        decided = await arrived(mail_server, user, "The dispute on Label it was upheld")
        assert "The dispute on Label it was upheld." in text_of(decided)

    await do(api, ann, "deposit", a="20.00")
    await do(api, ann, "payout", a="5.00")
    await api.services.payout_processor.process_due()
    provider = api.services.providers.payouts
    assert isinstance(provider, SandboxPayoutProvider)
    provider.fail = True
    await do(api, ann, "payout", a="6.00")
    await api.services.payout_processor.process_due()
    await mail_out(api)
    paid = await arrived(mail_server, ann, "Your picotask payout was paid")
    assert "Your payout of 5.00 to Paypal was paid." in text_of(paid)
    assert f"{WEB_URL}/wallet" in text_of(paid)
    failed = await arrived(mail_server, ann, "Your picotask payout failed")
    assert "Destination refused the payment (sandbox)." in text_of(failed)

    # Every notification: the one-click headers, and the same choice in the footer.
    for mail in (digest, approved, bonus, rejected, revision, message, paid, failed):
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        url = urlparse(one_click_url(mail))
        assert (url.scheme, url.netloc, url.path) == ("https", "api.example.test", "/unsubscribe")
        token = token_from(mail, "/unsubscribe")
        assert f"{WEB_URL}/unsubscribe?token={token}" in text_of(mail)
        assert f'href="{WEB_URL}/unsubscribe?token={token}"' in html_of(mail)
        assert f'href="{WEB_URL}/profile"' in html_of(mail)
    # Nothing is mailed twice.
    before = len(mail_server.messages)
    await mail_out(api)
    assert len(mail_server.messages) == before


async def test_a_completed_batch_is_mailed(api: Api, mail_server: MailServer) -> None:
    boss = await employer(api)
    created = await create_batch(api, boss, csv="url,name\nhttps://example.com/a,Ann\n")
    assert created["userErrors"] == [], created
    worker = await api.sign_up()
    submission = (await do(api, worker, "claim", id=created["task"]["id"]))["submission"]["id"]
    answers = [{"label": "Verdict", "value": "fine"}]
    done = await api.gql(
        """mutation($id: ID!, $answers: [ProofAnswerInput!]!) {
        submitProof(input: {submissionId: $id, answers: $answers}) { userErrors { code } } }""",
        {"id": submission, "answers": answers},
        worker.token,
    )
    assert done["submitProof"]["userErrors"] == []
    await do(api, boss, "approve", id=submission)
    await mail_out(api)
    mail = await arrived(mail_server, boss, "Your batch Review a page is complete")
    assert f"{WEB_URL}/employer/tasks/{created['task']['id']}" in text_of(mail)


async def test_an_overturned_dispute_is_one_mail_to_the_worker(
    api: Api, mail_server: MailServer
) -> None:
    boss = await employer(api)
    task = await post(api, boss)
    worker, submission = await submitted(api, task)
    await do(api, boss, "reject", id=submission)
    await do(api, worker, "dispute", id=submission)
    admin = await api.sign_up()
    await UserModel.filter(email=admin.email).update(is_admin=True)
    await mail_out(api)
    await arrived(mail_server, worker, "Your work on Label it was rejected")
    await do(api, admin, "resolve", id=submission, r="OVERTURNED")
    await mail_out(api)
    await arrived(mail_server, worker, "The dispute on Label it was overturned")
    await arrived(mail_server, boss, "The dispute on Label it was overturned")
    assert notices(mail_server, worker) == [
        "The dispute on Label it was overturned",
        "Your work on Label it was rejected",
    ]


# -- the digest ------------------------------------------------------------------------------


async def test_new_submissions_are_mailed_at_most_once_per_task_per_period(
    api: Api, mail_server: MailServer, clock: ManualClock
) -> None:
    period = api.services.settings.submission_digest_seconds
    assert period == 900
    boss = await employer(api)
    task, other = await post(api, boss, slots=6), await post(api, boss)
    await submitted(api, task)
    await mail_out(api)
    await arrived(mail_server, boss, "1 new submission on Label it")

    worker, second = await submitted(api, task)
    await submitted(api, task)
    await submitted(api, other)  # another task has its own period
    await mail_out(api)
    assert len(await OutboxMail.filter(kind="notify_new_submissions")) == 2
    clock.advance(period - 1)
    await mail_out(api)
    assert len(await OutboxMail.filter(kind="notify_new_submissions")) == 2

    clock.advance(1)
    await mail_out(api)
    await arrived(mail_server, boss, "2 new submissions on Label it")
    assert len(await OutboxMail.filter(kind="notify_new_submissions")) == 3
    # A revision coming back is new work to review as well.
    await do(api, boss, "revise", id=second)
    assert (await api.gql(RESUBMIT, {"id": second}, worker.token))["submitProof"][
        "userErrors"
    ] == []
    await mail_out(api)
    assert len(await OutboxMail.filter(kind="notify_new_submissions")) == 3
    clock.advance(period)
    await mail_out(api)
    assert len(await OutboxMail.filter(kind="notify_new_submissions")) == 4
    assert len([s for s in notices(mail_server, boss) if s.startswith("1 new")]) == 3


# -- settings --------------------------------------------------------------------------------


async def test_a_kind_turned_off_is_not_mailed(api: Api, mail_server: MailServer) -> None:
    boss = await employer(api)
    everything = (await api.gql(SETTINGS, token=boss.token))["me"]["notificationSettings"]
    assert len(everything) == 9
    assert all(s["email"] for s in everything)

    off = [
        {"kind": "NEW_SUBMISSIONS", "email": False},
        {"kind": "MESSAGE_RECEIVED", "email": False},
    ]
    changed = (await api.gql(UPDATE, {"settings": off}, boss.token))["updateNotificationSettings"]
    assert changed["userErrors"] == []
    assert {s["kind"]: s["email"] for s in changed["settings"]} == {
        **{s["kind"]: True for s in everything},
        "NEW_SUBMISSIONS": False,
        "MESSAGE_RECEIVED": False,
    }
    task = await post(api, boss)
    worker, submission = await submitted(api, task)
    await api.gql(SEND, {"task": task, "body": "Hello?"}, worker.token)
    await do(api, boss, "approve", id=submission)
    await mail_out(api)
    await arrived(mail_server, worker, "Your work on Label it was approved")
    assert notices(mail_server, boss) == []

    back_on = [{"kind": "MESSAGE_RECEIVED", "email": True}]
    await api.gql(UPDATE, {"settings": back_on}, boss.token)
    await api.gql(SEND, {"task": task, "body": "Still there?"}, worker.token)
    await mail_out(api)
    await arrived(mail_server, boss, "New message about Label it")
    now = (await api.gql(SETTINGS, token=boss.token))["me"]["notificationSettings"]
    assert [s["kind"] for s in now if not s["email"]] == ["NEW_SUBMISSIONS"]


@pytest.mark.parametrize(
    ("settings", "field", "code"),
    [
        ([], ["input", "settings"], "REQUIRED"),
        (
            [{"kind": "PAYOUT_PAID", "email": False}, {"kind": "PAYOUT_PAID", "email": True}],
            ["input", "settings", "1", "kind"],
            "DUPLICATE",
        ),
    ],
)
async def test_bad_settings_are_refused_and_write_nothing(
    api: Api, settings: list[dict[str, Any]], field: list[str], code: str
) -> None:
    user = await api.sign_up()
    payload = (await api.gql(UPDATE, {"settings": settings}, user.token))[
        "updateNotificationSettings"
    ]
    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [(field, code)]
    now = (await api.gql(SETTINGS, token=user.token))["me"]["notificationSettings"]
    assert all(s["email"] for s in now)
    errors = await api.errors(UPDATE, {"settings": []})
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"


# -- unsubscribing ---------------------------------------------------------------------------


async def test_one_click_unsubscribe_needs_no_session(api: Api, mail_server: MailServer) -> None:
    boss = await employer(api)
    task = await post(api, boss)
    worker, submission = await submitted(api, task)
    await do(api, boss, "approve", id=submission)
    await mail_out(api)
    mail = await arrived(mail_server, worker, "Your work on Label it was approved")
    url = urlparse(one_click_url(mail))

    # As a mail client does (RFC 8058): a POST to the header's URL, no cookie, no token.
    forged = await api.client.post(
        f"{url.path}?token={'x' * 43}",
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert forged.status_code == 400
    assert forged.json()["errors"][0]["code"] == "INVALID_TOKEN"
    answer = await api.client.post(
        f"{url.path}?{url.query}",
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"unsubscribed": "SUBMISSION_REVIEWED"}
    now = (await api.gql(SETTINGS, token=worker.token))["me"]["notificationSettings"]
    assert [s["kind"] for s in now if not s["email"]] == ["SUBMISSION_REVIEWED"]

    _, another = await submitted(api, task)
    await do(api, boss, "reject", id=another)
    await do(api, boss, "bonus", id=submission)
    await mail_out(api)
    bonus = await arrived(mail_server, worker, "You received a bonus")
    assert notices(mail_server, worker) == sorted([str(mail["Subject"]), str(bonus["Subject"])])

    # The footer's link: the web page calls the mutation, also without a session.
    token = token_from(bonus, "/unsubscribe")
    done = (await api.gql(UNSUBSCRIBE, {"token": token}))["unsubscribe"]
    assert done == {"kind": "BONUS_RECEIVED", "userErrors": []}
    again = (await api.gql(UNSUBSCRIBE, {"token": token}))["unsubscribe"]
    assert again["kind"] is None
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [
        (["input", "token"], "INVALID_TOKEN")
    ]
    wrong = (await api.gql(UNSUBSCRIBE, {"token": "not a token at all, no"}))["unsubscribe"]
    assert wrong["userErrors"][0]["code"] == "INVALID_TOKEN"
    now = (await api.gql(SETTINGS, token=worker.token))["me"]["notificationSettings"]
    assert [s["kind"] for s in now if not s["email"]] == ["SUBMISSION_REVIEWED", "BONUS_RECEIVED"]


async def test_an_unconfirmed_address_gets_no_notification_where_confirming_is_required(
    database_url: str, backend: Backend, clock: ManualClock, mail_server: MailServer
) -> None:
    async with served(
        database_url, backend, clock, mail_url=mail_server.url, require_confirmed_email=True
    ) as api:
        boss = await api.sign_up()
        worker = await api.sign_up()
        await UserModel.filter(email=boss.email).update(email_confirmed_at=clock.now())
        await UserModel.filter(email=worker.email).update(email_confirmed_at=clock.now())
        await do(api, boss, "deposit", a="20.00")
        task = await post(api, boss)
        submission = (await do(api, worker, "claim", id=task))["submission"]["id"]
        await do(api, worker, "submit", id=submission)
        await UserModel.filter(email=worker.email).update(email_confirmed_at=None)
        await do(api, boss, "approve", id=submission)
        await mail_out(api)
        await arrived(mail_server, boss, "1 new submission")
        assert notices(mail_server, worker) == []


# -- several instances, and the log's retention ----------------------------------------------


async def test_two_instances_mail_each_notification_once(api: Api, mail_server: MailServer) -> None:
    services = api.services
    twin = NotificationMailer(
        services.settings, services.clock, services.mail, services.tokens, services.notifications
    )
    boss = await employer(api)
    task = await post(api, boss, slots=6)
    workers = [await submitted(api, task) for _ in range(5)]
    for _, submission in workers:
        await do(api, boss, "approve", id=submission)
    await asyncio.gather(*(m.run_once() for m in (services.notification_mailer, twin)))
    assert await OutboxMail.filter(kind="notify_submission_reviewed").count() == 5
    assert await OutboxMail.filter(kind="notify_new_submissions").count() == 1
    await services.mail_sender.run_once()
    for worker, _ in workers:
        await arrived(mail_server, worker, "Your work on Label it was approved")
    cursor = await MailCursor.get(id=1)
    newest = await Event.all().order_by("-id").first()
    assert newest is not None
    assert cursor.last_event_id == newest.id


async def test_retention_keeps_what_the_mailer_has_not_read(api: Api, clock: ManualClock) -> None:
    boss = await employer(api)
    await post(api, boss)
    await api.services.notification_mailer.run_once()
    read = (await MailCursor.get(id=1)).last_event_id
    task = await post(api, boss)
    await submitted(api, task)
    unread = await Event.filter(id__gt=read).count()
    assert unread > 1
    clock.advance((api.services.settings.event_retention_days + 1) * 86_400)
    retention = EventRetention(api.services.settings, clock)
    await retention.sweep()
    assert await Event.filter(id__lte=read).count() == 0
    assert await Event.filter(id__gt=read).count() == unread
    await api.services.notification_mailer.run_once()
    await retention.sweep()
    assert await Event.all().count() == 1  # the newest is always kept


async def test_an_unsubscribe_link_expires_and_its_token_is_removed(
    api: Api, mail_server: MailServer, clock: ManualClock
) -> None:
    boss = await employer(api)
    task = await post(api, boss)
    worker, submission = await submitted(api, task)
    await do(api, boss, "approve", id=submission)
    await mail_out(api)
    mail = await arrived(mail_server, worker, "Your work on Label it was approved")
    tokens = AccountToken.filter(purpose=TokenPurpose.UNSUBSCRIBE)
    assert await tokens.count() == 2  # the worker's, and the employer's digest
    clock.advance(api.services.settings.unsubscribe_link_seconds)
    assert (await api.services.sweeper.sweep()).tokens_removed >= 2
    assert await tokens.count() == 0
    late = await api.gql(UNSUBSCRIBE, {"token": token_from(mail, "/unsubscribe")})
    assert late["unsubscribe"]["userErrors"][0]["code"] == "INVALID_TOKEN"
    assert await NotificationSetting.all().count() == 0  # nothing was turned off


async def test_a_page_of_events_takes_a_constant_number_of_queries(api: Api) -> None:
    reads = []
    for n in (2, 6):
        boss = await employer(api)
        task = await post(api, boss, slots=n)
        done = [await submitted(api, task) for _ in range(n)]
        await api.gql(SEND, {"task": task, "body": "Hi"}, done[0][0].token)
        await api.services.notification_mailer.run_once()
        for worker, submission in done:
            await do(api, boss, "approve", id=submission)
            await api.gql(SEND, {"task": task, "body": "Thanks"}, worker.token)
        with count_queries() as counter:
            assert await api.services.notification_mailer.run_once() == 2 * n
        selects = [s for s in counter.statements if s.lstrip().upper().startswith("SELECT")]
        reads.append((len(selects), counter.count))
    # The same statements for 4 mails as for 12: the writes too (a statement each for the
    # tokens and the mails).
    assert reads[0] == reads[1], reads
    assert reads[0][0] >= 5  # the cursor, the events, the users, their settings, the tasks
