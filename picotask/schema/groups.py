"""Hire groups and qualifications as the API shows them, with their inputs and payloads."""

from __future__ import annotations

from datetime import datetime

import strawberry

from picotask.models.groups import HireGroup
from picotask.models.qualifications import Qualification, QualificationGrant
from picotask.models.users import User
from picotask.schema.context import Info
from picotask.schema.errors import Forbidden, UserError
from picotask.schema.pages import connection
from picotask.schema.relay import Connection, Node, to_global_id
from picotask.schema.users import UserType
from picotask.services.core.pagination import ID_ORDER


async def _user(info: Info, pk: int) -> UserType:
    user = await info.context.loaders.user_by_id.load(pk)
    assert user is not None  # users are never deleted (RESTRICT)
    return UserType.from_model(user)


def _owner(info: Info, employer_id: int) -> bool:
    viewer = info.context.viewer
    return viewer is not None and viewer.id == employer_id


@strawberry.type(
    name="HireGroup",
    description="An employer's named group of workers. Its members see its name, never who "
    "else is in it.",
)
class HireGroupType(Node):
    name: str
    description: str
    created_at: datetime
    model: strawberry.Private[HireGroup]

    @strawberry.field
    async def employer(self, info: Info) -> UserType:
        return await _user(info, self.model.employer_id)

    @strawberry.field(
        description="Who is in the group: for its employer; null for anyone else (a member "
        "sees the group, never who else is in it), so one fragment serves both screens."
    )
    async def members(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[UserType] | None:
        if not _owner(info, self.model.employer_id):
            return None
        query = User.filter(memberships__group_id=self.model.id)
        return await connection(query, UserType.from_model, first, after, ID_ORDER)

    @classmethod
    def from_model(cls, group: HireGroup) -> HireGroupType:
        return cls(
            id=to_global_id("HireGroup", group.id),
            name=group.name,
            description=group.description,
            created_at=group.created_at,
            model=group,
        )


@strawberry.type(name="Qualification", description="What an employer certifies about workers.")
class QualificationType(Node):
    name: str
    description: str
    created_at: datetime
    model: strawberry.Private[Qualification]

    @strawberry.field
    async def employer(self, info: Info) -> UserType:
        return await _user(info, self.model.employer_id)

    @strawberry.field(description="Workers who hold it, with their scores; its employer only.")
    async def holders(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[QualificationGrantType]:
        if not _owner(info, self.model.employer_id):
            raise Forbidden("Only the qualification's employer sees who holds it.")
        query = QualificationGrant.filter(qualification_id=self.model.id)
        return await connection(query, QualificationGrantType.from_model, first, after, ID_ORDER)

    @classmethod
    def from_model(cls, qualification: Qualification) -> QualificationType:
        return cls(
            id=to_global_id("Qualification", qualification.id),
            name=qualification.name,
            description=qualification.description,
            created_at=qualification.created_at,
            model=qualification,
        )


async def qualification_of(info: Info, pk: int) -> QualificationType:
    found = await info.context.loaders.qualification_by_id.load(pk)
    assert found is not None  # qualifications in use are never deleted (RESTRICT)
    return QualificationType.from_model(found)


@strawberry.type(name="QualificationGrant")
class QualificationGrantType:
    score: int = strawberry.field(description="0 to 100.")
    granted_at: datetime
    model: strawberry.Private[QualificationGrant]

    @strawberry.field
    async def qualification(self, info: Info) -> QualificationType:
        return await qualification_of(info, self.model.qualification_id)

    @strawberry.field
    async def worker(self, info: Info) -> UserType:
        return await _user(info, self.model.worker_id)

    @classmethod
    def from_model(cls, grant: QualificationGrant) -> QualificationGrantType:
        return cls(score=grant.score, granted_at=grant.granted_at, model=grant)


@strawberry.input
class CreateHireGroupInput:
    name: str
    description: str = ""


@strawberry.input
class AddToHireGroupInput:
    group_id: strawberry.ID
    submission_id: strawberry.ID = strawberry.field(
        description="A submission on one of your tasks: its worker joins the group."
    )


@strawberry.input
class RemoveFromHireGroupInput:
    group_id: strawberry.ID
    worker_id: strawberry.ID


@strawberry.type
class HireGroupPayload:
    hire_group: HireGroupType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateQualificationInput:
    name: str
    description: str = ""


@strawberry.input
class GrantQualificationInput:
    qualification_id: strawberry.ID
    worker_id: strawberry.ID
    score: int = strawberry.field(default=100, description="0 to 100.")


@strawberry.input
class RevokeQualificationInput:
    qualification_id: strawberry.ID
    worker_id: strawberry.ID


@strawberry.type
class QualificationPayload:
    qualification: QualificationType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class GrantQualificationPayload:
    grant: QualificationGrantType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
