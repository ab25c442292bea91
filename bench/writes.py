"""Write benchmark: whole jobs (a worker claims a task, submits a text proof, the employer
approves) per second and the p99 of each mutation, over GraphQL on one and two instances, next
to the same service calls made in-process without HTTP or GraphQL (the floor), in the same run
on the same database; the money is checked at the end.

    python -m bench.writes                       # SQLite, then PostgreSQL + Redis if reachable
    python -m bench.writes --backend postgres --in-flight 8 32 --seconds 10
    python -m bench.writes --quick               # CI (make bench-quick): a short run, money checked

A database is seeded once over the API (employers who deposit and post tasks, workers); then
each phase runs `--in-flight` job loops for `--seconds` after a warm-up: the floor (this
process calling `SubmissionService.claim/submit/approve`, the whole of what the three mutations
do below GraphQL), then picotask with one instance, then (PostgreSQL + Redis only: SQLite with
the memory bus is one process) with two instances, the loops spread over them. Each loop has
workers of its own, so a worker never has two claims in flight; no (worker, task) pair is used
twice. At the end: `check-ledger`'s audit is clean, every worker's balance is exactly the
reward of their approved jobs, and the approved submissions are exactly the jobs the loops saw
succeed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from bench.http import (
    CLAIM,
    CREATE,
    DEPOSIT,
    REDIS_URL,
    SIGN_UP,
    SUBMIT,
    Seeder,
    database,
    free_port,
    postgres_reachable,
    server,
    server_env,
)

APPROVE = (
    "mutation($i: ApproveSubmissionInput!) { approveSubmission(input: $i) { submission { id } "
    "userErrors { message } } }"
)
WALLET = "{ me { wallet { available { amount } } } }"
REWARD = Decimal("0.05")
MUTATIONS = ("claim", "submit", "approve")
Mutate = Callable[[str, dict[str, Any], str], Awaitable[dict[str, Any]]]


@dataclass
class Phase:
    name: str
    jobs: int = 0  # completed in the measured window
    all_jobs: int = 0  # completed at all (warm-up included): what the money check counts
    failures: int = 0
    seconds: float = 0.0
    latencies_ms: dict[str, list[float]] = field(
        default_factory=lambda: {m: [] for m in (*MUTATIONS, "job")}
    )

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0

    def p(self, mutation: str, q: float) -> float:
        ordered = sorted(self.latencies_ms[mutation]) or [0.0]
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def job_p99(self) -> float:
        return self.p("job", 0.99)


@dataclass
class World:
    """What was seeded: tokens and ids, and which (worker, task) pairs each worker has used."""

    employers: list[tuple[str, str]]  # (email, token)
    workers: list[tuple[str, str]]
    tasks: list[tuple[str, int]]  # (GraphQL id, index of its employer)
    task_titles: list[str]
    next_task: list[int] = field(default_factory=list)  # per worker: the next task to claim


# Seeding, over the API.


async def seed(port: int, employers: int, workers: int, tasks: int, tag: str) -> World:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        gql = Seeder(http).gql

        async def account(name: str) -> tuple[str, str]:
            email = f"{name}-{tag}@bench.example"
            signed = await gql(
                SIGN_UP,
                {
                    "i": {
                        "email": email,
                        "password": f"bench {tag} {name} password",
                        "displayName": name.replace("-", " ").title(),
                        "country": "US",
                    }
                },
            )
            return email, str(signed["token"])

        bosses = [await account(f"employer-{n}") for n in range(employers)]
        # Every slot of every task is escrowed up front: reward and fee, with room to spare.
        per_boss = (REWARD * 2 * workers * tasks / employers).quantize(Decimal("0.01")) + 10
        for _, token in bosses:
            await gql(DEPOSIT, {"i": {"amount": str(per_boss)}}, token)
        created: list[tuple[str, int]] = []
        titles = []
        for n in range(tasks):
            boss = n % employers
            title = f"Write bench {tag} task {n}: sign up and tell us your username"
            task = await gql(
                CREATE,
                {
                    "i": {
                        "title": title,
                        "instructions": "Sign up on the page and say who you are.",
                        "category": "SIGN_UP",
                        "reward": str(REWARD),
                        "slots": workers,
                        "estimatedMinutes": 2,
                        "proofFields": [{"label": "Username", "kind": "TEXT"}],
                    }
                },
                bosses[boss][1],
            )
            created.append((str(task["task"]["id"]), boss))
            titles.append(title)
        people = [await account(f"worker-{n}") for n in range(workers)]
    return World(bosses, people, created, titles, next_task=[0] * workers)


# The job loops: the same for every phase, given how a mutation is sent.


async def run_phase(
    phase: Phase,
    world: World,
    in_flight: int,
    seconds: float,
    warmup: float,
    mutator: Callable[[int], Mutate],
) -> None:
    """`in_flight` loops, loop i with the workers w ≡ i (mod in_flight) and `mutator(i)`.
    Each mutator answers as the API does: a claim's submission is `{"submission": {"id"}}`."""
    start = time.perf_counter() + warmup
    stop = start + seconds

    async def loop(i: int) -> None:
        mutate = mutator(i)
        mine = list(range(i, len(world.workers), in_flight))
        turn = 0
        while mine and time.perf_counter() < stop:
            w = mine[turn % len(mine)]
            turn += 1
            if world.next_task[w] >= len(world.tasks):
                mine.remove(w)
                continue
            task_id, boss = world.tasks[world.next_task[w]]
            world.next_task[w] += 1
            worker_token, employer_token = world.workers[w][1], world.employers[boss][1]
            began = time.perf_counter()
            times = []
            try:
                t = time.perf_counter()
                claimed = await mutate("claim", {"taskId": task_id}, worker_token)
                times.append(time.perf_counter() - t)
                sid = claimed["submission"]["id"]
                t = time.perf_counter()
                answers = [{"label": "Username", "value": f"worker{w}"}]
                await mutate("submit", {"submissionId": sid, "answers": answers}, worker_token)
                times.append(time.perf_counter() - t)
                t = time.perf_counter()
                await mutate("approve", {"submissionId": sid}, employer_token)
                times.append(time.perf_counter() - t)
            except Refused as refused:
                phase.failures += 1
                print(f"  refused: {refused}", file=sys.stderr)
                continue
            phase.all_jobs += 1
            if began >= start and time.perf_counter() <= stop:
                phase.jobs += 1
                for name, took in zip(MUTATIONS, times, strict=True):
                    phase.latencies_ms[name].append(took * 1000)
                phase.latencies_ms["job"].append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(loop(i) for i in range(in_flight)))
    phase.seconds = seconds


class Refused(Exception):
    pass


# Over HTTP: keep-alive connections on raw sockets (a Python HTTP client would take a core).

QUERIES = {"claim": CLAIM, "submit": SUBMIT, "approve": APPROVE}


def http_mutator(port: int) -> Mutate:
    connection: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def mutate(name: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
        if not connection:
            connection.append(await asyncio.open_connection("127.0.0.1", port))
        reader, writer = connection[0]
        body = json.dumps({"query": QUERIES[name], "variables": {"i": variables}}).encode()
        writer.write(
            (
                f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        answer = json.loads(await reader.readexactly(length))
        if answer.get("errors"):
            raise Refused(f"{name}: {answer['errors']}")
        payload: dict[str, Any] = next(iter(answer["data"].values()))
        if payload.get("userErrors"):
            raise Refused(f"{name}: {payload['userErrors']}")
        return payload

    return mutate


# In-process: the services, without HTTP or GraphQL (the floor).


async def floor_phase(url: str, world: World, env: dict[str, str], **run: Any) -> Phase:
    from tortoise import Tortoise

    from picotask.models.tasks import Task
    from picotask.models.users import User
    from picotask.server import db
    from picotask.services.core.clock import SystemClock
    from picotask.services.core.errors import DomainError
    from picotask.services.registry import Services
    from picotask.services.work.proofs import Answer
    from picotask.settings import Settings

    settings = Settings.from_env(env)
    await Tortoise.init(config=db.tortoise_config(url))
    try:
        services = Services.build(settings, SystemClock())
        emails = [e for e, _ in world.employers] + [e for e, _ in world.workers]
        users = {u.email: u for u in await User.filter(email__in=emails)}
        task_ids = {t.title: t.id for t in await Task.filter(title__in=world.task_titles)}
        # The floor's "tokens" are the users themselves, its task ids the database's.
        floor_world = World(
            [(e, e) for e, _ in world.employers],
            [(e, e) for e, _ in world.workers],
            [
                (str(task_ids[t]), boss)
                for t, (_, boss) in zip(world.task_titles, world.tasks, strict=True)
            ],
            world.task_titles,
            next_task=world.next_task,
        )

        async def mutate(name: str, variables: dict[str, Any], who: str) -> dict[str, Any]:
            user = users[who]
            try:
                if name == "claim":
                    claimed = await services.submissions.claim(user, int(variables["taskId"]))
                    return {"submission": {"id": claimed.id}}
                if name == "submit":
                    answers = [Answer(a["label"], a["value"]) for a in variables["answers"]]
                    await services.submissions.submit(user, variables["submissionId"], answers)
                else:
                    await services.submissions.approve(user, variables["submissionId"], None)
            except DomainError as refused:
                raise Refused(f"{name}: {refused}") from refused
            return {}

        phase = Phase("floor (services in-process)")
        await run_phase(
            phase,
            floor_world,
            mutator=lambda i: mutate,
            **run,
        )
        return phase
    finally:
        await Tortoise.close_connections()


# The run.


async def check_money(url: str, world: World, ports: list[int], jobs: int) -> str:
    """The audit is clean, each worker holds exactly the rewards of their approved jobs, and
    the approved submissions are the jobs the loops completed (warm-ups included)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[0]}", timeout=60) as http:
        gql = Seeder(http).gql
        held = [
            Decimal((await gql(WALLET, {}, token))["wallet"]["available"]["amount"])
            for _, token in world.workers
        ]
    audit = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "picotask.server.cli",
        "check-ledger",
        env={**os.environ, **server_env(url, "memory://", 0)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    said = (await audit.communicate())[0].decode()
    expected = REWARD * jobs
    problems = []
    if audit.returncode != 0:
        problems.append(f"check-ledger: {said}")
    if sum(held) != expected:
        problems.append(f"workers hold {sum(held)}, their approved jobs earned {expected}")
    if problems:
        raise SystemExit("money is wrong:\n" + "\n".join(problems))
    return f"money exact: {jobs} jobs, workers hold {sum(held)}, check-ledger OK"


async def run_backend(backend: str, args: argparse.Namespace) -> list[tuple[int, Phase]]:
    folder = tempfile.mkdtemp(prefix="picotask-bench-")
    broadcast = REDIS_URL if backend == "postgres" else "memory://"
    instances = [1, 2] if backend == "postgres" else [1]
    results: list[tuple[int, Phase]] = []
    async with database(backend, folder) as url:
        ports = [free_port() for _ in range(max(instances))]
        env = server_env(url, broadcast, ports[0])  # one Redis prefix for every instance
        envs = [{**env, "PICOTASK_PORT": str(port)} for port in ports]
        argv = [sys.executable, "-m", "picotask.server.cli", "serve"]
        phases = len(args.in_flight) * (1 + len(instances))
        window = args.seconds + args.warmup
        # Enough pairs for the fastest phase to never run out: ~3,000 jobs/s at most.
        tasks = max(20, int(phases * window * 3000 / args.workers))
        async with server(argv, ports[0], envs[0]):
            world = await seed(ports[0], args.employers, args.workers, tasks, backend)
        run = {"seconds": args.seconds, "warmup": args.warmup}
        jobs = 0
        for in_flight in args.in_flight:
            floor = await floor_phase(url, world, env, in_flight=in_flight, **run)
            jobs += floor.all_jobs
            results.append((in_flight, floor))
            show(backend, in_flight, floor, floor)
            for n in instances:
                async with contextlib.AsyncExitStack() as stack:
                    for port, instance_env in zip(ports[:n], envs[:n], strict=False):
                        await stack.enter_async_context(server(argv, port, instance_env))
                    phase = Phase(f"picotask, {n} instance{'s' if n > 1 else ''}")
                    serving = ports[:n]

                    def mutator(i: int, serving: list[int] = serving) -> Mutate:
                        return http_mutator(serving[i % len(serving)])

                    await run_phase(phase, world, in_flight, mutator=mutator, **run)
                    jobs += phase.all_jobs
                    results.append((in_flight, phase))
                    show(backend, in_flight, phase, floor)
        async with server(argv, ports[0], envs[0]):
            print(f"  {backend}: {await check_money(url, world, ports[:1], jobs)}", flush=True)
    return results


def show(backend: str, in_flight: int, phase: Phase, floor: Phase) -> None:
    ratio = phase.rate / max(floor.rate, 1e-9)
    p99 = " ".join(f"{m} {phase.p(m, 0.99):6.1f}" for m in MUTATIONS)
    print(
        f"  {backend:8} {in_flight:3} in flight  {phase.name:28} {phase.rate:7.1f} jobs/s "
        f"{ratio:5.2f}x floor  p99 ms: {p99}  job {phase.job_p99():6.1f}"
        + (f"  ({phase.failures} refused)" if phase.failures else ""),
        flush=True,
    )
    if phase.failures:
        raise SystemExit(f"{backend} {phase.name}: {phase.failures} jobs refused")


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--employers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="a short run (CI)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warmup, args.in_flight = 2.0, 0.5, [8]
    args.workers = max(args.workers, max(args.in_flight))
    backends = ["sqlite", "postgres"] if args.backend == "all" else [args.backend]
    if args.backend == "all" and not postgres_reachable():
        print("PostgreSQL does not answer: SQLite only")
        backends = ["sqlite"]
    print(
        f"whole jobs (claim, submit, approve), {args.seconds:g} s after {args.warmup:g} s "
        f"warm-up, {args.employers} employers, {args.workers} workers"
    )
    table: list[tuple[str, int, Phase, Phase]] = []
    for backend in backends:
        # Each backend in its own process: tortoise keeps per-model SQL for one dialect.
        if len(backends) > 1:
            child = [
                sys.executable,
                "-m",
                "bench.writes",
                "--backend",
                backend,
                "--seconds",
                str(args.seconds),
                "--warmup",
                str(args.warmup),
                "--employers",
                str(args.employers),
                "--workers",
                str(args.workers),
                "--in-flight",
                *map(str, args.in_flight),
            ]
            process = await asyncio.create_subprocess_exec(*child)
            if await process.wait():
                raise SystemExit(f"{backend}: failed")
            continue
        results = await run_backend(backend, args)
        floor = results[0][1]
        for in_flight, phase in results:
            if phase.name.startswith("floor"):
                floor = phase
            table.append((backend, in_flight, phase, floor))
    if table:
        print()
        print(
            "| backend | in flight | side | jobs/s | vs floor | p99 claim / submit / approve ms "
            "| p99 job ms |"
        )
        print("|---|---|---|---|---|---|---|")
        for backend, in_flight, phase, floor in table:
            print(
                f"| {backend} | {in_flight} | {phase.name} | {phase.rate:.1f} | "
                f"{phase.rate / max(floor.rate, 1e-9):.2f}x | "
                + " / ".join(f"{phase.p(m, 0.99):.0f}" for m in MUTATIONS)
                + f" | {phase.job_p99():.0f} |"
            )


if __name__ == "__main__":
    asyncio.run(main())
