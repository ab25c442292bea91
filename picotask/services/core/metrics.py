"""The Prometheus series counted below the server (README, "Metrics"): one home for each.

prometheus-client keeps every series of the process in its default registry; with
`PROMETHEUS_MULTIPROC_DIR` set before it is first imported (`picotask serve` sets it from
PICOTASK_METRICS_DIR) each process writes its values to files there, which the process that
answers `/metrics` adds up (server/metrics.py). Gauges of live state say how they add up
(`livesum`: the processes alive now). Labels take a small fixed set of values each.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# Background work: one loop each (services/core/rounds.py), named after its module.
ROUNDS = Counter(
    "picotask_background_rounds_total",
    "Rounds of a background worker, by worker and outcome (ok, failed).",
    ["worker", "outcome"],
)

# Refused before any work: log-in and sign-up throttles (services/accounts/throttle.py).
THROTTLE_REFUSALS = Counter(
    "picotask_throttle_refusals_total",
    "Log-in and sign-up attempts refused by their throttle, by action.",
    ["action"],
)


# The live path (subscriptions/bus.py): from an event's creation in its transaction (just before
# its commit) to its frames written to the sockets of the subscribers on the direct path (and
# queued for the others), once per event and process that has subscribers.
LIVE_LAG = Histogram(
    "picotask_live_lag_seconds",
    "Seconds from an event's commit to its frames written, once per event and process.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
