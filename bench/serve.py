"""picotask as `picotask serve` runs it, plus `GET /bench/stats` (the bus's subscriber count and
the fan-out's execution counters), so the benchmark can count GraphQL executions per event.

    PICOTASK_DATABASE_URL=... PICOTASK_PORT=... python -m bench.serve
"""

from __future__ import annotations

from dataclasses import asdict

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from picotask.server.app import create_app
from picotask.server.cli import serving
from picotask.server.runtime import tune_gc
from picotask.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    app = create_app(settings)

    async def stats(request: Request) -> JSONResponse:
        bus = app.state.bus
        return JSONResponse({"subscribers": bus.stats.subscribers, **asdict(bus.groups.stats)})

    app.router.routes.append(Route("/bench/stats", stats))
    tune_gc(settings.gc_threshold)
    uvicorn.run(app, host=settings.host, port=settings.port, **serving(settings))


if __name__ == "__main__":
    main()
