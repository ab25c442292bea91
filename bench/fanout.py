"""Fan-out benchmarks: picotask's `taskFeed` beside a bare broadcaster + websockets baseline
(bench/baseline.py: the same payload size, the same uvicorn websocket options, no GraphQL),
each measured in the same run with the same client:

- at rest: N subscribers idle, one task posted, the time until each subscriber has it (p50,
  p99, max over every subscriber and event; the next event only when all have the last one);
- sustained: tasks posted at a steady rate; deliveries per second and p99;
- server memory per idle subscriber (RSS growth over the subscribed sockets / N), and, for
  picotask, GraphQL executions per event (the fan-out shares one per group of identical
  operations: here every subscriber is in one group, so it must be 1).

    python -m bench.fanout --subscribers 1000 5000 10000     # make bench; README's table
    python -m bench.fanout --quick                           # CI (make bench-quick), < 1 min
    python -m bench.fanout --memory --subscribers 1000       # what an idle subscriber holds

The sockets are driven by `--clients` processes (bench/fanout_client.py), so a Python client
does not become the bottleneck at 10,000; everything runs on 127.0.0.1. To profile the server,
run py-spy on its pid (printed) during the run: `py-spy record --pid PID --format raw`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

SIGN_UP = """mutation($i: SignUpInput!) { signUp(input: $i) { token } }"""
CREATE = """mutation($i: CreateTaskInput!) { createTask(input: $i) { userErrors { code } } }"""
FEED = """subscription { taskFeed { cursor kind
  task { id title reward { amount } employer { displayName } } } }"""
WORKERS = 10  # subscribers are spread over this many accounts (all in one group: same query)


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


def load() -> str:
    return "load {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Rest:
    latencies_ms: list[float] = field(default_factory=list)
    missing: int = 0


@dataclass
class Sustained:
    rate: float
    latencies_ms: list[float] = field(default_factory=list)
    per_second: float = 0.0
    missing: int = 0


@dataclass
class Measured:
    name: str
    subscribers: int
    rest: Rest
    sustained: Sustained | None
    kib_per_subscriber: float
    executions_per_event: float | None
    load: str


@dataclass
class Target:
    """A running server, as the clients and the driver need it."""

    pid: int
    client_spec: dict[str, Any]
    publish: Callable[[str], Awaitable[None]]
    subscribed: Callable[[], Awaitable[int]]
    executions: Callable[[], Awaitable[int | None]]
    resting: Callable[[], Awaitable[int | None]]  # subscribers without a task (picotask)
    # Traced servers only (--memory): mark the moment, then what was allocated since, per line.
    memory: Callable[[str], Awaitable[str]] | None = None


@contextlib.asynccontextmanager
async def process(argv: list[str], port: int, env: dict[str, str]) -> AsyncIterator[int]:
    path = os.path.join(tempfile.gettempdir(), f"bench-fanout-{port}.log")
    log = open(path, "wb")  # noqa: SIM115, ASYNC230  # closed after the process; at start-up only
    proc = await asyncio.create_subprocess_exec(
        *argv, env={**os.environ, **env}, stdout=log, stderr=log
    )
    try:
        for _ in range(600):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            if proc.returncode is not None:
                raise RuntimeError(f"server exited; see {log.name}")
            await asyncio.sleep(0.1)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
        log.close()


@contextlib.asynccontextmanager
async def picotask(subscribers: int, traced: bool = False) -> AsyncIterator[Target]:
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
        # Every socket is one of a few workers', from this one address.
        "PICOTASK_MAX_SOCKETS_PER_USER": str(subscribers + 10),
        "PICOTASK_MAX_SOCKETS_PER_ADDRESS": str(subscribers + 10),
        "PICOTASK_ENV": "production",
        # Bench users claim, post and withdraw at once: no confirmation mail is followed.
        "PICOTASK_REQUIRE_CONFIRMED_EMAIL": "false",
    }
    if traced:
        env["BENCH_TRACEMALLOC"] = "1"
    async with (
        process([sys.executable, "-m", "bench.serve"], port, env) as pid,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http,
    ):

        async def gql(query: str, variables: dict[str, Any], token: str | None = None) -> Any:
            headers = {"authorization": f"Bearer {token}"} if token else {}
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            body = response.json()
            if body.get("errors"):
                raise RuntimeError(body["errors"])
            return body["data"]

        async def account(email: str) -> str:
            password = "bench password 1"  # noqa: S105  # a throw-away local account
            data = await gql(
                SIGN_UP,
                {
                    "i": {
                        "email": email,
                        "password": password,
                        "displayName": "Bench",
                        "country": "US",
                    }
                },
            )
            return str(data["signUp"]["token"])

        boss = await account("boss@bench.example")
        workers = [await account(f"w{n}@bench.example") for n in range(WORKERS)]
        deposit = await gql(
            'mutation { createDeposit(input: {amount: "10000.00"}) { userErrors { code } } }',
            {},
            boss,
        )
        assert deposit["createDeposit"]["userErrors"] == [], deposit

        async def publish(tag: str) -> None:
            task = {
                "title": tag,
                "instructions": "Benchmark.",
                "category": "OTHER",
                "reward": "0.10",
                "slots": 1,
                "estimatedMinutes": 1,
                "proofFields": [{"label": "x", "kind": "TEXT"}],
            }
            data = await gql(CREATE, {"i": task}, boss)
            assert data["createTask"]["userErrors"] == [], data

        async def stats() -> dict[str, int]:
            found: dict[str, int] = (await http.get("/bench/stats")).json()
            return found

        async def subscribed() -> int:
            return (await stats())["subscribers"]

        async def executions() -> int | None:
            s = await stats()
            return s["shared_executions"] + s["subscriber_executions"]

        async def resting() -> int | None:
            return (await stats())["resting"]

        spec = {
            "url": f"ws://127.0.0.1:{port}/graphql",
            "kind": "picotask",
            "query": FEED,
            "authorizations": [f"Bearer {w}" for w in workers],
        }

        async def memory(query: str) -> str:
            if not query:
                return (await http.post("/bench/memory")).text
            return (await http.get(f"/bench/memory?{query}")).text

        yield Target(
            pid, spec, publish, subscribed, executions, resting, memory if traced else None
        )


@contextlib.asynccontextmanager
async def baseline(payload_size: int) -> AsyncIterator[Target]:
    port = free_port()
    argv = [
        *(sys.executable, "-m", "uvicorn", "bench.baseline:app", "--port", str(port)),
        *("--log-level", "warning", "--timeout-graceful-shutdown", "1"),
        # The websocket options picotask serves with (picotask.server.cli.serving).
        *("--ws", "websockets-sansio", "--ws-per-message-deflate", "false"),
    ]
    async with (
        process(argv, port, {}) as pid,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as http,
    ):

        async def publish(tag: str) -> None:
            body = json.dumps({"tag": tag, "pad": "x" * payload_size})
            await http.post("/publish", content=body)

        async def subscribed() -> int:
            return int((await http.get("/subscribers")).text)

        async def nothing() -> int | None:
            return None

        spec = {"url": f"ws://127.0.0.1:{port}/feed", "kind": "baseline"}
        yield Target(pid, spec, publish, subscribed, nothing, nothing)


class Clients:
    """`processes` client processes holding `count` sockets between them."""

    def __init__(self, spec: dict[str, Any], count: int, processes: int) -> None:
        self.spec, self.count, self.processes = spec, count, max(1, min(processes, count))
        self._procs: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> Clients:
        for n in range(self.processes):
            share = self.count // self.processes + (n < self.count % self.processes)
            spec = {k: v for k, v in self.spec.items() if k != "authorizations"}
            if "authorizations" in self.spec:
                tokens = self.spec["authorizations"]
                spec["authorization"] = tokens[n % len(tokens)]
            spec["count"] = share
            self._procs.append(
                await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "bench.fanout_client", json.dumps(spec)),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=1 << 30,
                )
            )
        for proc in self._procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 900)
            if line.strip() != b"ready":
                raise RuntimeError(f"a client failed: {line!r}")
        return self

    async def arrivals(self) -> list[tuple[int, float]]:
        """Stop the clients; every (tag number, arrival time) they saw."""
        found: list[tuple[int, float]] = []
        for proc in self._procs:
            assert proc.stdin is not None
            proc.stdin.write(b"stop\n")
            await proc.stdin.drain()
        for proc in self._procs:
            assert proc.stdout is not None
            report = json.loads(await asyncio.wait_for(proc.stdout.readline(), 300))
            if report["errors"]:
                print("client saw errors:", report["errors"], file=sys.stderr)
            found += [(int(tag), float(t)) for tag, t in report["arrivals"]]
        return found

    async def __aexit__(self, *exc: object) -> None:
        for proc in self._procs:
            if proc.returncode is None:
                proc.kill()
            await proc.wait()


async def held(target: Target, subscribers: int, processes: int) -> str:
    """What the server allocated for `subscribers` idle subscribers and still holds, by line
    (tracemalloc: Python's allocations only, not the kernel's socket buffers)."""
    assert target.memory is not None
    await target.memory("")
    async with Clients(target.client_spec, subscribers, processes):
        while await target.subscribed() < subscribers:  # noqa: ASYNC110  # another process's count
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)
        resting = f"{await target.resting()} of {subscribers} subscribers resting\n"
        return (
            resting
            + await target.memory(f"n={subscribers}&by=filename")
            + await target.memory(f"n={subscribers}")
        )


async def measure(
    name: str,
    target: Target,
    subscribers: int,
    events: int,
    gap: float,
    rate: float,
    seconds: float,
    processes: int,
) -> Measured:
    before = rss_kib(target.pid)
    async with Clients(target.client_spec, subscribers, processes) as clients:
        for _ in range(1200):  # every subscription registered on the bus
            if await target.subscribed() >= subscribers:
                break
            await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"{name}: only {await target.subscribed()} subscribed")
        await asyncio.sleep(1)
        kib = (rss_kib(target.pid) - before) / subscribers
        measured_load = load()
        executions_before = await target.executions()
        sent: dict[int, float] = {}
        # At rest: one event, then quiet until the next.
        for n in range(events):
            sent[n] = time.monotonic()
            await target.publish(f"bench-tag-{n}")
            await asyncio.sleep(gap)
        executions_after = await target.executions()
        # Sustained: a steady rate, tags from 100,000 on.
        start = time.monotonic()
        for k in range(int(rate * seconds)):
            due = start + k / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tag = 100_000 + k
            sent[tag] = time.monotonic()
            await target.publish(f"bench-tag-{tag}")
        await asyncio.sleep(gap)
        arrivals = await clients.arrivals()
    rest, sustained = Rest(), Sustained(rate)
    last_sustained = start
    for tag, at in arrivals:
        if tag not in sent:
            continue
        latency = (at - sent[tag]) * 1000
        if tag < 100_000:
            rest.latencies_ms.append(latency)
        else:
            sustained.latencies_ms.append(latency)
            last_sustained = max(last_sustained, at)
    rest.missing = events * subscribers - len(rest.latencies_ms)
    sustained.missing = int(rate * seconds) * subscribers - len(sustained.latencies_ms)
    sustained.per_second = len(sustained.latencies_ms) / max(last_sustained - start, 1e-9)
    per_event = None
    if executions_before is not None and executions_after is not None and events:
        per_event = (executions_after - executions_before) / events
    return Measured(
        name, subscribers, rest, sustained if seconds else None, kib, per_event, measured_load
    )


def row(m: Measured, base: Measured | None) -> str:
    r = m.rest.latencies_ms
    cells = [
        m.name,
        f"{m.subscribers:,}",
        f"{pct(r, 0.5):.0f} / {pct(r, 0.99):.0f} / {max(r, default=float('nan')):.0f}",
    ]
    if base is not None and base is not m:
        cells.append(f"{pct(r, 0.99) / pct(base.rest.latencies_ms, 0.99):.2f}x")
    else:
        cells.append("")
    if m.sustained is not None:
        s = m.sustained
        cells.append(f"{s.rate:g}/s: {s.per_second:,.0f} /s, p99 {pct(s.latencies_ms, 0.99):.0f}")
    else:
        cells.append("")
    cells.append(f"{m.kib_per_subscriber:.1f}")
    cells.append("" if m.executions_per_event is None else f"{m.executions_per_event:g}")
    missing = m.rest.missing + (m.sustained.missing if m.sustained else 0)
    cells.append(f"{m.load}" + (f"; {missing:,} not delivered" if missing else ""))
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| server | subscribers | at rest p50 / p99 / max ms | p99 vs baseline "
    "| sustained: deliveries/s, p99 ms | KiB per idle subscriber | executions per event "
    "| load (1/5/15 min) |\n|---|---|---|---|---|---|---|---|"
)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, nargs="+", default=[1_000])
    parser.add_argument("--events", type=int, default=3, help="events at rest, per size")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds after each event")
    parser.add_argument("--rate", type=float, default=5.0, help="sustained tasks per second")
    parser.add_argument("--seconds", type=float, default=5.0, help="sustained duration")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--only", choices=["picotask", "baseline"], help="one side only")
    parser.add_argument("--quick", action="store_true", help="CI: 20 subscribers, short")
    parser.add_argument(
        "--memory", action="store_true", help="picotask only: what an idle subscriber holds"
    )
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.events, args.gap = [20], 2, 0.5
        args.rate, args.seconds, args.clients = 5.0, 1.0, 1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the servers
    if args.memory:
        for n in args.subscribers:
            async with picotask(n, traced=True) as target:
                print(f"# {n} idle subscribers ({load()})")
                print(await held(target, n, args.clients), flush=True)
        return
    print(HEADER, flush=True)
    for n in args.subscribers:
        ours = base = None
        options = (n, args.events, args.gap, args.rate, args.seconds, args.clients)
        if args.only != "baseline":
            async with picotask(n) as target:
                print(f"# picotask pid {target.pid}, {n} subscribers", file=sys.stderr)
                ours = await measure("picotask taskFeed", target, *options)
        if args.only != "picotask":
            async with baseline(payload_size=170) as target:
                print(f"# baseline pid {target.pid}, {n} subscribers", file=sys.stderr)
                base = await measure("baseline", target, *options)
        for m in (ours, base):
            if m is not None:
                print(row(m, base), flush=True)
        if ours is not None and (ours.rest.missing or ours.executions_per_event not in (1, None)):
            print(
                f"picotask: {ours.rest.missing} at-rest deliveries missing, "
                f"{ours.executions_per_event} executions per event",
                file=sys.stderr,
            )
            sys.exit(1)


if __name__ == "__main__":
    asyncio.run(main())
