"""Where mails go: files under a directory (development) or an SMTP server (aiosmtplib).

`deliver` calls `handing` just before the message itself is handed over (SMTP's DATA), once
the server has accepted the sender and the recipient: a failure before it was certainly not
delivered and may be retried; a sender that dies after it may have delivered, so the outbox
row is not tried again (services/mail/sender.py).
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import aiosmtplib

from picotask.settings import Settings

Handing = Callable[[], Awaitable[None]]


class Refused(Exception):
    """The server refused this mail for good (a 5xx answer): trying again cannot help."""


class Transport(Protocol):
    async def deliver(self, message: EmailMessage, name: str, handing: Handing) -> None:
        """Send `message` (`name`: a stable name of the outbox row); raises on failure."""
        ...


class FileTransport:
    """Each mail as DIR/<name>.eml: a newcomer reads what would have been sent."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    async def deliver(self, message: EmailMessage, name: str, handing: Handing) -> None:
        await handing()
        await asyncio.to_thread(self._write, message.as_bytes(), name)

    def _write(self, data: bytes, name: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.partial"
        partial.write_bytes(data)
        os.replace(partial, self.directory / f"{name}.eml")  # whole or not at all


class SmtpTransport:
    """One connection per mail (a mail is rare next to requests; nothing to keep open)."""

    def __init__(
        self,
        url: str,
        *,
        username: str,
        password: str,
        timeout: float,
        sender: str,
    ) -> None:
        parsed = urlparse(url)
        self.implicit_tls = parsed.scheme == "smtps"
        self.host = parsed.hostname or "localhost"
        self.port = parsed.port or (465 if self.implicit_tls else 25)
        self.username, self.password = username, password
        self.timeout = timeout
        self.sender = sender

    async def deliver(self, message: EmailMessage, name: str, handing: Handing) -> None:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            timeout=self.timeout,
            use_tls=self.implicit_tls,
            # STARTTLS when the server offers it (on a plain connection).
            start_tls=None,
            tls_context=ssl.create_default_context(),
        )
        await client.connect()
        try:
            if self.username:
                await client.login(self.username, self.password)
            to = str(message["To"])
            try:
                await client.mail(self.sender)
                await client.rcpt(to)
            except aiosmtplib.SMTPResponseException as error:
                if 500 <= error.code < 600:
                    raise Refused(f"The mail server refused it: {error.code}.") from None
                raise
            await handing()
            try:
                await client.data(message.as_bytes())
            except aiosmtplib.SMTPResponseException as error:
                if 500 <= error.code < 600:
                    raise Refused(f"The mail server refused it: {error.code}.") from None
                raise
        finally:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                client.close()


def open_transport(settings: Settings) -> Transport:
    parsed = urlparse(settings.mail_url)
    if parsed.scheme == "file":
        return FileTransport(parsed.netloc + parsed.path)
    return SmtpTransport(
        settings.mail_url,
        username=settings.mail_username,
        password=settings.mail_password,
        timeout=settings.mail_timeout_seconds,
        sender=address_of(settings.mail_from),
    )


def address_of(mailbox: str) -> str:
    """The address of `Name <address>` (or of a bare address)."""
    return parseaddr(mailbox)[1] or mailbox
