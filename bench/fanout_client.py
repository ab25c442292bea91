"""One process of the fan-out benchmark's clients: opens its share of the subscriber sockets,
says `ready`, notes when each tagged event arrives on each socket (time.monotonic: the same
clock in every process of the machine), and on `stop` (stdin) prints them as JSON.

The same client drives picotask (graphql-transport-ws) and the baseline (plain websocket):
only the handshake differs. Run by bench/fanout.py, never by hand:

    python -m bench.fanout_client '{"url": ..., "kind": "picotask", "count": 2500, ...}'
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import sys
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

# Both servers' messages carry the tag in their text ("bench-tag-12"): found without parsing.
TAG = re.compile(r"bench-tag-(\d+)")
BATCH = 100  # sockets opened at once, so the server's listen backlog is not overrun


def raise_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))


async def open_one(spec: dict[str, Any]) -> ClientConnection:
    picotask = spec["kind"] == "picotask"
    conn = await connect(
        spec["url"],
        subprotocols=[Subprotocol("graphql-transport-ws")] if picotask else None,
        max_size=None,
        ping_interval=None,
        close_timeout=0.5,
        compression=None,  # the servers do not compress either (picotask's `serving`)
        open_timeout=120,
    )
    if picotask:
        init = {"type": "connection_init", "payload": {"authorization": spec["authorization"]}}
        await conn.send(json.dumps(init))
        ack = json.loads(await conn.recv())
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"not acknowledged: {ack}")
        subscribe = {"id": "1", "type": "subscribe", "payload": {"query": spec["query"]}}
        await conn.send(json.dumps(subscribe))
    else:
        await conn.recv()  # "ready"
    return conn


async def main(spec: dict[str, Any]) -> None:
    raise_open_files(spec["count"] + 100)
    connections: list[ClientConnection] = []
    for start in range(0, spec["count"], BATCH):
        batch = min(BATCH, spec["count"] - start)
        connections += await asyncio.gather(*(open_one(spec) for _ in range(batch)))
    arrivals: list[tuple[int, float]] = []
    errors: list[str] = []

    async def receive(conn: ClientConnection) -> None:
        async for raw in conn:
            now = time.monotonic()
            text = raw if isinstance(raw, str) else raw.decode()
            found = TAG.search(text)
            if found is not None:
                arrivals.append((int(found.group(1)), now))
            elif '"error"' in text:
                errors.append(text[:300])

    readers = [asyncio.create_task(receive(c)) for c in connections]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    print(json.dumps({"arrivals": arrivals, "errors": errors[:5]}), flush=True)
    for conn in connections:
        conn.transport.abort()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
