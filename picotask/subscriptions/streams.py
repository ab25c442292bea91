"""Subscription streams: replay the event log after a cursor, then go live, with no gap and
no duplicate; stop a client that fell too far behind, or whose next event cannot be delivered
here (both with the cursor to resume from)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from picotask.models.events import Event, Stream
from picotask.models.tasks import Task
from picotask.models.users import User
from picotask.services.core.retention import still_kept
from picotask.services.targeting.discovery import (
    Access,
    TaskFilter,
    access_problem,
    matches_filter,
    targeting_problem,
)
from picotask.subscriptions.bus import EventBus
from picotask.subscriptions.direct import Direct, Rested
from picotask.subscriptions.failures import report
from picotask.subscriptions.messages import Message
from picotask.subscriptions.subscriber import Drop, Subscriber, Undeliverable

REPLAY_BATCH = 500
NO_ACCESS = Access()

Accepts = Callable[[Message], bool]
Replay = Callable[[int], QuerySet[Event]]


def feed_accepts(
    worker: User,
    query: TaskFilter | None,
    blocked_by: frozenset[int] = frozenset(),
    access: Access = NO_ACCESS,
) -> Accepts:
    """Task events a worker may see: eligible, not their own, not from an employer who blocked
    them, private work only for its groups' members and qualified workers (as of
    subscribing), matching their filter."""

    def accepts(message: Message) -> bool:
        if message.stream != Stream.FEED:
            return False
        task = message.payload["task"]
        if task["employer_id"] == worker.id or task["employer_id"] in blocked_by:
            return False
        if targeting_problem(
            task["target_countries"], task["min_approval_rate"], task["min_approved_count"], worker
        ):
            return False
        required = task.get("required_qualifications") or []
        if access_problem(task.get("target_groups", ""), required, access):
            return False
        return query is None or matches_filter(
            task["title"], task["instructions"], task["category"], task["reward"], query
        )

    return accepts


def audience_accepts(stream: Stream, user_id: int, task_id: int | None = None) -> Accepts:
    def accepts(message: Message) -> bool:
        return (
            message.stream == stream
            and message.audience_id == user_id
            and (task_id is None or message.task_id == task_id)
        )

    return accepts


def numbers_accepts(employer_id: int, task_id: int | None = None) -> Accepts:
    """What moves the numbers of an employer's task (one, or all of theirs): each change of one
    of its submissions, each change of the task itself (the feed's `task.*`: posted, slots
    added, paused, cancelled, taken down, expired; not those that follow from a submission's
    change) and each movement of the employer's money for it (their statement rows naming the
    task: escrow funded or refunded, a rejection become final, a bonus)."""

    def accepts(message: Message) -> bool:
        if message.task_id is None or (task_id is not None and message.task_id != task_id):
            return False
        if message.stream in (Stream.SUBMISSIONS, Stream.STATEMENT):
            return message.audience_id == employer_id
        return (
            message.stream == Stream.FEED
            and message.payload["task"]["employer_id"] == employer_id
            and not message.payload.get("by_submission")
        )

    return accepts


def numbers_replay(employer_id: int, task_id: int | None = None) -> Replay:
    """The log's events `numbers_accepts` takes, in id order from `after`."""

    def replay(after: int) -> QuerySet[Event]:
        own = Q(stream__in=(Stream.SUBMISSIONS, Stream.STATEMENT), audience_id=employer_id)
        feed = Q(stream=Stream.FEED, audience_id__isnull=True)
        if task_id is not None:
            return Event.filter(own | feed, task_id=task_id, id__gt=after)
        tasks = Subquery(Task.filter(employer_id=employer_id).values("id"))
        return Event.filter(
            (own & Q(task_id__isnull=False)) | (feed & Q(task_id__in=tasks)), id__gt=after
        )

    return replay


def feed_replay() -> Replay:
    # The feed's events have no audience (`EventLog.task`): saying so lets the log's index
    # (stream, audience_id, id) hand them over in id order from `after`.
    return lambda after: Event.filter(stream=Stream.FEED, audience_id__isnull=True, id__gt=after)


def audience_replay(stream: Stream, user_id: int, task_id: int | None = None) -> Replay:
    def replay(after: int) -> QuerySet[Event]:
        query = Event.filter(stream=stream, audience_id=user_id, id__gt=after)
        return query.filter(task_id=task_id) if task_id is not None else query

    return replay


async def follow(
    bus: EventBus, accepts: Accepts, replay: Replay, after: int | None, direct: Direct | None = None
) -> AsyncGenerator[Message, None]:
    """Every accepted event after `after` (or from now), oldest first, then live: in strictly
    increasing id order, each once. After each event, every event up to it that this
    subscriber may see has been delivered, so resuming after its cursor is exact; a cursor
    from before what the log keeps raises `DomainError` (CURSOR_EXPIRED). While it
    waits for the next live event, `direct` may write events to its socket in its place
    (subscriptions/direct.py); they count as delivered (`subscriber.last`)."""
    async with bus.subscribe(accepts, direct) as subscriber:
        # The bus offers this subscriber every event after `live`, in order; the log holds
        # all of them up to it.
        live = subscriber.position
        last = live if after is None else after
        if after is not None and after >= live:
            await still_kept(after)
        while last < live:
            rows = await replay(last).filter(id__lte=live).order_by("id").limit(REPLAY_BATCH)
            # Read after the batch: nothing after `last` had gone when it was read.
            await still_kept(last)
            for row in rows:
                last = row.id
                message = Message.of(row)
                if _accepted(accepts, message):
                    yield message
            if len(rows) < REPLAY_BATCH:
                last = live
        subscriber.last = last
        async for message in _queued(subscriber):
            yield message


async def resume(bus: EventBus, subscriber: Subscriber) -> AsyncGenerator[Message, None]:
    """`follow` again for a subscriber that rested and was woken: from its queue, as it is."""
    run = asyncio.current_task()
    subscriber.resume(run)
    with bus.owned(subscriber, run):
        async for message in _queued(subscriber):
            yield message


def _accepted(accepts: Accepts, message: Message) -> bool:
    """A replayed event, as the bus's listener offers a live one: one the filter cannot read
    ends this subscription, with the cursor just before it."""
    try:
        return accepts(message)
    except Exception as error:
        report(message, error, "replayed")
        raise Undeliverable(message.id - 1) from None


async def _queued(subscriber: Subscriber) -> AsyncIterator[Message]:
    while True:
        # Parked: everything before was delivered, so the direct path may go on from here,
        # without this generator if its transport can hold the subscriber.
        if subscriber.park() and subscriber.rest():
            raise Rested
        item = await subscriber.queue.get()
        if isinstance(item, Drop):
            raise item.error(subscriber.last)
        # A client that resumed with a cursor from an instance further ahead had these.
        if item.id > subscriber.last:
            subscriber.last = item.id
            yield item
