"""Discovery: which tasks a worker may see and take (targeting, blocks, their own filter).

The same rules serve the `tasks` list (as one query) and the live feed (on an event's snapshot,
without a query).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySet

from picotask.models.submissions import Submission
from picotask.models.tasks import Task, TaskCategory, TaskStatus
from picotask.models.users import Block, User
from picotask.services.errors import DomainError, ErrorCode
from picotask.services.money import parse_amount
from picotask.services.users import approval_rate
from picotask.settings import Settings


@dataclass(frozen=True, slots=True)
class TaskFilter:
    categories: list[TaskCategory] | None = None
    min_reward_cents: int | None = None
    search: str | None = None


MAX_SEARCH = 100


def check_filter(
    categories: list[TaskCategory] | None,
    min_reward: Decimal | None,
    search: str | None,
    settings: Settings,
) -> TaskFilter:
    """A worker's task filter (the `tasks` list and the live feed), checked."""
    min_reward_cents = None
    if min_reward is not None:
        min_reward_cents = parse_amount(
            min_reward,
            ["filter", "minReward"],
            minimum_cents=0,
            maximum_cents=settings.max_reward_cents,
        )
    text = (search or "").strip()
    if len(text) > MAX_SEARCH:
        raise DomainError(
            ErrorCode.TOO_LONG,
            f"filter.search must be at most {MAX_SEARCH} characters.",
            ["filter", "search"],
        )
    return TaskFilter(categories=categories, min_reward_cents=min_reward_cents, search=text or None)


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
    rate = approval_rate(worker.approved_count, worker.rejected_count)
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
    rate = approval_rate(worker.approved_count, worker.rejected_count)
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
