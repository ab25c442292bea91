"""A scripted day of marketplace work through the API, for the statement and dashboard tests.

One employer posts two tasks; four workers claim, submit, get approved, rejected (a dispute
overturned, one upheld), sent back for a revision, given a bonus; a slot is released, a claim
expires, a task is cancelled with work in flight; the next day a worker withdraws, the payout
provider refuses the first payout and pays the second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from picotask.models.users import User as UserModel
from picotask.services.payments.providers import SandboxPayoutProvider
from tests.support import Api, User

DAY_START_HOURS = 9
STEP_SECONDS = 600  # well inside every claim timeout and review window

GQL = {
    "deposit": """mutation($a: Decimal!) { createDeposit(input: {amount: $a}) {
        userErrors { code message } } }""",
    "task": """mutation($input: CreateTaskInput!) { createTask(input: $input) {
        task { id } userErrors { code message } } }""",
    "claim": """mutation($id: ID!) { claimTask(input: {taskId: $id}) {
        submission { id } userErrors { code message } } }""",
    "submit": """mutation($id: ID!) { submitProof(input: {submissionId: $id,
        answers: [{label: "Code", value: "done"}]}) { userErrors { code message } } }""",
    "approve": """mutation($id: ID!) { approveSubmission(input: {submissionId: $id}) {
        userErrors { code message } } }""",
    "reject": """mutation($id: ID!) { rejectSubmission(input: {submissionId: $id,
        reason: WRONG_PROOF, comment: "Not the code"}) { userErrors { code message } } }""",
    "revise": """mutation($id: ID!) { requestRevision(input: {submissionId: $id,
        comment: "Add the code"}) { userErrors { code message } } }""",
    "dispute": """mutation($id: ID!) { disputeRejection(input: {submissionId: $id,
        statement: "It is the code"}) { userErrors { code message } } }""",
    "resolve": """mutation($id: ID!, $r: DisputeResolution!) { resolveDispute(input:
        {submissionId: $id, resolution: $r}) { userErrors { code message } } }""",
    "bonus": """mutation($id: ID!) { sendBonus(input: {submissionId: $id, amount: "0.25",
        reason: "Quick and right"}) { userErrors { code message } } }""",
    "release": """mutation($id: ID!) { releaseClaim(input: {submissionId: $id}) {
        userErrors { code message } } }""",
    "cancel": """mutation($id: ID!) { cancelTask(input: {taskId: $id}) {
        userErrors { code message } } }""",
    "payout": """mutation($a: Decimal!) { requestPayout(input: {amount: $a, method: PAYPAL,
        destination: "worker@example.com"}) { userErrors { code message } } }""",
}


def task_input(title: str, reward: str, slots: int, **more: Any) -> dict[str, Any]:
    return {
        "input": {
            "title": title,
            "instructions": "Do it and paste the code.",
            "category": "DATA_ENTRY",
            "reward": reward,
            "slots": slots,
            "estimatedMinutes": 5,
            "proofFields": [{"label": "Code", "kind": "TEXT"}],
            **more,
        }
    }


@dataclass
class Workday:
    boss: User
    workers: list[User]  # w1..w4
    admin: User
    task_a: str = ""
    task_b: str = ""
    submissions: dict[str, str] = field(default_factory=dict)  # "w1@A" -> id

    # What each statement must hold, oldest first: (kind, amount, fee).
    @property
    def expected(self) -> dict[str, list[tuple[str, str, str | None]]]:
        return {
            "boss": [
                ("DEPOSIT", "30.00", None),
                ("ESCROW_FUNDED", "-4.40", "-0.40"),
                ("ESCROW_FUNDED", "-1.10", "-0.10"),
                ("DISPUTE_UPHELD", "1.10", "0.10"),
                ("BONUS_SENT", "-0.25", None),
                ("ESCROW_REFUNDED", "0.55", "0.05"),
            ],
            "w1": [
                ("EARNED", "1.00", None),
                ("DEPOSIT", "5.00", None),
                ("PAYOUT_REQUESTED", "-5.00", None),
                ("PAYOUT_RETURNED", "5.00", None),
                ("PAYOUT_REQUESTED", "-6.00", None),
                ("PAYOUT_PAID", "0.00", None),
            ],
            "w2": [("DISPUTE_OVERTURNED", "1.00", None)],
            "w3": [],
            "w4": [("EARNED", "1.00", None), ("BONUS_RECEIVED", "0.25", None)],
        }

    # Every change of a submission, in order: (task, worker, kind on the employer's stream).
    CHANGES = (
        *[("A", "w1", k) for k in ("CLAIMED", "SUBMITTED", "APPROVED")],
        *[("A", "w2", k) for k in ("CLAIMED", "SUBMITTED", "REJECTED", "DISPUTED", "APPROVED")],
        *[
            ("A", "w3", k)
            for k in ("CLAIMED", "SUBMITTED", "REJECTED", "DISPUTED", "DISPUTE_UPHELD")
        ],
        *[
            ("A", "w4", k)
            for k in ("CLAIMED", "SUBMITTED", "REVISION_REQUESTED", "RESUBMITTED", "APPROVED")
        ],
        *[("B", "w1", k) for k in ("CLAIMED", "RETURNED")],
        *[("B", "w2", k) for k in ("CLAIMED", "EXPIRED")],
        *[("B", "w3", k) for k in ("CLAIMED", "SUBMITTED")],
    )

    def user(self, name: str) -> User:
        return self.boss if name == "boss" else self.workers[int(name[1]) - 1]


async def people(api: Api) -> Workday:
    boss = await api.sign_up(display_name="Boss")
    workers = [await api.sign_up(display_name=f"Worker {i}") for i in range(1, 5)]
    admin = await api.sign_up(display_name="Moderator")
    await UserModel.filter(email=admin.email).update(is_admin=True)
    return Workday(boss, workers, admin)


class Script:
    def __init__(self, api: Api, day: Workday) -> None:
        self.api = api
        self.day = day

    async def do(self, name: str, who: User, **variables: Any) -> dict[str, Any]:
        """One mutation, a step later than the one before; it must succeed."""
        self.api.clock.advance(STEP_SECONDS)
        data = await self.api.gql(GQL[name], variables, who.token)
        payload: dict[str, Any] = next(iter(data.values()))
        assert payload["userErrors"] == [], (name, payload)
        return payload

    async def claim(self, worker: int, task: str, label: str) -> str:
        who = self.day.workers[worker - 1]
        sid: str = (await self.do("claim", who, id=task))["submission"]["id"]
        self.day.submissions[f"w{worker}@{label}"] = sid
        return sid

    async def work(self, worker: int, task: str, label: str) -> str:
        sid = await self.claim(worker, task, label)
        await self.do("submit", self.day.workers[worker - 1], id=sid)
        return sid


async def run(api: Api, day: Workday) -> None:
    """The whole day; `day.expected` says what it leaves on each statement."""
    await post_tasks(api, day)
    await work(api, day)


async def post_tasks(api: Api, day: Workday) -> None:
    s = Script(api, day)
    boss = day.boss
    api.clock.advance(DAY_START_HOURS * 3600)
    await s.do("deposit", boss, a="30.00")
    day.task_a = (await s.do("task", boss, **task_input("Task A", "1.00", 4)))["task"]["id"]
    b = task_input("Task B", "0.50", 2, claimTimeoutSeconds=60 * 30)
    day.task_b = (await s.do("task", boss, **b))["task"]["id"]


async def work(api: Api, day: Workday) -> None:
    """Every change of a submission of the day, and the payouts."""
    s = Script(api, day)
    boss, admin = day.boss, day.admin
    w1, _, _, w4 = day.workers
    a_id, b_id = day.task_a, day.task_b
    await s.do("approve", boss, id=await s.work(1, a_id, "A"))
    # Rejected, disputed, overturned: paid from the held money.
    sid = await s.work(2, a_id, "A")
    await s.do("reject", boss, id=sid)
    await s.do("dispute", day.workers[1], id=sid)
    await s.do("resolve", admin, id=sid, r="OVERTURNED")
    # Rejected, disputed, upheld: reward + fee back to the employer.
    sid = await s.work(3, a_id, "A")
    await s.do("reject", boss, id=sid)
    await s.do("dispute", day.workers[2], id=sid)
    await s.do("resolve", admin, id=sid, r="UPHELD")
    # Sent back for a revision, resubmitted, approved, and a bonus.
    sid = await s.work(4, a_id, "A")
    await s.do("revise", boss, id=sid)
    await s.do("submit", w4, id=sid)
    await s.do("approve", boss, id=sid)
    await s.do("bonus", boss, id=sid)

    # Task B: a slot released, a claim that expires, work in flight when it is cancelled.
    await s.do("release", w1, id=await s.claim(1, b_id, "B"))
    await s.claim(2, b_id, "B")
    api.clock.advance(31 * 60)
    await api.services.sweeper.sweep()
    await s.work(3, b_id, "B")
    await s.do("cancel", boss, id=b_id)

    # The next day: a withdrawal the provider refuses (the money comes back), then one it pays.
    api.clock.advance(16 * 3600)
    await s.do("deposit", w1, a="5.00")
    provider = api.services.providers.payouts
    assert isinstance(provider, SandboxPayoutProvider)
    provider.fail = True
    await s.do("payout", w1, a="5.00")
    assert await api.services.payout_processor.process_due() == 1
    provider.fail = False
    await s.do("payout", w1, a="6.00")
    assert await api.services.payout_processor.process_due() == 1
