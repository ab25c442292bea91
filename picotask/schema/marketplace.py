"""Tasks and submissions as the API shows them, with their inputs and payloads."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum

import strawberry

from picotask.models.marketplace import (
    DisputeResolution,
    ProofKind,
    RejectionReason,
    Submission,
    SubmissionStatus,
    Task,
    TaskCategory,
    TaskStatus,
)
from picotask.resolvers.context import Info
from picotask.resolvers.pages import connection
from picotask.schema.errors import Forbidden, UserError
from picotask.schema.relay import Connection, Node, to_global_id
from picotask.schema.users import UserType
from picotask.schema.wallet import Money

TaskCategoryEnum = strawberry.enum(TaskCategory, name="TaskCategory")
TaskStatusEnum = strawberry.enum(TaskStatus, name="TaskStatus")
ProofKindEnum = strawberry.enum(ProofKind, name="ProofKind")
SubmissionStatusEnum = strawberry.enum(SubmissionStatus, name="SubmissionStatus")
RejectionReasonEnum = strawberry.enum(RejectionReason, name="RejectionReason")
DisputeResolutionEnum = strawberry.enum(DisputeResolution, name="DisputeResolution")


@strawberry.enum
class TaskOrder(Enum):
    NEWEST = "NEWEST"
    HIGHEST_REWARD = "HIGHEST_REWARD"
    BEST_PAY_PER_MINUTE = "BEST_PAY_PER_MINUTE"


@strawberry.type
class ProofField:
    label: str
    kind: ProofKindEnum  # type: ignore[valid-type]  # strawberry.enum returns the class
    required: bool


@strawberry.type
class ProofAnswer:
    label: str
    value: str


@strawberry.type
class Targeting:
    countries: list[str] = strawberry.field(description="ISO codes; empty means everywhere.")
    min_approval_rate: float | None
    min_approved_count: int | None


@strawberry.type(name="Task")
class TaskType(Node):
    title: str
    instructions: str = strawberry.field(description="Markdown.")
    category: TaskCategoryEnum  # type: ignore[valid-type]  # strawberry.enum returns the class
    status: TaskStatusEnum  # type: ignore[valid-type]  # strawberry.enum returns the class
    reward: Money = strawberry.field(description="Paid to the worker for each approved slot.")
    fee: Money = strawberry.field(description="Charged to the employer on top, per slot.")
    slots: int
    slots_remaining: int
    estimated_minutes: int
    claim_timeout_seconds: int
    review_window_seconds: int
    expires_at: datetime | None
    proof_fields: list[ProofField]
    targeting: Targeting
    created_at: datetime
    published_at: datetime | None
    closed_at: datetime | None
    model: strawberry.Private[Task]

    @strawberry.field
    async def employer(self, info: Info) -> UserType:
        user = await info.context.loaders.user_by_id.load(self.model.employer_id)
        assert user is not None  # a task's employer is never deleted (RESTRICT)
        return UserType.from_model(user)

    @strawberry.field(description="The task's submissions, newest first; its employer only.")
    async def submissions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: list[SubmissionStatusEnum] | None = None,  # type: ignore[valid-type]  # enum class
    ) -> Connection[SubmissionType]:
        viewer = info.context.require_viewer()
        if viewer.id != self.model.employer_id:
            raise Forbidden("Only the task's employer may list its submissions.")
        query = Submission.filter(task_id=self.model.id)
        if status:
            query = query.filter(status__in=status)
        return await connection(query, SubmissionType.from_model, first, after)

    @classmethod
    def from_model(cls, task: Task, currency: str) -> TaskType:
        live = task.status in (TaskStatus.OPEN, TaskStatus.PAUSED)
        return cls(
            id=to_global_id("Task", task.id),
            title=task.title,
            instructions=task.instructions,
            category=task.category,
            status=task.status,
            reward=Money.of(task.reward, currency),
            fee=Money.of(task.fee, currency),
            slots=task.slots,
            slots_remaining=task.slots - task.slots_used if live else 0,
            estimated_minutes=task.estimated_minutes,
            claim_timeout_seconds=task.claim_timeout_seconds,
            review_window_seconds=task.review_window_seconds,
            expires_at=task.expires_at,
            proof_fields=[
                ProofField(label=f["label"], kind=ProofKind(f["kind"]), required=f["required"])
                for f in task.proof_fields
            ],
            targeting=Targeting(
                countries=[c for c in task.target_countries.split(",") if c],
                min_approval_rate=task.min_approval_rate,
                min_approved_count=task.min_approved_count,
            ),
            created_at=task.created_at,
            published_at=task.published_at,
            closed_at=task.closed_at,
            model=task,
        )


@strawberry.type(name="Submission")
class SubmissionType(Node):
    status: SubmissionStatusEnum  # type: ignore[valid-type]  # strawberry.enum returns the class
    claimed_at: datetime
    claim_expires_at: datetime | None
    submitted_at: datetime | None
    review_deadline: datetime | None = strawberry.field(
        description="Approved automatically at this time unless reviewed before."
    )
    revision_deadline: datetime | None
    answers: list[ProofAnswer]
    feedback: str | None
    rejection_reason: RejectionReasonEnum | None  # type: ignore[valid-type]  # enum class
    rejection_comment: str | None
    revision_comment: str | None
    reviewed_at: datetime | None
    dispute_deadline: datetime | None = strawberry.field(
        description="A rejection becomes final, and its held money returns, at this time."
    )
    auto_approved: bool
    dispute_statement: str | None
    disputed_at: datetime | None
    dispute_resolution: DisputeResolutionEnum | None  # type: ignore[valid-type]  # enum class
    dispute_note: str | None
    model: strawberry.Private[Submission]

    @strawberry.field(
        description="Labels whose answer another account already submitted on this task "
        "(a sign of shared or bought proof); only the task's employer sees it."
    )
    async def reused_proof(self, info: Info) -> list[str]:
        viewer = info.context.viewer
        task = await info.context.loaders.task_by_id.load(self.model.task_id)
        if viewer is None or task is None or task.employer_id != viewer.id:
            return []
        return list(self.model.reused_labels)

    @strawberry.field
    async def task(self, info: Info) -> TaskType:
        task = await info.context.loaders.task_by_id.load(self.model.task_id)
        assert task is not None  # tasks are never deleted (RESTRICT)
        return TaskType.from_model(task, info.context.services.settings.currency)

    @strawberry.field
    async def worker(self, info: Info) -> UserType:
        user = await info.context.loaders.user_by_id.load(self.model.worker_id)
        assert user is not None  # users with submissions are never deleted (RESTRICT)
        return UserType.from_model(user)

    @classmethod
    def from_model(cls, submission: Submission) -> SubmissionType:
        return cls(
            id=to_global_id("Submission", submission.id),
            status=submission.status,
            claimed_at=submission.claimed_at,
            claim_expires_at=submission.claim_expires_at,
            submitted_at=submission.submitted_at,
            review_deadline=submission.review_deadline,
            revision_deadline=submission.revision_deadline,
            answers=[ProofAnswer(label=a["label"], value=a["value"]) for a in submission.answers],
            feedback=submission.feedback,
            rejection_reason=submission.rejection_reason,
            rejection_comment=submission.rejection_comment,
            revision_comment=submission.revision_comment,
            reviewed_at=submission.reviewed_at,
            dispute_deadline=submission.dispute_deadline,
            auto_approved=submission.auto_approved,
            dispute_statement=submission.dispute_statement,
            disputed_at=submission.disputed_at,
            dispute_resolution=submission.dispute_resolution,
            dispute_note=submission.dispute_note,
            model=submission,
        )


TaskConnection = Connection[TaskType]
SubmissionConnection = Connection[SubmissionType]


@strawberry.input
class ProofFieldInput:
    label: str
    kind: ProofKindEnum  # type: ignore[valid-type]  # strawberry.enum returns the class
    required: bool = True


@strawberry.input
class TargetingInput:
    countries: list[str] | None = None
    min_approval_rate: float | None = strawberry.field(default=None, description="0 to 1.")
    min_approved_count: int | None = None


@strawberry.input
class CreateTaskInput:
    title: str
    instructions: str
    category: TaskCategoryEnum  # type: ignore[valid-type]  # strawberry.enum returns the class
    reward: Decimal
    slots: int
    estimated_minutes: int
    proof_fields: list[ProofFieldInput]
    claim_timeout_seconds: int | None = None
    review_window_seconds: int | None = None
    expires_at: datetime | None = None
    targeting: TargetingInput | None = None
    publish: bool = strawberry.field(
        default=True, description="Fund escrow and open the task now; false keeps a DRAFT."
    )


@strawberry.input(name="TaskFilter")
class TaskFilterInput:
    categories: list[TaskCategoryEnum] | None = None  # type: ignore[valid-type]  # enum class
    min_reward: Decimal | None = None
    search: str | None = None


@strawberry.input
class TaskActionInput:
    task_id: strawberry.ID


@strawberry.input
class AddSlotsInput:
    task_id: strawberry.ID
    count: int


@strawberry.input
class ClaimTaskInput:
    task_id: strawberry.ID


@strawberry.input
class SubmissionActionInput:
    submission_id: strawberry.ID


@strawberry.input
class ProofAnswerInput:
    label: str
    value: str


@strawberry.input
class SubmitProofInput:
    submission_id: strawberry.ID
    answers: list[ProofAnswerInput]


@strawberry.input
class ApproveSubmissionInput:
    submission_id: strawberry.ID
    feedback: str | None = None


@strawberry.input
class RejectSubmissionInput:
    submission_id: strawberry.ID
    reason: RejectionReasonEnum  # type: ignore[valid-type]  # strawberry.enum returns the class
    comment: str
    reopen_slot: bool = strawberry.field(
        default=False, description="Fund a new slot so another worker can take it."
    )


@strawberry.input
class RequestRevisionInput:
    submission_id: strawberry.ID
    comment: str


@strawberry.input
class DisputeRejectionInput:
    submission_id: strawberry.ID
    statement: str = strawberry.field(description="Why the rejection is wrong (up to 2,000).")


@strawberry.input
class ResolveDisputeInput:
    submission_id: strawberry.ID
    resolution: DisputeResolutionEnum  # type: ignore[valid-type]  # strawberry.enum returns the class
    note: str | None = None


@strawberry.input
class SendBonusInput:
    submission_id: strawberry.ID
    amount: Decimal
    reason: str
    idempotency_key: str | None = None


@strawberry.type
class CreateTaskPayload:
    task: TaskType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class TaskActionPayload:
    task: TaskType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SubmissionPayload:
    submission: SubmissionType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SendBonusPayload:
    submission: SubmissionType | None = None
    amount: Money | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
