"""Submissions: the worker's list, doing the work, reviewing it, disputes, ratings, bonuses."""

from __future__ import annotations

import strawberry

from picotask.models.submissions import Submission, SubmissionStatus
from picotask.schema.context import Info
from picotask.schema.errors import Forbidden
from picotask.schema.feeds import feed_cursor
from picotask.schema.money import Money
from picotask.schema.pages import page_of
from picotask.schema.relay import Node, pk_of
from picotask.schema.submissions import (
    ApproveSubmissionInput,
    ClaimTaskInput,
    DisputeRejectionInput,
    RateInput,
    RejectSubmissionInput,
    RequestRevisionInput,
    ResolveDisputeInput,
    SendBonusInput,
    SendBonusPayload,
    SubmissionActionInput,
    SubmissionConnection,
    SubmissionPayload,
    SubmissionType,
    SubmitProofInput,
)
from picotask.services.core.pagination import ID_ORDER, NEWEST_FIRST
from picotask.services.trust.disputes import open_disputes
from picotask.services.work.proofs import Answer
from picotask.services.work.transitions import can_see


def _sid(global_id: strawberry.ID) -> int | None:
    return pk_of(global_id, "Submission")


def _payload(submission: Submission) -> SubmissionPayload:
    return SubmissionPayload(submission=SubmissionType.from_model(submission))


async def submission_node(info: Info, pk: int) -> Node | None:
    viewer = info.context.viewer
    submission = await info.context.loaders.submission_by_id.load(pk) if viewer else None
    if submission is None or viewer is None:
        return None
    task = await info.context.loaders.task_by_id.load(submission.task_id)
    return SubmissionType.from_model(submission) if can_see(submission, task, viewer) else None


@strawberry.type
class SubmissionsQuery:
    @strawberry.field(description="Moderators: open disputes, oldest first.")
    async def disputes(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> SubmissionConnection:
        viewer = info.context.require_viewer()
        if not viewer.is_admin:
            raise Forbidden("Only moderators see the dispute queue.")
        cursor = feed_cursor(info)
        page = await page_of(open_disputes(), first, after, ID_ORDER)
        return SubmissionConnection.of(page, SubmissionType.from_model, feed_cursor=cursor)

    @strawberry.field(description="The viewer's own submissions, newest first.")
    async def my_submissions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: list[SubmissionStatus] | None = None,
    ) -> SubmissionConnection:
        viewer = info.context.require_viewer()
        cursor = feed_cursor(info)
        query = Submission.filter(worker_id=viewer.id)
        if status:
            query = query.filter(status__in=status)
        page = await page_of(query, first, after, NEWEST_FIRST)
        return SubmissionConnection.of(page, SubmissionType.from_model, feed_cursor=cursor)


@strawberry.type
class SubmissionsMutation:
    @strawberry.mutation(description="Hold a slot of an OPEN task until the claim timeout.")
    async def claim_task(self, info: Info, input: ClaimTaskInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        submissions = info.context.services.submissions
        return _payload(await submissions.claim(viewer, pk_of(input.task_id, "Task")))

    @strawberry.mutation(description="Give a claimed slot back.")
    async def release_claim(self, info: Info, input: SubmissionActionInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        submissions = info.context.services.submissions
        return _payload(await submissions.release(viewer, _sid(input.submission_id)))

    @strawberry.mutation(description="Submit (or resubmit) proof for a claimed slot.")
    async def submit_proof(self, info: Info, input: SubmitProofInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        answers = [
            Answer(a.label, a.value, tuple(pk_of(u, "Upload") for u in a.upload_ids))
            for a in input.answers
        ]
        submissions = info.context.services.submissions
        return _payload(await submissions.submit(viewer, _sid(input.submission_id), answers))

    @strawberry.mutation(description="Pay the reward to the worker (and the fee to the platform).")
    async def approve_submission(
        self, info: Info, input: ApproveSubmissionInput
    ) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        submissions = info.context.services.submissions
        sid = _sid(input.submission_id)
        return _payload(await submissions.approve(viewer, sid, input.feedback))

    @strawberry.mutation(description="Reject with a reason; the worker may dispute in time.")
    async def reject_submission(
        self, info: Info, input: RejectSubmissionInput
    ) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        submissions = info.context.services.submissions
        sid = _sid(input.submission_id)
        return _payload(
            await submissions.reject(viewer, sid, input.reason, input.comment, input.reopen_slot)
        )

    @strawberry.mutation(description="Send the work back; the worker resubmits before a deadline.")
    async def request_revision(self, info: Info, input: RequestRevisionInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        submissions = info.context.services.submissions
        sid = _sid(input.submission_id)
        return _payload(await submissions.request_revision(viewer, sid, input.comment))

    @strawberry.mutation(description="Contest a rejection before its dispute deadline.")
    async def dispute_rejection(
        self, info: Info, input: DisputeRejectionInput
    ) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        disputes = info.context.services.disputes
        sid = _sid(input.submission_id)
        return _payload(await disputes.dispute(viewer, sid, input.statement))

    @strawberry.mutation(description="Moderators: overturn (approve and pay) or uphold.")
    async def resolve_dispute(self, info: Info, input: ResolveDisputeInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        disputes = info.context.services.disputes
        sid = _sid(input.submission_id)
        return _payload(await disputes.resolve(viewer, sid, input.resolution, input.note))

    @strawberry.mutation(description="The employer rates approved work, 1 to 5 stars.")
    async def rate_worker(self, info: Info, input: RateInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        ratings = info.context.services.ratings
        sid = _sid(input.submission_id)
        return _payload(await ratings.rate_worker(viewer, sid, input.stars))

    @strawberry.mutation(description="The worker rates the employer after a review, 1 to 5.")
    async def rate_employer(self, info: Info, input: RateInput) -> SubmissionPayload:
        viewer = info.context.require_viewer()
        ratings = info.context.services.ratings
        sid = _sid(input.submission_id)
        return _payload(await ratings.rate_employer(viewer, sid, input.stars))

    @strawberry.mutation(description="Pay a worker extra from the employer's balance.")
    async def send_bonus(self, info: Info, input: SendBonusInput) -> SendBonusPayload:
        viewer = info.context.require_viewer()
        services = info.context.services
        submission, cents = await services.bonuses.send_bonus(
            viewer, _sid(input.submission_id), input.amount, input.reason, input.idempotency_key
        )
        return SendBonusPayload(
            submission=SubmissionType.from_model(submission),
            amount=Money.of(cents, services.settings.currency),
        )
