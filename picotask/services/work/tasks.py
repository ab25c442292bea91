"""The task lifecycle: DRAFT → OPEN ⇄ PAUSED → COMPLETED | EXPIRED | CANCELLED, and escrow.

Every transition is a conditional update on the current status (one winner among racing
requests and sweepers). Escrow always holds (slots - slots_resolved) * (reward + fee).
"""

from __future__ import annotations

from dataclasses import replace

from tortoise.expressions import F

from picotask.models.groups import TaskHireGroup
from picotask.models.qualifications import QualificationTest, TaskQualification
from picotask.models.tasks import Task, TaskStatus
from picotask.models.users import User
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, NotPermitted
from picotask.services.core.events import EventLog
from picotask.services.core.standing import ensure_active, ensure_confirmed
from picotask.services.money.ledger import Ledger
from picotask.services.targeting.groups import group_ids, groups_of, own_groups
from picotask.services.targeting.qualifications import own_requirements, own_test
from picotask.services.work.batch_files import Items
from picotask.services.work.batch_items import insert_items
from picotask.services.work.task_specs import MAX_SLOTS, TaskSpec, check_task
from picotask.settings import Settings

LIVE = (TaskStatus.OPEN, TaskStatus.PAUSED)


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


async def may_know(task: Task | None, viewer_id: int | None) -> bool:
    """Whether the task exists as far as this viewer is told: published (a draft only for its
    employer), and private work only for its hire groups' members and its employer. An id
    they may not know answers exactly as one that was never used (ids are sequential)."""
    if task is None or not can_see(task, viewer_id):
        return False
    if not task.target_groups or viewer_id == task.employer_id:
        return True
    groups = await groups_of(viewer_id) if viewer_id is not None else frozenset()
    return any(f",{g}," in task.target_groups for g in groups)


def slots_remaining(task: Task) -> int:
    """Slots a worker could still claim; none once the task is no longer live."""
    return task.slots - task.slots_used if task.status in LIVE else 0


class TaskService:
    def __init__(self, settings: Settings, clock: Clock, ledger: Ledger, events: EventLog) -> None:
        self.settings = settings
        self.clock = clock
        self.ledger = ledger
        self.events = events

    async def own_task(self, employer: User, task_id: int | None) -> Task:
        task = await Task.get_or_none(id=task_id) if task_id else None
        if not await may_know(task, employer.id):
            raise not_found()
        assert task is not None  # may_know says no to no task
        if task.employer_id != employer.id:
            raise NotPermitted("Only the task's employer may do this.")
        return task

    async def create(
        self, employer: User, spec: TaskSpec, *, publish: bool, items: Items | None = None
    ) -> Task:
        """A task; with `items`, a batch of them (one slot each, `spec.slots` ignored)."""
        ensure_active(employer)
        if publish:
            ensure_confirmed(employer, self.settings.confirmation_required)
        if items is not None:
            spec = replace(spec, slots=len(items.rows))
        checked = check_task(spec, self.settings, self.clock.now())
        groups = await own_groups(employer.id, spec.hire_group_ids, "hireGroupIds")
        required = await own_requirements(employer.id, spec.requirements)
        test = await own_test(employer.id, spec.qualification_test, checked.proof_fields)
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
                batch_columns=items.columns if items is not None else None,
                target_groups=groups,
                required_qualifications=required,
            )
            if groups:
                await TaskHireGroup.bulk_create(
                    [TaskHireGroup(task_id=task.id, group_id=pk) for pk in group_ids(groups)]
                )
            if required:
                await TaskQualification.bulk_create(
                    [
                        TaskQualification(
                            task_id=task.id, qualification_id=r["id"], min_score=r["min_score"]
                        )
                        for r in required
                    ]
                )
            if test is not None:
                await QualificationTest.create(
                    task_id=task.id, qualification_id=test[0], expected=test[1]
                )
            if items is not None:
                await insert_items(task.id, items.rows)
            if publish:
                await self._publish(task)
        return await Task.get(id=task.id)

    async def publish(self, employer: User, task_id: int | None) -> Task:
        ensure_active(employer)
        ensure_confirmed(employer, self.settings.confirmation_required)
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
            fee=task.slots * task.fee,
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

    async def add_slots(
        self, employer: User, task_id: int | None, count: int, *, items: Items | None = None
    ) -> Task:
        """More funded slots; a batch grows only by `items` (one slot each)."""
        ensure_active(employer)
        task = await self.own_task(employer, task_id)
        if (task.batch_columns is None) != (items is None):
            raise DomainError(
                ErrorCode.INVALID,
                "A batch grows by its items (addBatchItems), a plain task by slots (addSlots).",
                ["input", "taskId"],
            )
        if not 1 <= count <= MAX_SLOTS - task.slots:
            raise DomainError(
                ErrorCode.OUT_OF_RANGE,
                f"count must be between 1 and {MAX_SLOTS - task.slots} for this task.",
                ["input", "items" if items is not None else "count"],
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
                        fee=count * task.fee,
                    )
            if not added:
                raise wrong_status(await Task.get(id=task.id), "given more slots")
            if items is not None:
                await insert_items(task.id, items.rows)
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
                fee=unfilled * task.fee,
            )
            task.slots -= unfilled
        self.events.task("CLOSED", task, f"Task {status.value.lower()}: {task.title}")
        return 1

    async def complete_if_done(self, task_id: int, current: Task | None = None) -> None:
        """Every funded slot resolved: a live task is COMPLETED. Inside a transaction.
        `current`: the task's row as this transaction's own update left it (it holds the row's
        lock, so nothing changes it before COMMIT): no statement while slots remain."""
        if current is not None and not (
            current.status in LIVE and current.slots_resolved == current.slots == current.slots_used
        ):
            return
        if await Task.filter(
            id=task_id, status__in=LIVE, slots_resolved=F("slots"), slots_used=F("slots")
        ).update(status=TaskStatus.COMPLETED, closed_at=self.clock.now()):
            task = await Task.get(id=task_id)
            self.events.task("CLOSED", task, f"Task completed: {task.title}")
