"""The bare baseline for `bench.http`: the same work as three GraphQL pages, without GraphQL.

Each endpoint reads the same JSON body the GraphQL client sends, authenticates the bearer token
with the project's own `UserService.authenticate`, runs the very queries picotask runs for the
page (the same service functions, the same keyset pages, one query for the related users) and
writes the same JSON. `bench.http` checks that both answer the same data before it measures.

    uvicorn bench.bare:app      # settings from PICOTASK_* (database URL)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.contrib.starlette import RegisterTortoise

from picotask.models.submissions import Submission
from picotask.models.tasks import Task
from picotask.models.users import User
from picotask.server import db
from picotask.server.runtime import tune_gc
from picotask.services.core.amounts import to_decimal
from picotask.services.core.clock import SystemClock
from picotask.services.core.pagination import NEWEST_FIRST, SortKey, keyset_page
from picotask.services.registry import Services
from picotask.services.targeting.discovery import claimable_by
from picotask.services.work.tasks import slots_remaining
from picotask.services.work.transitions import can_review
from picotask.settings import Settings

NEWEST_PUBLISHED = (SortKey("published_at", descending=True), SortKey("id", descending=True))


def global_id(type_name: str, pk: int) -> str:
    from picotask.schema.relay import to_global_id  # the same ids as the API's

    return str(to_global_id(type_name, pk))


def instant(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def settings() -> Settings:
    return Settings.from_env()


SETTINGS = settings()
services = Services.build(SETTINGS, SystemClock())


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with RegisterTortoise(app, config=db.tortoise_config(SETTINGS.database_url)):
        yield


async def viewer_of(request: Request) -> User | None:
    json.loads(await request.body())  # the same body the GraphQL client sends
    _, _, token = request.headers.get("authorization", "").partition(" ")
    found = await services.users.authenticate(token.strip()) if token else None
    return found[0] if found else None


def json_response(content: Any) -> Response:
    """JSON written as picotask writes its responses (orjson), so both sides pay the same."""
    return Response(orjson.dumps(content), media_type="application/json")


def money(cents: int) -> dict[str, str]:
    return {"amount": str(to_decimal(cents)), "currency": SETTINGS.currency}


def unauthenticated() -> Response:
    return json_response({"errors": [{"message": "Authentication required."}]})


async def tasks(request: Request) -> Response:
    """`tasks(first: 20) { edges { node { id title category reward { amount currency }
    slotsRemaining employer { displayName } } } }`"""
    viewer = await viewer_of(request)
    if viewer is None:
        return unauthenticated()
    page = await keyset_page(claimable_by(viewer), NEWEST_PUBLISHED, 20, None)
    employer_ids = list({task.employer_id for _, task in page.items})
    employers = {u.id: u for u in await User.filter(id__in=employer_ids)}
    edges = [
        {
            "node": {
                "id": global_id("Task", task.id),
                "title": task.title,
                "category": task.category.value,
                "reward": money(task.reward),
                "slotsRemaining": slots_remaining(task),
                "employer": {"displayName": employers[task.employer_id].display_name},
            }
        }
        for _, task in page.items
    ]
    return json_response({"data": {"tasks": {"edges": edges}}})


async def me(request: Request) -> Response:
    """`me { id email displayName wallet { available { amount currency } … } }`"""
    viewer = await viewer_of(request)
    if viewer is None:
        return json_response({"data": {"me": None}})
    summary = await services.payouts.summary(viewer.id)
    wallet = {
        "available": money(summary.available),
        "heldInPayouts": money(summary.held_in_payouts),
        "inEscrow": money(summary.in_escrow),
        "lifetimeEarned": money(summary.lifetime_earned),
        "lifetimeDeposited": money(summary.lifetime_deposited),
        "lifetimeWithdrawn": money(summary.lifetime_withdrawn),
    }
    return json_response(
        {
            "data": {
                "me": {
                    "id": global_id("User", viewer.id),
                    "email": viewer.email,
                    "displayName": viewer.display_name,
                    "wallet": wallet,
                }
            }
        }
    )


async def my_tasks(request: Request) -> Response:
    """`myTasks(first: 10) { edges { node { id title status slotsRemaining
    submissions(first: 5) { totalCount edges { node { id status submittedAt
    worker { displayName } } } } } } }`"""
    viewer = await viewer_of(request)
    if viewer is None:
        return unauthenticated()
    page = await keyset_page(Task.filter(employer_id=viewer.id), NEWEST_FIRST, 10, None)
    # One page of submissions per task, as the API's `Task.submissions` runs, concurrently.
    reviewable = [task for _, task in page.items if can_review(task, viewer.id)]
    pages = await asyncio.gather(
        *(
            keyset_page(Submission.filter(task_id=task.id), NEWEST_FIRST, 5, None)
            for task in reviewable
        )
    )
    counts = await asyncio.gather(*(p.count() for p in pages))
    worker_ids = list({s.worker_id for p in pages for _, s in p.items})
    workers = {u.id: u for u in await User.filter(id__in=worker_ids)} if worker_ids else {}
    edges: list[dict[str, Any]] = []
    for task, submissions, count in zip(reviewable, pages, counts, strict=True):
        edges.append(
            {
                "node": {
                    "id": global_id("Task", task.id),
                    "title": task.title,
                    "status": task.status.value,
                    "slotsRemaining": slots_remaining(task),
                    "submissions": {
                        "totalCount": count,
                        "edges": [
                            {
                                "node": {
                                    "id": global_id("Submission", s.id),
                                    "status": s.status.value,
                                    "submittedAt": instant(s.submitted_at),
                                    "worker": {"displayName": workers[s.worker_id].display_name},
                                }
                            }
                            for _, s in submissions.items
                        ],
                    },
                }
            }
        )
    return json_response({"data": {"myTasks": {"edges": edges}}})


app = Starlette(
    routes=[
        Route("/tasks", tasks, methods=["POST"]),
        Route("/me", me, methods=["POST"]),
        Route("/my-tasks", my_tasks, methods=["POST"]),
    ],
    lifespan=lifespan,
)
# The same process tuning as picotask's (it changes little here: far fewer objects per request).
tune_gc(SETTINGS.gc_threshold)
