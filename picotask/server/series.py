"""The Prometheus series of the server layer (README, "Metrics"), beside those counted below
it (services/core/metrics.py). Nothing here imports the rest of the server, so any module of
it can count.

Labels take bounded values only: operation types, operation names bounded by
`metrics.OperationNames`, error codes the server sets, route templates (never a path with an
upload token in it), methods, status codes, fixed states.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

OPERATIONS = Histogram(
    "picotask_graphql_operation_duration_seconds",
    "GraphQL operations (HTTP and websocket) by type and name, and how long each took; for a "
    "subscription, until it started (or was refused).",
    ["type", "name"],
    buckets=SECONDS,
)
ERRORS = Counter(
    "picotask_graphql_errors_total",
    "Errors in GraphQL results, by operation type, operation name and error code.",
    ["type", "name", "code"],
)
COST = Histogram(
    "picotask_graphql_operation_cost",
    "The cost of each operation charged (server/cost.py's points), by type.",
    ["type"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000),
)
COST_REFUSALS = Counter(
    "picotask_cost_refusals_total",
    "Operations refused for their cost: too_complex (over the limit for one operation) or "
    "budget (the client's budget does not hold it).",
    ["reason"],
)

HTTP_REQUESTS = Counter(
    "picotask_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "picotask_http_request_duration_seconds",
    "How long HTTP requests took, by method and route template.",
    ["method", "route"],
    buckets=SECONDS,
)

# Live state, read from this process's bus and sockets when refreshed (metrics.Refresher).
WEBSOCKETS = Gauge(
    "picotask_websockets_open",
    "Open GraphQL websockets.",
    multiprocess_mode="livesum",
)
SUBSCRIPTIONS = Gauge(
    "picotask_subscriptions_active",
    "Subscriptions on the bus, by state: awake (a generator runs it) or resting (its events "
    "go the direct path).",
    ["state"],
    multiprocess_mode="livesum",
)
GROUPS = Gauge(
    "picotask_subscription_groups",
    "Groups of identical subscriptions that share each event's execution.",
    multiprocess_mode="livesum",
)
DB_POOL = Gauge(
    "picotask_db_pool_connections",
    "Connections of the PostgreSQL pool, by state (in_use, idle).",
    ["state"],
    multiprocess_mode="livesum",
)
DB_QUERIES = Histogram(
    "picotask_db_query_duration_seconds",
    "How long each database query took (its round trip through tortoise's client).",
    buckets=SECONDS,
)

# Counts the bus, the sequencer and the groups keep as plain numbers (no cost on their paths),
# added to these counters when refreshed: (counter, what it counts).
BUS_COUNTERS = {
    name: Counter(f"picotask_{name}_total", text)
    for name, text in {
        "events_published": "Events this process published on the bus.",
        "events_received": "Events the bus brought to this process.",
        "events_delivered": "Events the sequencer handed to this process's subscribers.",
        "bus_reconnects": "Times the bus was lost and connected again.",
        "slow_consumer_drops": "Subscribers dropped for falling too far behind.",
        "subscribers_woken": "Resting subscribers whose generator had to run again.",
        "subscribers_undeliverable": "Subscribers ended because an event could not be "
        "delivered to them.",
        "sequencer_log_reads": "Queries on the event log by the sequencer (polls and gaps).",
        "sequencer_gap_waits": "Times an event came ahead of a missing id and waited for it.",
        "sequencer_events_from_log": "Events delivered from the log: the bus had not brought them.",
        "shared_executions": "Executions of an event for a whole group of subscriptions.",
        "shared_deliveries": "Results handed out from a shared execution.",
        "subscriber_executions": "Executions of an event for one subscriber.",
        "direct_frames": "Frames written straight to the socket (the direct path).",
    }.items()
}
