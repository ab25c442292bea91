"""A request id on every HTTP request and websocket: in the logs and the `X-Request-Id` header."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from picotask.server.logs import REQUEST_ID

_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HEADER = "x-request-id"


def request_id_of(scope: MutableMapping[str, Any]) -> str:
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        state["request_id"] = secrets.token_hex(8)
    return str(state["request_id"])


def assign_request_id(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    """The client's `X-Request-Id` when it is a safe token, else a new one, in the scope's
    state (returned)."""
    incoming = dict(scope["headers"]).get(HEADER.encode(), b"").decode("latin-1")
    state: dict[str, Any] = scope.setdefault("state", {})
    state["request_id"] = incoming if _SAFE.match(incoming) else secrets.token_hex(8)
    # In this request's task (and the tasks it starts: a websocket's operations), every log
    # line carries it (server/logs.py).
    REQUEST_ID.set(state["request_id"])
    return state


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in {"http", "websocket"}:
            await self.app(scope, receive, send)
            return
        state = assign_request_id(scope)
        if scope["type"] == "websocket":  # no response headers to add; keep sends direct
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(HEADER, state["request_id"])
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodySizeLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413 before anything parses them; paths
    starting with a prefix in `larger` (image uploads) have that limit instead."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: Mapping[str, int] | None = None,
        refusal: Refusal | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})
        self.refusal = refusal or plain_refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        limit = next(
            (n for prefix, n in self.larger.items() if path.startswith(prefix)), self.max_bytes
        )
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _too_large(send, *self.refusal(path, limit))
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(send, *self.refusal(path, limit))


class _TooLarge(Exception):
    pass


# (content type, body) of the 413 for a path and its limit: routes that promise JSON say it
# in JSON (server/files.py).
Refusal = Callable[[str, int], tuple[bytes, bytes]]


def plain_refusal(path: str, limit: int) -> tuple[bytes, bytes]:
    return b"text/plain", b"Request body too large"


async def _too_large(send: Send, media_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", media_type), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})
