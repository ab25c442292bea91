"""Batches: create one from a file of items, add items, export the results. Pausing, resuming
and cancelling a batch are its task's mutations."""

from __future__ import annotations

import strawberry

from picotask.resolvers.tasks import task_spec_of, task_view
from picotask.schema.batches import (
    AddBatchItemsInput,
    CreateBatchInput,
    CreateBatchPayload,
    batch_results_csv,
)
from picotask.schema.context import Info
from picotask.schema.relay import pk_of
from picotask.schema.tasks import TaskActionPayload
from picotask.services.work.batch_files import ItemSource


@strawberry.type
class BatchesQuery:
    @strawberry.field(
        description="The viewer's batch as CSV (RFC 4180): one line per item in file order, "
        "its data, status (FREE or its submission's), worker, submission, times, decided_by, "
        "gold_correct, too_fast, agreement (as on the submission) and answers."
    )
    async def batch_results_csv(self, info: Info, task_id: strawberry.ID) -> str:
        viewer = info.context.require_viewer()
        results = await info.context.services.batches.results(viewer, pk_of(task_id, "Task"))
        return batch_results_csv(results)


@strawberry.type
class BatchesMutation:
    @strawberry.mutation(
        description="Post a task template over a file of items, one slot per item; publishing "
        "(the default) funds every item in one posting, or nothing is written."
    )
    async def create_batch(self, info: Info, input: CreateBatchInput) -> CreateBatchPayload:
        viewer = info.context.require_viewer()
        source = ItemSource(csv=input.csv, csv_base64=input.csv_base64, json=input.json)
        task = await info.context.services.batches.create(
            viewer, task_spec_of(input, 0), source, publish=input.publish
        )
        return CreateBatchPayload(task=task_view(info, task))

    @strawberry.mutation(description="Append (and fund) items with the batch's columns.")
    async def add_batch_items(self, info: Info, input: AddBatchItemsInput) -> TaskActionPayload:
        viewer = info.context.require_viewer()
        source = ItemSource(csv=input.csv, csv_base64=input.csv_base64, json=input.json)
        batches = info.context.services.batches
        task = await batches.add_items(viewer, pk_of(input.task_id, "Task"), source)
        return TaskActionPayload(task=task_view(info, task))
