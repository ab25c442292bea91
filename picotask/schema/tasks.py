"""Tasks as the API shows them, with their inputs and payloads.

Just over ~300 lines: one domain's types, inputs and payloads, as every `schema/` module holds.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry

from picotask.models.submissions import SubmissionStatus
from picotask.models.tasks import ProofKind, Task, TaskCategory, TaskStatus
from picotask.models.users import User
from picotask.schema.batch_types import BatchType
from picotask.schema.context import Info
from picotask.schema.errors import Forbidden, UserError, refusals_as_errors
from picotask.schema.feeds import FeedConnection, feed_cursor
from picotask.schema.groups import QualificationType, qualification_of
from picotask.schema.loaders import ChildPageKey
from picotask.schema.money import Money
from picotask.schema.prefetch import PREFETCHED, loaded
from picotask.schema.quality import GoldItemType, ReviewPolicyType
from picotask.schema.relay import Node, to_global_id
from picotask.schema.users import UserType
from picotask.services.core.pagination import check_first, decode_cursor
from picotask.services.targeting.groups import group_ids
from picotask.services.work.tasks import slots_remaining
from picotask.services.work.transitions import can_review

if TYPE_CHECKING:  # Task and Submission refer to each other: the way back is lazy
    from picotask.schema.submissions import SubmissionConnection

strawberry.enum(TaskCategory, name="TaskCategory")
strawberry.enum(TaskStatus, name="TaskStatus")
strawberry.enum(ProofKind, name="ProofKind")


@strawberry.enum
class TaskOrder(Enum):
    NEWEST = "NEWEST"
    HIGHEST_REWARD = "HIGHEST_REWARD"
    BEST_PAY_PER_MINUTE = "BEST_PAY_PER_MINUTE"


@strawberry.type
class ProofField:
    label: str
    kind: ProofKind
    required: bool


@strawberry.type
class RequiredQualification:
    min_score: int
    qualification_id: strawberry.Private[int]

    @strawberry.field
    async def qualification(self, info: Info) -> QualificationType:
        return await qualification_of(info, self.qualification_id)


@strawberry.type
class Targeting:
    countries: list[str] = strawberry.field(description="ISO codes; empty means everywhere.")
    min_approval_rate: float | None
    min_approved_count: int | None
    hire_group_ids: list[strawberry.ID] = strawberry.field(
        description="Private work: only these hire groups' members see and take it."
    )
    required_qualifications: list[RequiredQualification] = strawberry.field(
        description="Every one a worker must hold, at least at its score."
    )


def proof_fields_of(task: Task) -> list[ProofField]:
    return [
        ProofField(label=f["label"], kind=ProofKind(f["kind"]), required=f["required"])
        for f in task.proof_fields
    ]


def targeting_of(task: Task) -> Targeting:
    return Targeting(
        countries=[c for c in task.target_countries.split(",") if c],
        min_approval_rate=task.min_approval_rate,
        min_approved_count=task.min_approved_count,
        hire_group_ids=[to_global_id("HireGroup", pk) for pk in group_ids(task.target_groups)],
        required_qualifications=[
            RequiredQualification(min_score=r["min_score"], qualification_id=r["id"])
            for r in task.required_qualifications
        ],
    )


@strawberry.type(name="Task")
class TaskType(Node):
    title: str
    instructions: str = strawberry.field(description="Markdown.")
    category: TaskCategory
    status: TaskStatus
    reward: Money = strawberry.field(description="Paid to the worker for each approved slot.")
    # Built only when asked for (a page of tasks rarely shows them), from the model.
    fee: Money = strawberry.field(
        resolver=lambda root: Money.of(root.model.fee, root.currency),
        graphql_type=Money,
        description="Charged to the employer on top, per slot.",
    )
    slots: int
    slots_remaining: int
    estimated_minutes: int
    claim_timeout_seconds: int
    review_window_seconds: int
    expires_at: datetime | None
    proof_fields: list[ProofField] = strawberry.field(
        resolver=lambda root: proof_fields_of(root.model), graphql_type=list[ProofField]
    )
    targeting: Targeting = strawberry.field(
        resolver=lambda root: targeting_of(root.model), graphql_type=Targeting
    )
    created_at: datetime
    published_at: datetime | None
    closed_at: datetime | None
    batch: BatchType | None = strawberry.field(
        resolver=lambda root: BatchType.of_task(root.model),
        graphql_type=BatchType | None,
        description="Set when the task is a batch: its items' columns and progress.",
    )
    model: strawberry.Private[Task]
    currency: strawberry.Private[str]
    # Set by a list resolver that loaded the page's employers in one batch (read as a plain
    # field then, `server/execution.py`); unset, `employer` loads it.
    employer_view: strawberry.Private[UserType | None] = None

    @strawberry.field(graphql_type=UserType, metadata={PREFETCHED: "employer_view"})
    def employer(self, info: Info) -> UserType | Awaitable[UserType]:
        """At once when the list resolver prefetched the employers (`schema/prefetch.py`)."""
        return loaded(info.context.loaders.user_by_id, self.model.employer_id, employer_of)

    @strawberry.field(
        description="Items with expected answers (gold); the task's employer only, null for "
        "everyone else."
    )
    async def gold_items(self, info: Info) -> list[GoldItemType] | None:
        viewer = info.context.viewer
        if not can_review(self.model, viewer.id if viewer else None):
            return None
        items = await info.context.loaders.gold_items_by_task.load(self.model.id)
        return [GoldItemType.from_model(item) for item in items]

    @strawberry.field(description="How proof is reviewed automatically; its employer only.")
    async def review_policy(self, info: Info) -> ReviewPolicyType | None:
        viewer = info.context.viewer
        if not can_review(self.model, viewer.id if viewer else None):
            return None
        policy = await info.context.loaders.review_policy_by_task.load(self.model.id)
        return ReviewPolicyType.from_model(policy) if policy else None

    @strawberry.field(description="The task's submissions, newest first; its employer only.")
    async def submissions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: list[SubmissionStatus] | None = None,
    ) -> Annotated[SubmissionConnection, strawberry.lazy("picotask.schema.submissions")]:
        # The way back to submissions is lazy (see the top of the module).
        from picotask.schema.submissions import SubmissionConnection, SubmissionType

        viewer = info.context.require_viewer()
        if not can_review(self.model, viewer.id):
            raise Forbidden("Only the task's employer may list its submissions.")
        cursor = feed_cursor(info)
        with refusals_as_errors():
            size = check_first(first)
            before_id = None if after is None else int(decode_cursor(after, [False])[0])
        # Batched: every task of a list shares the same few queries.
        statuses = tuple(sorted({s.value for s in status or ()}))
        key = ChildPageKey(self.model.id, size, before_id, statuses)
        page = await info.context.loaders.submission_page_by_task.load(key)
        return SubmissionConnection.of(page, SubmissionType.from_model, feed_cursor=cursor)

    @classmethod
    def from_model(cls, task: Task, currency: str) -> TaskType:
        return cls(
            id=to_global_id("Task", task.id),
            title=task.title,
            instructions=task.instructions,
            category=task.category,
            status=task.status,
            reward=Money.of(task.reward, currency),
            slots=task.slots,
            slots_remaining=slots_remaining(task),
            estimated_minutes=task.estimated_minutes,
            claim_timeout_seconds=task.claim_timeout_seconds,
            review_window_seconds=task.review_window_seconds,
            expires_at=task.expires_at,
            created_at=task.created_at,
            published_at=task.published_at,
            closed_at=task.closed_at,
            model=task,
            currency=currency,
        )


def employer_of(user: User | None) -> UserType:
    assert user is not None  # a task's employer is never deleted (RESTRICT)
    return UserType.from_model(user)


@strawberry.type(name="TaskConnection")
class TaskConnection(FeedConnection[TaskType]):
    """Named, so the schema says TaskConnection (not TaskTypeFeedConnection)."""


@strawberry.input
class ProofFieldInput:
    label: str
    kind: ProofKind
    required: bool = True


@strawberry.input
class RequiredQualificationInput:
    qualification_id: strawberry.ID
    min_score: int = strawberry.field(default=0, description="0 to 100.")


@strawberry.input
class TargetingInput:
    countries: list[str] | None = None
    min_approval_rate: float | None = strawberry.field(default=None, description="0 to 1.")
    min_approved_count: int | None = None
    hire_group_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Private work for your hire groups' members only."
    )
    required_qualifications: list[RequiredQualificationInput] | None = None


@strawberry.input
class ExpectedAnswerInput:
    label: str
    value: str


@strawberry.input
class QualificationTestInput:
    qualification_id: strawberry.ID
    expected_answers: list[ExpectedAnswerInput] = strawberry.field(
        description="Never shown to workers; the share a worker matches is their score."
    )


@strawberry.input
class CreateTaskInput:
    title: str
    instructions: str
    category: TaskCategory
    reward: Decimal
    slots: int
    estimated_minutes: int
    proof_fields: list[ProofFieldInput]
    claim_timeout_seconds: int | None = None
    review_window_seconds: int | None = None
    expires_at: datetime | None = None
    targeting: TargetingInput | None = None
    qualification_test: QualificationTestInput | None = strawberry.field(
        default=None,
        description="Make this task a test: submitted proof grants the qualification.",
    )
    publish: bool = strawberry.field(
        default=True, description="Fund escrow and open the task now; false keeps a DRAFT."
    )


@strawberry.input(name="TaskFilter")
class TaskFilterInput:
    categories: list[TaskCategory] | None = None
    min_reward: Decimal | None = None
    search: str | None = None


@strawberry.input
class TaskActionInput:
    task_id: strawberry.ID


@strawberry.input
class AddSlotsInput:
    task_id: strawberry.ID
    count: int


@strawberry.type
class CreateTaskPayload:
    task: TaskType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TaskActionPayload:
    task: TaskType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
