"""Counters for rate limits: in memory (one instance) or in Redis (shared by every instance).

Two kinds, each changed in one atomic step of its store:
- a token bucket (`take`): a client's budget of points, refilled at a steady rate;
- growing delays (`attempt`): after `free` attempts, each further one makes its key wait
  base * 2^(n - 1) seconds, at most `max_delay`; the count is forgotten after `window` seconds
  without an attempt.
Time comes from the caller (the app's clock, so tests move it by hand), and a store never lets
it run backwards: an instance whose clock lags cannot refill a bucket twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Bucket:
    capacity: float
    restore_per_second: float

    @property
    def refill_seconds(self) -> float:
        return self.capacity / self.restore_per_second


@dataclass(frozen=True, slots=True)
class Taken:
    allowed: bool
    available: float  # after this take (unchanged when refused)
    retry_after: float  # seconds until the cost would fit; 0 when allowed


@dataclass(frozen=True, slots=True)
class Backoff:
    free: int
    base_delay: float
    max_delay: float
    window: float

    def delay(self, count: int) -> float:
        """The wait after the `count`-th attempt."""
        over = count - self.free
        if over <= 0:
            return 0.0
        return min(self.max_delay, self.base_delay * 2.0 ** min(over - 1, 60))


class RateStore(Protocol):
    async def take(self, key: str, cost: float, bucket: Bucket, now: float) -> Taken:
        """Take `cost` points from the key's bucket if it holds them."""
        ...

    async def attempt(self, keys: Sequence[tuple[str, Backoff]], now: float) -> float:
        """0 and one more attempt counted on every key, or (counting nothing) the seconds
        until the last of them stops waiting."""
        ...

    async def refund(self, key: str) -> None:
        """Count the last attempt out, and the wait it started (it turned out a good one)."""
        ...

    async def reset(self, key: str) -> None: ...

    async def close(self) -> None: ...


class MemoryRateStore:
    """For one instance (and the memory bus): a bounded map, least recently used out first."""

    def __init__(self, max_keys: int) -> None:
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        # count, until (the wait ends), last (attempt), wait before the last attempt
        self._counts: OrderedDict[str, tuple[int, float, float, float]] = OrderedDict()

    async def take(self, key: str, cost: float, bucket: Bucket, now: float) -> Taken:
        tokens, at = self._buckets.get(key, (bucket.capacity, now))
        if now > at:
            tokens = min(bucket.capacity, tokens + (now - at) * bucket.restore_per_second)
            at = now
        taken = take_from(tokens, cost, bucket)
        _put(self._buckets, key, (taken.available, at), self.max_keys)
        return taken

    async def attempt(self, keys: Sequence[tuple[str, Backoff]], now: float) -> float:
        states: list[tuple[int, float]] = []
        wait = 0.0
        for key, policy in keys:
            count, until, last, _ = self._counts.get(key, (0, 0.0, 0.0, 0.0))
            wait = max(wait, until - now)
            states.append((0 if now - last >= policy.window else count, until))
        if wait > 0:
            return wait
        for (key, policy), (count, before) in zip(keys, states, strict=True):
            count += 1
            until = now + policy.delay(count) if policy.delay(count) else before
            _put(self._counts, key, (count, until, now, before), self.max_keys)
        return 0.0

    async def refund(self, key: str) -> None:
        if key in self._counts:
            count, _, last, before = self._counts[key]
            self._counts[key] = (max(0, count - 1), before, last, before)

    async def reset(self, key: str) -> None:
        self._counts.pop(key, None)

    async def close(self) -> None:
        return None


def take_from(tokens: float, cost: float, bucket: Bucket) -> Taken:
    if tokens >= cost:
        return Taken(True, tokens - cost, 0.0)
    return Taken(False, tokens, (cost - tokens) / bucket.restore_per_second)


def _put(entries: OrderedDict[str, V], key: str, value: V, max_keys: int) -> None:
    entries[key] = value
    entries.move_to_end(key)
    while len(entries) > max_keys:
        entries.popitem(last=False)
