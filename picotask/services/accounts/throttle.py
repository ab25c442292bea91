"""Who may try again, and when: growing delays for log-in and sign-up, and each client's
budget of GraphQL cost points. The counters live in a `RateStore` (memory or Redis)."""

from __future__ import annotations

import hashlib
import ipaddress
import math
from urllib.parse import urlparse

from picotask.services.accounts.rate_limits import (
    Backoff,
    Bucket,
    MemoryRateStore,
    RateStore,
    Taken,
)
from picotask.services.accounts.rate_limits_redis import RedisRateStore
from picotask.services.core.clock import Clock
from picotask.services.core.errors import Throttled
from picotask.services.core.metrics import THROTTLE_REFUSALS
from picotask.settings import Settings


def rate_store(settings: Settings) -> RateStore:
    """In Redis when the bus is Redis (every instance then shares the limits), else in memory."""
    memory = MemoryRateStore(settings.throttle_memory_keys)
    if urlparse(settings.broadcast_url).scheme in {"redis", "rediss"}:
        return RedisRateStore(
            settings.broadcast_url,
            settings.redis_key_prefix,
            fallback=memory,
            timeout=settings.redis_timeout_seconds,
        )
    return memory


def address_key(host: str | None) -> str:
    """One key per client address: an IPv4 address, or the /64 network of an IPv6 one (a
    single subscriber usually holds a whole /64)."""
    if not host:
        return "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _account_key(email: str) -> str:
    """A normalized email, hashed: the key is bounded and names no one in Redis."""
    return "log-in:account:" + hashlib.sha256(email.encode()).hexdigest()[:32]


def seconds(wait: float) -> int:
    """Whole seconds to tell a client (Retry-After), never 0 for a real wait."""
    return max(1, math.ceil(wait - 1e-9))


class AuthThrottle:
    """Every check runs before any password hashing, so refused attempts cost no CPU."""

    def __init__(self, store: RateStore, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.clock = clock

        def backoff(free: int) -> Backoff:
            return Backoff(
                free=free,
                base_delay=settings.throttle_base_delay_seconds,
                max_delay=settings.throttle_max_delay_seconds,
                window=settings.throttle_window_seconds,
            )

        self.per_account = backoff(settings.log_in_free_failures_per_account)
        self.log_in_per_address = backoff(settings.log_in_free_failures_per_address)
        self.sign_up_per_address = backoff(settings.sign_up_free_per_address)

    async def password_attempt(self, email: str, address: str | None) -> None:
        """Count a password check on the account (and on the client address, for log-in), or
        raise `Throttled` when either must still wait. A good password is forgiven by
        `password_accepted`, so in effect only failures count."""
        keys = [(_account_key(email), self.per_account)]
        if address is not None:
            keys.append((self._address_key("log-in", address), self.log_in_per_address))
        await self._attempt(keys, "Too many failed attempts to sign in", "log_in")

    async def password_accepted(self, email: str, address: str | None) -> None:
        await self.store.reset(_account_key(email))
        if address is not None:
            await self.store.refund(self._address_key("log-in", address))

    async def sign_up_attempt(self, address: str) -> None:
        await self._attempt(
            [(self._address_key("sign-up", address), self.sign_up_per_address)],
            "Too many sign-ups from your network",
            "sign_up",
        )

    def _address_key(self, action: str, address: str) -> str:
        return f"{action}:address:{address_key(address)}"

    async def _attempt(self, keys: list[tuple[str, Backoff]], message: str, action: str) -> None:
        wait = await self.store.attempt(keys, self.clock.now().timestamp())
        if wait > 0:
            THROTTLE_REFUSALS.labels(action).inc()
            raise Throttled(f"{message}; try again in {seconds(wait)} s.", wait)


class CostBudget:
    """Each client's points for GraphQL work, refilled at a steady rate: per user when signed
    in, per client address otherwise."""

    def __init__(self, store: RateStore, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.clock = clock
        self.bucket = Bucket(settings.cost_budget, settings.cost_restore_per_second)

    async def charge(self, cost: int, *, user_id: int | None, address: str | None) -> Taken:
        client = f"user:{user_id}" if user_id is not None else f"address:{address_key(address)}"
        return await self.store.take(
            f"cost:{client}", cost, self.bucket, self.clock.now().timestamp()
        )
