"""Fan-out benchmark: N websocket subscribers on `taskFeed`, K tasks posted; delivery latency
p50/p99 and server memory per subscriber, next to a baseline measured in the same run
(broadcaster fan-out of the same payload to plain websockets, without GraphQL).

    python -m bench.fanout --subscribers 1000 --tasks 20     # make bench
    python -m bench.fanout --subscribers 10000 --tasks 10    # the big one (needs ~2 GB)

Everything runs on 127.0.0.1: each server in its own process, all clients in this one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { token } }"""
CREATE = """mutation($i: CreateTaskInput!) { createTask(input: $i) { userErrors { code } } }"""
FEED = "subscription { taskFeed { cursor kind task { id title reward { amount } } } }"


@dataclass
class Result:
    name: str
    subscribers: int
    latencies_ms: list[float]
    rss_per_subscriber_kib: float

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


@contextlib.asynccontextmanager
async def server(argv: list[str], port: int, env: dict[str, str]) -> AsyncIterator[int]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield process.pid
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def open_many(
    count: int, opener: Callable[[], Awaitable[ClientConnection]]
) -> list[ClientConnection]:
    connections: list[ClientConnection] = []
    for start in range(0, count, 200):  # in batches, so the listen backlog is not overrun
        batch = min(200, count - start)
        connections += await asyncio.gather(*(opener() for _ in range(batch)))
    return connections


async def collect(
    connections: list[ClientConnection],
    messages: int,
    sent_at: dict[str, float],
    key: Callable[[str], str | None],
) -> list[float]:
    latencies: list[float] = []

    async def one(conn: ClientConnection) -> None:
        got = 0
        while got < messages:
            raw = await conn.recv()
            now = time.perf_counter()
            tag = key(str(raw))
            if tag is not None and tag in sent_at:
                latencies.append((now - sent_at[tag]) * 1000)
                got += 1

    await asyncio.wait_for(asyncio.gather(*(one(c) for c in connections)), 600)
    return latencies


async def run_picotask(subscribers: int, tasks: int) -> Result:
    port = free_port()
    folder = tempfile.mkdtemp(prefix="picotask-bench-")
    env = {
        "PICOTASK_DATABASE_URL": f"sqlite://{folder}/bench.sqlite3",
        "PICOTASK_PORT": str(port),
        "PICOTASK_ARGON2_MEMORY_KIB": "8",
        "PICOTASK_ARGON2_TIME_COST": "1",
        "PICOTASK_ARGON2_PARALLELISM": "1",
        # Every subscriber signs up from this one address, faster than any person would.
        "PICOTASK_SIGN_UP_FREE_PER_ADDRESS": "1000000",
        "PICOTASK_COST_BUDGET": "1000000000",
        # Every socket is the same worker's, from this one address.
        "PICOTASK_MAX_SOCKETS_PER_USER": str(subscribers + 10),
        "PICOTASK_MAX_SOCKETS_PER_ADDRESS": str(subscribers + 10),
        "PICOTASK_ENV": "production",
    }
    argv = [sys.executable, "-m", "picotask.server.cli", "serve"]
    async with (
        server(argv, port, env) as pid,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
    ):

        async def gql(query: str, variables: dict[str, Any], token: str | None = None) -> Any:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            return response.json()["data"]

        async def account(email: str) -> str:
            data = await gql(
                SIGN_UP,
                {
                    "i": {
                        "email": email,
                        "password": "bench password 1",
                        "displayName": "Bench",
                        "country": "US",
                    }
                },
            )
            return str(data["signUp"]["token"])

        boss, worker = await account("boss@bench.example"), await account("w@bench.example")
        await gql(
            'mutation { createDeposit(input: {amount: "10000.00"}) { userErrors { code } } }',
            {},
            boss,
        )
        before = rss_kib(pid)

        async def subscriber() -> ClientConnection:
            conn = await connect(
                f"ws://127.0.0.1:{port}/graphql",
                subprotocols=[Subprotocol("graphql-transport-ws")],
                max_size=None,
                ping_interval=None,
                close_timeout=0.5,
            )
            await conn.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {worker}"}}
                )
            )
            await conn.recv()
            await conn.send(
                json.dumps({"id": "1", "type": "subscribe", "payload": {"query": FEED}})
            )
            return conn

        connections = await open_many(subscribers, subscriber)
        await asyncio.sleep(1)
        per_subscriber = (rss_kib(pid) - before) / subscribers
        sent_at: dict[str, float] = {}

        def tag(raw: str) -> str | None:
            return str(json.loads(raw)["payload"]["data"]["taskFeed"]["task"]["title"])

        receiving = asyncio.create_task(collect(connections, tasks, sent_at, tag))
        for n in range(tasks):
            title = f"bench task {n}"
            sent_at[title] = time.perf_counter()
            await gql(
                CREATE,
                {
                    "i": {
                        "title": title,
                        "instructions": "Benchmark.",
                        "category": "OTHER",
                        "reward": "0.10",
                        "slots": 1,
                        "estimatedMinutes": 1,
                        "proofFields": [{"label": "x", "kind": "TEXT"}],
                    }
                },
                boss,
            )
            await asyncio.sleep(0.2)
        latencies = await receiving
        await asyncio.gather(*(conn.close() for conn in connections))
    return Result("picotask taskFeed", subscribers, latencies, per_subscriber)


async def run_baseline(subscribers: int, tasks: int, payload_size: int) -> Result:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.baseline:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "1",
    ]
    async with (
        server(argv, port, {}) as pid,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
    ):
        before = rss_kib(pid)

        async def subscriber() -> ClientConnection:
            conn = await connect(
                f"ws://127.0.0.1:{port}/feed", max_size=None, ping_interval=None, close_timeout=0.5
            )
            await conn.recv()  # "ready"
            return conn

        connections = await open_many(subscribers, subscriber)
        await asyncio.sleep(1)
        per_subscriber = (rss_kib(pid) - before) / subscribers
        sent_at: dict[str, float] = {}
        receiving = asyncio.create_task(
            collect(connections, tasks, sent_at, lambda raw: str(json.loads(raw)["tag"]))
        )
        for n in range(tasks):
            tag = f"bench task {n}"
            body = json.dumps({"tag": tag, "pad": "x" * payload_size})
            sent_at[tag] = time.perf_counter()
            await http.post("/publish", content=body)
            await asyncio.sleep(0.2)
        latencies = await receiving
        await asyncio.gather(*(conn.close() for conn in connections))
    return Result("baseline broadcaster + websockets", subscribers, latencies, per_subscriber)


def report(results: list[Result]) -> None:
    print(f"{'':36} {'subscribers':>11} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'KiB/sub':>8}")
    for r in results:
        print(
            f"{r.name:36} {r.subscribers:>11} {r.p(0.5):>8.1f} {r.p(0.99):>8.1f} "
            f"{max(r.latencies_ms):>8.1f} {r.rss_per_subscriber_kib:>8.1f}"
        )
    ours, base = results
    print(
        f"ratio picotask / baseline: p50 {ours.p(0.5) / base.p(0.5):.2f}x, "
        f"p99 {ours.p(0.99) / base.p(0.99):.2f}x, "
        f"memory {ours.rss_per_subscriber_kib / max(base.rss_per_subscriber_kib, 0.1):.2f}x; "
        f"mean latency {statistics.mean(ours.latencies_ms):.1f} vs "
        f"{statistics.mean(base.latencies_ms):.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=1_000)
    parser.add_argument("--tasks", type=int, default=20)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * args.subscribers + 1_000
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
    ours = await run_picotask(args.subscribers, args.tasks)
    base = await run_baseline(args.subscribers, args.tasks, payload_size=120)
    report([ours, base])


if __name__ == "__main__":
    asyncio.run(main())
