"""The viewer's statement: its rows, totals per period and a CSV export."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.schema.context import Info
from picotask.schema.relay import pk_of
from picotask.schema.scalars import From
from picotask.schema.statement import (
    StatementConnection,
    StatementFilterInput,
    StatementTotals,
    statement_csv,
)
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.core.report_range import checked_range
from picotask.services.money.statement import Interval, StatementFilter
from picotask.services.money.statement_rows import StatementKind


@strawberry.type
class StatementQuery:
    @strawberry.field(
        description="The viewer's money history, newest first: one row per movement of their "
        "balance, with the balance after it."
    )
    async def statement(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: StatementFilterInput | None = None,
    ) -> StatementConnection:
        viewer = info.context.require_viewer()
        services = info.context.services
        wanted = StatementFilter()
        if filter is not None:
            wanted = StatementFilter(
                checked_range(
                    filter.from_,
                    filter.to,
                    services.settings.report_max_range_days,
                    field=["filter"],
                ),
                frozenset(filter.kinds or ()),
                task_id=_pk(filter.task_id, "Task", ["filter", "taskId"]),
                counterparty_id=_pk(filter.counterparty_id, "User", ["filter", "counterpartyId"]),
            )
        page = await services.statement.page(viewer.id, first, after, wanted)
        return StatementConnection.of_page(page, services.settings.currency)

    @strawberry.field(
        description="The viewer's statement summed per day, week or month over [from, to) "
        "(UTC), with the balance at each period's end."
    )
    async def statement_totals(
        self, info: Info, from_: From, to: datetime, interval: Interval = Interval.DAY
    ) -> StatementTotals:
        viewer = info.context.require_viewer()
        services = info.context.services
        within = checked_range(from_, to, services.settings.report_max_range_days)
        totals = await services.statement.totals(viewer.id, within, interval)
        return StatementTotals.of(totals, services.settings.currency)

    @strawberry.field(
        description="The viewer's statement rows in [from, to) as CSV (RFC 4180, oldest "
        "first, a header line; ids are the API's ids)."
    )
    async def statement_csv(
        self,
        info: Info,
        from_: From,
        to: datetime,
        kinds: list[StatementKind] | None = None,
        task_id: strawberry.ID | None = None,
        counterparty_id: strawberry.ID | None = None,
    ) -> str:
        viewer = info.context.require_viewer()
        services = info.context.services
        within = checked_range(from_, to, services.settings.report_max_range_days)
        wanted = StatementFilter(
            within,
            frozenset(kinds or ()),
            task_id=_pk(task_id, "Task", ["taskId"]),
            counterparty_id=_pk(counterparty_id, "User", ["counterpartyId"]),
        )
        rows = await services.statement.export(viewer.id, wanted)
        return statement_csv(rows, services.settings.currency)


def _pk(global_id: strawberry.ID | None, type_name: str, field: list[str]) -> int | None:
    """A filter's id: null is no filter; an id of something else is refused, naming it (an
    id of another's task or of a stranger simply matches no row of the viewer's)."""
    if global_id is None:
        return None
    pk = pk_of(global_id, type_name)
    if pk is None:
        raise DomainError(ErrorCode.INVALID, f"{field[-1]} is not an id of a {type_name}.", field)
    return pk
