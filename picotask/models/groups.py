"""Hire groups: an employer's named groups of workers, and the tasks restricted to them."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from picotask.models.tasks import Task
from picotask.models.users import User


class HireGroup(Model):
    id = fields.BigIntField(primary_key=True)
    employer: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="hire_groups", on_delete=fields.RESTRICT
    )
    employer_id: int
    name = fields.CharField(max_length=80)
    description = fields.TextField(default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "hire_groups"
        unique_together = (("employer_id", "name"),)


class HireGroupMember(Model):
    id = fields.BigIntField(primary_key=True)
    group: fields.ForeignKeyRelation[HireGroup] = fields.ForeignKeyField(
        "models.HireGroup", related_name="members", on_delete=fields.CASCADE
    )
    group_id: int
    worker: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="memberships", on_delete=fields.RESTRICT
    )
    worker_id: int
    added_at = fields.DatetimeField()

    class Meta:
        table = "hire_group_members"
        unique_together = (("group_id", "worker_id"),)
        indexes = (("worker_id", "group_id"),)


# The groups a task is restricted to (also on the task as `target_groups`, for the live feed's
# snapshot); a task with none is open to everyone its other targeting allows.
class TaskHireGroup(Model):
    id = fields.BigIntField(primary_key=True)
    task: fields.ForeignKeyRelation[Task] = fields.ForeignKeyField(
        "models.Task", related_name="hire_groups", on_delete=fields.RESTRICT
    )
    task_id: int
    group: fields.ForeignKeyRelation[HireGroup] = fields.ForeignKeyField(
        "models.HireGroup", related_name="tasks", on_delete=fields.RESTRICT
    )
    group_id: int

    class Meta:
        table = "task_hire_groups"
        unique_together = (("task_id", "group_id"),)
        indexes = (("group_id", "task_id"),)
