"""Submissions as the API shows them, with the inputs and payloads of doing and reviewing work.

Over ~300 lines on purpose: one domain's types, inputs and payloads, as every `schema/` module
holds; what is shared with other domains lives in `schema/` helpers already.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import strawberry

from picotask.models.submissions import (
    DecidedBy,
    DisputeResolution,
    RejectionReason,
    Submission,
    SubmissionStatus,
)
from picotask.models.uploads import UploadStatus
from picotask.schema.batch_types import BatchItemType
from picotask.schema.context import Info
from picotask.schema.errors import UserError
from picotask.schema.feeds import FeedConnection
from picotask.schema.money import Money
from picotask.schema.quality import GoldAccuracyType
from picotask.schema.relay import Node, to_global_id
from picotask.schema.tasks import TaskType
from picotask.schema.uploads import ImageType
from picotask.schema.users import UserType
from picotask.services.work.batch_files import fill
from picotask.services.work.transitions import can_review, can_see

strawberry.enum(SubmissionStatus, name="SubmissionStatus")
strawberry.enum(RejectionReason, name="RejectionReason")
strawberry.enum(DisputeResolution, name="DisputeResolution")


@strawberry.type
class ProofAnswer:
    label: str
    value: str = strawberry.field(description="Empty for an IMAGE field: see images.")
    _image_ids: strawberry.Private[list[int]]
    _submission: strawberry.Private[Submission]

    @strawberry.field(
        description="An IMAGE field's uploaded images, with short-lived links; for those who "
        "may see the submission (its worker, the task's employer, dispute moderators)."
    )
    async def images(self, info: Info) -> list[ImageType]:
        if not self._image_ids:
            return []
        task = await info.context.loaders.task_by_id.load(self._submission.task_id)
        if not can_see(self._submission, task, info.context.viewer):
            return []
        uploads = await info.context.loaders.upload_by_id.load_many(self._image_ids)
        return [
            ImageType.of(u, info)
            for u in uploads
            if u is not None
            and u.status == UploadStatus.ATTACHED
            and u.submission_id == self._submission.id
        ]


@strawberry.type(
    name="ImageMatch",
    description="An image of this proof that closely matches one another account submitted "
    "earlier, on this task or another of the same employer's: a sign of one screenshot passed "
    "between accounts.",
)
class ImageMatchType:
    image: ImageType = strawberry.field(description="This submission's image.")
    other_image: ImageType
    distance: int = strawberry.field(
        description="How far apart they look: the bits that differ between their "
        "fingerprints (of 192), plus one per percent of the image a crop had to cut to line "
        "them up. 0 is the same picture, re-encoded or resized; a cropped copy is further "
        "the more was cut (about 12 for 3% off each side)."
    )
    same_task: bool
    _other_submission_id: strawberry.Private[int]

    @strawberry.field(description="The earlier submission, by another worker.")
    async def other_submission(self, info: Info) -> SubmissionType:
        other = await info.context.loaders.submission_by_id.load(self._other_submission_id)
        assert other is not None  # submissions are never deleted (RESTRICT)
        return SubmissionType.from_model(other)


@strawberry.type(name="Submission")
class SubmissionType(Node):
    status: SubmissionStatus
    claimed_at: datetime
    claim_expires_at: datetime | None
    submitted_at: datetime | None
    review_deadline: datetime | None = strawberry.field(
        description="Approved automatically at this time unless reviewed before."
    )
    revision_deadline: datetime | None
    answers: list[ProofAnswer]
    feedback: str | None
    rejection_reason: RejectionReason | None
    rejection_comment: str | None
    revision_comment: str | None
    reviewed_at: datetime | None
    dispute_deadline: datetime | None = strawberry.field(
        description="A rejection becomes final, and its held money returns, at this time."
    )
    auto_approved: bool
    decided_by: DecidedBy | None = strawberry.field(
        description="Who approved or rejected it: the employer, or which automatic rule."
    )
    dispute_statement: str | None
    disputed_at: datetime | None
    dispute_resolution: DisputeResolution | None
    dispute_note: str | None
    model: strawberry.Private[Submission]

    @strawberry.field(
        description="Labels whose answer another account already submitted on this task "
        "(a sign of shared or bought proof); only the task's employer sees it."
    )
    async def reused_proof(self, info: Info) -> list[str]:
        task = await info.context.loaders.task_by_id.load(self.model.task_id)
        viewer = info.context.viewer
        viewer_id = viewer.id if viewer else None
        return list(self.model.reused_labels) if can_review(task, viewer_id) else []

    async def _reviewing(self, info: Info) -> bool:
        task = await info.context.loaders.task_by_id.load(self.model.task_id)
        viewer = info.context.viewer
        return can_review(task, viewer.id if viewer else None)

    @strawberry.field(
        description="On a gold item: whether every expected answer matched (graded at "
        "submit); null otherwise, and for everyone but the task's employer."
    )
    async def gold_correct(self, info: Info) -> bool | None:
        return self.model.gold_correct if await self._reviewing(info) else None

    @strawberry.field(
        description="Submitted sooner after the claim than the task's review policy allows; "
        "null for everyone but the task's employer."
    )
    async def too_fast(self, info: Info) -> bool | None:
        return self.model.too_fast if await self._reviewing(info) else None

    @strawberry.field(
        description="With an overlap policy: the share of the item's answers (pending or "
        "approved) that agree with this one; the task's employer only."
    )
    async def agreement(self, info: Info) -> float | None:
        loaders = info.context.loaders
        if self.model.answer_key is None or not await self._reviewing(info):
            return None
        policy = await loaders.review_policy_by_task.load(self.model.task_id)
        if policy is None or not policy.overlap:
            return None
        key = (self.model.task_id, self.model.item_id, self.model.answer_key)
        return await loaders.agreement_by_answer_key.load(key)

    @strawberry.field(
        description="The worker's accuracy on the task employer's gold items; that employer only."
    )
    async def worker_accuracy(self, info: Info) -> GoldAccuracyType | None:
        task = await info.context.loaders.task_by_id.load(self.model.task_id)
        viewer = info.context.viewer
        if task is None or not can_review(task, viewer.id if viewer else None):
            return None
        loader = info.context.loaders.gold_accuracy_by_employer_worker
        return GoldAccuracyType.of(await loader.load((task.employer_id, self.model.worker_id)))

    @strawberry.field(
        description="Images of this proof that closely match images other accounts "
        "submitted earlier on the employer's tasks, closest first; only the task's employer "
        "sees them."
    )
    async def image_matches(self, info: Info) -> list[ImageMatchType]:
        loaders = info.context.loaders
        task = await loaders.task_by_id.load(self.model.task_id)
        viewer = info.context.viewer
        if not can_review(task, viewer.id if viewer else None):
            return []
        matches = await loaders.image_matches_by_submission.load(self.model.id)
        ids = [pk for m in matches for pk in (m.image_id, m.other_image_id)]
        uploads = {u.id: u for u in await loaders.upload_by_id.load_many(ids) if u is not None}
        return [
            ImageMatchType(
                image=ImageType.of(uploads[m.image_id], info),
                other_image=ImageType.of(uploads[m.other_image_id], info),
                distance=m.distance,
                same_task=m.same_task,
                _other_submission_id=m.other_submission_id,
            )
            for m in matches
            if m.image_id in uploads and m.other_image_id in uploads
        ]

    @strawberry.field(
        description="The task's instructions (markdown), on a batch with this item's values "
        "in place of its `{{column}}` placeholders (as plain text)."
    )
    async def instructions(self, info: Info) -> str:
        loaders = info.context.loaders
        task = await loaders.task_by_id.load(self.model.task_id)
        assert task is not None  # tasks are never deleted (RESTRICT)
        if self.model.item_id is None:
            return task.instructions
        item = await loaders.task_item_by_id.load(self.model.item_id)
        return fill(task.instructions, item.data if item else {})

    @strawberry.field(description="On a batch: the item this submission works on.")
    async def item(self, info: Info) -> BatchItemType | None:
        if self.model.item_id is None:
            return None
        loaders = info.context.loaders
        task = await loaders.task_by_id.load(self.model.task_id)
        item = await loaders.task_item_by_id.load(self.model.item_id)
        if task is None or item is None:
            return None
        return BatchItemType.of(item, list(task.batch_columns or ()))

    @strawberry.field
    async def task(self, info: Info) -> TaskType:
        task = await info.context.loaders.task_by_id.load(self.model.task_id)
        assert task is not None  # tasks are never deleted (RESTRICT)
        return TaskType.from_model(task, info.context.services.settings.currency)

    @strawberry.field
    async def worker(self, info: Info) -> UserType:
        user = await info.context.loaders.user_by_id.load(self.model.worker_id)
        assert user is not None  # users with submissions are never deleted (RESTRICT)
        return UserType.from_model(user)

    @classmethod
    def from_model(cls, submission: Submission) -> SubmissionType:
        return cls(
            id=to_global_id("Submission", submission.id),
            status=submission.status,
            claimed_at=submission.claimed_at,
            claim_expires_at=submission.claim_expires_at,
            submitted_at=submission.submitted_at,
            review_deadline=submission.review_deadline,
            revision_deadline=submission.revision_deadline,
            answers=[
                ProofAnswer(
                    label=a["label"],
                    value=a["value"],
                    _image_ids=[int(pk) for pk in a.get("images", ())],
                    _submission=submission,
                )
                for a in submission.answers
            ],
            feedback=submission.feedback,
            rejection_reason=submission.rejection_reason,
            rejection_comment=submission.rejection_comment,
            revision_comment=submission.revision_comment,
            reviewed_at=submission.reviewed_at,
            dispute_deadline=submission.dispute_deadline,
            auto_approved=submission.auto_approved,
            decided_by=submission.decided_by,
            dispute_statement=submission.dispute_statement,
            disputed_at=submission.disputed_at,
            dispute_resolution=submission.dispute_resolution,
            dispute_note=submission.dispute_note,
            model=submission,
        )


@strawberry.type(name="SubmissionConnection")
class SubmissionConnection(FeedConnection[SubmissionType]):
    """A named class, not an alias, so `Task.submissions` can refer to it lazily."""


@strawberry.input
class ClaimTaskInput:
    task_id: strawberry.ID


@strawberry.input
class SubmissionActionInput:
    submission_id: strawberry.ID


@strawberry.input
class ProofAnswerInput:
    label: str
    value: str = strawberry.field(default="", description="Every kind but IMAGE.")
    upload_ids: list[strawberry.ID] = strawberry.field(
        default_factory=list,
        description="IMAGE fields: ids of uploaded proof images (createUpload), each used once.",
    )


@strawberry.input
class SubmitProofInput:
    submission_id: strawberry.ID
    answers: list[ProofAnswerInput]


@strawberry.input
class ApproveSubmissionInput:
    submission_id: strawberry.ID
    feedback: str | None = None


@strawberry.input
class RejectSubmissionInput:
    submission_id: strawberry.ID
    reason: RejectionReason
    comment: str
    reopen_slot: bool = strawberry.field(
        default=False, description="Fund a new slot so another worker can take it."
    )


@strawberry.input
class RequestRevisionInput:
    submission_id: strawberry.ID
    comment: str


@strawberry.input
class DisputeRejectionInput:
    submission_id: strawberry.ID
    statement: str = strawberry.field(description="Why the rejection is wrong (up to 2,000).")


@strawberry.input
class ResolveDisputeInput:
    submission_id: strawberry.ID
    resolution: DisputeResolution
    note: str | None = None


@strawberry.input
class SendBonusInput:
    submission_id: strawberry.ID
    amount: Decimal
    reason: str
    idempotency_key: str | None = None


@strawberry.type
class SubmissionPayload:
    submission: SubmissionType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SendBonusPayload:
    submission: SubmissionType | None = None
    amount: Money | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RateInput:
    submission_id: strawberry.ID
    stars: int = strawberry.field(description="1 to 5.")
