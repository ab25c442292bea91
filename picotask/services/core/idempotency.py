"""Idempotency keys for money mutations: the same key and input returns the first result."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from picotask.models.ledger import IdempotencyRecord
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode

MAX_KEY = 100


def fingerprint(operation: str, request: dict[str, Any]) -> str:
    canonical = json.dumps([operation, request], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str | None) -> None:
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        raise DomainError(
            ErrorCode.INVALID,
            f"idempotencyKey must be 1 to {MAX_KEY} characters.",
            ["input", "idempotencyKey"],
        )


async def _replay(user_id: int, key: str, request_hash: str) -> int | None:
    record = await IdempotencyRecord.get_or_none(user_id=user_id, key=key)
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_KEY_REUSED,
            "idempotencyKey was already used with a different input.",
            ["input", "idempotencyKey"],
        )
    return int(record.result_id)


async def once(
    clock: Clock,
    *,
    user_id: int,
    key: str | None,
    operation: str,
    request: dict[str, Any],
    create: Callable[[], Awaitable[int]],
    transaction: Callable[[], AbstractAsyncContextManager[Any]] = in_transaction,
) -> tuple[int, bool]:
    """Run `create` (which returns the id of what it made) in one transaction with the key's
    record, or return the id the key already stands for. Returns (id, created)."""
    check_key(key)
    if key is None:
        async with transaction():
            return await create(), True
    request_hash = fingerprint(operation, request)
    if (existing := await _replay(user_id, key, request_hash)) is not None:
        return existing, False
    try:
        async with transaction():
            # The key is claimed first: a concurrent retry with the same key waits on the
            # unique index (PostgreSQL) or the connection lock (SQLite) and then replays,
            # instead of running `create` a second time against the same balance.
            record = await IdempotencyRecord.create(
                user_id=user_id,
                key=key,
                operation=operation,
                request_hash=request_hash,
                result_id=0,
                created_at=clock.now(),
            )
            result_id = await create()
            await IdempotencyRecord.filter(id=record.id).update(result_id=result_id)
    except IntegrityError:
        # A concurrent request with the same key committed first; ours rolled back whole.
        existing = await _replay(user_id, key, request_hash)
        if existing is None:
            raise
        return existing, False
    return result_id, True
