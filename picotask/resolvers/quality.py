"""Quality: gold answers and review policies on the employer's tasks, and a worker's accuracy
on the viewer's gold."""

from __future__ import annotations

import strawberry

from picotask.resolvers.tasks import task_view
from picotask.schema.context import Info
from picotask.schema.quality import GoldAccuracyType, SetGoldAnswersInput, SetReviewPolicyInput
from picotask.schema.relay import pk_of
from picotask.schema.tasks import TaskActionPayload
from picotask.services.quality.specs import GoldAnswerSpec, GoldItemSpec, PolicySpec


@strawberry.type
class QualityQuery:
    @strawberry.field(
        description="A worker's accuracy on your gold items (zero answered if none yet)."
    )
    async def gold_accuracy(self, info: Info, worker_id: strawberry.ID) -> GoldAccuracyType:
        viewer = info.context.require_viewer()
        record = await info.context.services.quality.record(viewer, pk_of(worker_id, "User"))
        return GoldAccuracyType.of(record)


@strawberry.type
class QualityMutation:
    @strawberry.mutation(
        description="Mark items of your task or batch as gold, with their expected answers "
        "(never shown to workers); graded as each is submitted."
    )
    async def set_gold_answers(self, info: Info, input: SetGoldAnswersInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        specs = [
            GoldItemSpec(
                position=item.position,
                answers=[
                    GoldAnswerSpec(
                        label=a.label,
                        match=a.match,
                        value=a.value,
                        values=tuple(a.values or ()),
                        tolerance=a.tolerance,
                    )
                    for a in item.answers
                ],
            )
            for item in input.items
        ]
        quality = info.context.services.quality
        task = await quality.set_gold(viewer, pk_of(input.task_id, "Task"), specs)
        return TaskActionPayload(task=task_view(info, task))

    @strawberry.mutation(
        description="Set how your task's proof is reviewed automatically (replaces the "
        "policy; every part optional)."
    )
    async def set_review_policy(self, info: Info, input: SetReviewPolicyInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        spec = PolicySpec(
            auto_approve_at=input.auto_approve_at_accuracy,
            auto_reject_below=input.auto_reject_below_accuracy,
            block_below=input.block_below_accuracy,
            min_gold_answered=input.min_gold_answered,
            overlap=input.overlap,
            min_seconds=input.min_seconds,
            reject_too_fast=input.reject_too_fast,
        )
        quality = info.context.services.quality
        task = await quality.set_policy(viewer, pk_of(input.task_id, "Task"), spec)
        return TaskActionPayload(task=task_view(info, task))
