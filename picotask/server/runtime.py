"""Process-wide tuning for a serving process (`picotask serve`, the HTTP benchmark)."""

from __future__ import annotations

import gc


def tune_gc(threshold: int) -> None:
    """Collect what start-up left, keep the survivors (modules, the schema, the app) out of
    every later collection (`gc.freeze`), and collect the youngest generation after
    `threshold` allocations instead of Python's 700: a request allocates thousands of
    short-lived objects (rows, GraphQL values) and each collection walks the young ones. On a
    page of tasks this took 13% of the server's CPU per request (bench/http.py). 0 keeps
    Python's defaults."""
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(threshold, middle, old)
