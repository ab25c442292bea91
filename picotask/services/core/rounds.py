"""The loop of a background worker (payouts, the sweeper, webhooks): a round, then a pause.

A round that fails is logged and the loop goes on: what it did not finish is due again at the
next round. The pause ends when the interval has passed, or at once when the worker is woken
(a new payout, a new delivery) if it has a wake-up event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

from picotask.services.core.metrics import ROUNDS


async def run_rounds(
    round_: Callable[[], Awaitable[object]],
    *,
    interval: float,
    log: logging.Logger,
    failed: str,
    wake: asyncio.Event | None = None,
) -> NoReturn:
    worker = log.name.rsplit(".", 1)[-1]  # its module: sweeper, payout_processor, ...
    ok, failing = ROUNDS.labels(worker, "ok"), ROUNDS.labels(worker, "failed")
    while True:
        try:
            await round_()
        except Exception:  # keep the loop alive; the next round retries what failed
            log.exception(failed)
            failing.inc()
        else:
            ok.inc()
        if wake is None:
            await asyncio.sleep(interval)
            continue
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that comes
        # as the event is set, and a stopping app would then wait on this loop for ever.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await wake.wait()
        wake.clear()
