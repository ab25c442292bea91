"""The event bus: broadcaster, chosen by URL (memory://, redis://, postgres://)."""

from __future__ import annotations

import asyncio
import logging

from broadcaster import Broadcast

log = logging.getLogger(__name__)
HEALTH_CHANNEL = "picotask.health"


class EventBus:
    def __init__(self, url: str) -> None:
        self.url = url
        self._broadcast = Broadcast(url)

    async def connect(self) -> None:
        await self._broadcast.connect()

    async def disconnect(self) -> None:
        await self._broadcast.disconnect()

    async def publish(self, channel: str, message: str) -> None:
        await self._broadcast.publish(channel, message)

    async def ping(self, within: float = 2.0) -> bool:
        """Whether the backend accepts a publish within `within` seconds."""
        try:
            await asyncio.wait_for(self.publish(HEALTH_CHANNEL, "ping"), within)
        except Exception:  # any backend failure means "not ready"
            log.warning("event bus %s is not answering", self.url, exc_info=True)
            return False
        return True
