"""Notification settings, and unsubscribing by a mailed link (no session needed)."""

from __future__ import annotations

import strawberry

from picotask.schema.context import Info
from picotask.schema.notifications import (
    NotificationSettingType,
    UnsubscribeInput,
    UnsubscribePayload,
    UpdateNotificationSettingsInput,
    UpdateNotificationSettingsPayload,
)
from picotask.services.integrations.notifications import Choice


@strawberry.type
class NotificationsMutation:
    @strawberry.mutation(description="Turn kinds of notification mail on or off.")
    async def update_notification_settings(
        self, info: Info, input: UpdateNotificationSettingsInput
    ) -> UpdateNotificationSettingsPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        choices = [Choice(s.kind, s.email) for s in input.settings]
        now = await ctx.services.notifications.update(viewer, choices)
        return UpdateNotificationSettingsPayload(
            settings=[NotificationSettingType.of(c) for c in now]
        )

    @strawberry.mutation(
        description="Stop one kind of notification mail by the link in such a mail; no session "
        "needed (mail clients use POST /unsubscribe, RFC 8058)."
    )
    async def unsubscribe(self, info: Info, input: UnsubscribeInput) -> UnsubscribePayload:
        done = await info.context.services.notifications.unsubscribe(input.token)
        return UnsubscribePayload(kind=done.kind)
