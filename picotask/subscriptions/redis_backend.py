"""A Redis pub/sub backend for broadcaster that starts listening only once subscribed.

broadcaster 0.3.1's own RedisBackend wakes its reader before SUBSCRIBE has completed; with
redis-py 8 the reader then finds no subscription, stops, and never delivers a message (seen
here: a heartbeat published on the channel never arrives). This backend subscribes first and
reads afterwards; a lost connection ends the reader, which the bus's watchdog notices.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from broadcaster import BroadcastBackend, Event
from redis import asyncio as redis


class RedisPubSubBackend(BroadcastBackend):
    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await self._client.ping()

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        with contextlib.suppress(Exception):
            await self._client.aclose()

    async def subscribe(self, group: str) -> None:
        await self._pubsub.subscribe(group)
        if self._reader is None:
            self._reader = asyncio.create_task(self._read())

    async def unsubscribe(self, group: str) -> None:
        await self._pubsub.unsubscribe(group)

    async def publish(self, channel: str, message: Any) -> None:
        await self._client.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _read(self) -> None:
        async for message in self._pubsub.listen():
            if message["type"] == "message":
                await self._queue.put(
                    Event(channel=message["channel"].decode(), message=message["data"].decode())
                )
