"""The event log's retention: events older than `event_retention_days` go, once every durable
reader of the log has passed them; a cursor from before what the log keeps is refused.

The log is removed from its oldest end only, one bounded batch (a range of ids) per
transaction, so it always holds every event after a horizon: the highest id removed, kept in
the `webhook_cursor` table's row 2 (row 1 is the webhook fan-out's position). That row moves in
the transaction that deletes up to it, by a conditional update (so sweepers in several
processes never both take a batch). A cursor at or after the horizon replays exactly; one
before it may have lost events, and is refused (`CURSOR_EXPIRED`); an id that simply was no
event of the reader's (another user's, a rolled-back one) is no gap.

Durable readers, which hold the log back (clients' cursors do not: they get the error):
- the webhook fan-out (`WebhookCursor` row 1: it turns events after it into deliveries; the
  deliveries carry their own payload and never read the log again). Before its first round,
  the endpoints' `after_event_id` (it will start from there);
- the notification mailer (`MailCursor`: it turns events after it into mails; the migration
  makes it at the newest event, so it is there before its first round);
- the newest event is always kept, so ids never repeat and every instance finds where the
  log ends (the sequencer starts from it, a new webhook endpoint from it).
The sequencers' positions are in memory and always near the newest event; a subscription
replaying the log re-checks the horizon after each batch it read (`still_kept`).
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import cast

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from picotask.models.events import Event
from picotask.models.notifications import MailCursor
from picotask.models.webhooks import WebhookCursor, WebhookEndpoint
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.settings import Settings

FAN_OUT = 1  # the webhook fan-out's row of `webhook_cursor` (services/integrations)
HORIZON = 2  # the retention's row: the highest event id removed
BATCH = 2_000  # events removed per transaction (bench/retention.py: shorter bursts for the writers)
BATCHES_PER_ROUND = 50  # at most, per sweeper round: the other rules' rounds wait for it


class _Taken(Exception):
    """Another process moved the horizon first: this batch is rolled back."""


async def horizon() -> int:
    """The highest event id the retention removed (0: none); every event after it is kept."""
    row = await WebhookCursor.get_or_none(id=HORIZON)
    return row.last_event_id if row is not None else 0


async def still_kept(after: int, field: str = "after") -> None:
    """Refuse a cursor before the horizon. Read after the events the cursor led to: the horizon
    moves in the transaction that deletes, so if it is not past `after` now, nothing after
    `after` had gone when they were read."""
    if after < await horizon():
        raise DomainError(
            ErrorCode.CURSOR_EXPIRED,
            f"{field} is older than the event log keeps: the events after it were removed. "
            f"Start again without {field}: read what is kept from the `events` query (or "
            "subscribe live), then use the cursors it gives.",
            [field],
        )


async def _readers_need() -> int | None:
    """The lowest id some durable reader still needs; None: no reader needs any."""
    newest = await Event.all().order_by("-id").only("id").first()
    if newest is None:
        return None
    needed: int = newest.id  # never removed
    mailer = await MailCursor.get_or_none(id=1)
    if mailer is not None:
        needed = min(needed, mailer.last_event_id + 1)
    fan_out = await WebhookCursor.get_or_none(id=FAN_OUT)
    if fan_out is not None:
        needed = min(needed, fan_out.last_event_id + 1)
    else:
        endpoints = WebhookEndpoint.all().order_by("after_event_id")
        first = await endpoints.only("after_event_id").first()
        if first is not None:
            needed = min(needed, first.after_event_id + 1)
    return needed


class EventRetention:
    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    async def sweep(self) -> int:
        """Remove events older than the retention that no durable reader needs, oldest first,
        in batches; returns how many. Off (0 days): none."""
        if not self.settings.event_retention_days:
            return 0
        cutoff = self.clock.now() - timedelta(days=self.settings.event_retention_days)
        needed = await _readers_need()
        if needed is None:
            return 0
        start = await _horizon_row()
        removed = 0
        for _ in range(BATCHES_PER_ROUND):
            end = await _batch_end(start, needed, cutoff)
            if end is None:
                break
            try:
                removed += await _remove(start, end)
            except _Taken:
                break  # another process sweeps: it goes on from there
            start = end
        return removed


async def _horizon_row() -> int:
    row = await WebhookCursor.get_or_none(id=HORIZON)
    if row is None:
        with contextlib.suppress(IntegrityError):  # another process made it first
            await WebhookCursor.create(id=HORIZON, last_event_id=0)
        row = await WebhookCursor.get(id=HORIZON)
    start: int = row.last_event_id
    return start


async def _batch_end(start: int, needed: int, cutoff: datetime) -> int | None:
    """The last id of the next batch to remove: the longest run of events after `start`
    (at most `BATCH`, below `needed`) all older than `cutoff`; None if there is none. Both
    reads walk the primary key from `start`, so neither grows with the log."""
    ids = cast(
        list[int],
        await Event.filter(id__gt=start, id__lt=needed)
        .order_by("id")
        .limit(BATCH)
        .values_list("id", flat=True),
    )
    if not ids:
        return None
    young = cast(
        list[int],
        await Event.filter(id__gt=start, id__lte=ids[-1], created_at__gte=cutoff)
        .order_by("id")
        .limit(1)
        .values_list("id", flat=True),
    )
    if young:
        ids = [i for i in ids if i < young[0]]
    return ids[-1] if ids else None


async def _remove(start: int, end: int) -> int:
    async with in_transaction():
        if not await WebhookCursor.filter(id=HORIZON, last_event_id=start).update(
            last_event_id=end
        ):
            raise _Taken
        return await Event.filter(id__gt=start, id__lte=end).delete()
