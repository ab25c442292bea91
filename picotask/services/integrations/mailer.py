"""The notification mailer: turns new event rows into outbox mails, as the webhook fan-out
turns them into deliveries.

Safe with several instances: a page of the event log is taken by moving the one cursor row
(`MailCursor`) with a conditional update, in the transaction that writes its mails, tokens and
digest counts; an instance that lost the race rolls all of it back. For a page, the recipients,
their settings and the tasks named are read in one query each.

"New submissions" go to the employer as a digest per task (`SubmissionDigest`): each counts
into its task's row, and a round mails every row whose count waits and whose last mail is
`submission_digest_seconds` old, claimed by a conditional update on what it read. So the
first submission after a quiet spell is mailed at once, the next ones together, at most one
mail per task per period.

Mail goes only to an address that may receive it: confirmed, when the deployment requires
confirmed addresses (`confirmation_required`), and never for a kind the user turned off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from picotask.models.events import Event, Stream
from picotask.models.mail import AccountToken, TokenPurpose
from picotask.models.notifications import MailCursor, NotificationKind, SubmissionDigest
from picotask.models.tasks import Task
from picotask.models.users import User
from picotask.services.accounts.tokens import EmailTokens
from picotask.services.core.clock import Clock
from picotask.services.core.global_ids import global_id
from picotask.services.core.rounds import run_rounds
from picotask.services.integrations.notifications import NotificationPreferences
from picotask.services.integrations.webhooks import BATCH_COMPLETED, webhook_of
from picotask.services.mail.outbox import Mailbox, Rendered
from picotask.settings import Settings

log = logging.getLogger(__name__)
PAGE = 200
SOURCE_STREAMS = (Stream.NOTIFICATIONS, Stream.SUBMISSIONS, Stream.FEED)
_KIND_OF_TYPE = {
    "submission.approved": NotificationKind.SUBMISSION_REVIEWED,
    "submission.rejected": NotificationKind.SUBMISSION_REVIEWED,
    "submission.revision_requested": NotificationKind.REVISION_REQUESTED,
    "bonus.received": NotificationKind.BONUS_RECEIVED,
    "payout.paid": NotificationKind.PAYOUT_PAID,
    "payout.failed": NotificationKind.PAYOUT_FAILED,
    "message.received": NotificationKind.MESSAGE_RECEIVED,
    "dispute.overturned": NotificationKind.DISPUTE_DECIDED,
    "dispute.upheld": NotificationKind.DISPUTE_DECIDED,
}
_NEW_WORK = {"submission.submitted", "submission.resubmitted"}


@dataclass(frozen=True, slots=True)
class Notice:
    """One mail an event asks for, before the recipient's settings are looked at."""

    user_id: int
    kind: NotificationKind
    event: Event


def notice_of(event: Event) -> Notice | None:
    """The mail an event asks for, if any: a notification of its audience, a submission for
    the task's employer (counted into the digest), a completed batch."""
    if event.stream == Stream.NOTIFICATIONS and event.type in _KIND_OF_TYPE:
        assert event.audience_id is not None
        return Notice(event.audience_id, _KIND_OF_TYPE[event.type], event)
    if event.stream == Stream.SUBMISSIONS and event.type in _NEW_WORK:
        assert event.audience_id is not None  # the task's employer
        return Notice(event.audience_id, NotificationKind.NEW_SUBMISSIONS, event)
    if event.stream == Stream.FEED and (found := webhook_of(event)) is not None:
        owner, kind, _ = found
        if kind == BATCH_COMPLETED:  # one home for what a completed batch is
            return Notice(owner, NotificationKind.BATCH_COMPLETED, event)
    return None


def _without_repeats(notices: list[Notice]) -> list[Notice]:
    """An overturned dispute approves the work too: its worker gets the dispute's mail only."""
    decided = {
        (n.user_id, n.event.submission_id)
        for n in notices
        if n.kind == NotificationKind.DISPUTE_DECIDED
    }
    return [
        n
        for n in notices
        if not (
            n.kind == NotificationKind.SUBMISSION_REVIEWED
            and (n.user_id, n.event.submission_id) in decided
        )
    ]


class _Taken(Exception):
    """Another instance moved the cursor first: roll back what this one wrote."""


class NotificationMailer:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        mail: Mailbox,
        tokens: EmailTokens,
        preferences: NotificationPreferences,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.mail = mail
        self.tokens = tokens
        self.preferences = preferences
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        await run_rounds(
            self.run_once,
            interval=self.settings.mail_poll_seconds,
            log=log,
            failed="notification mail failed",
            wake=self._wake,
            stop=stop,
        )

    async def run_once(self) -> int:
        """Every page of the log since the cursor, then the digests due; returns the mails
        written."""
        total = 0
        while (written := await self.fan_out()) is not None:
            total += written
        return total + await self.send_digests()

    # -- from the event log to mails -------------------------------------------------------

    async def fan_out(self) -> int | None:
        """Mails for one page of events after the cursor; None when there was none (or another
        instance took it)."""
        cursor = await MailCursor.get_or_none(id=1)
        if cursor is None:  # the migration makes it; made again here if it went missing
            newest = await Event.all().order_by("-id").only("id").first()
            with contextlib.suppress(IntegrityError):
                await MailCursor.create(id=1, last_event_id=newest.id if newest else 0)
            cursor = await MailCursor.get(id=1)
        rows = (
            await Event.filter(id__gt=cursor.last_event_id, stream__in=SOURCE_STREAMS)
            .order_by("id")
            .limit(PAGE)
        )
        if not rows:
            return None
        notices = _without_repeats([n for e in rows if (n := notice_of(e)) is not None])
        users = await self._recipients(n.user_id for n in notices)
        off = await self.preferences.off_for(users)
        wanted = [n for n in notices if n.user_id in users and (n.user_id, n.kind) not in off]
        tasks = await _tasks({n.event.task_id for n in wanted if n.event.task_id is not None})
        new_work = Counter(
            n.event.task_id
            for n in wanted
            if n.kind == NotificationKind.NEW_SUBMISSIONS and n.event.task_id is not None
        )
        # Rendered before the transaction: it holds the cursor row (and SQLite's one writer)
        # only for the writes, one statement each for the tokens and the mails.
        mails = [
            self._compose(users[n.user_id], n.kind, self._context(n, tasks))
            for n in wanted
            if n.kind != NotificationKind.NEW_SUBMISSIONS
        ]
        try:
            async with in_transaction():
                if not await MailCursor.filter(id=1, last_event_id=cursor.last_event_id).update(
                    last_event_id=rows[-1].id
                ):
                    raise _Taken
                await self._store(mails)
                await self._count(new_work, tasks)
        except _Taken:
            return None
        return len(mails)

    async def _recipients(self, ids: Iterable[int]) -> dict[int, User]:
        """The users among `ids` whose address may be mailed, by id."""
        wanted = set(ids)
        if not wanted:
            return {}
        found = User.filter(id__in=wanted)
        if self.settings.confirmation_required:
            found = found.filter(email_confirmed_at__not_isnull=True)
        return {u.id: u for u in await found}

    async def _count(self, new_work: Counter[int], tasks: dict[int, Task]) -> None:
        """Count new submissions into their tasks' digests; the next step mails them."""
        if not new_work:
            return
        now = self.clock.now()
        existing = {d.task_id: d for d in await SubmissionDigest.filter(task_id__in=list(new_work))}
        fresh = [
            SubmissionDigest(
                task_id=task_id, employer_id=tasks[task_id].employer_id, pending=n, due_at=now
            )
            for task_id, n in new_work.items()
            if task_id not in existing and task_id in tasks
        ]
        if fresh:
            await SubmissionDigest.bulk_create(fresh)
        for task_id, digest in existing.items():
            await SubmissionDigest.filter(id=digest.id).update(
                pending=F("pending") + new_work[task_id]
            )
            await SubmissionDigest.filter(id=digest.id, due_at=None).update(
                due_at=self._due(now, digest.last_sent_at)
            )

    def _due(self, now: datetime, last_sent_at: datetime | None) -> datetime:
        """When waiting submissions go: now, or a period after the last mail. (`send_digests`
        keeps the period by itself: this only orders and finds the rows.)"""
        if last_sent_at is None:
            return now
        return max(now, last_sent_at + timedelta(seconds=self.settings.submission_digest_seconds))

    # -- the digests -----------------------------------------------------------------------

    async def send_digests(self) -> int:
        """One mail for each task whose new submissions wait and whose last mail is a period
        old; returns how many."""
        now = self.clock.now()
        quiet_since = now - timedelta(seconds=self.settings.submission_digest_seconds)
        due = (
            await SubmissionDigest.filter(
                Q(last_sent_at=None) | Q(last_sent_at__lte=quiet_since),
                pending__gt=0,
                due_at__lte=now,
            )
            .order_by("due_at", "id")
            .limit(PAGE)
        )
        if not due:
            return 0
        users = await self._recipients(d.employer_id for d in due)
        off = await self.preferences.off_for(users)
        tasks = await _tasks({d.task_id for d in due})
        sent = 0
        for digest in due:
            async with in_transaction():
                if not await SubmissionDigest.filter(
                    id=digest.id, pending=digest.pending, last_sent_at=digest.last_sent_at
                ).update(pending=0, due_at=None, last_sent_at=now):
                    continue  # counted into again, or sent by another instance
                user = users.get(digest.employer_id)
                kind = NotificationKind.NEW_SUBMISSIONS
                if user is None or (user.id, kind) in off or digest.task_id not in tasks:
                    continue  # turned off meanwhile: the count is dropped
                task = tasks[digest.task_id]
                context = {
                    "title": task.title,
                    "count": digest.pending,
                    "url": self.mail.link(f"/employer/tasks/{global_id('Task', task.id)}"),
                }
                await self._store([self._compose(user, kind, context)])
                sent += 1
        return sent

    # -- one mail --------------------------------------------------------------------------

    def _context(self, notice: Notice, tasks: dict[int, Task]) -> dict[str, Any]:
        event = notice.event
        task = tasks.get(event.task_id) if event.task_id is not None else None
        title = task.title if task is not None else event.payload.get("task", {}).get("title", "")
        return {
            "title": title,
            "message": event.message,
            "url": self._link(notice, task),
            "approved": event.type == "submission.approved",
            "overturned": event.type == "dispute.overturned",
        }

    def _link(self, notice: Notice, task: Task | None) -> str:
        event, link = notice.event, self.mail.link
        if notice.kind in (NotificationKind.PAYOUT_PAID, NotificationKind.PAYOUT_FAILED):
            return link("/wallet")
        if task is None:
            return link("/")
        if task.employer_id == notice.user_id:
            return link(f"/employer/tasks/{global_id('Task', task.id)}")
        if event.submission_id is not None and notice.kind != NotificationKind.MESSAGE_RECEIVED:
            return link(f"/work/{global_id('Submission', event.submission_id)}")
        return link(f"/tasks/{global_id('Task', task.id)}")

    def _compose(self, user: User, kind: NotificationKind, context: dict[str, Any]) -> _Outgoing:
        """The mail rendered, with its unsubscribe link in the footer and in the
        `List-Unsubscribe` headers (RFC 8058: a mail client POSTs to it, no session needed),
        and the link's token, not stored yet."""
        token, row = self.tokens.mint(
            user.id,
            TokenPurpose.UNSUBSCRIBE,
            self.settings.unsubscribe_link_seconds,
            subject=kind.value,
        )
        template = f"notify_{kind.value.lower()}"
        rendered = self.mail.render(
            template,
            to=user.email,
            user_id=user.id,
            context={
                **context,
                "name": user.display_name,
                "unsubscribe_url": self.mail.link("/unsubscribe", token=token),
                "settings_url": self.mail.link("/profile"),
            },
        )
        api = self.settings.public_url or self.settings.link_base
        headers = {
            "List-Unsubscribe": f"<{api}/unsubscribe?token={token}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }
        return _Outgoing(template, rendered, headers, row)

    async def _store(self, mails: list[_Outgoing]) -> None:
        """The mails and their tokens, a statement each; in the caller's transaction."""
        if not mails:
            return
        await AccountToken.bulk_create([m.token for m in mails])
        await self.mail.send_many(
            [(m.template, m.rendered) for m in mails], [m.headers for m in mails]
        )


@dataclass(frozen=True, slots=True)
class _Outgoing:
    template: str
    rendered: Rendered
    headers: dict[str, str]
    token: AccountToken


async def _tasks(ids: set[int]) -> dict[int, Task]:
    if not ids:
        return {}
    rows = await Task.filter(id__in=list(ids)).only("id", "title", "employer_id")
    return {t.id: t for t in rows}
