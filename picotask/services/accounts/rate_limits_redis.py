"""`rate_limits` in Redis, shared by every instance: each step is one Lua script, atomic
across instances, keeping the same state and arithmetic as `MemoryRateStore` (numbers travel
as strings: Redis would cut a Lua number returned as is to an integer).

While Redis cannot be reached, each instance counts in its own memory instead: the limits
hold per instance rather than the API failing with Redis.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from redis import asyncio as redis
from redis.exceptions import RedisError

from picotask.services.accounts.rate_limits import (
    Backoff,
    Bucket,
    MemoryRateStore,
    Taken,
    take_from,
)

log = logging.getLogger(__name__)
R = TypeVar("R")

# KEYS: buckets (a key may come more than once); ARGV per key: now, cost, capacity, rate, ttl
# → per key {1 if taken else 0, tokens left}, each taken in turn, as one `take` each would.
_TAKE = """
local out = {}
for i, key in ipairs(KEYS) do
  local a = (i - 1) * 5
  local now, cost = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local capacity, rate = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = tonumber(state[1]), tonumber(state[2])
  if tokens == nil or at == nil then tokens, at = capacity, now end
  if now > at then
    tokens = math.min(capacity, tokens + (now - at) * rate)
    at = now
  end
  local taken = 0
  if tokens >= cost then
    tokens = tokens - cost
    taken = 1
  end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(at))
  redis.call('EXPIRE', key, ARGV[a + 5])
  out[#out + 1] = taken
  out[#out + 1] = tostring(tokens)
end
return out
"""

# KEYS: counters; ARGV now, then per key: free, base delay, max delay, window, ttl
# → '0' with an attempt counted on every key, or the seconds to wait, counting nothing.
_ATTEMPT = """
local now = tonumber(ARGV[1])
local wait = 0
local counts, untils = {}, {}
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[1 + (i - 1) * 5 + 4])
  local state = redis.call('HMGET', key, 'count', 'until', 'last')
  local count = tonumber(state[1]) or 0
  local until_ = tonumber(state[2]) or 0
  local last = tonumber(state[3]) or 0
  wait = math.max(wait, until_ - now)
  if now - last >= window then count = 0 end
  counts[i], untils[i] = count, until_
end
if wait > 0 then return tostring(wait) end
for i, key in ipairs(KEYS) do
  local at = 1 + (i - 1) * 5
  local free, base = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local max_delay = tonumber(ARGV[at + 3])
  local count = counts[i] + 1
  local until_ = untils[i]
  if count > free then
    until_ = now + math.min(max_delay, base * 2 ^ math.min(count - free - 1, 60))
  end
  redis.call('HSET', key, 'count', count, 'until', tostring(until_), 'last', tostring(now),
    'before', tostring(untils[i]))
  redis.call('EXPIRE', key, ARGV[at + 5])
end
return '0'
"""

# KEYS[1] counter: the last attempt counted out, and the wait it started.
_REFUND = """
local state = redis.call('HMGET', KEYS[1], 'count', 'before')
local count = tonumber(state[1])
if count ~= nil then
  redis.call('HSET', KEYS[1], 'count', math.max(0, count - 1), 'until', state[2] or '0')
end
return 0
"""


MAX_BATCH = 500  # charges in one script call at most


@dataclass(slots=True)
class _Charge:
    key: str
    cost: float
    bucket: Bucket
    now: float
    taken: asyncio.Future[Taken]


class RedisRateStore:
    """Shared by every instance on the same Redis and key prefix, so concurrent requests on
    several instances never both pass a limit meant for one."""

    def __init__(self, url: str, prefix: str, *, fallback: MemoryRateStore, timeout: float) -> None:
        self.prefix = prefix
        self.fallback = fallback
        self.degraded = False
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._take = self._client.register_script(_TAKE)
        self._attempt = self._client.register_script(_ATTEMPT)
        self._refund = self._client.register_script(_REFUND)
        self._charges: list[_Charge] = []  # waiting for the next batch
        self._flusher: asyncio.Task[None] | None = None
        self.round_trips = 0  # batches of charges sent (tests prove the batching with it)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:limits:{key}"

    async def _shared(
        self, step: Callable[[], Awaitable[R]], alone: Callable[[], Awaitable[R]]
    ) -> R:
        try:
            result = await step()
        except (RedisError, OSError):
            if not self.degraded:
                log.warning("Redis unreachable: rate limits count in this instance meanwhile")
            self.degraded = True
            return await alone()
        if self.degraded:
            log.warning("Redis reachable again: rate limits shared again")
            self.degraded = False
        return result

    async def take(self, key: str, cost: float, bucket: Bucket, now: float) -> Taken:
        """Charges that arrive while one batch is on its way go together in the next, in one
        script call: one round trip for every request charged meanwhile (each GraphQL request
        is charged its cost), each charge still taken atomically and in turn."""
        loop = asyncio.get_running_loop()
        charge = _Charge(key, cost, bucket, now, loop.create_future())
        self._charges.append(charge)
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not loop:
            self._flusher = loop.create_task(self._flush())
        return await charge.taken

    async def _flush(self) -> None:
        while self._charges:
            batch, self._charges = self._charges[:MAX_BATCH], self._charges[MAX_BATCH:]
            try:
                shared = functools.partial(self._take_shared, batch)
                taken = await self._shared(shared, functools.partial(self._take_alone, batch))
            except Exception as error:  # handed to every request waiting on this batch
                for charge in batch:
                    if not charge.taken.done():
                        charge.taken.set_exception(error)
                continue
            except BaseException:  # cancelled (the loop closing): so are the requests waiting
                for charge in batch + self._charges:
                    charge.taken.cancel()
                self._charges = []
                raise
            for charge, result in zip(batch, taken, strict=True):
                if not charge.taken.done():  # its request may have gone meanwhile
                    charge.taken.set_result(result)

    async def _take_shared(self, batch: list[_Charge]) -> list[Taken]:
        args: list[float] = []
        for c in batch:
            # A bucket untouched this long is full again, so Redis may forget it (not sooner
            # than a minute: instances' clocks may be a little apart).
            ttl = max(60, math.ceil(c.bucket.refill_seconds) + 1)
            args += [c.now, c.cost, c.bucket.capacity, c.bucket.restore_per_second, ttl]
        self.round_trips += 1
        flat = await self._take(keys=[self._key(c.key) for c in batch], args=args)
        results = []
        for c, taken, tokens in zip(batch, flat[::2], flat[1::2], strict=True):
            if taken:
                results.append(Taken(True, float(tokens), 0.0))
            else:
                results.append(take_from(float(tokens), c.cost, c.bucket))
        return results

    async def _take_alone(self, batch: list[_Charge]) -> list[Taken]:
        return [await self.fallback.take(c.key, c.cost, c.bucket, c.now) for c in batch]

    async def attempt(self, keys: Sequence[tuple[str, Backoff]], now: float) -> float:
        async def shared() -> float:
            args: list[float] = [now]
            for _, p in keys:
                args += [p.free, p.base_delay, p.max_delay, p.window, math.ceil(p.window) + 1]
            return float(await self._attempt(keys=[self._key(k) for k, _ in keys], args=args))

        return await self._shared(shared, lambda: self.fallback.attempt(keys, now))

    async def refund(self, key: str) -> None:
        async def shared() -> None:
            await self._refund(keys=[self._key(key)])

        await self._shared(shared, lambda: self.fallback.refund(key))

    async def reset(self, key: str) -> None:
        async def shared() -> None:
            await self._client.delete(self._key(key))

        await self._shared(shared, lambda: self.fallback.reset(key))

    async def close(self) -> None:
        await self._client.aclose()
