"""How a variable's text becomes a setting's value: one annotated type per kind of value.

Each type also takes the value in code (`Settings(min_payout_cents=500)`), where it is already
what the field holds; a `ValueError` here becomes the variable's message (`environment.py`).
"""

from __future__ import annotations

import contextlib
import ipaddress
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import urlparse

from pydantic import AfterValidator, BeforeValidator, Field


def _flag(value: object) -> object:
    if not isinstance(value, str):
        return value
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false (1/0, yes/no, on/off)")


def _cents(value: object) -> object:
    """Money is a decimal string outside (`"5.00"`) and integer cents in code."""
    if not isinstance(value, str):
        return value
    with contextlib.suppress(InvalidOperation):  # not a number, NaN, more digits than decimal
        amount = Decimal(value.strip())
        if amount >= 0 and amount == amount.quantize(Decimal("0.01")):
            return int(amount * 100)
    raise ValueError("expected a non-negative amount with at most two decimals")


def _comma_list(value: object) -> object:
    if not isinstance(value, str):
        return value
    return [item.strip() for item in value.split(",") if item.strip()]


def _origins(origins: tuple[str, ...]) -> tuple[str, ...]:
    # A browser's Origin never ends with a slash: "http://localhost:5173/" means the same.
    origins = tuple(origin.rstrip("/") for origin in origins)
    for origin in origins:
        if origin != "*" and urlparse(origin).scheme not in {"http", "https"}:
            raise ValueError(f"origins must be '*' or start with http(s):// ({origin!r} does not)")
    return origins


def _networks(networks: tuple[str, ...]) -> tuple[str, ...]:
    """IP addresses and networks, each as its network (`10.0.0.1` is `10.0.0.1/32`)."""
    parsed = []
    for network in networks:
        try:
            parsed.append(str(ipaddress.ip_network(network)))
        except ValueError:
            raise ValueError(
                f"expected IP addresses or networks such as 10.0.0.0/8 ({network!r} is neither)"
            ) from None
    return tuple(parsed)


def _database_url(url: str) -> str:
    if urlparse(url).scheme not in {"sqlite", "postgres", "postgresql", "asyncpg"}:
        raise ValueError("unsupported database scheme (sqlite:// or postgres://)")
    return url


def _broadcast_url(url: str) -> str:
    if urlparse(url).scheme not in {"memory", "redis", "rediss", "postgres", "postgresql"}:
        raise ValueError("unsupported bus scheme (memory://, redis:// or postgres://)")
    return url


def _storage_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme == "file" and (parsed.netloc or parsed.path):
        return url
    if parsed.scheme == "s3" and parsed.netloc:
        return url
    raise ValueError("expected file://DIRECTORY or s3://BUCKET/PREFIX")


def _public_url(url: str) -> str:
    parsed = urlparse(url)
    if url and (parsed.scheme not in {"http", "https"} or not parsed.netloc):
        raise ValueError("expected http(s)://HOST[:PORT], or nothing")
    return url.rstrip("/")


def _mail_url(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme == "file" and (parsed.netloc or parsed.path):
        return url
    if parsed.scheme in {"smtp", "smtps"} and parsed.hostname:
        try:
            parsed.port  # noqa: B018 - read for its check: a port that is not a number raises
        except ValueError:
            raise ValueError("the port must be a number") from None
        return url
    raise ValueError("expected file://DIRECTORY, smtp://HOST[:PORT] or smtps://HOST[:PORT]")


def _gc_threshold(threshold: int) -> int:
    if 0 < threshold < 100:
        raise ValueError("must be 0 (Python's default) or 100..10000000")
    return threshold


Flag = Annotated[bool, BeforeValidator(_flag)]
Cents = Annotated[int, BeforeValidator(_cents)]
CommaList = Annotated[tuple[str, ...], BeforeValidator(_comma_list)]
Origins = Annotated[CommaList, AfterValidator(_origins)]
Networks = Annotated[CommaList, AfterValidator(_networks)]
DatabaseUrl = Annotated[str, AfterValidator(_database_url)]
BroadcastUrl = Annotated[str, AfterValidator(_broadcast_url)]
StorageUrl = Annotated[str, AfterValidator(_storage_url)]
PublicUrl = Annotated[str, AfterValidator(_public_url)]
MailUrl = Annotated[str, AfterValidator(_mail_url)]
GcThreshold = Annotated[int, Field(ge=0, le=10_000_000), AfterValidator(_gc_threshold)]
# Never shown: neither in a repr nor in a message about a bad value.
Secret = Annotated[str, Field(repr=False)]
