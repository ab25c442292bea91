"""The task lifecycle: DRAFT → OPEN ⇄ PAUSED → COMPLETED | EXPIRED | CANCELLED, and escrow.

Every transition is a conditional update on the current status (one winner among racing
requests and sweepers). Escrow always holds (slots - slots_resolved) * (reward + fee).
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySet

from picotask.models.marketplace import Submission, Task, TaskCategory, TaskStatus
from picotask.models.users import Block, User
from picotask.server.settings import Settings
from picotask.services.accounts import ensure_active
from picotask.services.clock import Clock
from picotask.services.errors import DomainError, ErrorCode, NotPermitted
from picotask.services.events import EventLog
from picotask.services.ledger import Ledger
from picotask.services.task_specs import MAX_SLOTS, TaskSpec, check_task

LIVE = (TaskStatus.OPEN, TaskStatus.PAUSED)


@dataclass(frozen=True, slots=True)
class TaskFilter:
    categories: list[TaskCategory] | None = None
    min_reward_cents: int | None = None
    search: str | None = None


def not_found(field: str = "taskId") -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No such task.", ["input", field])


def wrong_status(task: Task, action: str) -> DomainError:
    return DomainError(
        ErrorCode.INVALID_STATUS,
        f"A task that is {task.status.value} cannot be {action}.",
        ["input", "taskId"],
    )


def can_see(task: Task | None, viewer_id: int | None) -> bool:
    """Published tasks are public; a draft only to its employer."""
    if task is None:
        return False
    return task.status != TaskStatus.DRAFT or task.employer_id == viewer_id


def approval_rate(user: User) -> float | None:
    reviewed = user.approved_count + user.rejected_count
    return user.approved_count / reviewed if reviewed else None


def eligibility_problem(task: Task, worker: User) -> str | None:
    """Why `worker` may not take `task`, or None."""
    return targeting_problem(
        task.target_countries, task.min_approval_rate, task.min_approved_count, worker
    )


def targeting_problem(
    countries: str, min_rate: float | None, min_count: int | None, worker: User
) -> str | None:
    """The targeting rules on plain values, so the live feed can apply them to an event's
    snapshot without loading the task. New workers count as 100% approved."""
    if countries and f",{worker.country}," not in countries:
        return "This task is not offered in your country."
    rate = approval_rate(worker)
    if min_rate is not None and (1.0 if rate is None else rate) < min_rate:
        return "Your approval rate is below what this task asks for."
    if min_count is not None and worker.approved_count < min_count:
        return "This task asks for more approved work than you have done so far."
    return None


def matches_filter(
    title: str, instructions: str, category: str, reward: int, query: TaskFilter
) -> bool:
    if query.categories and category not in query.categories:
        return False
    if query.min_reward_cents is not None and reward < query.min_reward_cents:
        return False
    if query.search:
        needle = query.search.casefold()
        return needle in title.casefold() or needle in instructions.casefold()
    return True


def claimable_by(worker: User, query: TaskFilter | None = None) -> QuerySet[Task]:
    """OPEN tasks `worker` can claim now: eligible, not their own, not taken before, a slot left.

    One query, however many tasks match; used by `tasks` and by the live feed's catch-up."""
    rate = approval_rate(worker)
    tasks = (
        Task.filter(
            Q(target_countries="") | Q(target_countries__contains=f",{worker.country},"),
            Q(min_approval_rate__isnull=True)
            | Q(min_approval_rate__lte=rate if rate is not None else 1.0),
            Q(min_approved_count__isnull=True) | Q(min_approved_count__lte=worker.approved_count),
            status=TaskStatus.OPEN,
            slots_used__lt=F("slots"),
        )
        .exclude(employer_id=worker.id)
        .exclude(id__in=Subquery(Submission.filter(worker_id=worker.id).values("task_id")))
        .exclude(employer_id__in=Subquery(Block.filter(worker_id=worker.id).values("employer_id")))
    )
    if query is not None:
        if query.categories:
            tasks = tasks.filter(category__in=query.categories)
        if query.min_reward_cents is not None:
            tasks = tasks.filter(reward__gte=query.min_reward_cents)
        if query.search:
            tasks = tasks.filter(
                Q(title__icontains=query.search) | Q(instructions__icontains=query.search)
            )
    return tasks


class TaskService:
    def __init__(self, settings: Settings, clock: Clock, ledger: Ledger, events: EventLog) -> None:
        self.settings = settings
        self.clock = clock
        self.ledger = ledger
        self.events = events

    async def own_task(self, employer: User, task_id: int | None) -> Task:
        task = await Task.get_or_none(id=task_id) if task_id else None
        if task is None or not can_see(task, employer.id):
            raise not_found()
        if task.employer_id != employer.id:
            raise NotPermitted("Only the task's employer may do this.")
        return task

    async def create(self, employer: User, spec: TaskSpec, *, publish: bool) -> Task:
        ensure_active(employer)
        checked = check_task(spec, self.settings, self.clock.now())
        async with self.events.transaction():
            task = await Task.create(
                employer_id=employer.id,
                title=checked.title,
                instructions=checked.instructions,
                category=checked.category,
                reward=checked.reward,
                fee=checked.fee,
                slots=checked.slots,
                estimated_minutes=checked.estimated_minutes,
                pay_per_minute=checked.pay_per_minute,
                claim_timeout_seconds=checked.claim_timeout_seconds,
                review_window_seconds=checked.review_window_seconds,
                expires_at=checked.expires_at,
                proof_fields=checked.proof_fields,
                target_countries=checked.target_countries,
                min_approval_rate=checked.min_approval_rate,
                min_approved_count=checked.min_approved_count,
                created_at=self.clock.now(),
            )
            if publish:
                await self._publish(task)
        return await Task.get(id=task.id)

    async def publish(self, employer: User, task_id: int | None) -> Task:
        ensure_active(employer)
        task = await self.own_task(employer, task_id)
        if task.expires_at is not None and task.expires_at <= self.clock.now():
            raise DomainError(
                ErrorCode.DEADLINE_PASSED, "The task's expiresAt has passed.", ["input", "taskId"]
            )
        async with self.events.transaction():
            await self._publish(task)
        return await Task.get(id=task.id)

    async def _publish(self, task: Task) -> None:
        now = self.clock.now()
        if not await Task.filter(id=task.id, status=TaskStatus.DRAFT).update(
            status=TaskStatus.OPEN, published_at=now
        ):
            raise wrong_status(task, "published")
        await self.ledger.fund_escrow(
            task.employer_id,
            task.id,
            task.slots * (task.reward + task.fee),
            f"task {task.id}: {task.slots} slots",
        )
        await User.filter(id=task.employer_id).update(tasks_posted=F("tasks_posted") + 1)
        self.events.task("POSTED", await Task.get(id=task.id), f"New task: {task.title}")

    async def pause(self, employer: User, task_id: int | None) -> Task:
        return await self._move(employer, task_id, TaskStatus.OPEN, TaskStatus.PAUSED, "paused")

    async def resume(self, employer: User, task_id: int | None) -> Task:
        return await self._move(employer, task_id, TaskStatus.PAUSED, TaskStatus.OPEN, "resumed")

    async def _move(
        self, employer: User, task_id: int | None, old: TaskStatus, new: TaskStatus, verb: str
    ) -> Task:
        ensure_active(employer)
        task = await self.own_task(employer, task_id)
        async with self.events.transaction():
            if not await Task.filter(id=task.id, status=old).update(status=new):
                raise wrong_status(await Task.get(id=task.id), verb)
            moved = await Task.get(id=task.id)
            self.events.task("UPDATED", moved, f"Task {verb}: {moved.title}")
        return moved

    async def cancel(self, employer: User, task_id: int | None) -> Task:
        """Unfilled slots are refunded now; work in flight still resolves (see `work`)."""
        task = await self.own_task(employer, task_id)
        async with self.events.transaction():
            if await Task.filter(id=task.id, status=TaskStatus.DRAFT).update(
                status=TaskStatus.CANCELLED, closed_at=self.clock.now()
            ):
                return await Task.get(id=task.id)
            if not await self.close(task.id, TaskStatus.CANCELLED):
                raise wrong_status(await Task.get(id=task.id), "cancelled")
        return await Task.get(id=task.id)

    async def add_slots(self, employer: User, task_id: int | None, count: int) -> Task:
        ensure_active(employer)
        task = await self.own_task(employer, task_id)
        if not 1 <= count <= MAX_SLOTS - task.slots:
            raise DomainError(
                ErrorCode.OUT_OF_RANGE,
                f"count must be between 1 and {MAX_SLOTS - task.slots} for this task.",
                ["input", "count"],
            )
        async with self.events.transaction():
            if task.status == TaskStatus.DRAFT:
                added = await Task.filter(id=task.id, status=TaskStatus.DRAFT).update(
                    slots=F("slots") + count
                )
            else:
                # A COMPLETED task reopens with the new slots.
                added = await Task.filter(
                    id=task.id, status__in=[*LIVE, TaskStatus.COMPLETED]
                ).update(slots=F("slots") + count, closed_at=None)
                if added:
                    await Task.filter(id=task.id, status=TaskStatus.COMPLETED).update(
                        status=TaskStatus.OPEN
                    )
                    await self.ledger.fund_escrow(
                        task.employer_id,
                        task.id,
                        count * (task.reward + task.fee),
                        f"task {task.id}: {count} more slots",
                    )
            if not added:
                raise wrong_status(await Task.get(id=task.id), "given more slots")
            grown = await Task.get(id=task.id)
            if grown.status != TaskStatus.DRAFT:
                self.events.task("UPDATED", grown, f"{count} more slots: {grown.title}")
        return grown

    async def expire_due(self) -> int:
        """Close every live task whose expiresAt has passed; returns how many."""
        due = await Task.filter(status__in=LIVE, expires_at__lte=self.clock.now()).only("id")
        expired = 0
        for task in due:
            async with self.events.transaction():
                expired += await self.close(task.id, TaskStatus.EXPIRED)
        return expired

    async def close(self, task_id: int, status: TaskStatus) -> int:
        """Close a live task and refund its unfilled slots. Inside a transaction; 0 if the
        task was no longer live. The status update comes first, so a racing claim (which needs
        OPEN) either committed before, and is counted in slots_used, or fails."""
        now = self.clock.now()
        if not await Task.filter(id=task_id, status__in=LIVE).update(status=status, closed_at=now):
            return 0
        task = await Task.get(id=task_id)
        unfilled = task.slots - task.slots_used
        if unfilled:
            await Task.filter(id=task_id).update(slots=F("slots") - unfilled)
            await self.ledger.refund_escrow(
                task_id,
                task.employer_id,
                unfilled * (task.reward + task.fee),
                f"task {task_id} {status.value.lower()}: {unfilled} unfilled slots",
            )
            task.slots -= unfilled
        self.events.task("CLOSED", task, f"Task {status.value.lower()}: {task.title}")
        return 1

    async def complete_if_done(self, task_id: int) -> None:
        """Every funded slot resolved: a live task is COMPLETED. Inside a transaction."""
        if await Task.filter(
            id=task_id, status__in=LIVE, slots_resolved=F("slots"), slots_used=F("slots")
        ).update(status=TaskStatus.COMPLETED, closed_at=self.clock.now()):
            task = await Task.get(id=task_id)
            self.events.task("CLOSED", task, f"Task completed: {task.title}")
