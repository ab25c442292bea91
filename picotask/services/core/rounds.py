"""The loop of a background worker (payouts, the sweeper, webhooks): a round, then a pause.

A round that fails is logged and the loop goes on: what it did not finish is due again at the
next round. The pause ends when the interval has passed, or at once when the worker is woken
(a new payout, a new delivery) if it has a wake-up event. Once its `stop` event is set (the
instance shuts down: server/shutdown.py), the round under way finishes, none starts after it,
and the loop returns: a round is never cut off in the middle by a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from picotask.services.core.metrics import ROUNDS


async def run_rounds(
    round_: Callable[[], Awaitable[object]],
    *,
    interval: float,
    log: logging.Logger,
    failed: str,
    wake: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    worker = log.name.rsplit(".", 1)[-1]  # its module: sweeper, payout_processor, ...
    ok, failing = ROUNDS.labels(worker, "ok"), ROUNDS.labels(worker, "failed")
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await round_()
        except Exception:  # keep the loop alive; the next round retries what failed
            log.exception(failed)
            failing.inc()
        else:
            ok.inc()
        await _pause(interval, stop, *([] if wake is None else [wake]))
        if wake is not None:
            wake.clear()


async def _pause(interval: float, *events: asyncio.Event) -> None:
    """Until `interval` has passed or one of the events is set. Not wait_for: on 3.11 it can
    swallow a cancellation that comes as the event is set, and a stopping app would then wait
    on this loop for ever."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
