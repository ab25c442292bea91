"""Bounded cost per operation and per client: the static cost of an operation, the limit for
one operation, each client's budget, and nested lists without a query per item."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from graphql import parse

from picotask.models.users import User as UserModel
from picotask.server.cost import MUTATION_COST, CostAnalysis, operation_of
from picotask.server.schema import schema
from picotask.services.core.clock import ManualClock, SystemClock
from tests.instances import api_with, spawned_instance
from tests.support import Api, Backend, count_queries, nothing_more, post_task

pytestmark = pytest.mark.timeout(120)


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    document = parse(query)
    operation = operation_of(document, None)
    assert operation is not None
    return CostAnalysis(size=8).cost(schema._schema, document, operation, variables or {}, query)


def test_objects_cost_one_and_connections_multiply_by_first() -> None:
    assert cost("{ me { id email } }") == 1
    assert cost("{ me { id balance { amount } } }") == 2
    # TaskConnection 1, pageInfo 1, 10 edges of (edge 1 + task 1 + employer 1).
    page = "{ tasks(first: 10) { pageInfo { hasNextPage } edges { node { id employer { id } } } } }"
    assert cost(page) == 1 + 1 + 10 * 3
    nested = """{ myTasks(first: 10) { edges { node {
        submissions(first: 10) { totalCount edges { node { id } } } } } } }"""
    assert cost(nested) == 1 + 10 * (1 + 1 + (1 + 10 * 2))


def test_first_from_variables_defaults_and_bounds() -> None:
    query = "query($n: Int) { tasks(first: $n) { edges { node { id } } } }"
    assert cost(query, {"n": 3}) == 1 + 3 * 2
    assert cost(query, {}) == 1 + 20 * 2  # the default page
    assert cost(query, {"n": 10_000}) == 1 + 100 * 2  # refused by execution; at most a page
    assert cost(query, {"n": "lots"}) == 1 + 100 * 2
    with_default = "query($n: Int = 4) { tasks(first: $n) { edges { node { id } } } }"
    assert cost(with_default, {}) == 1 + 4 * 2
    # Compiled once per text and operation name; variables still count on every request.
    analysis = CostAnalysis(size=8)
    document = parse(query)
    operation = operation_of(document, None)
    assert operation is not None
    assert analysis.cost(schema._schema, document, operation, {"n": 1}, query) == 3
    assert analysis.cost(schema._schema, document, operation, {"n": 50}, query) == 101
    assert analysis.cost(schema._schema, document, operation, {}, query) == 41
    assert analysis.cost(schema._schema, document, operation, {"n": 1}, query) == 3


def test_fragments_merge_interfaces_take_the_costliest_type_and_mutations_add() -> None:
    merged = """{ me { user { id ...F } } } fragment F on User { id displayName }"""
    assert cost(merged) == 2
    node = """query($id: ID!) { node(id: $id) {
        ... on User { id }
        ... on Task { employer { id } submissions(first: 5) { edges { node { id } } } } } }"""
    assert cost(node, {"id": "x"}) == 1 + 1 + (1 + 5 * 2)
    sign_up = """mutation { signUp(input: {email: "", password: "", displayName: "", country: ""})
        { token viewer { id } userErrors { code } } }"""
    assert cost(sign_up) == MUTATION_COST + 1 + 1 + 1


def test_operation_named_in_the_request_is_the_one_counted() -> None:
    query = """query Small { me { id } }
        query Large { tasks(first: 100) { edges { node { id } } } }"""
    document = parse(query)
    large = operation_of(document, "Large")
    assert large is not None
    assert CostAnalysis(size=8).cost(schema._schema, document, large, {}, query) == 201


# Within the depth (12) and alias (30) limits, yet two million objects.
EXPLOSIVE = """{ myTasks(first: 100) { edges { node { submissions(first: 100) { edges { node {
    task { submissions(first: 100) { edges { node { id } } } } } } } } } } }"""


async def test_an_operation_over_the_limit_is_refused_before_it_runs(api: Api) -> None:
    user = await api.sign_up()
    with count_queries() as queries:
        response = await api.post(EXPLOSIVE, token=user.token)
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["cost"] == 1 + 100 * (3 + 100 * (4 + 100 * 2))
    assert error["extensions"]["maxCost"] == api.services.settings.max_query_cost
    assert body["extensions"]["cost"]["requestedQueryCost"] == error["extensions"]["cost"]
    # No resolver ran (the session lookup did).
    assert not any('"tasks"' in q or '"submissions"' in q for q in queries.statements)


async def test_every_answer_carries_its_cost_and_what_is_left(api: Api) -> None:
    user = await api.sign_up()
    query = "{ me { id } tasks(first: 5) { edges { node { id } } } }"
    first = (await api.post(query, token=user.token)).json()["extensions"]["cost"]
    second = (await api.post(query, token=user.token)).json()["extensions"]["cost"]
    assert first["requestedQueryCost"] == 1 + 1 + 5 * 2
    status = first["throttleStatus"]
    assert status["maximumAvailable"] == api.services.settings.cost_budget
    assert status["restoreRate"] == api.services.settings.cost_restore_per_second
    assert (
        second["throttleStatus"]["currentlyAvailable"]
        == status["currentlyAvailable"] - first["requestedQueryCost"]
    )


TASKS = "{ tasks(first: 20) { edges { node { id } } } }"  # 1 + 20 * 2 = 41 points


async def test_a_client_over_its_budget_waits_for_it_to_refill(
    database_url: str, backend: Backend, clock: ManualClock
) -> None:
    async with api_with(
        database_url,
        backend.broadcast,
        clock=clock,
        cost_budget=100,
        max_query_cost=100,
        cost_restore_per_second=10.0,
        sign_up_free_per_address=100,
    ) as api:
        # Sign-ups are charged to the address (anonymous), the queries to each user.
        ann, bob = await api.sign_up(), await api.sign_up()
        for left in (59, 18):
            body = (await api.post(TASKS, token=ann.token)).json()
            assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == left

        refused = await api.post(TASKS, token=ann.token)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "3"  # (41 - 18) / 10 per second
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfterSeconds"] == 3
        assert error["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 18
        assert "data" not in refused.json()

        assert (await api.post(TASKS, token=bob.token)).status_code == 200  # his own budget
        clock.advance(2)
        assert (await api.post(TASKS, token=ann.token)).status_code == 429  # 38 of 41
        clock.advance(1)
        assert (await api.post(TASKS, token=ann.token)).status_code == 200


async def test_anonymous_clients_share_the_budget_of_their_address(
    database_url: str, backend: Backend, clock: ManualClock
) -> None:
    async with api_with(
        database_url, backend.broadcast, clock=clock, cost_budget=50, max_query_cost=50
    ) as api:
        query = "{ me { id } }"  # 1 point
        for _ in range(50):
            assert (await api.post(query)).status_code == 200
        assert (await api.post(query)).status_code == 429
        user = await api.services.users.sign_up(
            email="ann@example.com",
            password="correct horse battery",
            display_name="Ann",
            country="DE",
            client_address="192.0.2.1",
        )
        assert (await api.post(query, token=user.token)).status_code == 200


async def test_subscriptions_are_charged_and_bounded_when_they_start(
    database_url: str, backend: Backend, clock: ManualClock
) -> None:
    async with api_with(
        database_url, backend.broadcast, clock=clock, cost_budget=100, max_query_cost=100
    ) as api:
        user = await api.sign_up()
        async with api.ws(user.token) as ws:
            await ws.subscribe(
                "big",
                """subscription { taskFeed { task { id
                    submissions(first: 100) { edges { node { id } } } } } }""",
            )
            refused = await ws.receive_for("big")
            assert refused["type"] == "error", refused
            assert refused["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"

            feed = """subscription { taskFeed { cursor task { id employer { id }
                submissions(first: 10) { edges { node { id } } } } } }"""  # 3 + 21 points
            for n in range(5):
                await ws.subscribe(f"feed-{n}", feed)
            # They start concurrently: four fit in the budget, whichever comes last does not.
            over = await ws.receive()
            assert over["type"] == "error", over
            assert over["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
            assert await nothing_more(ws)


@contextlib.asynccontextmanager
async def two_instances(
    database_url: str, broadcast_url: str, **limits: Any
) -> AsyncIterator[tuple[Api, Api]]:
    """This process's app and a second one (`picotask serve`) on the same database and Redis,
    with the same limits; both on the system clock."""
    limits["redis_key_prefix"] = f"picotask-test-{secrets.token_hex(6)}"
    async with (
        spawned_instance(database_url, broadcast_url, **limits) as other,
        api_with(database_url, broadcast_url, clock=SystemClock(), **limits) as here,
        httpx.AsyncClient(base_url=other.url, timeout=10) as client,
    ):
        yield here, Api(client, here.server, here.clock)


needs_two_instances = pytest.mark.skipif(
    not os.environ.get("PICOTASK_TEST_DATABASE_URL"),
    reason="several instances share one database only on PostgreSQL (SQLite is one process)",
)


@needs_two_instances
async def test_instances_on_one_redis_share_each_budget(
    database_url: str, backend: Backend
) -> None:
    assert backend.broadcast.startswith("redis"), "needs PICOTASK_TEST_BROADCAST_URL (Redis)"
    # Refills by a point a minute, on the system clock: nothing refills during the test.
    limits = {"cost_budget": 100, "max_query_cost": 100, "cost_restore_per_second": 1 / 60}
    async with two_instances(database_url, backend.broadcast, **limits) as (here, there):
        user = await here.sign_up()
        assert (await here.post(TASKS, token=user.token)).status_code == 200
        assert (await there.post(TASKS, token=user.token)).status_code == 200
        assert (await here.post(TASKS, token=user.token)).status_code == 429
        assert (await there.post(TASKS, token=user.token)).status_code == 429


SUBMISSIONS = """query($n: Int, $per: Int, $after: String, $status: [SubmissionStatus!]) {
  myTasks(first: $n) { edges { node { id
    submissions(first: $per, after: $after, status: $status) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { cursor node { id status worker { displayName } } } } } } } }"""


async def test_each_tasks_submissions_in_a_list_take_no_query_per_task(api: Api) -> None:
    boss = await api.sign_up()
    employer = await UserModel.get(email=boss.email)
    await api.services.payouts.deposit(employer, Decimal("500.00"), None)
    workers = [await UserModel.get(email=(await api.sign_up()).email) for _ in range(2)]
    for i in range(30):
        task = await post_task(api.services, employer, title=f"Task {i}", slots=3)
        for worker in workers:
            await api.services.submissions.claim(worker, task.id)

    with count_queries() as few:
        small = await api.gql(SUBMISSIONS, {"n": 3}, boss.token)
    with count_queries() as many:
        large = await api.gql(SUBMISSIONS, {"n": 30}, boss.token)
    assert len(large["myTasks"]["edges"]) == 30
    assert many.count == few.count, many.statements

    for edge in large["myTasks"]["edges"]:
        connection = edge["node"]["submissions"]
        assert connection["totalCount"] == 2
        assert connection["pageInfo"]["hasNextPage"] is False
        ids = [e["node"]["id"] for e in connection["edges"]]
        assert len(ids) == 2
    assert small["myTasks"]["edges"] == large["myTasks"]["edges"][:3]

    # One per page, newest first, each task paged on its own; a status filter applies.
    paged = (await api.gql(SUBMISSIONS, {"n": 2, "per": 1}, boss.token))["myTasks"]["edges"]
    for edge, full in zip(paged, large["myTasks"]["edges"], strict=False):
        page = edge["node"]["submissions"]
        assert page["pageInfo"]["hasNextPage"] is True
        assert page["totalCount"] == 2
        assert page["edges"][0]["node"] == full["node"]["submissions"]["edges"][0]["node"]
        rest = await api.gql(
            SUBMISSIONS, {"n": 1, "per": 5, "after": page["pageInfo"]["endCursor"]}, boss.token
        )
        if edge is paged[0]:
            tail = rest["myTasks"]["edges"][0]["node"]["submissions"]
            assert [e["node"] for e in tail["edges"]] == [
                full["node"]["submissions"]["edges"][1]["node"]
            ]
    none = await api.gql(SUBMISSIONS, {"n": 2, "status": ["APPROVED"]}, boss.token)
    for edge in none["myTasks"]["edges"]:
        assert edge["node"]["submissions"] == {
            "totalCount": 0,
            "pageInfo": {"hasNextPage": False, "endCursor": None},
            "edges": [],
        }
    errors = await api.errors(SUBMISSIONS, {"n": 1, "after": "not a cursor"}, boss.token)
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
