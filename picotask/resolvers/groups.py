"""Hire groups (private work) and qualifications: the employer's lists and actions, and what
a worker belongs to and holds."""

from __future__ import annotations

import strawberry

from picotask.models.groups import HireGroup
from picotask.models.qualifications import Qualification, QualificationGrant
from picotask.schema.context import Info
from picotask.schema.groups import (
    AddToHireGroupInput,
    CreateHireGroupInput,
    CreateQualificationInput,
    GrantQualificationInput,
    GrantQualificationPayload,
    HireGroupPayload,
    HireGroupType,
    QualificationGrantType,
    QualificationPayload,
    QualificationType,
    RemoveFromHireGroupInput,
    RevokeQualificationInput,
)
from picotask.schema.pages import connection
from picotask.schema.relay import Connection, Node, pk_of
from picotask.services.core.pagination import NEWEST_FIRST


async def hire_group_node(info: Info, pk: int) -> Node | None:
    """Its employer and its members see a group; nobody else."""
    group = await HireGroup.get_or_none(id=pk)
    viewer = info.context.viewer
    if group is None or viewer is None:
        return None
    if (
        group.employer_id != viewer.id
        and pk not in await info.context.loaders.group_ids_by_worker.load(viewer.id)
    ):
        return None
    return HireGroupType.from_model(group)


async def qualification_node(info: Info, pk: int) -> Node | None:
    """Public: workers read what a task requires."""
    found = await info.context.loaders.qualification_by_id.load(pk)
    return QualificationType.from_model(found) if found else None


@strawberry.type
class GroupsQuery:
    @strawberry.field(description="The viewer's own hire groups, newest first.")
    async def hire_groups(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[HireGroupType]:
        viewer = info.context.require_viewer()
        query = HireGroup.filter(employer_id=viewer.id)
        return await connection(query, HireGroupType.from_model, first, after, NEWEST_FIRST)

    @strawberry.field(description="The hire groups the viewer is in (names, never members).")
    async def my_hire_groups(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[HireGroupType]:
        viewer = info.context.require_viewer()
        query = HireGroup.filter(members__worker_id=viewer.id)
        return await connection(query, HireGroupType.from_model, first, after, NEWEST_FIRST)

    @strawberry.field(description="The qualifications the viewer defined, newest first.")
    async def qualifications(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[QualificationType]:
        viewer = info.context.require_viewer()
        query = Qualification.filter(employer_id=viewer.id)
        return await connection(query, QualificationType.from_model, first, after, NEWEST_FIRST)

    @strawberry.field(description="The qualifications the viewer holds, with their scores.")
    async def my_qualifications(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[QualificationGrantType]:
        viewer = info.context.require_viewer()
        query = QualificationGrant.filter(worker_id=viewer.id)
        return await connection(
            query, QualificationGrantType.from_model, first, after, NEWEST_FIRST
        )


@strawberry.type
class GroupsMutation:
    @strawberry.mutation
    async def create_hire_group(self, info: Info, input: CreateHireGroupInput) -> HireGroupPayload:
        viewer = info.context.require_viewer()
        group = await info.context.services.hire_groups.create(
            viewer, input.name, input.description
        )
        return HireGroupPayload(hire_group=HireGroupType.from_model(group))

    @strawberry.mutation(description="Add the worker of a submission on one of your tasks.")
    async def add_to_hire_group(self, info: Info, input: AddToHireGroupInput) -> HireGroupPayload:
        viewer = info.context.require_viewer()
        group = await info.context.services.hire_groups.add_from_submission(
            viewer, pk_of(input.group_id, "HireGroup"), pk_of(input.submission_id, "Submission")
        )
        return HireGroupPayload(hire_group=HireGroupType.from_model(group))

    @strawberry.mutation
    async def remove_from_hire_group(
        self, info: Info, input: RemoveFromHireGroupInput
    ) -> HireGroupPayload:
        viewer = info.context.require_viewer()
        group = await info.context.services.hire_groups.remove(
            viewer, pk_of(input.group_id, "HireGroup"), pk_of(input.worker_id, "User")
        )
        return HireGroupPayload(hire_group=HireGroupType.from_model(group))

    @strawberry.mutation
    async def create_qualification(
        self, info: Info, input: CreateQualificationInput
    ) -> QualificationPayload:
        viewer = info.context.require_viewer()
        found = await info.context.services.qualifications.create(
            viewer, input.name, input.description
        )
        return QualificationPayload(qualification=QualificationType.from_model(found))

    @strawberry.mutation(description="Grant (or re-score) one of your qualifications by hand.")
    async def grant_qualification(
        self, info: Info, input: GrantQualificationInput
    ) -> GrantQualificationPayload:
        viewer = info.context.require_viewer()
        grant = await info.context.services.qualifications.grant(
            viewer,
            pk_of(input.qualification_id, "Qualification"),
            pk_of(input.worker_id, "User"),
            input.score,
        )
        return GrantQualificationPayload(grant=QualificationGrantType.from_model(grant))

    @strawberry.mutation
    async def revoke_qualification(
        self, info: Info, input: RevokeQualificationInput
    ) -> QualificationPayload:
        viewer = info.context.require_viewer()
        found = await info.context.services.qualifications.revoke(
            viewer, pk_of(input.qualification_id, "Qualification"), pk_of(input.worker_id, "User")
        )
        return QualificationPayload(qualification=QualificationType.from_model(found))
