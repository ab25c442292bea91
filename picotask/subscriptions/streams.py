"""Subscription streams: replay the event log after a cursor, then go live, with no gap and
no duplicate; catch up again after a bus reconnect; stop a client that fell too far behind."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable

from tortoise.queryset import QuerySet

from picotask.models.events import Event, Stream
from picotask.models.users import User
from picotask.services.discovery import TaskFilter, matches_filter, targeting_problem
from picotask.subscriptions.bus import OVERFLOW, RESYNC, EventBus
from picotask.subscriptions.messages import Message

REPLAY_BATCH = 500
REMEMBERED = 10_000  # ids kept to drop duplicates between replay and live delivery

Accepts = Callable[[Message], bool]
Replay = Callable[[int], QuerySet[Event]]


class FellBehind(Exception):
    """The client could not keep up; it should resubscribe with `after: last_id`."""

    def __init__(self, last_id: int | None) -> None:
        super().__init__("fell behind")
        self.last_id = last_id


def feed_accepts(
    worker: User, query: TaskFilter | None, blocked_by: frozenset[int] = frozenset()
) -> Accepts:
    """Task events a worker may see: eligible, not their own, not from an employer who blocked
    them (as of subscribing), matching their filter."""

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


def feed_replay() -> Replay:
    return lambda after: Event.filter(stream=Stream.FEED, id__gt=after)


def audience_replay(stream: Stream, user_id: int, task_id: int | None = None) -> Replay:
    def replay(after: int) -> QuerySet[Event]:
        query = Event.filter(stream=stream, audience_id=user_id, id__gt=after)
        return query.filter(task_id=task_id) if task_id is not None else query

    return replay


async def follow(
    bus: EventBus, accepts: Accepts, replay: Replay, after: int | None
) -> AsyncIterator[Message]:
    """Every accepted event after `after` (or from now), oldest first, then live."""
    async with bus.subscribe(accepts) as subscriber:
        # Subscribed before reading the log: whatever commits meanwhile is queued, not lost.
        if after is None:
            newest = await Event.all().order_by("-id").first().only("id")
            after = newest.id if newest else 0
            catch_up = False
        else:
            catch_up = True
        seen: deque[int] = deque(maxlen=REMEMBERED)
        seen_set: set[int] = set()
        last = after

        def fresh(event_id: int) -> bool:
            if event_id in seen_set:
                return False
            if len(seen) == seen.maxlen:
                seen_set.discard(seen[0])
            seen.append(event_id)
            seen_set.add(event_id)
            return True

        while True:
            if catch_up:
                while True:
                    rows = await replay(last).order_by("id").limit(REPLAY_BATCH)
                    for row in rows:
                        message = Message.of(row)
                        last = max(last, row.id)
                        if accepts(message) and fresh(row.id):
                            yield message
                    if len(rows) < REPLAY_BATCH:
                        break
                catch_up = False
            item = await subscriber.queue.get()
            if item is OVERFLOW:
                raise FellBehind(last)
            if item is RESYNC:
                catch_up = True  # the bus reconnected: read what it may have missed
                continue
            assert isinstance(item, Message)
            if fresh(item.id):
                last = max(last, item.id)
                yield item
