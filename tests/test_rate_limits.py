"""The counters behind budgets and throttles, in memory and in a real Redis (on the
PostgreSQL/Redis run): the same answers from both."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest

from picotask.services.accounts.rate_limits import Backoff, Bucket, MemoryRateStore, RateStore
from picotask.services.accounts.rate_limits_redis import RedisRateStore
from picotask.services.accounts.throttle import address_key, rate_store
from tests.support import Backend, settings_for

T0 = 1_767_225_600.0  # 2026-01-01, as the tests' ManualClock starts


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, backend: Backend) -> AsyncIterator[RateStore]:
    if request.param == "memory":
        yield MemoryRateStore(max_keys=1_000)
        return
    if not backend.broadcast.startswith("redis"):
        pytest.skip("Redis runs with PICOTASK_TEST_BROADCAST_URL")
    redis_store = RedisRateStore(
        backend.broadcast,
        f"picotask-test-{secrets.token_hex(6)}",
        fallback=MemoryRateStore(max_keys=1_000),
        timeout=2.0,
    )
    try:
        yield redis_store
    finally:
        assert not redis_store.degraded, "these tests must have run on Redis"
        await redis_store.close()


async def test_a_bucket_refills_at_its_rate_up_to_its_capacity(store: RateStore) -> None:
    bucket = Bucket(capacity=10, restore_per_second=2)
    assert (await store.take("k", 7, bucket, T0)).available == 3
    refused = await store.take("k", 7, bucket, T0)
    assert (refused.allowed, refused.available, refused.retry_after) == (False, 3, 2.0)
    assert (await store.take("k", 7, bucket, T0 + 2)).allowed
    assert (await store.take("k", 0, bucket, T0 + 100)).available == 10  # never above capacity
    assert (await store.take("other", 10, bucket, T0)).allowed  # keys are apart


async def test_a_clock_that_lags_refills_nothing_twice(store: RateStore) -> None:
    bucket = Bucket(capacity=10, restore_per_second=1)
    await store.take("k", 10, bucket, T0 + 5)
    # Another instance, its clock 5 s behind, then this one again: no refill counted twice.
    assert not (await store.take("k", 1, bucket, T0)).allowed
    assert (await store.take("k", 0, bucket, T0 + 6)).available == 1


async def test_concurrent_charges_each_hold_and_share_round_trips(store: RateStore) -> None:
    """Requests charged at once: exactly as many pass as the bucket holds, whatever their
    order; in Redis they go in one batch (one round trip), not one each."""
    bucket = Bucket(capacity=10, restore_per_second=0.001)
    before = store.round_trips if isinstance(store, RedisRateStore) else 0
    taken = await asyncio.gather(*(store.take("k", 3, bucket, T0) for _ in range(8)))
    assert [t.allowed for t in taken].count(True) == 3
    assert sorted(t.available for t in taken if t.allowed) == [1, 4, 7]
    assert all(t.available == 1 and t.retry_after > 0 for t in taken if not t.allowed)
    others = await asyncio.gather(*(store.take(f"k{n}", 10, bucket, T0) for n in range(5)))
    assert all(t.allowed and t.available == 0 for t in others)  # keys apart, in one batch
    if isinstance(store, RedisRateStore):
        assert store.round_trips - before == 2


async def test_waits_grow_after_the_free_attempts(store: RateStore) -> None:
    policy = Backoff(free=2, base_delay=1, max_delay=4, window=60)
    keys = [("k", policy)]
    assert [await store.attempt(keys, T0) for _ in range(3)] == [0, 0, 0]  # the 3rd: wait 1 s
    assert await store.attempt(keys, T0 + 0.5) == 0.5
    assert await store.attempt(keys, T0 + 1) == 0  # the 4th: 2 s
    assert await store.attempt(keys, T0 + 2.5) == 0.5
    assert await store.attempt(keys, T0 + 3) == 0  # the 5th: 4 s
    assert await store.attempt(keys, T0 + 7) == 0  # the 6th: 4 s, the most
    assert await store.attempt(keys, T0 + 8) == 3
    # A quiet window forgets the count.
    assert [await store.attempt(keys, T0 + 80) for _ in range(3)] == [0, 0, 0]


async def test_one_waiting_key_refuses_and_counts_on_none(store: RateStore) -> None:
    strict = Backoff(free=0, base_delay=10, max_delay=10, window=60)
    lenient = Backoff(free=5, base_delay=10, max_delay=10, window=60)
    assert await store.attempt([("a", strict)], T0) == 0
    for _ in range(10):
        assert await store.attempt([("b", lenient), ("a", strict)], T0 + 1) == 9
    # "b" counted none of those: its five free attempts are all there.
    assert [await store.attempt([("b", lenient)], T0 + 1) for _ in range(6)] == [0] * 6
    assert await store.attempt([("b", lenient)], T0 + 1) == 10


async def test_refund_and_reset(store: RateStore) -> None:
    policy = Backoff(free=1, base_delay=30, max_delay=30, window=600)
    keys = [("k", policy)]
    assert await store.attempt(keys, T0) == 0  # the 1st: free
    assert await store.attempt(keys, T0) == 0  # the 2nd: starts a 30 s wait
    await store.refund("k")  # it was a good one: counted out, and its wait with it
    assert await store.attempt(keys, T0 + 1) == 0  # the 2nd again: 30 s again
    assert await store.attempt(keys, T0 + 2) == 29
    await store.reset("k")
    assert await store.attempt(keys, T0 + 2) == 0


async def test_memory_keeps_a_bounded_number_of_keys() -> None:
    store = MemoryRateStore(max_keys=2)
    bucket = Bucket(capacity=1, restore_per_second=0.001)
    for key in ("a", "b", "c"):
        assert (await store.take(key, 1, bucket, T0)).allowed
    assert not (await store.take("c", 1, bucket, T0)).allowed
    assert (await store.take("a", 1, bucket, T0)).allowed  # the least recently used went


async def test_the_store_follows_the_bus() -> None:
    def store(bus: str) -> RateStore:
        return rate_store(settings_for("sqlite://x", bus))

    assert isinstance(store("memory://"), MemoryRateStore)
    assert isinstance(store("postgres://x@y/z"), MemoryRateStore)
    redis_store = store("redis://127.0.0.1:6379/0")
    assert isinstance(redis_store, RedisRateStore)
    await redis_store.close()


async def test_while_redis_is_unreachable_each_instance_counts_alone() -> None:
    memory = MemoryRateStore(max_keys=10)
    # Nothing listens on port 1: every call fails at once.
    store = RedisRateStore("redis://127.0.0.1:1/0", "p", fallback=memory, timeout=0.5)
    try:
        bucket = Bucket(capacity=10, restore_per_second=1)
        assert (await store.take("k", 7, bucket, T0)).available == 3
        assert store.degraded
        assert not (await store.take("k", 7, bucket, T0)).allowed
        policy = Backoff(free=0, base_delay=5, max_delay=5, window=60)
        assert await store.attempt([("a", policy)], T0) == 0
        assert await store.attempt([("a", policy)], T0) == 5
        await store.refund("a")
        await store.reset("a")
        assert await memory.attempt([("a", policy)], T0) == 0  # the memory store's own count
    finally:
        await store.close()


def test_an_ipv6_client_is_its_64_network() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("192.0.2.1") == "192.0.2.1"
    assert address_key(None) == "unknown"
