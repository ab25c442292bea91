"""The background workers' loop (services/core/rounds.py): a failed round is logged once and the
loop goes on; a wake-up starts the next round without waiting for the interval."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from picotask.services.core.rounds import run_rounds

log = logging.getLogger("tests.rounds")


async def test_a_failed_round_is_logged_and_a_wake_up_starts_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wake = asyncio.Event()
    third = asyncio.Event()
    rounds = 0

    async def round_() -> None:
        nonlocal rounds
        rounds += 1
        if rounds < 3:
            wake.set()  # as a new payout or delivery would: the next round at once
        if rounds == 1:
            raise RuntimeError("the database is away")
        if rounds == 3:
            third.set()

    with caplog.at_level(logging.ERROR, logger="tests.rounds"):
        # An hour's interval: only the wake-ups can bring the next rounds within the test.
        loop = asyncio.create_task(
            run_rounds(round_, interval=3600, log=log, failed="round failed", wake=wake)
        )
        try:
            await asyncio.wait_for(third.wait(), 10)
        finally:
            await stopped(loop)
    assert rounds == 3  # then it waits (an hour) for the next wake-up
    failures = [r for r in caplog.records if r.getMessage() == "round failed"]
    assert len(failures) == 1
    assert failures[0].exc_info is not None


async def test_without_a_wake_up_event_the_rounds_follow_the_interval() -> None:
    done = asyncio.Event()
    rounds = 0

    async def round_() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 2:
            done.set()

    loop = asyncio.create_task(run_rounds(round_, interval=0, log=log, failed="round failed"))
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        await stopped(loop)
    assert rounds >= 2


async def stopped(loop: asyncio.Task[object]) -> None:
    """Cancelled, and its end awaited: the loop must stop when its app stops."""
    loop.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(loop, 5)
    assert loop.done()
