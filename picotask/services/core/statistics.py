"""The query planner's statistics on SQLite: gathered at a process's first sweep, then hourly.

PostgreSQL keeps its own (autovacuum's ANALYZE). SQLite has none until ANALYZE runs, and
without them its planner takes every index for selective: a search, say, reads the open tasks
in their order and checks each against the few the search index found, rather than reading
those few (bench/growth.py at 100,000 tasks: 33 ms against 12 for a word no task has).
`analysis_limit` bounds each ANALYZE to a sample of every index, a few milliseconds at any size.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise import connections

from picotask.services.core.clock import Clock

EVERY = timedelta(hours=1)
ANALYSIS_LIMIT = 1_000  # rows sampled per index


class PlannerStatistics:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.gathered: datetime | None = None

    async def refresh(self) -> bool:
        """Gather them if due (SQLite only); whether it did."""
        connection = connections.get("default")
        if connection.capabilities.dialect != "sqlite":
            return False
        now = self.clock.now()
        if self.gathered is not None and now - self.gathered < EVERY:
            return False
        await connection.execute_script(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}; ANALYZE")
        self.gathered = now
        return True
