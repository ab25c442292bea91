"""Inputs and payloads of the account steps that go through the user's mailbox."""

from __future__ import annotations

import strawberry

from picotask.schema.errors import UserError
from picotask.schema.users import Viewer


@strawberry.input
class ConfirmEmailInput:
    token: str = strawberry.field(description="From the link mailed to the address.")


@strawberry.type
class ConfirmEmailPayload:
    email: str | None = strawberry.field(
        default=None, description="The address now confirmed (the new one, for a change)."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MailSentPayload:
    sent: bool = strawberry.field(
        default=False, description="A mail is on its way (it may take a minute)."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RequestPasswordResetInput:
    email: str


@strawberry.type
class RequestPasswordResetPayload:
    accepted: bool = strawberry.field(
        default=False,
        description="Always true for a well-formed address: whether an account has it is not "
        "told. If one has, a link arrives there.",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class ResetPasswordInput:
    token: str = strawberry.field(description="From the link mailed by requestPasswordReset.")
    new_password: str = strawberry.field(description="The same rules as at sign-up.")
    two_factor_code: str | None = strawberry.field(
        default=None,
        description="With two factors on: the code the app shows now, or a recovery code.",
    )


@strawberry.input
class ChangeEmailInput:
    new_email: str
    current_password: str
    two_factor_code: str | None = strawberry.field(
        default=None, description="With two factors on: the code the app shows now."
    )


@strawberry.type
class ChangeEmailPayload:
    pending_email: str | None = strawberry.field(
        default=None,
        description="Mailed a link; the account keeps its address until it is followed.",
    )
    viewer: Viewer | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
