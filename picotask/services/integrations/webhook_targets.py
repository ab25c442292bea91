"""Where a webhook may be sent: no private, loopback or link-local address (server-side
request forgery), checked on the addresses a name resolves to at each delivery, and the
connection made to the address that was checked (a name that resolves differently a moment
later, DNS rebinding, changes nothing)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import unicodedata
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import httpx

from picotask.services.core.user_text import describe

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be called; the message says why (shown to its owner)."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # the URL with its host replaced by the checked address
    host: str  # the name to send as Host and as the TLS server name
    address: IPAddress


def parse_url(url: str, *, https_only: bool) -> SplitResult:
    """The URL's parts, or `TargetRefused` for one that is not http(s) with a host, or that
    the HTTP client would refuse to send (urlsplit quietly drops a tab or line break)."""
    for ch in url:
        if ch.isspace() or unicodedata.category(ch).startswith("C"):
            raise TargetRefused(
                f"url must not contain spaces or control characters (found {describe(ch)})."
            )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number or too big
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise TargetRefused("url is not a valid URL.") from None
    allowed = {"https"} if https_only else {"http", "https"}
    if parts.scheme not in allowed:
        raise TargetRefused(
            "url must start with https://."
            if https_only
            else "url must start with http:// or https://."
        )
    if not parts.hostname or parts.username or parts.password:
        raise TargetRefused("url must name a host, without a user name or password.")
    return parts


def refusal(address: IPAddress, allow_loopback: bool) -> str | None:
    """Why a receiver at `address` is refused, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private or address.is_reserved or address.is_unspecified:
        return "a private address"
    if address.is_multicast or not address.is_global:
        return "an address that is not public"
    return None


async def resolve(url: str, *, https_only: bool, allow_loopback: bool) -> Target:
    """Resolve the URL's host and check every address it has; the first one is used."""
    parts = parse_url(url, https_only=https_only)
    host = parts.hostname
    assert host is not None  # parse_url refuses a URL without one
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise TargetRefused(f"url: the host {host} could not be resolved.") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in found]
    if not addresses:
        raise TargetRefused(f"url: the host {host} could not be resolved.")
    for address in addresses:
        why = refusal(address, allow_loopback)
        if why is not None:
            raise TargetRefused(f"url resolves to {why} ({address}), which is refused.")
    address = addresses[0]
    netloc = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
    return Target(parts._replace(netloc=netloc).geturl(), host, address)
