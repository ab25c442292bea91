"""Discovery: which tasks a worker may see and take (targeting, blocks, their own filter).

The same rules serve the `tasks` list (as one query) and the live feed (on an event's snapshot,
without a query).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from tortoise.expressions import F, Q, Subquery
from tortoise.queryset import QuerySet, ValuesQuery

from picotask.models.groups import HireGroupMember, TaskHireGroup
from picotask.models.qualifications import TaskQualification
from picotask.models.tasks import Task, TaskCategory, TaskStatus
from picotask.models.users import Block, User
from picotask.services.accounts.users import approval_rate
from picotask.services.core.amounts import parse_amount
from picotask.services.core.criteria import NoRowIn, Where
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.targeting.groups import groups_of
from picotask.services.targeting.qualifications import grants_of
from picotask.services.targeting.search import MIN_SEARCH, task_search
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
    if 0 < len(text) < MIN_SEARCH:
        raise DomainError(
            ErrorCode.TOO_SHORT,
            f"filter.search must be at least {MIN_SEARCH} characters (or left out).",
            ["filter", "search"],
        )
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


@dataclass(frozen=True, slots=True)
class Access:
    """What private work a worker may take: their hire groups and qualification scores (read
    once per request, claim or subscription: `groups.groups_of`, `qualifications.grants_of`)."""

    groups: frozenset[int] = frozenset()
    grants: Mapping[int, int] = field(default_factory=dict)


async def access_of(worker_id: int) -> Access:
    """The worker's hire groups and qualifications: two queries, once per claim or
    subscription (the `tasks` list needs none: the same rule is in its SQL)."""
    return Access(await groups_of(worker_id), await grants_of(worker_id))


def access_problem(
    target_groups: str, required: Sequence[Mapping[str, int]], access: Access
) -> str | None:
    """Hire groups and qualifications on plain values (a task, or an event's snapshot)."""
    if target_groups and not any(f",{g}," in target_groups for g in access.groups):
        return "This task is for the employer's hire groups only."
    for requirement in required:
        if access.grants.get(requirement["id"], -1) < requirement["min_score"]:
            return "You do not hold a qualification this task requires (or its score)."
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
    me = worker.id  # not taken before: an anti-join, as cheap for a long history as a short one
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
        .filter(Where(lambda table, _: NoRowIn(table, "submissions", "task_id", "worker_id", me)))
        .exclude(employer_id__in=Subquery(Block.filter(worker_id=worker.id).values("employer_id")))
        .filter(Q(target_groups="") | Q(id__in=Subquery(_group_tasks(worker.id))))
        .exclude(id__in=Subquery(_unmet_requirements(worker.id)))
    )
    if query is not None:
        if query.categories:
            tasks = tasks.filter(category__in=query.categories)
        if query.min_reward_cents is not None:
            tasks = tasks.filter(reward__gte=query.min_reward_cents)
        if query.search:
            tasks = tasks.filter(task_search(query.search))
    return tasks


def _group_tasks(worker_id: int) -> ValuesQuery[Literal[False]]:
    """Ids of tasks restricted to a group the worker is in."""
    groups = HireGroupMember.filter(worker_id=worker_id).values("group_id")
    return TaskHireGroup.filter(group_id__in=Subquery(groups)).values("task_id")


def _unmet_requirements(worker_id: int) -> ValuesQuery[Literal[False]]:
    """Ids of tasks with a requirement the worker does not meet (holds, at the score)."""
    met = TaskQualification.filter(
        qualification__grants__worker_id=worker_id,
        qualification__grants__score__gte=F("min_score"),
    ).values("id")
    return TaskQualification.exclude(id__in=Subquery(met)).values("task_id")
