"""Hire groups: an employer's named groups of workers, and private work for them.

A task restricted to groups is seen and taken only by their members (and its employer); the
rule itself is `discovery.access_problem` (the live feed, a claim, `node`) and the same rule
as SQL in `discovery.claimable_by` (the `tasks` list).
"""

from __future__ import annotations

from collections.abc import Sequence

from tortoise.exceptions import IntegrityError

from picotask.models.groups import HireGroup, HireGroupMember
from picotask.models.submissions import Submission
from picotask.models.tasks import Task
from picotask.models.users import User
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode, Validator
from picotask.services.core.standing import ensure_active
from picotask.services.core.user_text import TextKind

MAX_NAME = 80
MAX_DESCRIPTION = 2_000
MAX_GROUPS_PER_TASK = 20


def group_not_found(field: Sequence[str] = ("input", "groupId")) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No such hire group of yours.", field)


def check_name(name: str, description: str) -> tuple[str, str]:
    v = Validator()
    clean = v.text("name", name, min_length=1, max_length=MAX_NAME, kind=TextKind.LINE)
    about = v.text("description", description, max_length=MAX_DESCRIPTION, kind=TextKind.PROSE)
    v.check()
    return clean, about


async def own_groups(employer_id: int, ids: Sequence[int | None], field: str) -> str:
    """`target_groups` for a task restricted to these groups, all the employer's own: another
    employer's group (or none at all) is NOT_FOUND naming its place in the list."""
    if not ids:
        return ""
    if len(ids) > MAX_GROUPS_PER_TASK:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE,
            f"At most {MAX_GROUPS_PER_TASK} hire groups.",
            ["input", "targeting", field],
        )
    known = {pk for pk in ids if pk is not None}
    rows = await HireGroup.filter(id__in=list(known), employer_id=employer_id).values("id")
    owned = {int(row["id"]) for row in rows}
    for i, pk in enumerate(ids):
        if pk not in owned:
            raise group_not_found(["input", "targeting", field, str(i)])
    return "," + ",".join(str(pk) for pk in sorted(owned)) + "," if owned else ""


def group_ids(target_groups: str) -> list[int]:
    return [int(pk) for pk in target_groups.split(",") if pk]


async def groups_of(worker_id: int) -> frozenset[int]:
    """The groups the worker is in (read once per request or subscription)."""
    rows = await HireGroupMember.filter(worker_id=worker_id).values("group_id")
    return frozenset(int(row["group_id"]) for row in rows)


class HireGroupService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def own(self, employer: User, group_id: int | None) -> HireGroup:
        group = await HireGroup.get_or_none(id=group_id) if group_id else None
        if group is None or group.employer_id != employer.id:
            raise group_not_found()
        return group

    async def create(self, employer: User, name: str, description: str) -> HireGroup:
        ensure_active(employer)
        clean, about = check_name(name, description)
        try:
            return await HireGroup.create(
                employer_id=employer.id, name=clean, description=about, created_at=self.clock.now()
            )
        except IntegrityError:
            raise DomainError(
                ErrorCode.DUPLICATE, f"You already have a group named {clean!r}.", ["input", "name"]
            ) from None

    async def add_from_submission(
        self, employer: User, group_id: int | None, submission_id: int | None
    ) -> HireGroup:
        """The worker of a submission on one of the employer's tasks joins the group."""
        ensure_active(employer)
        group = await self.own(employer, group_id)
        submission = await Submission.get_or_none(id=submission_id) if submission_id else None
        task = await Task.get_or_none(id=submission.task_id) if submission else None
        if submission is None or task is None or task.employer_id != employer.id:
            raise DomainError(
                ErrorCode.NOT_FOUND,
                "No such submission on your tasks.",
                ["input", "submissionId"],
            )
        await HireGroupMember.bulk_create(
            [
                HireGroupMember(
                    group_id=group.id, worker_id=submission.worker_id, added_at=self.clock.now()
                )
            ],
            ignore_conflicts=True,
        )
        return group

    async def remove(
        self, employer: User, group_id: int | None, worker_id: int | None
    ) -> HireGroup:
        group = await self.own(employer, group_id)
        if (
            not worker_id
            or not await HireGroupMember.filter(group_id=group.id, worker_id=worker_id).delete()
        ):
            raise DomainError(
                ErrorCode.NOT_FOUND, "That worker is not in this group.", ["input", "workerId"]
            )
        return group
