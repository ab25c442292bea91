"""Mails into the outbox: rendered from templates and written in the caller's transaction, so a
mail leaves exactly when the change that causes it commits (and never when it rolls back).

A template is two files under templates/: `<name>.txt` (blocks `subject` and `body`, plain
text) and `<name>.html` (extends base.html, block `body`; autoescaped). Every context has the
product's name and `link(path, **query)`, a link into the web app.

Some mails are rendered only when sent (`later`): a password reset is written the same for an
address with an account and without one, so the request does the same work either way; the
sender asks the kind's preparer for the mail, which may be none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from picotask.models.mail import OutboxMail
from picotask.services.core.clock import Clock
from picotask.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True, slots=True)
class Rendered:
    to: str
    subject: str
    text: str
    html: str
    user_id: int | None = None
    headers: Mapping[str, str] | None = None


# Renders a mail written `later` when the sender takes it; None: nothing to send.
Preparer = Callable[[OutboxMail], Awaitable[Rendered | None]]


class Mailbox:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,  # a missing value is a bug, not an empty string
            keep_trailing_newline=True,
        )
        self.preparers: dict[str, Preparer] = {}
        self._woken: Callable[[], None] | None = None

    def on_wake(self, wake: Callable[[], None]) -> None:
        """The sender's wake-up: a new mail is looked at within its poll interval anyway."""
        self._woken = wake

    def link(self, path: str, **query: str) -> str:
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self.settings.link_base}{path}{suffix}"

    def render(
        self, template: str, *, to: str, context: Mapping[str, Any], user_id: int | None = None
    ) -> Rendered:
        values = {"product": self.settings.product_name, "link": self.link, **context}
        text = self._templates.get_template(f"{template}.txt")
        ctx = text.new_context(values)
        subject = " ".join("".join(text.blocks["subject"](ctx)).split())
        body = "".join(text.blocks["body"](text.new_context(values))).strip() + "\n"
        html = self._templates.get_template(f"{template}.html").render(values, subject=subject)
        return Rendered(to=to, subject=subject[:300], text=body, html=html, user_id=user_id)

    async def send(
        self,
        template: str,
        *,
        to: str,
        context: Mapping[str, Any],
        user_id: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> OutboxMail:
        """Write the mail to the outbox; call it inside the change's transaction."""
        mail = self.render(template, to=to, context=context, user_id=user_id)
        return await self._write(template, mail, headers)

    async def send_many(
        self, mails: Sequence[tuple[str, Rendered]], headers: Sequence[Mapping[str, str]]
    ) -> None:
        """Write many mails rendered already (`render`), as (template, mail), with their
        headers, in one statement; call it inside the change's transaction."""
        if not mails:
            return
        rows = [
            self._row(kind, mail, extra) for (kind, mail), extra in zip(mails, headers, strict=True)
        ]
        await OutboxMail.bulk_create(rows)
        if self._woken is not None:
            self._woken()

    async def later(self, kind: str, *, to: str, user_id: int | None = None) -> OutboxMail:
        """Write a mail that `preparers[kind]` renders when it is sent."""
        if kind not in self.preparers:
            raise RuntimeError(f"no preparer for {kind} mails")
        blank = Rendered(to=to, subject="", text="", html="", user_id=user_id)
        return await self._write(kind, blank, None)

    async def _write(
        self, kind: str, mail: Rendered, headers: Mapping[str, str] | None
    ) -> OutboxMail:
        row = self._row(kind, mail, headers)
        await row.save()
        if self._woken is not None:
            self._woken()
        return row

    def _row(self, kind: str, mail: Rendered, headers: Mapping[str, str] | None) -> OutboxMail:
        now = self.clock.now()
        return OutboxMail(
            user_id=mail.user_id,
            to_address=mail.to,
            kind=kind,
            subject=mail.subject,
            text_body=mail.text,
            html_body=mail.html,
            headers=dict(headers or mail.headers or {}),
            next_attempt_at=now,
            created_at=now,
        )

    def give_up_at(self, mail: OutboxMail) -> Any:
        return mail.created_at + timedelta(seconds=self.settings.mail_retry_window_seconds)
