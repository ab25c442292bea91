"""Tasks and submissions: discovery, the employer's and the worker's lists, and every action."""

from __future__ import annotations

from collections.abc import Awaitable

import strawberry

from picotask.models.marketplace import Submission, SubmissionStatus, Task
from picotask.resolvers.context import Info
from picotask.resolvers.mutations import attempt
from picotask.resolvers.pages import connection
from picotask.schema.errors import BadUserInput, Forbidden
from picotask.schema.marketplace import (
    AddSlotsInput,
    ApproveSubmissionInput,
    ClaimTaskInput,
    CreateTaskInput,
    CreateTaskPayload,
    DisputeRejectionInput,
    RejectSubmissionInput,
    RequestRevisionInput,
    ResolveDisputeInput,
    SendBonusInput,
    SendBonusPayload,
    SubmissionActionInput,
    SubmissionConnection,
    SubmissionPayload,
    SubmissionStatusEnum,
    SubmissionType,
    SubmitProofInput,
    TaskActionInput,
    TaskActionPayload,
    TaskConnection,
    TaskFilterInput,
    TaskOrder,
    TaskStatusEnum,
    TaskType,
)
from picotask.schema.relay import Node, pk_of
from picotask.schema.users import RateInput
from picotask.schema.wallet import Money
from picotask.services.disputes import open_disputes
from picotask.services.errors import DomainError
from picotask.services.money import parse_amount
from picotask.services.pagination import ID_ORDER, NEWEST_FIRST, SortKey
from picotask.services.task_specs import ProofFieldSpec, TaskSpec
from picotask.services.tasks import TaskFilter, can_see, claimable_by
from picotask.services.work import Answer

ORDERS: dict[TaskOrder, tuple[SortKey, ...]] = {
    TaskOrder.NEWEST: (SortKey("published_at", descending=True), SortKey("id", descending=True)),
    TaskOrder.HIGHEST_REWARD: (SortKey("reward", descending=True), SortKey("id", descending=True)),
    TaskOrder.BEST_PAY_PER_MINUTE: (
        SortKey("pay_per_minute", descending=True),
        SortKey("id", descending=True),
    ),
}


def task_view(info: Info, task: Task) -> TaskType:
    return TaskType.from_model(task, info.context.services.settings.currency)


async def visible_task(info: Info, pk: int) -> Task | None:
    """Published tasks are public; a draft only to its employer."""
    task = await info.context.loaders.task_by_id.load(pk)
    viewer = info.context.viewer
    return task if can_see(task, viewer.id if viewer else None) else None


async def visible_submission(info: Info, pk: int) -> Submission | None:
    """Only its worker and the task's employer see a submission (and its proof)."""
    viewer = info.context.viewer
    submission = await Submission.get_or_none(id=pk) if viewer else None
    if submission is None or viewer is None:
        return None
    if submission.worker_id == viewer.id:
        return submission
    task = await info.context.loaders.task_by_id.load(submission.task_id)
    return submission if task is not None and task.employer_id == viewer.id else None


async def task_node(info: Info, pk: int) -> Node | None:
    task = await visible_task(info, pk)
    return task_view(info, task) if task else None


async def submission_node(info: Info, pk: int) -> Node | None:
    submission = await visible_submission(info, pk)
    return SubmissionType.from_model(submission) if submission else None


@strawberry.type
class MarketplaceQuery:
    @strawberry.field(description="A task by id; drafts only for their employer.")
    async def task(self, info: Info, id: strawberry.ID) -> TaskType | None:
        pk = pk_of(id, "Task")
        task = await visible_task(info, pk) if pk else None
        return task_view(info, task) if task else None

    @strawberry.field(description="OPEN tasks the viewer can claim now.")
    async def tasks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: TaskFilterInput | None = None,
        order_by: TaskOrder | None = TaskOrder.NEWEST,
    ) -> TaskConnection:
        viewer = info.context.require_viewer()
        query = claimable_by(viewer, task_filter(info, filter))
        keys = ORDERS[order_by or TaskOrder.NEWEST]
        return await connection(query, lambda t: task_view(info, t), first, after, keys)

    @strawberry.field(description="Tasks the viewer posted, newest first.")
    async def my_tasks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: list[TaskStatusEnum] | None = None,  # type: ignore[valid-type]  # enum class
    ) -> TaskConnection:
        viewer = info.context.require_viewer()
        query = Task.filter(employer_id=viewer.id)
        if status:
            query = query.filter(status__in=status)
        return await connection(query, lambda t: task_view(info, t), first, after, NEWEST_FIRST)

    @strawberry.field(description="Moderators: open disputes, oldest first.")
    async def disputes(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> SubmissionConnection:
        viewer = info.context.require_viewer()
        if not viewer.is_admin:
            raise Forbidden("Only moderators see the dispute queue.")
        return await connection(open_disputes(), SubmissionType.from_model, first, after, ID_ORDER)

    @strawberry.field(description="The viewer's own submissions, newest first.")
    async def my_submissions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: list[SubmissionStatusEnum] | None = None,  # type: ignore[valid-type]  # enum class
    ) -> SubmissionConnection:
        viewer = info.context.require_viewer()
        query = Submission.filter(worker_id=viewer.id)
        if status:
            query = query.filter(status__in=[SubmissionStatus(s) for s in status])
        return await connection(query, SubmissionType.from_model, first, after, NEWEST_FIRST)


def task_filter(info: Info, given: TaskFilterInput | None) -> TaskFilter | None:
    if given is None:
        return None
    min_reward = None
    if given.min_reward is not None:
        try:
            min_reward = parse_amount(
                given.min_reward,
                ["filter", "minReward"],
                minimum_cents=0,
                maximum_cents=info.context.services.settings.max_reward_cents,
            )
        except DomainError as e:
            raise BadUserInput.from_domain(e) from None
    search = (given.search or "").strip()
    if len(search) > 100:
        raise BadUserInput("filter.search must be at most 100 characters.")
    return TaskFilter(
        categories=given.categories, min_reward_cents=min_reward, search=search or None
    )


def _task_payload(info: Info, action: Awaitable[Task]) -> Awaitable[TaskActionPayload]:
    async def run() -> TaskActionPayload:
        return TaskActionPayload(task=task_view(info, await action))

    return attempt(run(), lambda errors: TaskActionPayload(user_errors=errors))


def _submission_payload(info: Info, action: Awaitable[Submission]) -> Awaitable[SubmissionPayload]:
    async def run() -> SubmissionPayload:
        return SubmissionPayload(submission=SubmissionType.from_model(await action))

    return attempt(run(), lambda errors: SubmissionPayload(user_errors=errors))


@strawberry.type
class MarketplaceMutation:
    @strawberry.mutation(description="Post a task; publishing (the default) funds its escrow.")
    async def create_task(self, info: Info, input: CreateTaskInput) -> CreateTaskPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        targeting = input.targeting
        spec = TaskSpec(
            title=input.title,
            instructions=input.instructions,
            category=input.category,
            reward=input.reward,
            slots=input.slots,
            estimated_minutes=input.estimated_minutes,
            proof_fields=[ProofFieldSpec(f.label, f.kind, f.required) for f in input.proof_fields],
            claim_timeout_seconds=input.claim_timeout_seconds,
            review_window_seconds=input.review_window_seconds,
            expires_at=input.expires_at,
            countries=targeting.countries if targeting else None,
            min_approval_rate=targeting.min_approval_rate if targeting else None,
            min_approved_count=targeting.min_approved_count if targeting else None,
        )

        async def run() -> CreateTaskPayload:
            task = await ctx.services.tasks.create(viewer, spec, publish=input.publish)
            return CreateTaskPayload(task=task_view(info, task))

        return await attempt(run(), lambda errors: CreateTaskPayload(user_errors=errors))

    @strawberry.mutation(description="Fund and open a DRAFT task.")
    async def publish_task(self, info: Info, input: TaskActionInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        tasks = info.context.services.tasks
        return await _task_payload(info, tasks.publish(viewer, pk_of(input.task_id, "Task")))

    @strawberry.mutation(description="Stop new claims; work in flight goes on.")
    async def pause_task(self, info: Info, input: TaskActionInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        tasks = info.context.services.tasks
        return await _task_payload(info, tasks.pause(viewer, pk_of(input.task_id, "Task")))

    @strawberry.mutation
    async def resume_task(self, info: Info, input: TaskActionInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        tasks = info.context.services.tasks
        return await _task_payload(info, tasks.resume(viewer, pk_of(input.task_id, "Task")))

    @strawberry.mutation(
        description="Close the task: unfilled slots are refunded now, work in flight resolves."
    )
    async def cancel_task(self, info: Info, input: TaskActionInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        tasks = info.context.services.tasks
        return await _task_payload(info, tasks.cancel(viewer, pk_of(input.task_id, "Task")))

    @strawberry.mutation(description="Fund more slots (reopens a COMPLETED task).")
    async def add_slots(self, info: Info, input: AddSlotsInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        tasks = info.context.services.tasks
        task_id = pk_of(input.task_id, "Task")
        return await _task_payload(info, tasks.add_slots(viewer, task_id, input.count))

    @strawberry.mutation(description="Hold a slot of an OPEN task until the claim timeout.")
    async def claim_task(self, info: Info, input: ClaimTaskInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        work = info.context.services.work
        return await _submission_payload(info, work.claim(viewer, pk_of(input.task_id, "Task")))

    @strawberry.mutation(description="Give a claimed slot back.")
    async def release_claim(self, info: Info, input: SubmissionActionInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        work = info.context.services.work
        sid = pk_of(input.submission_id, "Submission")
        return await _submission_payload(info, work.release(viewer, sid))

    @strawberry.mutation(description="Submit (or resubmit) proof for a claimed slot.")
    async def submit_proof(self, info: Info, input: SubmitProofInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        work = info.context.services.work
        sid = pk_of(input.submission_id, "Submission")
        answers = [Answer(a.label, a.value) for a in input.answers]
        return await _submission_payload(info, work.submit(viewer, sid, answers))

    @strawberry.mutation(description="Pay the reward to the worker (and the fee to the platform).")
    async def approve_submission(
        self, info: Info, input: ApproveSubmissionInput
    ) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        work = info.context.services.work
        sid = pk_of(input.submission_id, "Submission")
        return await _submission_payload(info, work.approve(viewer, sid, input.feedback))

    @strawberry.mutation(description="Reject with a reason; the worker may dispute in time.")
    async def reject_submission(
        self, info: Info, input: RejectSubmissionInput
    ) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        work = info.context.services.work
        sid = pk_of(input.submission_id, "Submission")
        action = work.reject(viewer, sid, input.reason, input.comment, input.reopen_slot)
        return await _submission_payload(info, action)

    @strawberry.mutation(description="Send the work back; the worker resubmits before a deadline.")
    async def request_revision(self, info: Info, input: RequestRevisionInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        work = info.context.services.work
        sid = pk_of(input.submission_id, "Submission")
        return await _submission_payload(info, work.request_revision(viewer, sid, input.comment))

    @strawberry.mutation(description="Contest a rejection before its dispute deadline.")
    async def dispute_rejection(
        self, info: Info, input: DisputeRejectionInput
    ) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        disputes = info.context.services.disputes
        sid = pk_of(input.submission_id, "Submission")
        return await _submission_payload(info, disputes.dispute(viewer, sid, input.statement))

    @strawberry.mutation(description="Moderators: overturn (approve and pay) or uphold.")
    async def resolve_dispute(self, info: Info, input: ResolveDisputeInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        disputes = info.context.services.disputes
        sid = pk_of(input.submission_id, "Submission")
        action = disputes.resolve(viewer, sid, input.resolution, input.note)
        return await _submission_payload(info, action)

    @strawberry.mutation(description="The employer rates approved work, 1 to 5 stars.")
    async def rate_worker(self, info: Info, input: RateInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        ratings = info.context.services.ratings
        sid = pk_of(input.submission_id, "Submission")
        return await _submission_payload(info, ratings.rate_worker(viewer, sid, input.stars))

    @strawberry.mutation(description="The worker rates the employer after a review, 1 to 5.")
    async def rate_employer(self, info: Info, input: RateInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        ratings = info.context.services.ratings
        sid = pk_of(input.submission_id, "Submission")
        return await _submission_payload(info, ratings.rate_employer(viewer, sid, input.stars))

    @strawberry.mutation(description="Pay a worker extra from the employer's balance.")
    async def send_bonus(self, info: Info, input: SendBonusInput) -> SendBonusPayload:
        ctx = info.context
        viewer = ctx.require_viewer()
        sid = pk_of(input.submission_id, "Submission")

        async def run() -> SendBonusPayload:
            submission, cents = await ctx.services.work.send_bonus(
                viewer, sid, input.amount, input.reason, input.idempotency_key
            )
            return SendBonusPayload(
                submission=SubmissionType.from_model(submission),
                amount=Money.of(cents, ctx.services.settings.currency),
            )

        return await attempt(run(), lambda errors: SendBonusPayload(user_errors=errors))
