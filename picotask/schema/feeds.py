"""Pages a subscription continues: `feedCursor`, the event log's position before the page."""

from __future__ import annotations

from typing import TypeVar

import strawberry

from picotask.schema.context import Info
from picotask.schema.relay import Connection
from picotask.services.core.pagination import encode_cursor

T = TypeVar("T")


def event_cursor(event_id: int) -> str:
    """The same cursor the `events` connection uses, so either resumes the other."""
    return encode_cursor([event_id])


def feed_cursor(info: Info) -> str:
    """The bus's position, taken before the page is read: every event up to it committed
    before the read (so the page shows its effect), and the log holds them all (see
    subscriptions/sequencer.py). A subscription resumed from it on any instance misses nothing
    since the read; an event after it may already show in the page."""
    return event_cursor(info.context.bus.position)


@strawberry.type
class FeedConnection(Connection[T]):
    """A connection whose changes a subscription delivers: built with
    `.of(page, convert, feed_cursor=feed_cursor(info))`, the cursor taken before the read."""

    feed_cursor: str = strawberry.field(
        description="The event log's position just before this page was read. Subscribe with "
        "`after` set to it (`taskFeed` after `tasks`; `taskSubmissions` after `myTasks` or a "
        "task's `submissions`; `myEvents` after `mySubmissions`) to receive every change "
        "since, with nothing missed: one committed while the page was read may come again "
        "(merge by id)."
    )
