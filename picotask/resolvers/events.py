"""The live side: `taskFeed`, `taskSubmissions`, `taskAnalytics`, `myEvents`, and the `events`
log."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

import strawberry
from graphql import GraphQLError
from tortoise.queryset import QuerySet

from picotask.models.events import Event, Stream
from picotask.resolvers.tasks import own_task, task_filter
from picotask.schema.analytics import TaskAnalyticsEvent
from picotask.schema.context import Info
from picotask.schema.errors import refusals_as_errors, refused
from picotask.schema.events import EventType, SubmissionEvent, TaskFeedEvent
from picotask.schema.feeds import event_cursor
from picotask.schema.loaders import Loaders
from picotask.schema.pages import connection
from picotask.schema.relay import Connection
from picotask.schema.tasks import TaskFilterInput
from picotask.services.accounts.moderation import blocked_by
from picotask.services.core.errors import DomainError
from picotask.services.core.pagination import ID_ORDER, decode_cursor
from picotask.services.core.retention import still_kept
from picotask.services.targeting.discovery import access_of
from picotask.subscriptions.bus import EventBus
from picotask.subscriptions.direct import outlet
from picotask.subscriptions.failures import report
from picotask.subscriptions.messages import Message
from picotask.subscriptions.streams import (
    Accepts,
    Replay,
    audience_accepts,
    audience_replay,
    feed_accepts,
    feed_replay,
    follow,
    numbers_accepts,
    numbers_replay,
    resume,
)
from picotask.subscriptions.subscriber import FellBehind, Restarting, Undeliverable

R = TypeVar("R")


def _streams(include_statement: bool) -> list[Stream]:
    """A user's own streams: notifications, and their statement rows if they ask."""
    return [Stream.NOTIFICATIONS, *([Stream.STATEMENT] if include_statement else [])]


def _with_statement(notifications: Accepts, user_id: int) -> tuple[Accepts, Replay]:
    """The user's notifications and their statement rows, merged in event order."""
    statement = audience_accepts(Stream.STATEMENT, user_id)

    def accepts(message: Message) -> bool:
        return notifications(message) or statement(message)

    def replay(after: int) -> QuerySet[Event]:
        return Event.filter(stream__in=_streams(True), audience_id=user_id, id__gt=after)

    return accepts, replay


def _submission_changes(
    info: Info, task_id: strawberry.ID | None, after: str | None
) -> Callable[[], Awaitable[Source]]:
    """The employer's stream of submission changes: one of their tasks, or all of them."""

    async def source() -> Source:
        viewer = info.context.require_viewer()
        start = _after(after)
        pk = None if task_id is None else (await own_task(info, task_id)).id
        return Source(
            audience_accepts(Stream.SUBMISSIONS, viewer.id, pk),
            audience_replay(Stream.SUBMISSIONS, viewer.id, pk),
            start,
        )

    return source


class SlowConsumer(GraphQLError):
    def __init__(self, cursor: str | None) -> None:
        super().__init__(
            "You fell too far behind and were dropped; subscribe again with "
            "`after` set to the last cursor you received.",
            extensions={"code": "SLOW_CONSUMER", "cursor": cursor},
        )


class UndeliverableEvent(GraphQLError):
    """The next event cannot be delivered by this instance: one it cannot render (written by a
    newer instance during a rolling deploy) or a bug. The subscription ends with the cursor
    just before that event, so that resuming from it, on a new connection (which may reach an
    instance that can deliver it), loses nothing; resuming here ends the same way again."""

    def __init__(self, cursor: str) -> None:
        super().__init__(
            "This server cannot deliver the next event of this subscription; subscribe again "
            "with `after` set to this cursor, preferably on a new connection.",
            extensions={"code": "UNDELIVERABLE_EVENT", "cursor": cursor},
        )


class ServerRestart(GraphQLError):
    """The instance shuts down (server/shutdown.py): every subscription ends with its cursor,
    then the socket closes with 1012 (service restart). The cursor is always given, from
    `after` or from where it went live, so that resuming with it, on another instance, misses
    nothing that was committed meanwhile."""

    def __init__(self, cursor: str) -> None:
        super().__init__(
            "This server is restarting; connect again and subscribe with `after` set to "
            "this cursor.",
            extensions={"code": "SERVER_RESTART", "cursor": cursor},
        )


def _after(after: str | None) -> int | None:
    if after is None:
        return None
    with refusals_as_errors():
        return int(decode_cursor(after, [False])[0])


@dataclass(frozen=True, slots=True)
class Source:
    """What a subscription follows: the events it accepts, where the log has them, and the
    cursor it starts after (None: from now)."""

    accepts: Accepts
    replay: Replay
    after: int | None


async def _live(
    info: Info,
    source: Callable[[], Awaitable[Source]],
    render: Callable[[Message], R],
    *,
    direct: bool = True,
) -> AsyncGenerator[R, None]:
    """The subscription's root values, one per event; live events may go straight to the
    socket instead (`direct`, when the transport offers it: subscriptions/direct.py), rendered
    and executed once for every subscriber of the same operation. An operation that resumes
    a rested subscriber goes on with it: its `source` (the arguments' checks and reads) was
    set up when it started, and is not again."""
    bus: EventBus = info.context.bus
    transport = outlet.get() if direct else None
    resumed = transport.resumed if transport is not None else None
    if resumed is not None:
        messages = resume(bus, resumed)
    else:
        followed = await source()
        to_socket = transport.direct(render) if transport is not None else None
        messages = follow(bus, followed.accepts, followed.replay, followed.after, to_socket)
    try:
        async with contextlib.aclosing(messages):
            async for message in messages:
                # The websocket's context lives as long as the connection: never cache across
                # events.
                info.context.loaders = Loaders()
                try:
                    value = render(message)
                except Exception as error:  # as when the bus's listener renders it
                    report(message, error, "rendered by its generator")
                    raise Undeliverable(message.id - 1) from None
                yield value
    except DomainError as e:  # `after` from before what the log keeps (CURSOR_EXPIRED)
        raise refused(e) from None
    except FellBehind as e:
        raise SlowConsumer(event_cursor(e.last_id) if e.last_id else None) from None
    except Undeliverable as e:
        raise UndeliverableEvent(event_cursor(e.last_id)) from None
    except Restarting as e:
        raise ServerRestart(event_cursor(e.last_id)) from None


def _same(message: Message) -> Message:
    return message


@strawberry.type
class EventsQuery:
    @strawberry.field(description="The viewer's notifications, oldest first.")
    async def events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        include_statement: Annotated[
            bool, strawberry.argument(description="Also the viewer's statement rows.")
        ] = False,
    ) -> Connection[EventType]:
        viewer = info.context.require_viewer()
        query = Event.filter(stream__in=_streams(include_statement), audience_id=viewer.id)
        page = await connection(query, EventType.of, first, after, ID_ORDER)
        start = _after(after)
        if start is not None:
            await still_kept(start)  # after the page was read: see `still_kept`
        return page


@strawberry.type
class EventsSubscription:
    @strawberry.subscription(
        description="New, changed and closed tasks the viewer can take, matching the filter."
    )
    async def task_feed(
        self, info: Info, filter: TaskFilterInput | None = None, after: str | None = None
    ) -> AsyncGenerator[TaskFeedEvent, None]:
        currency = info.context.services.settings.currency

        async def source() -> Source:
            viewer = info.context.require_viewer()
            # Live from now: taken before the reads below, so nothing committed while they
            # run is missed (it is replayed from the log).
            start = _after(after)
            if start is None:
                start = info.context.bus.position
            with refusals_as_errors():
                query = task_filter(info, filter)
            blocked = frozenset(await blocked_by(viewer.id))
            accepts = feed_accepts(viewer, query, blocked, await access_of(viewer.id))
            return Source(accepts, feed_replay(), start)

        async for event in _live(info, source, lambda m: TaskFeedEvent.of(m, currency)):
            yield event

    @strawberry.subscription(
        description="Every change of a submission's status on the viewer's tasks."
    )
    async def task_submissions(
        self, info: Info, task_id: strawberry.ID | None = None, after: str | None = None
    ) -> AsyncGenerator[SubmissionEvent, None]:
        source = _submission_changes(info, task_id, after)
        async for event in _live(info, source, SubmissionEvent.of):
            yield event

    @strawberry.subscription(
        description="The viewer's dashboard, live: each change of their task's numbers (all "
        "their tasks if no taskId): a submission's change, the task's own (slots added, "
        "paused, cancelled, taken down, expired) and the money moved for it (escrow funded "
        "or refunded, a bonus), with the task's numbers as they are after it."
    )
    async def task_analytics(
        self, info: Info, task_id: strawberry.ID | None = None, after: str | None = None
    ) -> AsyncGenerator[TaskAnalyticsEvent, None]:

        async def source() -> Source:
            viewer = info.context.require_viewer()
            start = _after(after)
            pk = None if task_id is None else (await own_task(info, task_id)).id
            return Source(numbers_accepts(viewer.id, pk), numbers_replay(viewer.id, pk), start)

        services = info.context.services
        # What each task's dashboard was last sent: one change often writes two events (a
        # cancellation closes the task and refunds it), and the second, with the same numbers,
        # is not sent again. A submission's change always is (it says what changed).
        sent: dict[int, object] = {}
        # Each event waits for its numbers: no direct path.
        async for message in _live(info, source, _same, direct=False):
            assert message.task_id is not None  # every event it follows names its task
            # Computed once per event and task in this process, shared by every subscriber.
            found = await services.live_analytics.after_event(message.id, message.task_id)
            if found.task is None:
                continue
            shown = (found.task.status, found.task.slots, found.numbers)
            if message.stream != Stream.SUBMISSIONS and sent.get(message.task_id) == shown:
                continue
            sent[message.task_id] = shown
            yield TaskAnalyticsEvent.of(
                message, found.task, found.numbers, services.settings.currency
            )

    @strawberry.subscription(description="The viewer's own notifications.")
    async def my_events(
        self,
        info: Info,
        after: str | None = None,
        include_statement: Annotated[
            bool,
            strawberry.argument(
                description="Also each new row of the viewer's statement as it is posted "
                "(type statement.row, with `statementRow`)."
            ),
        ] = False,
    ) -> AsyncGenerator[EventType, None]:

        async def source() -> Source:
            viewer = info.context.require_viewer()
            start = _after(after)
            accepts = audience_accepts(Stream.NOTIFICATIONS, viewer.id)
            replay = audience_replay(Stream.NOTIFICATIONS, viewer.id)
            if include_statement:
                accepts, replay = _with_statement(accepts, viewer.id)
            return Source(accepts, replay, start)

        async for event in _live(info, source, EventType.from_message):
            yield event
