"""/metrics: refused unless a setting allows it, every documented series there, moving with
what the app does, and several processes adding up through one metrics directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.instances import api_with, spawned_instance
from tests.support import PATIENCE, Api, Backend, next_data, until
from tests.test_marketplace_api import create, employer
from tests.test_subscriptions import FEED, TASKS_NOW

NAMED = "query Front { tasks(first: 2) { edges { node { id } } } }"
BROKEN = "query Broken { noSuchField }"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: Samples, series: str, **labels: str) -> float:
    return found.get((series, tuple(sorted(labels.items()))), 0.0)


def total(found: Samples, name: str) -> float:
    return sum(v for (n, _), v in found.items() if n == name)


async def scrape(api: Api, token: str | None = None) -> Samples:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await api.client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_metrics_answer_404_unless_a_setting_allows_them(api: Api) -> None:
    response = await api.client.get("/metrics")
    assert response.status_code == 404
    assert "picotask_" not in response.text


async def test_a_metrics_token_is_required_when_set(database_url: str, backend: Backend) -> None:
    async with api_with(database_url, backend.broadcast, metrics_token="scrape-me") as api:
        assert (await api.client.get("/metrics")).status_code == 401
        wrong = {"authorization": "Bearer scrape-you"}
        assert (await api.client.get("/metrics", headers=wrong)).status_code == 401
        found = await scrape(api, "scrape-me")
        assert total(found, "picotask_http_requests_total") >= 2  # the refused scrapes


async def test_series_move_with_operations(database_url: str, backend: Backend) -> None:
    async with api_with(database_url, backend.broadcast, metrics=True) as api:
        boss = await employer(api)
        worker = await api.sign_up()
        before = await scrape(api)
        for name in (
            "picotask_payouts",
            "picotask_webhook_deliveries",
            "picotask_webhook_endpoints_disabled",
            "picotask_subscriptions_active",
            "picotask_websockets_open",
            "picotask_subscription_groups",
            "picotask_sequencer_log_reads_total",
            "picotask_slow_consumer_drops_total",
        ):
            assert any(n == name for n, _ in before), name
        await api.gql(NAMED, token=worker.token)
        await api.gql(TASKS_NOW, token=worker.token)
        errors = await api.errors(BROKEN)
        assert errors
        after = await scrape(api)

        def moved(series: str, **labels: str) -> float:
            return value(after, series, **labels) - value(before, series, **labels)

        duration = "picotask_graphql_operation_duration_seconds_count"
        assert moved(duration, type="query", name="Front") == 1
        assert moved(duration, type="query", name="anonymous") == 1
        broken = {"type": "query", "name": "Broken", "code": "BAD_REQUEST"}
        assert moved("picotask_graphql_errors_total", **broken) == 1
        ok = {"method": "POST", "route": "/graphql", "status": "200"}
        assert moved("picotask_http_requests_total", **ok) >= 2
        assert moved("picotask_graphql_operation_cost_count", type="query") >= 2
        assert moved("picotask_db_query_duration_seconds_count") >= 1

        # Live state: a socket, a subscription on the bus, an event through the live path.
        async with api.ws(worker.token) as ws:
            await ws.subscribe("feed", FEED)
            await until(lambda: api.server.app.state.bus.stats.subscribers == 1)
            await create(api, boss, title="Watched")
            await next_data(ws, "feed")
            live = await scrape(api)
            assert value(live, "picotask_websockets_open") == 1
            assert total(live, "picotask_subscriptions_active") == 1
            assert value(live, "picotask_events_delivered_total") > value(
                before, "picotask_events_delivered_total"
            )
            lag = "picotask_live_lag_seconds_count"
            assert value(live, lag) > value(before, lag)


async def test_operation_names_past_the_limit_count_as_other(
    database_url: str, backend: Backend
) -> None:
    settings: dict[str, Any] = {"metrics": True, "metrics_max_operation_names": 1}
    async with api_with(database_url, backend.broadcast, **settings) as api:
        await api.gql("query First { __typename }")
        await api.gql("query Second { __typename }")
        await api.gql("query First { __typename }")
        found = await scrape(api)
        duration = "picotask_graphql_operation_duration_seconds_count"
        assert value(found, duration, type="query", name="First") == 2
        assert value(found, duration, type="query", name="Second") == 0
        assert value(found, duration, type="query", name="other") >= 1


async def test_processes_sharing_a_metrics_directory_add_up(
    database_url: str, backend: Backend, tmp_path: Path
) -> None:
    directory = tmp_path / "metrics"
    settings = {"metrics": True, "metrics_dir": str(directory)}
    # The second started once the first is up (and migrated): no two migrations at once.
    async with (
        spawned_instance(database_url, backend.broadcast, **settings) as first,
        spawned_instance(database_url, backend.broadcast, **settings) as second,
    ):
        for instance in (first, second):
            async with httpx.AsyncClient(base_url=instance.url, timeout=PATIENCE) as client:
                query = {"query": "query Front { __typename }"}
                response = await client.post("/graphql", json=query)
                assert response.status_code == 200, response.text
        async with httpx.AsyncClient(base_url=first.url, timeout=PATIENCE) as client:
            text = (await client.get("/metrics")).text
    found = samples(text)
    duration = "picotask_graphql_operation_duration_seconds_count"
    assert value(found, duration, type="query", name="Front") == 2
    assert any(re.match(r".*_\d+\.db$", p.name) for p in directory.iterdir())
