"""HTTP benchmark: the GraphQL pages a single-page app loads on every screen, next to a bare
Starlette endpoint doing the same work with the project's models (bench/bare.py), measured
back to back in the same run over the same database.

    python -m bench.http                       # SQLite, then PostgreSQL + Redis when reachable
    python -m bench.http --backend sqlite --seconds 10 --rounds 3
    python -m bench.http --quick               # CI: a short run that checks both still agree
    python -m bench.http --tracing             # picotask traced (every request) vs untraced
    python -m bench.http --metrics             # also picotask with PICOTASK_METRICS on

Pages: `tasks(first: 20)` for a worker (100 open tasks), `me` with its wallet, and an employer's
`myTasks(first: 10)` with five submissions each. Each server runs in its own process (uvicorn,
one worker, production settings, budgets lifted so nothing is throttled); the load comes from
this process (`--load python`: keep-alive connections on raw sockets) or from wrk
(`--load wrk`, when installed). Both sides get the same client, connections and duration.
Before measuring, each page's answers are compared: the baseline must answer the same data.
With `--metrics` a third server, picotask with its metrics on (PICOTASK_METRICS=true), takes
its turn in every round, and the cost of the metrics is printed as on/off ratios.

`--tracing` measures what traces cost instead: the baseline is picotask with tracing off, the
other side picotask with tracing on, every request sampled (`--trace-ratio`, default 1.0),
its spans batched and encoded to OTLP protobuf as for a collector, then dropped (`Discard`),
so the figure holds the whole cost in the server but the network send.

Profile the server under load (py-spy is not a dependency: `pip install py-spy`); while a
side is under load its pid is in /tmp/picotask-bench.pid:

    python -m bench.http --backend sqlite --page tasks --side picotask --seconds 40 &
    sleep 25; py-spy record -o profile.svg -d 15 -p $(cat /tmp/picotask-bench.pid)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

import httpx
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

POSTGRES_URL = os.environ.get("PICOTASK_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PICOTASK_BENCH_REDIS", "redis://127.0.0.1:6379/0")
PID_FILE = Path(tempfile.gettempdir()) / "picotask-bench.pid"  # the server under load
LOG_FILE = Path(tempfile.gettempdir()) / "picotask-bench.log"  # the servers' output

TASKS = (
    "{ tasks(first: 20) { edges { node { id title category reward { amount currency } "
    "slotsRemaining employer { displayName } } } } }"
)
ME = (
    "{ me { id email displayName wallet { available { amount currency } "
    "heldInPayouts { amount currency } inEscrow { amount currency } "
    "lifetimeEarned { amount currency } lifetimeDeposited { amount currency } "
    "lifetimeWithdrawn { amount currency } } } }"
)
MY_TASKS = (
    "{ myTasks(first: 10) { edges { node { id title status slotsRemaining "
    "submissions(first: 5) { totalCount edges { node { id status submittedAt "
    "worker { displayName } } } } } } } }"
)


@dataclass(frozen=True)
class Page:
    name: str
    query: str
    bare_path: str
    who: str  # "worker" or "employer"


PAGES = [
    Page("tasks", TASKS, "/tasks", "worker"),
    Page("me", ME, "/me", "employer"),
    Page("myTasks", MY_TASKS, "/my-tasks", "employer"),
]

SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { token userErrors { message } } }"
DEPOSIT = (
    "mutation($i: CreateDepositInput!) { createDeposit(input: $i) { userErrors { message } } }"
)
CREATE = (
    "mutation($i: CreateTaskInput!) { createTask(input: $i) { task { id } "
    "userErrors { message } } }"
)
CLAIM = (
    "mutation($i: ClaimTaskInput!) { claimTask(input: $i) { submission { id } "
    "userErrors { message } } }"
)
SUBMIT = "mutation($i: SubmitProofInput!) { submitProof(input: $i) { userErrors { message } } }"
CATEGORIES = ["SIGN_UP", "WATCH_VIDEO", "APP_TESTING", "REVIEW", "DATA_ENTRY", "RESEARCH"]


# The traced side of `--tracing` (`picotask_app` reads the last one).
TRACED_ENV = {
    "PICOTASK_TRACING": "on",
    "PICOTASK_BENCH_SPANS": "discard",
}


def server_env(database_url: str, broadcast_url: str, port: int) -> dict[str, str]:
    """Production settings, with every budget and throttle lifted: the benchmark measures the
    cost of a request, not the limits (they still run)."""
    return {
        "PICOTASK_DATABASE_URL": database_url,
        "PICOTASK_BROADCAST_URL": broadcast_url,
        "PICOTASK_PORT": str(port),
        "PICOTASK_ENV": "production",
        # Bench users claim, post and withdraw at once: no confirmation mail is followed.
        "PICOTASK_REQUIRE_CONFIRMED_EMAIL": "false",
        "PICOTASK_BACKGROUND_WORKERS": "false",
        "PICOTASK_ARGON2_MEMORY_KIB": "8",
        "PICOTASK_ARGON2_TIME_COST": "1",
        "PICOTASK_ARGON2_PARALLELISM": "1",
        "PICOTASK_MIN_PASSWORD_SCORE": "0",
        "PICOTASK_COST_BUDGET": "1000000000",
        "PICOTASK_COST_RESTORE_PER_SECOND": "1000000000",
        "PICOTASK_SIGN_UP_FREE_PER_ADDRESS": "1000000",
        "PICOTASK_LOG_IN_FREE_FAILURES_PER_ADDRESS": "1000000",
        "PICOTASK_REDIS_KEY_PREFIX": f"picotask-bench-{secrets.token_hex(4)}",
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def server(argv: list[str], port: int, env: dict[str, str]) -> AsyncIterator[int]:
    """A uvicorn process, until the block ends; yields its pid once it answers."""
    log = LOG_FILE.open("ab")  # once per server; closed at its end
    process = await asyncio.create_subprocess_exec(
        *argv, env={**os.environ, **env}, stdout=log, stderr=log
    )
    try:
        for _ in range(600):
            if process.returncode is not None:
                raise RuntimeError(f"{argv} exited with {process.returncode}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            await asyncio.sleep(0.1)
        yield process.pid
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()


def uvicorn_argv(target: str, port: int, *factory: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        target,
        *factory,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "2",
    ]


@contextlib.asynccontextmanager
async def database(backend: str, folder: str) -> AsyncIterator[str]:
    """A new empty database: a SQLite file, or a PostgreSQL database with a random name that
    is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite://{folder}/bench.sqlite3"
        return
    import asyncpg

    name = f"picotask_bench_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(POSTGRES_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunparse(urlparse(POSTGRES_URL)._replace(path=f"/{name}"))
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# Seeding, through the API itself.


class Seeder:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def gql(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = response.json()
        if body.get("errors"):
            raise RuntimeError(f"seeding failed: {body['errors']}")
        payload = next(iter(body["data"].values()))
        if payload.get("userErrors"):
            raise RuntimeError(f"seeding refused: {payload['userErrors']}")
        return payload

    async def account(self, name: str) -> str:
        email = f"{name.replace(' ', '-')}-{secrets.token_hex(3)}@bench.example"
        signed = await self.gql(
            SIGN_UP,
            {
                "i": {
                    "email": email,
                    "password": f"bench {secrets.token_hex(8)} password",
                    "displayName": name.title(),
                    "country": "US",
                }
            },
        )
        return str(signed["token"])

    async def seed(self, tasks: int, employers: int) -> dict[str, str]:
        """`tasks` OPEN tasks from `employers` employers; three other workers claim and submit
        on the first employer's newest ten. Returns the tokens of the worker who browses and
        of the first employer."""
        bosses = [await self.account(f"employer {n}") for n in range(employers)]
        for boss in bosses:
            await self.gql(DEPOSIT, {"i": {"amount": "5000.00"}}, boss)
        created: dict[str, list[str]] = {boss: [] for boss in bosses}
        for n in range(tasks):
            boss = bosses[n % employers]
            task = await self.gql(
                CREATE,
                {
                    "i": {
                        "title": f"Bench task {n}: try the app and tell us what broke",
                        "instructions": "1. Install the app.\n2. Use it for five minutes.\n"
                        "3. Describe the first problem you met.",
                        "category": CATEGORIES[n % len(CATEGORIES)],
                        "reward": f"{1 + n % 7}.{n % 100:02d}",
                        "slots": 8,
                        "estimatedMinutes": 5 + n % 20,
                        "proofFields": [
                            {"label": "Username", "kind": "TEXT"},
                            {"label": "Problem", "kind": "TEXT"},
                        ],
                    }
                },
                boss,
            )
            created[boss].append(task["task"]["id"])
        for w in range(3):
            worker = await self.account(f"helper {w}")
            for task_id in created[bosses[0]][-10:]:
                claimed = await self.gql(CLAIM, {"i": {"taskId": task_id}}, worker)
                answers = [
                    {"label": "Username", "value": f"helper{w}"},
                    {"label": "Problem", "value": f"Crashed on screen {w}"},
                ]
                sid = claimed["submission"]["id"]
                await self.gql(SUBMIT, {"i": {"submissionId": sid, "answers": answers}}, worker)
        return {"worker": await self.account("worker"), "employer": bosses[0]}


# Load: keep-alive HTTP/1.1 connections on raw sockets, the same for both sides.


@dataclass
class Load:
    requests: int = 0
    failures: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0  # the server process's CPU time over the measured window
    quantiles: dict[float, float] = field(default_factory=dict)  # as wrk reports them

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        """Server CPU per request: unlike req/s, barely moved by other work on the machine."""
        return 1000 * self.cpu_seconds / self.requests if self.requests else 0.0

    def p(self, q: float) -> float:
        if q in self.quantiles:
            return self.quantiles[q]
        ordered = sorted(self.latencies_ms) or [0.0]
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def request_bytes(port: int, path: str, body: bytes, token: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nAccept: application/graphql-response+json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def one_connection(port: int, request: bytes, start: float, stop: float, load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            sent = time.perf_counter()
            if sent >= stop:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done = time.perf_counter()
            if sent >= start:  # after the warm-up
                load.requests += 1
                load.latencies_ms.append((done - sent) * 1000)
                if head[9:12] != b"200":
                    load.failures += 1
    finally:
        writer.close()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (every thread), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def python_load(
    pid: int, port: int, request: bytes, connections: int, seconds: float, warmup: float
) -> Load:
    load = Load(seconds=seconds)
    start = time.perf_counter() + warmup
    stop = start + seconds

    async def cpu_window() -> None:
        await asyncio.sleep(warmup)
        before = cpu_seconds(pid)
        await asyncio.sleep(max(0.0, stop - time.perf_counter()))
        load.cpu_seconds = cpu_seconds(pid) - before

    await asyncio.gather(
        cpu_window(),
        *(one_connection(port, request, start, stop, load) for _ in range(connections)),
    )
    return load


def milliseconds(value: str) -> float:
    """wrk's `812.00us`, `3.21ms` or `1.02s`."""
    for unit, scale in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * scale
    return float(value)


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/graphql-response+json"
wrk.headers["Authorization"] = "Bearer {token}"
"""


def wrk_load(
    port: int, path: str, body: bytes, token: str, connections: int, seconds: float
) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT.format(body=json.dumps(body.decode()), token=token))
    try:
        out = subprocess.run(  # noqa: S603  # wrk, found on PATH, with our own arguments
            [  # noqa: S607  # wrk from PATH, as `--load wrk` asks
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--latency",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    load = Load(seconds=seconds)
    for line in out.splitlines():
        parts = line.split()
        if line.strip().startswith("Requests/sec:"):
            load.requests = round(float(parts[1]) * seconds)
        elif line.strip().startswith("Non-2xx"):
            load.failures = int(parts[-1])
        elif parts[:1] in (["50%"], ["99%"]):
            load.quantiles[float(parts[0][:-1]) / 100] = milliseconds(parts[1])
    return load


@dataclass
class Measured:
    backend: str
    page: str
    picotask: list[Load]
    bare: list[Load]
    # `--metrics`: picotask again, with PICOTASK_METRICS on (its series counted), same run.
    metered: list[Load] = field(default_factory=list)

    def rate(self, loads: list[Load]) -> float:
        return statistics.median(load.rate for load in loads)

    @property
    def ratio(self) -> float:
        return self.rate(self.picotask) / max(self.rate(self.bare), 1e-9)

    def cpu_ms(self, loads: list[Load]) -> float:
        return statistics.median(load.cpu_ms for load in loads)

    @property
    def metered_ratio(self) -> float:
        """req/s with metrics on over req/s with them off."""
        return self.rate(self.metered) / max(self.rate(self.picotask), 1e-9)

    @property
    def metered_cpu_ratio(self) -> float:
        """CPU per request with metrics on over CPU per request with them off."""
        return self.cpu_ms(self.metered) / max(self.cpu_ms(self.picotask), 1e-9)

    @property
    def cpu_ratio(self) -> float:
        """The baseline's CPU per request over picotask's: the req/s ratio the two would
        have on an otherwise idle core."""
        return self.cpu_ms(self.bare) / max(self.cpu_ms(self.picotask), 1e-9)


def same_data(ours: Any, theirs: Any) -> bool:
    return json.dumps(ours, sort_keys=True) == json.dumps(theirs, sort_keys=True)


async def check_answers(
    gql_port: int, bare_port: int, tokens: dict[str, str], pages: list[Page]
) -> None:
    """Each page answers the same data from both sides, and picotask answers no error."""
    async with httpx.AsyncClient(timeout=30) as http:
        for page in pages:
            headers = {"authorization": f"Bearer {tokens[page.who]}"}
            body = {"query": page.query}
            ours = (
                await http.post(f"http://127.0.0.1:{gql_port}/graphql", json=body, headers=headers)
            ).json()
            theirs = (
                await http.post(
                    f"http://127.0.0.1:{bare_port}{page.bare_path}", json=body, headers=headers
                )
            ).json()
            if "errors" in ours or not same_data(ours["data"], theirs["data"]):
                raise SystemExit(
                    f"{page.name}: picotask and the baseline disagree:\n"
                    f"{json.dumps(ours)[:2000]}\n{json.dumps(theirs)[:2000]}"
                )
            edges = next(iter(ours["data"].values())).get("edges")
            if edges is not None and len(edges) < 10:
                raise SystemExit(f"{page.name}: only {len(edges)} items; seeding went wrong")


@contextlib.contextmanager
def pid_file(pid: int) -> Iterator[None]:
    PID_FILE.write_text(str(pid))
    try:
        yield
    finally:
        PID_FILE.unlink(missing_ok=True)


async def run_backend(backend: str, args: argparse.Namespace) -> list[Measured]:
    folder = tempfile.mkdtemp(prefix="picotask-bench-")
    broadcast = REDIS_URL if backend == "postgres" else "memory://"
    pages = [p for p in PAGES if args.page in (None, p.name)]
    if args.tracing:  # the other side is picotask too, traced
        pages = [replace(p, bare_path="/graphql") for p in pages]
    async with database(backend, folder) as url:
        gql_port, bare_port = free_port(), free_port()
        gql_argv = uvicorn_argv("bench.http:picotask_app", gql_port, "--factory")
        bare_argv = uvicorn_argv("bench.bare:app", bare_port)
        bare_env = server_env(url, broadcast, bare_port)
        if args.tracing:
            bare_argv = uvicorn_argv("bench.http:picotask_app", bare_port, "--factory")
            bare_env.update(TRACED_ENV, PICOTASK_TRACE_SAMPLE_RATIO=str(args.trace_ratio))
        async with server(gql_argv, gql_port, server_env(url, broadcast, gql_port)) as gql_pid:
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{gql_port}", timeout=60
            ) as http:
                tokens = await Seeder(http).seed(args.tasks, employers=5)
            metered_port = free_port()
            metered_env = {
                **server_env(url, broadcast, metered_port),
                "PICOTASK_METRICS": "true",
                "PICOTASK_MIGRATE_ON_START": "false",
            }
            metered_argv = uvicorn_argv("bench.http:picotask_app", metered_port, "--factory")
            async with contextlib.AsyncExitStack() as stack:
                bare_pid = await stack.enter_async_context(server(bare_argv, bare_port, bare_env))
                metered_pid = 0
                if args.metrics:
                    metered_pid = await stack.enter_async_context(
                        server(metered_argv, metered_port, metered_env)
                    )
                    await check_answers(metered_port, bare_port, tokens, pages)
                await check_answers(gql_port, bare_port, tokens, pages)
                results = []
                for page in pages:
                    measured = Measured(backend, page.name, [], [])
                    body = json.dumps({"query": page.query}).encode()
                    token = tokens[page.who]
                    sides = [
                        ("picotask", gql_port, "/graphql", measured.picotask, gql_pid),
                        ("bare", bare_port, page.bare_path, measured.bare, bare_pid),
                    ]
                    if args.tracing:  # traced against untraced: `ratio` is traced / off
                        sides = [
                            ("traced", bare_port, "/graphql", measured.picotask, bare_pid),
                            ("off", gql_port, "/graphql", measured.bare, gql_pid),
                        ]
                    if args.metrics:
                        metered = ("metrics", metered_port, "/graphql", measured.metered)
                        sides.insert(1, (*metered, metered_pid))
                    for _ in range(args.rounds):
                        for side, port, path, loads, pid in sides:
                            if args.side not in (None, side) and not (
                                side == "metrics" and args.side == "picotask"
                            ):
                                continue
                            with pid_file(pid):
                                if args.load == "wrk":
                                    await asyncio.sleep(args.warmup)
                                    before = cpu_seconds(pid)
                                    load = await asyncio.to_thread(
                                        wrk_load,
                                        port,
                                        path,
                                        body,
                                        token,
                                        args.connections,
                                        args.seconds,
                                    )
                                    load.cpu_seconds = cpu_seconds(pid) - before
                                else:
                                    request = request_bytes(port, path, body, token)
                                    load = await python_load(
                                        pid,
                                        port,
                                        request,
                                        args.connections,
                                        args.seconds,
                                        args.warmup,
                                    )
                            if load.failures:
                                raise SystemExit(f"{side} {page.name}: {load.failures} failures")
                            loads.append(load)
                            print(
                                f"  {backend:8} {page.name:8} {side:8} {load.rate:8.1f} req/s "
                                f"p50 {load.p(0.5):6.1f} ms  p99 {load.p(0.99):6.1f} ms  "
                                f"CPU {load.cpu_ms:5.2f} ms/request",
                                flush=True,
                            )
                    results.append(measured)
    shutil.rmtree(folder, ignore_errors=True)
    return results


def report(results: list[Measured], sides: tuple[str, str] = ("picotask", "bare")) -> None:
    ours, theirs = sides
    print()
    print(
        f"{'backend':10} {'page':8} {ours + ' req/s':>15} {theirs + ' req/s':>11} {'ratio':>7}"
        f" {ours + ' CPU ms':>16} {theirs + ' CPU ms':>12} {'CPU ratio':>10}"
    )
    for m in results:
        if not m.picotask or not m.bare:
            continue
        print(
            f"{m.backend:10} {m.page:8} {m.rate(m.picotask):>15.1f} {m.rate(m.bare):>11.1f} "
            f"{m.ratio:>6.2f}x {m.cpu_ms(m.picotask):>16.2f} {m.cpu_ms(m.bare):>12.2f} "
            f"{m.cpu_ratio:>9.2f}x"
        )
    metered = [m for m in results if m.metered and m.picotask]
    if metered:
        print()
        print(
            f"{'backend':10} {'page':8} {'metrics off req/s':>18} {'on req/s':>9} {'on/off':>7}"
            f" {'off CPU ms':>11} {'on CPU ms':>10} {'CPU on/off':>11}"
        )
        for m in metered:
            print(
                f"{m.backend:10} {m.page:8} {m.rate(m.picotask):>18.1f} {m.rate(m.metered):>9.1f} "
                f"{m.metered_ratio:>6.3f}x {m.cpu_ms(m.picotask):>11.2f} "
                f"{m.cpu_ms(m.metered):>10.2f} {m.metered_cpu_ratio:>10.3f}x"
            )


def postgres_reachable() -> bool:
    server = urlparse(POSTGRES_URL)
    try:
        with socket.create_connection((server.hostname or "127.0.0.1", server.port or 5432), 1):
            return True
    except OSError:
        return False


def picotask_app() -> Any:
    """The app as `picotask serve` builds and serves it (uvicorn --factory)."""
    from picotask.server.app import create_app
    from picotask.server.runtime import tune_gc
    from picotask.settings import Settings

    settings = Settings.from_env()
    processor = None
    if os.environ.get("PICOTASK_BENCH_SPANS") == "discard":
        processor = BatchSpanProcessor(Discard())
    app = create_app(settings, span_processor=processor)
    tune_gc(settings.gc_threshold)
    return app


class Discard(SpanExporter):
    """Spans encoded as the OTLP exporter encodes them for a collector, then dropped."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        encode_spans(spans).SerializeToString()
        return SpanExportResult.SUCCESS


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--page", choices=[p.name for p in PAGES])
    parser.add_argument(
        "--side", choices=["picotask", "bare", "traced", "off"], help="load one side only"
    )
    parser.add_argument("--load", choices=["python", "wrk"], default="python")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating picotask and bare")
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    parser.add_argument(
        "--tracing", action="store_true", help="picotask traced vs untraced, not vs bare"
    )
    parser.add_argument(
        "--trace-ratio", type=float, default=1.0, help="with --tracing: of requests sampled"
    )
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="also picotask with PICOTASK_METRICS on (a third server), for the on/off ratio",
    )
    parser.add_argument("--min-ratio", type=float, help="exit 1 if tasks is below this ratio")
    args = parser.parse_args()
    if args.tracing and args.metrics:
        parser.error("--tracing and --metrics: one at a time (each compares picotask with itself)")
    if args.quick:
        args.seconds, args.warmup, args.rounds = 2.0, 0.5, 1
    if args.load == "wrk" and shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk), or use --load python")
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if args.backend == "all" and not postgres_reachable():
        print(f"PostgreSQL at {POSTGRES_URL} does not answer: SQLite only")
        backends = ["sqlite"]
    print(
        f"{args.load} load, {args.connections} connections, {args.seconds:g} s after "
        f"{args.warmup:g} s warm-up, {args.rounds} round(s); document "
        f"{hashlib.sha256(TASKS.encode()).hexdigest()[:8]}"
    )
    results: list[Measured] = []
    for backend in backends:
        results += await run_backend(backend, args)
    report(results, ("traced", "off") if args.tracing else ("picotask", "bare"))
    if args.min_ratio is not None:
        low = [m for m in results if m.page == "tasks" and m.ratio < args.min_ratio]
        if low:
            raise SystemExit(f"tasks below {args.min_ratio}x: {[m.backend for m in low]}")


if __name__ == "__main__":
    asyncio.run(main())
