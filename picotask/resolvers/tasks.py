"""Tasks: discovery, the employer's list, and the task lifecycle."""

from __future__ import annotations

import strawberry

from picotask.models.tasks import Task, TaskStatus
from picotask.schema.batches import CreateBatchInput
from picotask.schema.context import Info
from picotask.schema.errors import Forbidden
from picotask.schema.feeds import feed_cursor
from picotask.schema.pages import page_of
from picotask.schema.prefetch import attach, selects
from picotask.schema.relay import Node, pk_of
from picotask.schema.tasks import (
    AddSlotsInput,
    CreateTaskInput,
    CreateTaskPayload,
    TaskActionInput,
    TaskActionPayload,
    TaskConnection,
    TaskFilterInput,
    TaskOrder,
    TaskType,
    employer_of,
)
from picotask.schema.users import UserType
from picotask.services.core.pagination import NEWEST_FIRST, SortKey
from picotask.services.targeting.discovery import (
    Access,
    TaskFilter,
    access_problem,
    check_filter,
    claimable_by,
)
from picotask.services.targeting.qualifications import Requirement, TestSpec
from picotask.services.work.task_specs import ProofFieldSpec, TaskSpec
from picotask.services.work.tasks import can_see
from picotask.services.work.transitions import can_review

ORDERS: dict[TaskOrder, tuple[SortKey, ...]] = {
    TaskOrder.NEWEST: (SortKey("published_at", descending=True), SortKey("id", descending=True)),
    TaskOrder.HIGHEST_REWARD: (SortKey("reward", descending=True), SortKey("id", descending=True)),
    TaskOrder.BEST_PAY_PER_MINUTE: (
        SortKey("pay_per_minute", descending=True),
        SortKey("id", descending=True),
    ),
}


def task_spec_of(
    input: CreateTaskInput | CreateBatchInput, slots: int, test: TestSpec | None = None
) -> TaskSpec:
    """The task (or batch template) an employer asked for, as the services take it."""
    targeting = input.targeting
    return TaskSpec(
        title=input.title,
        instructions=input.instructions,
        category=input.category,
        reward=input.reward,
        slots=slots,
        estimated_minutes=input.estimated_minutes,
        proof_fields=[ProofFieldSpec(f.label, f.kind, f.required) for f in input.proof_fields],
        claim_timeout_seconds=input.claim_timeout_seconds,
        review_window_seconds=input.review_window_seconds,
        expires_at=input.expires_at,
        countries=targeting.countries if targeting else None,
        min_approval_rate=targeting.min_approval_rate if targeting else None,
        min_approved_count=targeting.min_approved_count if targeting else None,
        hire_group_ids=[pk_of(g, "HireGroup") for g in (targeting.hire_group_ids or [])]
        if targeting
        else [],
        requirements=[
            Requirement(pk_of(r.qualification_id, "Qualification"), r.min_score)
            for r in (targeting.required_qualifications or [])
        ]
        if targeting
        else [],
        qualification_test=test,
    )


def task_view(info: Info, task: Task) -> TaskType:
    return TaskType.from_model(task, info.context.services.settings.currency)


def _set_employer(task: TaskType, employer: UserType) -> None:
    task.employer_view = employer


def task_filter(info: Info, given: TaskFilterInput | None) -> TaskFilter | None:
    if given is None:
        return None
    settings = info.context.services.settings
    return check_filter(given.categories, given.min_reward, given.search, settings)


async def visible_task(info: Info, pk: int | None) -> Task | None:
    """Published tasks, but private work only for its groups' members and its employer."""
    task = await info.context.loaders.task_by_id.load(pk) if pk else None
    viewer = info.context.viewer
    if task is None or not can_see(task, viewer.id if viewer else None):
        return None
    if task.target_groups and (viewer is None or viewer.id != task.employer_id):
        groups = await info.context.loaders.group_ids_by_worker.load(viewer.id) if viewer else None
        if not groups or access_problem(task.target_groups, [], Access(groups)):
            return None
    return task


async def own_task(info: Info, task_id: strawberry.ID) -> Task:
    """The viewer's task, for what only its employer sees (its submission stream, its numbers);
    another's, or none at all, is FORBIDDEN (possession of an id is not access)."""
    viewer = info.context.require_viewer()
    pk = pk_of(task_id, "Task")
    task = await Task.get_or_none(id=pk) if pk else None
    if task is None or not can_review(task, viewer.id):
        raise Forbidden("taskId is not one of your tasks.")
    return task


async def task_node(info: Info, pk: int) -> Node | None:
    task = await visible_task(info, pk)
    return task_view(info, task) if task else None


@strawberry.type
class TasksQuery:
    @strawberry.field(description="A task by id; drafts only for their employer.")
    async def task(self, info: Info, id: strawberry.ID) -> TaskType | None:
        task = await visible_task(info, pk_of(id, "Task"))
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
        cursor = feed_cursor(info)
        query = claimable_by(viewer, task_filter(info, filter))
        keys = ORDERS[order_by or TaskOrder.NEWEST]
        found = await page_of(query, first, after, keys)
        page = TaskConnection.of(found, lambda t: task_view(info, t), feed_cursor=cursor)
        if selects(info, "edges", "node", "employer"):
            await attach(
                [edge.node for edge in page.edges],
                info.context.loaders.user_by_id,
                lambda task: task.model.employer_id,
                employer_of,
                _set_employer,
            )
        return page

    @strawberry.field(description="Tasks the viewer posted, newest first.")
    async def my_tasks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: list[TaskStatus] | None = None,
    ) -> TaskConnection:
        viewer = info.context.require_viewer()
        cursor = feed_cursor(info)
        query = Task.filter(employer_id=viewer.id)
        if status:
            query = query.filter(status__in=status)
        found = await page_of(query, first, after, NEWEST_FIRST)
        return TaskConnection.of(found, lambda t: task_view(info, t), feed_cursor=cursor)


@strawberry.type
class TasksMutation:
    @strawberry.mutation(description="Post a task; publishing (the default) funds its escrow.")
    async def create_task(self, info: Info, input: CreateTaskInput) -> CreateTaskPayload:
        viewer = info.context.require_viewer()
        given = input.qualification_test
        test = (
            TestSpec(
                pk_of(given.qualification_id, "Qualification"),
                [(a.label, a.value) for a in given.expected_answers],
            )
            if given
            else None
        )
        spec = task_spec_of(input, input.slots, test)
        task = await info.context.services.tasks.create(viewer, spec, publish=input.publish)
        return CreateTaskPayload(task=task_view(info, task))

    @strawberry.mutation(description="Fund and open a DRAFT task.")
    async def publish_task(self, info: Info, input: TaskActionInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        task = await info.context.services.tasks.publish(viewer, pk_of(input.task_id, "Task"))
        return TaskActionPayload(task=task_view(info, task))

    @strawberry.mutation(description="Stop new claims; work in flight goes on.")
    async def pause_task(self, info: Info, input: TaskActionInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        task = await info.context.services.tasks.pause(viewer, pk_of(input.task_id, "Task"))
        return TaskActionPayload(task=task_view(info, task))

    @strawberry.mutation
    async def resume_task(self, info: Info, input: TaskActionInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        task = await info.context.services.tasks.resume(viewer, pk_of(input.task_id, "Task"))
        return TaskActionPayload(task=task_view(info, task))

    @strawberry.mutation(
        description="Close the task: unfilled slots are refunded now, work in flight resolves."
    )
    async def cancel_task(self, info: Info, input: TaskActionInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        task = await info.context.services.tasks.cancel(viewer, pk_of(input.task_id, "Task"))
        return TaskActionPayload(task=task_view(info, task))

    @strawberry.mutation(description="Fund more slots (reopens a COMPLETED task).")
    async def add_slots(self, info: Info, input: AddSlotsInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        tasks = info.context.services.tasks
        task = await tasks.add_slots(viewer, pk_of(input.task_id, "Task"), input.count)
        return TaskActionPayload(task=task_view(info, task))
