"""Qualifications: what an employer certifies about workers (by hand, or by a test task), and
what tasks require of them."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from picotask.models.tasks import Task
from picotask.models.users import User


class Qualification(Model):
    id = fields.BigIntField(primary_key=True)
    employer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="qualifications", on_delete=fields.RESTRICT
    )
    employer_id: int
    name = fields.CharField(max_length=80)
    description = fields.TextField(default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "qualifications"
        unique_together = (("employer_id", "name"),)


class QualificationGrant(Model):
    id = fields.BigIntField(primary_key=True)
    qualification: fields.ForeignKeyRelation[Qualification] = fields.ForeignKeyField(
        "models.Qualification", related_name="grants", on_delete=fields.CASCADE
    )
    qualification_id: int
    worker: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="qualification_grants", on_delete=fields.RESTRICT
    )
    worker_id: int
    score = fields.SmallIntField()  # 0..100
    granted_at = fields.DatetimeField()

    class Meta:
        table = "qualification_grants"
        unique_together = (("qualification_id", "worker_id"),)
        indexes = (("worker_id", "qualification_id"),)


# A task's requirements (also on the task as `required_qualifications`, for the live feed).
class TaskQualification(Model):
    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="requirements", on_delete=fields.RESTRICT
    )
    task_id: int
    qualification: fields.ForeignKeyRelation[Qualification] = fields.ForeignKeyField(
        "models.Qualification", related_name="required_by", on_delete=fields.RESTRICT
    )
    qualification_id: int
    min_score = fields.SmallIntField()

    class Meta:
        table = "task_qualifications"
        unique_together = (("task_id", "qualification_id"),)


# A qualification test: submitting proof on this task grants the qualification with the share of
# expected answers matched as its score. Kept off the task's row, so the expected answers are in
# no event snapshot and reach no worker.
class QualificationTest(Model):
    id = fields.BigIntField(primary_key=True)
    task: fields.OneToOneRelation[Task] = fields.OneToOneField(
        "models.Task", related_name="qualification_test", on_delete=fields.RESTRICT
    )
    task_id: int
    qualification: fields.ForeignKeyRelation[Qualification] = fields.ForeignKeyField(
        "models.Qualification", related_name="tests", on_delete=fields.RESTRICT
    )
    qualification_id: int
    expected: fields.Field[dict[str, str]] = fields.JSONField()  # label -> expected answer

    class Meta:
        table = "qualification_tests"
