"""Automatic persisted queries, in the protocol Apollo Client and urql speak.

A client sends `extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}` without
the query text. A known hash runs the stored text; an unknown one answers the error
`PersistedQueryNotFound` (code PERSISTED_QUERY_NOT_FOUND), and the client sends the text with
the hash once, which stores it. The text must hash to the hash it comes with. As the text is
no longer in the request, a cacheable query can go over GET (`extensions` as a JSON query
parameter); mutations stay POST-only.

The store is bounded: an LRU of `persisted_queries_size` texts in each instance, each at most
`persisted_query_max_chars` long; with a Redis bus, also Redis (keys under the Redis key prefix,
kept `persisted_query_ttl_seconds`), so every instance knows a text any of them was sent. The
local LRU stays in front of Redis: a hash names one text forever, so a local copy is never
stale.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Protocol
from urllib.parse import urlparse

from graphql import GraphQLError
from redis import asyncio as redis

from picotask.server.safety import Lru
from picotask.settings import Settings

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


class PersistedQueryError(Exception):
    """The request cannot run as sent; `error` is what the client is told."""

    def __init__(self, error: GraphQLError) -> None:
        super().__init__(error.message)
        self.error = error


def _refused(message: str, code: str = "BAD_USER_INPUT") -> PersistedQueryError:
    return PersistedQueryError(GraphQLError(message, extensions={"code": code}))


class Store(Protocol):
    async def get(self, sha256: str) -> str | None: ...

    async def put(self, sha256: str, query: str) -> None: ...

    async def close(self) -> None: ...


class MemoryStore:
    def __init__(self, size: int) -> None:
        self.texts: Lru[str, str] = Lru(size)

    async def get(self, sha256: str) -> str | None:
        return self.texts.get(sha256)

    async def put(self, sha256: str, query: str) -> None:
        self.texts.put(sha256, query)

    async def close(self) -> None:
        return None


class RedisStore(MemoryStore):
    """Shared by every instance on the same Redis and key prefix."""

    def __init__(self, url: str, prefix: str, size: int, ttl_seconds: int) -> None:
        super().__init__(size)
        self.client = redis.Redis.from_url(url)
        self.prefix = f"{prefix}:apq:"
        self.ttl_seconds = ttl_seconds

    async def get(self, sha256: str) -> str | None:
        query = await super().get(sha256)
        if query is None:
            stored = await self.client.get(self.prefix + sha256)
            if stored is not None:
                query = stored.decode() if isinstance(stored, bytes) else str(stored)
                await super().put(sha256, query)
        return query

    async def put(self, sha256: str, query: str) -> None:
        await super().put(sha256, query)
        await self.client.set(self.prefix + sha256, query.encode(), ex=self.ttl_seconds)

    async def close(self) -> None:
        await self.client.aclose()


def store_for(settings: Settings) -> Store:
    size = settings.persisted_queries_size
    if urlparse(settings.broadcast_url).scheme in {"redis", "rediss"}:
        return RedisStore(
            settings.broadcast_url,
            settings.redis_key_prefix,
            size,
            settings.persisted_query_ttl_seconds,
        )
    return MemoryStore(size)


def sha256_of(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


class PersistedQueries:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.store = store or store_for(settings)
        self.max_chars = settings.persisted_query_max_chars

    async def query_for(self, query: str | None, extensions: dict[str, Any] | None) -> str | None:
        """The text to run: the request's own, or the stored one its hash names."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise _refused("Unsupported persisted query version: only version 1 is.")
        sha256 = persisted.get("sha256Hash")
        if not isinstance(sha256, str) or len(sha256) != 64:
            raise _refused("persistedQuery.sha256Hash must be a SHA-256 hex digest.")
        sha256 = sha256.lower()
        if query is None:
            stored = await self.store.get(sha256)
            if stored is None:
                raise _refused("PersistedQueryNotFound", NOT_FOUND)
            return stored
        if not hmac.compare_digest(sha256_of(query), sha256):
            raise _refused("provided sha does not match query")
        if len(query) <= self.max_chars:
            await self.store.put(sha256, query)
        return query

    async def close(self) -> None:
        await self.store.close()
