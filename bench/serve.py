"""picotask as `picotask serve` runs it, plus `GET /bench/stats` (the bus's subscriber count and
the fan-out's execution counters), so the benchmark can count GraphQL executions per event.

    PICOTASK_DATABASE_URL=... PICOTASK_PORT=... python -m bench.serve

With `BENCH_TRACEMALLOC=1` the server also traces its allocations: `POST /bench/memory` marks
the moment (before the subscribers connect), `GET /bench/memory?n=N` lists what was allocated
since and is still held, by line, in KiB per each of N subscribers (`bench/fanout.py --memory`).
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from dataclasses import asdict

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from picotask.server.app import create_app
from picotask.server.cli import serving
from picotask.server.runtime import tune_gc
from picotask.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    app = create_app(settings)
    marked: list[tracemalloc.Snapshot] = []

    async def stats(request: Request) -> JSONResponse:
        bus = app.state.bus
        counts = {"subscribers": bus.stats.subscribers, "resting": bus.resting()}
        return JSONResponse({**counts, "woken": bus.stats.woken, **asdict(bus.groups.stats)})

    async def memory(request: Request) -> PlainTextResponse:
        gc.collect()  # what is still held, not what waits for a collection
        if request.method == "POST":
            marked[:] = [tracemalloc.take_snapshot()]
            return PlainTextResponse("marked")
        n = int(request.query_params.get("n", "1"))
        by = request.query_params.get("by", "lineno")  # or "filename"
        diff = tracemalloc.take_snapshot().compare_to(marked[0], by)
        total = sum(d.size_diff for d in diff)
        grown = sum(d.size_diff for d in diff if d.size_diff > 0)
        lines = [f"{total / 1024 / n:8.2f} KiB per subscriber ({grown / 1024 / n:.2f} grown)"]
        for d in diff[:40]:
            frames = [
                f.filename.rsplit("site-packages/", 1)[-1].rsplit("lib/python3", 1)[-1]
                + ("" if by == "filename" else f":{f.lineno}")
                for f in d.traceback
            ]
            where = " < ".join(reversed(frames))  # innermost first
            lines.append(f"{d.size_diff / 1024 / n:8.2f} {d.count_diff / n:6.1f} obj  {where}")
        return PlainTextResponse("\n".join(lines) + "\n")

    # First: the web app's fallback (served at / when web/dist is built) takes any later path.
    app.router.routes.insert(0, Route("/bench/stats", stats))
    if os.environ.get("BENCH_TRACEMALLOC") == "1":
        tracemalloc.start(int(os.environ.get("BENCH_TRACEMALLOC_FRAMES", "1")))
        app.router.routes.insert(0, Route("/bench/memory", memory, methods=["GET", "POST"]))
    tune_gc(settings.gc_threshold)
    uvicorn.run(app, host=settings.host, port=settings.port, **serving(settings))


if __name__ == "__main__":
    main()
