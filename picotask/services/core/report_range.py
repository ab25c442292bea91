"""The date range of a report (statement, totals, CSV export, analytics): `[from, to)`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from picotask.services.core.errors import DomainError, ErrorCode


@dataclass(frozen=True, slots=True)
class DateRange:
    since: datetime | None = None  # inclusive; None: from the beginning
    until: datetime | None = None  # exclusive; None: up to now

    @property
    def bounded(self) -> bool:
        return self.since is not None and self.until is not None


EVERYTHING = DateRange()


def checked_range(
    since: datetime | None,
    until: datetime | None,
    max_days: int,
    *,
    field: Sequence[str] = (),
) -> DateRange:
    """`from` before `to`, at most `max_days` apart (open ends are allowed: a statement page
    is bounded by its size, not its dates)."""
    prefix = list(field)
    since = since.astimezone(UTC) if since is not None else None
    until = until.astimezone(UTC) if until is not None else None
    if since is not None and until is not None:
        if since >= until:
            raise DomainError(ErrorCode.OUT_OF_RANGE, "from must be before to.", [*prefix, "from"])
        if until - since > timedelta(days=max_days):
            raise DomainError(
                ErrorCode.OUT_OF_RANGE,
                f"from and to are at most {max_days} days apart; ask for a shorter range.",
                [*prefix, "to"],
            )
    return DateRange(since, until)
