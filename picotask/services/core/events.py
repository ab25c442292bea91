"""Recording events: rows written at the end of the transaction that caused them, published
on the bus only after it commits.

`EventLog.transaction()` replaces `in_transaction()` wherever something watched changes; inside
it, `emit_*` collect events. At the end of the transaction they are inserted (on PostgreSQL in
one statement that first takes a transaction-scoped advisory lock, so event ids are assigned in
commit order and a reader resuming "after id N" can never miss a lower id that commits later;
the lock is held for that statement and the COMMIT only), then published.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.fields import DatetimeField
from tortoise.models import Model
from tortoise.transactions import in_transaction

from picotask.models.events import Event, Stream
from picotask.models.submissions import Submission
from picotask.models.tasks import Task
from picotask.services.core.clock import Clock

log = logging.getLogger(__name__)
Publisher = Callable[[list[Event]], Awaitable[None]]
_EVENT_ORDER_LOCK = 7_315_005
_pending: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar(
    "picotask_pending_events", default=None
)


def snapshot(row: Model) -> dict[str, Any]:
    """Every stored column of the row, as JSON: taken from the model itself, so what the live
    feed and the employer's stream render can never drift from what the database holds."""
    values: dict[str, Any] = {}
    for name in row._meta.fields_db_projection:
        value = getattr(row, name)
        values[name] = value.isoformat() if isinstance(value, datetime) else value
    return values


def restore(model: type[Model], values: dict[str, Any]) -> dict[str, Any]:
    fields = model._meta.fields_map
    return {
        k: datetime.fromisoformat(v) if isinstance(fields.get(k), DatetimeField) and v else v
        for k, v in values.items()
    }


def task_from_snapshot(values: dict[str, Any]) -> Task:
    return Task(**restore(Task, values))


def submission_from_snapshot(values: dict[str, Any]) -> Submission:
    return Submission(**restore(Submission, values))


async def _insert(connection: BaseDBAsyncClient, events: list[Event]) -> None:
    """Write the transaction's events, last before COMMIT. On PostgreSQL one statement takes the
    order lock and inserts them all, so the lock is held for that statement and the COMMIT
    only: the lock's one-row subquery is joined to every inserted row, so it is taken before
    the first row draws its id. SQLite has one writer at a time: ids are in commit order."""
    if connection.capabilities.dialect != "postgres":
        for event in events:
            await event.save(using_db=connection)
        return
    fields = Event._meta.fields_map
    columns = [[fields[name].to_db_value(getattr(e, name), e) for e in events] for name in _COLUMNS]
    rows = await connection.execute_query_dict(_INSERT_EVENTS, [*columns, _EVENT_ORDER_LOCK])
    for event, row in zip(events, sorted(int(r["id"]) for r in rows), strict=True):
        event.id = row  # ids are drawn in the rows' order
        event._saved_in_db = True


_COLUMNS = (
    "stream",
    "type",
    "audience_id",
    "task_id",
    "submission_id",
    "payout_id",
    "message",
    "payload",
    "created_at",
)
_TYPES = ("text", "text", "bigint", "bigint", "bigint", "bigint", "text", "jsonb", "timestamptz")
_INSERT_EVENTS = (
    f"INSERT INTO events ({', '.join(_COLUMNS)}) "
    f"SELECT e.* FROM (SELECT pg_advisory_xact_lock(${len(_COLUMNS) + 1})) AS order_lock, "
    f"unnest({', '.join(f'${n}::{t}[]' for n, t in enumerate(_TYPES, 1))}) "
    f"AS e({', '.join(_COLUMNS)}) RETURNING id"
)


class EventLog:
    def __init__(self, clock: Clock, publish: Publisher | None = None) -> None:
        self.clock = clock
        self.publish = publish

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A database transaction whose emitted events commit with it, then go on the bus."""
        outer = _pending.get()
        if outer is not None:  # nested: the outermost transaction writes and publishes
            async with in_transaction():
                yield
            return
        events: list[Event] = []
        token = _pending.set(events)
        try:
            async with in_transaction() as connection:
                yield
                if events:
                    await _insert(connection, events)
        finally:
            _pending.reset(token)
        if events and self.publish is not None:
            try:
                await self.publish(events)
            except Exception:  # committed already; subscribers catch up from the log
                log.exception("publishing %d events failed", len(events))

    def _emit(self, **fields: Any) -> None:
        events = _pending.get()
        if events is None:
            raise RuntimeError("events must be emitted inside EventLog.transaction()")
        events.append(Event(created_at=self.clock.now(), **fields))

    def task(self, kind: str, task: Task, message: str, *, by_submission: bool = False) -> None:
        """POSTED, UPDATED or CLOSED, on the workers' feed. `by_submission`: the change follows
        from a submission's (a slot taken, freed or reopened), whose own event the employer's
        dashboards hear, so they leave this one out."""
        payload: dict[str, Any] = {"kind": kind, "task": snapshot(task)}
        if by_submission:
            payload["by_submission"] = True
        self._emit(
            stream=Stream.FEED,
            type=f"task.{kind.lower()}",
            task_id=task.id,
            message=message,
            payload=payload,
        )

    def submission(self, kind: str, submission: Submission, task: Task, message: str) -> None:
        """CLAIMED, SUBMITTED, RESUBMITTED, RETURNED, EXPIRED, REVISION_REQUESTED, APPROVED,
        REJECTED, DISPUTED or DISPUTE_UPHELD (an overturned dispute is APPROVED), to the task's
        employer: every change of a submission's status."""
        self._emit(
            stream=Stream.SUBMISSIONS,
            type=f"submission.{kind.lower()}",
            audience_id=task.employer_id,
            task_id=task.id,
            submission_id=submission.id,
            message=message,
            payload={"kind": kind, "submission": snapshot(submission)},
        )

    def notify(
        self,
        user_id: int,
        type: str,
        message: str,
        *,
        task_id: int | None = None,
        submission_id: int | None = None,
        payout_id: int | None = None,
    ) -> None:
        """A notification for one user: on `myEvents` and in the `events` log."""
        self._emit(
            stream=Stream.NOTIFICATIONS,
            type=type,
            audience_id=user_id,
            task_id=task_id,
            submission_id=submission_id,
            payout_id=payout_id,
            message=message[:300],
        )

    def worker_blocked(
        self, employer_id: int, worker_id: int, submission: Submission, decided_by: str
    ) -> None:
        """A review policy blocked a worker from the employer's work: the employer's
        notification (myEvents, events, the `worker.blocked` webhook), naming the worker and the
        submission that decided it. A manual block tells nobody: the employer made it."""
        self._emit(
            stream=Stream.NOTIFICATIONS,
            type="worker.blocked",
            audience_id=employer_id,
            task_id=submission.task_id,
            submission_id=submission.id,
            message="A worker was blocked from your tasks by the review policy of one of them "
            "(accuracy on your checked answers too low).",
            payload={"worker_id": worker_id, "decided_by": decided_by},
        )

    def statement(self, user_id: int, row: dict[str, Any], message: str) -> None:
        """A new row of one user's statement (`statement_rows.StatementRow.to_json()`): on
        `myEvents` for clients that ask for statement rows."""
        self._emit(
            stream=Stream.STATEMENT,
            type="statement.row",
            audience_id=user_id,
            task_id=row["task_id"],
            submission_id=row["submission_id"],
            payout_id=row["payout_id"],
            message=message[:300],
            payload={"row": row},
        )
