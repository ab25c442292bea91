"""What SIGTERM does to an instance: a restart that loses nothing, within one grace period.

In order, all within `shutdown_grace_seconds` of the signal:
1. the listener closes: new connections are refused (a load balancer sends them elsewhere);
2. the background rounds (payouts, the sweeper, webhooks) are told to stop: each finishes the
   round it is in and starts no other (services/core/rounds.py);
3. every subscription ends with a last frame that gives its cursor (`SERVER_RESTART`, the
   same shape as `SLOW_CONSUMER`: the bus ends each subscriber, subscriptions/bus.py), and
   each socket closes with 1012 (service restart) once its operations have all answered
   (server/sockets.py); a client resumes on another instance with `after` and misses nothing;
4. uvicorn's own shutdown: HTTP requests in flight are answered (and their connections closed),
   keep-alive connections at rest are closed;
5. the lifespan's end: it waits for the background rounds, then closes the database and bus.
Only what is still running when the grace period is over is cancelled; the process then exits
with 1 (else 0).

uvicorn's `Server.shutdown` would close the websockets itself, with 1012 but before any last
frame (the websockets-sansio protocol's `shutdown` writes the close frame at once), so the
sockets are drained here, between the listener's close and that step.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from picotask.server.sockets import Sockets
from picotask.subscriptions.bus import EventBus
from picotask.subscriptions.subscriber import RESTART

log = logging.getLogger(__name__)
SETTLE_POLL_SECONDS = 0.05


class Shutdown:
    """The instance's way out: one deadline for every step, the signal to stop for the
    background rounds, and whether anything had to be cut off."""

    def __init__(self, grace_seconds: float, bus: EventBus, sockets: Sockets) -> None:
        self.grace_seconds = grace_seconds
        self.bus = bus
        self.sockets = sockets
        self.stopping = asyncio.Event()  # the background rounds stop after the current one
        self.late = False  # something was still running when the grace period ended
        self._deadline: float | None = None

    def begin(self) -> None:
        """Start the grace period (once) and stop the background rounds."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.grace_seconds
            log.info("shutting down within %ss", self.grace_seconds)
        self.stopping.set()

    def remaining(self) -> float:
        self.begin()
        assert self._deadline is not None
        return max(0.0, self._deadline - time.monotonic())

    async def drain(self) -> None:
        """Steps 2 and 3: the rounds stop, the subscriptions get their cursors, the sockets
        close with 1012."""
        self.begin()
        self.bus.end_all(RESTART)
        await self.sockets.drain(self.remaining())

    async def wait_for(self, workers: list[asyncio.Task[None]]) -> None:
        """Step 5: the background rounds under way finish, or are cancelled at the deadline."""
        self.begin()
        if not workers:
            return
        _, late = await asyncio.wait(workers, timeout=self.remaining())
        if late:
            self.late = True
            log.warning(
                "%d background worker(s) cancelled at the end of the grace period", len(late)
            )
        for worker in late:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


class Server(uvicorn.Server):
    """uvicorn's server, with the app's sockets drained before uvicorn closes them (step 3),
    the grace period shared by every step, and exit code 0 for a shutdown that finished in
    time."""

    def __init__(self, config: uvicorn.Config, shutdown: Shutdown) -> None:
        super().__init__(config)
        self.app_shutdown = shutdown

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        await self.app_shutdown.drain()
        # Step 4 as uvicorn's own shutdown does it (which then finds nothing left to wait
        # for), but against the grace period's deadline.
        for connection in list(self.server_state.connections):
            connection.shutdown()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.app_shutdown.remaining()
        state = self.server_state
        # uvicorn has no event for it and polls these sets itself, every 0.1 s.
        while (state.connections or state.tasks) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(SETTLE_POLL_SECONDS)
        if state.connections or state.tasks:
            self.app_shutdown.late = True
            self.config.timeout_graceful_shutdown = 0  # uvicorn cancels what is left
        await super().shutdown(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM is how a restart begins: it is handled here, not raised again once the
        shutdown is over (as uvicorn does, which would end the process by the signal): the
        process exits with `exit_code`. SIGINT keeps uvicorn's ways (twice: at once)."""
        if sig == signal.SIGTERM:
            self.should_exit = True
        else:
            super().handle_exit(sig, frame)

    @property
    def exit_code(self) -> int:
        """As `uvicorn.run` exits: 3 if it never started; then 0, or 1 if the grace period
        ended with something still running."""
        if not self.started:
            return STARTUP_FAILURE
        return 1 if self.app_shutdown.late else 0
