"""Publishing a batch: a 10,000-item CSV becomes a funded batch in one call, measured against a
plain bulk insert of the same item rows in the same run (the floor any batch must pay).

    python -m bench.batches                  # 10,000 items, SQLite then PostgreSQL if reachable
    python -m bench.batches --quick          # CI: 1,000 items, one round

The batch side is `BatchService.create`, the whole of what `createBatch` does below GraphQL:
parse and check every cell, write the task and its items, fund them in one ledger posting,
write the feed's one event. The baseline is `TaskItem.bulk_create` of the same rows, in one
transaction. Each backend runs in its own process (tortoise keeps per-model SQL for one
dialect).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal

from tortoise import Tortoise
from tortoise.transactions import in_transaction

from bench.http import database, postgres_reachable
from picotask.models.batches import TaskItem
from picotask.models.tasks import ProofKind, TaskCategory
from picotask.server import db
from picotask.services.core.clock import SystemClock
from picotask.services.registry import Services
from picotask.services.work.batch_files import ItemSource, read_items
from picotask.services.work.batch_items import INSERT_CHUNK
from picotask.services.work.task_specs import ProofFieldSpec, TaskSpec
from picotask.settings import Settings

SPEC = TaskSpec(
    title="Review a page",
    instructions="Open {{url}} and say whether {{name}} is on it.",
    category=TaskCategory.REVIEW,
    reward=Decimal("0.05"),
    slots=1,
    estimated_minutes=1,
    proof_fields=[ProofFieldSpec("Verdict", ProofKind.TEXT)],
)


def items_csv(n: int) -> str:
    return "url,name\n" + "".join(f"https://example.com/p/{i},Person {i}\n" for i in range(n))


async def measure(url: str, items: int, rounds: int) -> tuple[list[float], list[float]]:
    await db.apply_migrations(url)
    await Tortoise.init(config=db.tortoise_config(url), _enable_global_fallback=True)
    try:
        settings = Settings(database_url=url)
        services = Services.build(settings, SystemClock())
        signed = await services.users.sign_up(
            email="bench@example.com",
            password="correct horse battery",  # noqa: S106  # a throwaway bench account
            display_name="Bench",
            country="US",
            client_address="127.0.0.1",
        )
        boss = signed.user
        await services.payouts.deposit(boss, Decimal("9000.00"), None)
        text = items_csv(items)
        rows = read_items(ItemSource(csv=text), settings).rows
        plain = await services.tasks.create(boss, SPEC, publish=False)
        batch_s, bulk_s = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            async with in_transaction():
                await TaskItem.bulk_create(
                    [TaskItem(task_id=plain.id, position=i, data=d) for i, d in enumerate(rows)],
                    batch_size=INSERT_CHUNK,
                )
            bulk_s.append(time.perf_counter() - start)
            await TaskItem.filter(task_id=plain.id).delete()
            start = time.perf_counter()
            task = await services.batches.create(boss, SPEC, ItemSource(csv=text), publish=True)
            batch_s.append(time.perf_counter() - start)
            assert await TaskItem.filter(task_id=task.id).count() == items
        return batch_s, bulk_s
    finally:
        await Tortoise.close_connections()


async def run(backend: str, items: int, rounds: int) -> None:
    # A pool left open by the migration step keeps reconnecting once the bench database is
    # dropped (FORCE) and logs each try; the figures are taken before that.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)
    folder = tempfile.mkdtemp(prefix="picotask-bench-batches-")
    async with database(backend, folder) as url:
        batch_s, bulk_s = await measure(url, items, rounds)
    batch, bulk = statistics.median(batch_s), statistics.median(bulk_s)
    load = os.getloadavg()[0]
    print(
        f"{backend:<9} {items:>6} items: createBatch {batch:6.2f} s, plain bulk insert "
        f"{bulk:6.2f} s, ratio {batch / bulk:5.2f}x  (median of {rounds}; load {load:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    args = parser.parse_args()
    if args.quick:
        args.items, args.rounds = 1_000, 1
    if args.backend != "all":
        asyncio.run(run(args.backend, args.items, args.rounds))
        return
    backends = ["sqlite", *(["postgres"] if postgres_reachable() else [])]
    for backend in backends:
        argv = [sys.executable, "-m", "bench.batches", "--backend", backend]
        argv += ["--items", str(args.items), "--rounds", str(args.rounds)]
        subprocess.run(argv, check=True)  # noqa: S603  # our own interpreter and module


if __name__ == "__main__":
    main()
