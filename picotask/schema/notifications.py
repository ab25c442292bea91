"""Notification settings: which kinds of notification each user gets by mail."""

from __future__ import annotations

import strawberry

from picotask.models.notifications import NotificationKind
from picotask.schema.errors import UserError
from picotask.services.integrations.notifications import Choice

strawberry.enum(NotificationKind, name="NotificationKind")


@strawberry.type(name="NotificationSetting")
class NotificationSettingType:
    kind: NotificationKind
    email: bool = strawberry.field(description="Mailed to the account's address.")

    @classmethod
    def of(cls, choice: Choice) -> NotificationSettingType:
        return cls(kind=choice.kind, email=choice.email)


@strawberry.input
class NotificationSettingInput:
    kind: NotificationKind
    email: bool


@strawberry.input
class UpdateNotificationSettingsInput:
    settings: list[NotificationSettingInput] = strawberry.field(
        description="The kinds to change, each at most once; the others stay as they are."
    )


@strawberry.type
class UpdateNotificationSettingsPayload:
    settings: list[NotificationSettingType] = strawberry.field(
        default_factory=list, description="Every kind, as it is now."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class UnsubscribeInput:
    token: str = strawberry.field(description="From the unsubscribe link of a notification mail.")


@strawberry.type
class UnsubscribePayload:
    kind: NotificationKind | None = strawberry.field(
        default=None, description="The kind of mail no longer sent."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)
