"""Retention benchmark: how fast the sweeper removes an event log past its retention, and what
that costs the writes that go on meanwhile, in the same run on the same database.

    python -m bench.retention                          # SQLite, then PostgreSQL if reachable
    python -m bench.retention --backend postgres --events 1000000
    python -m bench.retention --quick                  # CI (make bench-quick): 20,000 events

A new database is migrated, then seeded in SQL (one statement: PostgreSQL's generate_series,
SQLite's recursive CTE) with `--events` events older than the retention and a few young ones.
A writer commits one event (`EventLog.transaction`, a notification) every `--write-every`
seconds and times each commit: first for `--seconds` with no sweeper (the baseline), then while
the sweeper's retention rounds (`EventRetention.sweep`, as the sweeper calls it) run back to
back until nothing is left to remove. Printed: rows removed per second, each round's time, and
the writes' p50/p99 while sweeping against the baseline (the ratio). At the end the log must
hold exactly the young events and the writes, and nothing old.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tortoise import Tortoise, connections

from bench.http import database, postgres_reachable
from picotask.models.events import Event, Stream
from picotask.models.notifications import MailCursor
from picotask.server import db
from picotask.services.core import retention
from picotask.services.core.clock import ManualClock
from picotask.services.core.events import EventLog
from picotask.services.core.retention import EventRetention
from picotask.settings import Settings

NOW = datetime(2026, 6, 1, tzinfo=UTC)
YOUNG = 100
# Plain strings, no formatting: the numbers go as parameters.
SEED_POSTGRES = (
    "INSERT INTO events (stream, type, audience_id, message, payload, created_at) "
    "SELECT 'NOTIFICATIONS', 'message.received', (g % 1000) + 1, 'seeded', '{}', "
    "(SELECT created_at FROM events WHERE id = $2) FROM generate_series(2, $1) AS g"
)
SEED_SQLITE = (
    "WITH RECURSIVE s(g) AS (SELECT 2 UNION ALL SELECT g + 1 FROM s WHERE g < ?) "
    "INSERT INTO events (stream, type, audience_id, message, payload, created_at) "
    "SELECT 'NOTIFICATIONS', 'message.received', (g % 1000) + 1, 'seeded', '{}', "
    "(SELECT created_at FROM events WHERE id = ?) FROM s"
)


@dataclass
class Result:
    backend: str
    events: int
    rounds: list[tuple[float, int]] = field(default_factory=list)  # (seconds, rows)
    baseline: list[float] = field(default_factory=list)  # write latencies, seconds
    sweeping: list[float] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return sum(rows for _, rows in self.rounds)

    @property
    def seconds(self) -> float:
        return sum(s for s, _ in self.rounds)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def seed(backend: str, events: int, old: datetime) -> None:
    """`events` old events in one SQL statement, their time copied from one the ORM wrote (so
    SQLite's text holds it as tortoise writes it), then `YOUNG` recent ones."""
    template = await Event.create(
        stream=Stream.NOTIFICATIONS,
        type="message.received",
        audience_id=1,
        message="old",
        created_at=old,
    )
    conn = connections.get("default")
    if backend == "postgres":
        await conn.execute_query(SEED_POSTGRES, [events, template.id])
        await conn.execute_script("VACUUM ANALYZE events")
    else:
        await conn.execute_query(SEED_SQLITE, [events, template.id])
    for n in range(YOUNG):
        await Event.create(
            stream=Stream.NOTIFICATIONS,
            type="message.received",
            audience_id=n,
            message="young",
            created_at=NOW - timedelta(hours=1),
        )


async def writes(log: EventLog, every: float, stop: asyncio.Event, into: list[float]) -> None:
    """One event committed every `every` seconds (paced, not back to back), each timed."""
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while not stop.is_set():
        started = time.perf_counter()
        async with log.transaction():
            log.notify(7, "message.received", "bench write")
        into.append(time.perf_counter() - started)
        next_at += every
        await asyncio.sleep(max(0.0, next_at - loop.time()))


async def run(backend: str, args: argparse.Namespace) -> Result:
    result = Result(backend, args.events)
    with tempfile.TemporaryDirectory() as folder:
        async with database(backend, folder) as url:
            await db.apply_migrations(url)
            await Tortoise.init(config=db.tortoise_config(url))
            try:
                await seed(backend, args.events, NOW - timedelta(days=60))
                # A notification mailer that has read the whole log (it holds back the rest).
                newest = await Event.all().order_by("-id").only("id").first()
                assert newest is not None
                await MailCursor.filter(id=1).update(last_event_id=newest.id)
                clock = ManualClock(NOW)
                log = EventLog(clock)
                sweep = EventRetention(Settings(event_retention_days=30), clock)

                stop = asyncio.Event()
                writer = asyncio.create_task(writes(log, args.write_every, stop, result.baseline))
                await asyncio.sleep(args.seconds)
                stop.set()
                await writer

                stop = asyncio.Event()
                writer = asyncio.create_task(writes(log, args.write_every, stop, result.sweeping))
                while True:
                    started = time.perf_counter()
                    rows = await sweep.sweep()
                    if not rows:
                        break
                    result.rounds.append((time.perf_counter() - started, rows))
                stop.set()
                await writer

                left = await Event.filter(message__in=["old", "seeded"]).count()
                kept = await Event.filter(message__in=["young", "bench write"]).count()
                wanted = YOUNG + len(result.baseline) + len(result.sweeping)
                if left or kept != wanted or result.removed != args.events:
                    raise SystemExit(
                        f"{backend}: {left} old events left, {kept} of {wanted} young kept, "
                        f"{result.removed} of {args.events} removed"
                    )
            finally:
                await Tortoise.close_connections()
    return result


def report(results: list[Result]) -> None:
    per_round = retention.BATCH * retention.BATCHES_PER_ROUND
    print(
        f"\nbatches of {retention.BATCH:,}, at most {per_round:,} events a round, rounds back "
        "to back; writes: one event committed at a steady pace"
    )
    print(
        f"{'backend':<9} {'events':>10} {'rounds':>7} {'s':>7} {'rows/s':>9} "
        f"{'round p50':>10} {'max':>7} | {'write p50 ms':>12} {'p99 base':>9} "
        f"{'p99 sweep':>10} {'ratio':>7}"
    )
    for r in results:
        times = [s for s, _ in r.rounds]
        base, during = percentile(r.baseline, 0.99), percentile(r.sweeping, 0.99)
        print(
            f"{r.backend:<9} {r.events:>10,} {len(r.rounds):>7} {r.seconds:>7.2f} "
            f"{r.removed / r.seconds:>9,.0f} {statistics.median(times) * 1000:>8.0f}ms "
            f"{max(times) * 1000:>5.0f}ms | "
            f"{percentile(r.baseline, 0.5):>5.2f} → {percentile(r.sweeping, 0.5):<5.2f} "
            f"{base:>9.2f} {during:>10.2f} {during / base:>6.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="of baseline writes")
    parser.add_argument("--write-every", type=float, default=0.005)
    parser.add_argument("--batch", type=int, help="events per transaction (default: the app's)")
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    args = parser.parse_args()
    if args.batch:
        retention.BATCH = args.batch
    if args.quick:
        args.events, args.seconds = 20_000, 1.0
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if args.backend == "all" and not postgres_reachable():
        print("PostgreSQL does not answer: SQLite only", file=sys.stderr)
        backends = ["sqlite"]
    if len(backends) > 1:
        # One process per backend: tortoise keeps each model's SQL for the first dialect.
        for backend in backends:
            argv = [sys.executable, "-m", "bench.retention", *sys.argv[1:], "--backend", backend]
            subprocess.run(argv, check=True)  # noqa: S603  # our own interpreter and module
        return
    report([asyncio.run(run(backends[0], args))])


if __name__ == "__main__":
    main()
