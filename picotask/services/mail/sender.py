"""The mail sender: delivers the outbox, safe with several instances, never twice per row.

Each attempt is claimed by a conditional update on the row's attempt count, with a lease that
runs out if its sender dies. Just before the message is handed to the server, the row is marked
`handed_at`: a row so marked is never claimed again, so a sender that dies mid-delivery can at
worst lose that one mail, never send it twice. A failure before that point (the server is down,
or answers 4xx) is retried with backoff for the retry window; a 5xx answer ends it at once.
After delivery the bodies are emptied: the tokens of their links live no longer than needed.
Nothing here logs a mail's content: its links carry tokens.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
from tortoise.expressions import Q

from picotask.models.mail import MailStatus, OutboxMail
from picotask.services.core.clock import Clock
from picotask.services.core.rounds import run_rounds
from picotask.services.mail.outbox import Mailbox
from picotask.services.mail.transports import Refused, Transport, address_of
from picotask.settings import Settings

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=1)
LEASE_SLACK_SECONDS = 30


class MailSender:
    def __init__(
        self, settings: Settings, clock: Clock, mailbox: Mailbox, transport: Transport
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.mailbox = mailbox
        self.transport = transport
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.mail_max_concurrency)
        mailbox.on_wake(self._wake.set)

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        await run_rounds(
            self.run_once,
            interval=self.settings.mail_poll_seconds,
            log=log,
            failed="sending mail failed",
            wake=self._wake,
            stop=stop,
        )

    async def run_once(self) -> int:
        """Send every mail due now and wait for the outcomes; returns how many were tried."""
        total = 0
        while True:
            claimed = await self._claim()
            if not claimed:
                return total
            await asyncio.gather(*(self._attempt(mail) for mail in claimed))
            total += len(claimed)

    async def _claim(self) -> list[OutboxMail]:
        now = self.clock.now()
        # Handed over by a sender that died before it heard the answer: never sent again.
        await OutboxMail.filter(
            status=MailStatus.PENDING, handed_at__not_isnull=True, lease_until__lt=now
        ).update(
            status=MailStatus.FAILED,
            last_error="The sender stopped while handing it over: it may have arrived.",
            lease_until=None,
            text_body="",
            html_body="",
        )
        due = (
            await OutboxMail.filter(
                Q(lease_until=None) | Q(lease_until__lt=now),
                status=MailStatus.PENDING,
                handed_at=None,
                next_attempt_at__lte=now,
            )
            .order_by("next_attempt_at", "id")
            .limit(self.settings.mail_max_concurrency * 4)
        )
        lease = now + timedelta(seconds=self.settings.mail_timeout_seconds + LEASE_SLACK_SECONDS)
        claimed = []
        for mail in due:
            if await OutboxMail.filter(
                id=mail.id, attempts=mail.attempts, status=MailStatus.PENDING, handed_at=None
            ).update(attempts=mail.attempts + 1, lease_until=lease):
                mail.attempts += 1
                claimed.append(mail)
        return claimed

    async def _attempt(self, mail: OutboxMail) -> None:
        async with self._slots:
            try:
                await self._deliver(mail)
            except Exception:  # a bug of ours: logged; the lease runs out and it is tried again
                log.exception("mail %s (%s) could not be processed", mail.id, mail.kind)

    async def _deliver(self, mail: OutboxMail) -> None:
        mine = OutboxMail.filter(id=mail.id, attempts=mail.attempts)
        if not mail.subject and mail.kind in self.mailbox.preparers:
            prepared = await self.mailbox.preparers[mail.kind](mail)
            if prepared is None:
                await mine.update(status=MailStatus.DROPPED, lease_until=None)
                return
            mail.to_address, mail.user_id = prepared.to, prepared.user_id
            mail.subject, mail.text_body, mail.html_body = (
                prepared.subject,
                prepared.text,
                prepared.html,
            )
            mail.headers = dict(prepared.headers or {})
            # Kept, so a retry sends this same mail (and its link) rather than a new one.
            await mine.update(
                to_address=mail.to_address,
                user_id=mail.user_id,
                subject=mail.subject,
                text_body=mail.text_body,
                html_body=mail.html_body,
                headers=mail.headers,
            )
        handed = False

        async def handing() -> None:
            nonlocal handed
            if not await mine.update(handed_at=self.clock.now()):
                raise RuntimeError("the mail's lease was lost")
            handed = True

        error = ""
        final = False
        try:
            async with asyncio.timeout(self.settings.mail_timeout_seconds):
                await self.transport.deliver(self.message(mail), f"mail-{mail.id}", handing)
        except Refused as refused:
            error, final = str(refused), True
        except (TimeoutError, OSError, aiosmtplib.SMTPException) as exc:
            if handed and not isinstance(exc, aiosmtplib.SMTPResponseException):
                # It may have arrived: not sent again.
                error, final = "The connection broke while handing it over.", True
            else:
                error = f"Could not send: {type(exc).__name__}."
        await self._record(mail, error, final=final)

    async def _record(self, mail: OutboxMail, error: str, *, final: bool) -> None:
        rows = OutboxMail.filter(id=mail.id, attempts=mail.attempts)
        now = self.clock.now()
        if not error:
            await rows.update(
                status=MailStatus.SENT, sent_at=now, lease_until=None, text_body="", html_body=""
            )
            return
        log.warning("mail %s (%s) not sent: %s", mail.id, mail.kind, error)
        retry_at = now + self.backoff(mail.attempts)
        if final or retry_at > self.mailbox.give_up_at(mail):
            await rows.update(
                status=MailStatus.FAILED,
                last_error=error[:300],
                lease_until=None,
                text_body="",
                html_body="",
            )
            return
        # Not handed over, or refused for now (4xx) after it was: it did not arrive.
        await rows.update(
            next_attempt_at=retry_at, last_error=error[:300], lease_until=None, handed_at=None
        )

    def backoff(self, attempt: int) -> timedelta:
        seconds = self.settings.mail_retry_base_seconds * 2 ** min(attempt - 1, 20)
        return min(timedelta(seconds=seconds), MAX_BACKOFF)

    def message(self, mail: OutboxMail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = mail.to_address
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(mail.created_at)
        # The same for every attempt: a receiving server that saw it already can tell.
        domain = address_of(self.settings.mail_from).rpartition("@")[2] or "picotask.localhost"
        message["Message-ID"] = f"<mail-{mail.id}.{int(mail.created_at.timestamp())}@{domain}>"
        for name, value in (mail.headers or {}).items():
            message[name] = str(value)
        message.set_content(mail.text_body)
        message.add_alternative(mail.html_body, subtype="html")
        return message
