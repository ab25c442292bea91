"""A real SMTP server on loopback (aiosmtpd): the tests read the mails that arrive."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlparse

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.instances import free_port

PATIENCE = 10.0


class _Collect:
    def __init__(self, server: MailServer) -> None:
        self.server = server

    async def handle_RCPT(  # aiosmtpd's hook names
        self, smtp: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.server.refuse:
            return "550 no such mailbox"
        if self.server.busy:
            return "451 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.server.messages.append(parsed)
        self.server.envelopes.append((envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 Message accepted"


class MailServer:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: set[str] = set()  # recipients answered 550
        self.busy = False  # every recipient answered 451
        self._port = free_port()
        self._controller = Controller(_Collect(self), hostname="127.0.0.1", port=self._port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]

    async def wait_for(self, to: str, count: int = 1, within: float = PATIENCE) -> EmailMessage:
        """The `count`-th mail to `to`, once it arrived."""
        deadline = time.monotonic() + within
        while len(self.to(to)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail #{count} to {to}; got {self.summary()}")
            await asyncio.sleep(0.02)
        return self.to(to)[count - 1]

    def summary(self) -> list[tuple[str, str]]:
        return [(str(m["To"]), str(m["Subject"])) for m in self.messages]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    content: str = part.get_content()
    return content


def links(message: EmailMessage) -> Iterator[str]:
    yield from re.findall(r"https?://[^\s<>\"']+", text_of(message))


def token_from(message: EmailMessage, path: str) -> str:
    """The token of the mail's link to `path` (e.g. /reset-password)."""
    for link in links(message):
        parsed = urlparse(link)
        if parsed.path == path:
            return parse_qs(parsed.query)["token"][0]
    raise AssertionError(f"no link to {path} in {list(links(message))}")


__all__: Any = ["MailServer", "html_of", "links", "text_of", "token_from"]
