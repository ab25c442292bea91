"""A webhook receiver on 127.0.0.1 (the outside world), which checks every signature."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


def verify(secret: str, header: str, body: bytes) -> bool:
    """The README's recipe, without its age check (the test moves its own clock)."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts["v1"])


class Receiver:
    """Answers `status` to every request; `stop()` takes it off the network (connections are
    refused) and `start()` brings it back on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.status = 200
        self.secret = ""
        self.received: list[Received] = []
        # While set to an unset event, requests are read and then held unanswered (a slow
        # receiver) until it is set.
        self.hold: asyncio.Event | None = None
        self._arrived = asyncio.Event()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")[1:]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (ln.partition(":") for ln in lines if ln)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(headers, body))
            self._arrived.set()
            if self.hold is not None:
                await self.hold.wait()
            reason = "OK" if self.status == 200 else "Error"
            writer.write(
                f"HTTP/1.1 {self.status} {reason}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
        finally:
            writer.close()

    async def until(self, count: int, within: float = 10.0) -> None:
        """Wait until `count` requests have arrived."""
        async with asyncio.timeout(within):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()

    def events(self) -> list[dict[str, Any]]:
        """Every body received, each checked against its signature."""
        for r in self.received:
            assert verify(self.secret, r.headers["picotask-signature"], r.body), r.headers
            assert r.headers["picotask-delivery"] == r.json["id"]
        return [r.json for r in self.received]
