"""Uploaded images as proof: each upload used once, by its owner, on one submission; and the
near-duplicates among them, the screenshot one account passes to others.

When a proof is submitted, each of its images is compared with the proof images other
accounts submitted earlier on any task of the same employer (the same task included): one
query fetches the employer's newest `image_match_candidates` fingerprints, the comparison is
in memory. The worker's own earlier images (a revision) are never a match.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from picotask.models.submissions import Submission
from picotask.models.tasks import Task
from picotask.models.uploads import ImageMatch, Upload, UploadPurpose, UploadStatus
from picotask.services.core.errors import DomainError, ErrorCode, Problem
from picotask.services.media.fingerprints import distance, parse
from picotask.services.media.upload_use import ensure_usable
from picotask.services.work.proofs import Answer
from picotask.settings import Settings

MATCHES_PER_IMAGE = 10  # the closest ones; more say nothing new to the employer


class ProofImages:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def check(
        self, worker_id: int, submission_id: int, answers: list[Answer], now: datetime
    ) -> None:
        """Every upload of the answers is the worker's, a proof image, received, not expired
        and not used elsewhere (on this submission, by its previous version, is fine)."""
        wanted = [pk for a in answers for pk in a.upload_ids if pk is not None]
        found = {u.id: u for u in await Upload.filter(id__in=wanted)} if wanted else {}
        problems: list[Problem] = []
        for i, answer in enumerate(answers):
            for j, pk in enumerate(answer.upload_ids):
                field = ["input", "answers", str(i), "uploadIds", str(j)]
                upload = found.get(pk) if pk is not None else None
                try:
                    if upload is None or upload.owner_id != worker_id:
                        raise DomainError(ErrorCode.NOT_FOUND, "No such upload.", field)
                    if upload.purpose != UploadPurpose.PROOF_IMAGE:
                        raise DomainError(
                            ErrorCode.INVALID, "This upload is not a proof image.", field
                        )
                    here = upload.submission_id == submission_id
                    ensure_usable(upload, now, field, already_here=here)
                except DomainError as e:
                    problems.extend(e.problems)
        if problems:
            raise DomainError.of(problems)

    async def attach(
        self,
        submission: Submission,
        task: Task,
        image_ids: list[int],
        now: datetime,
        *,
        first: bool,
    ) -> None:
        """Inside the transaction storing the proof: the images become the submission's
        (images its previous version had and this one dropped go to the sweeper), then the
        near-duplicates of each are recorded. A lost race (an upload used or expired since
        `check`) is DUPLICATE, and the transaction rolls back. `first`: the submission had no
        proof before, so no image of its own to keep, drop or compare again."""
        if first and not image_ids:
            return
        rows = (
            await Upload.filter(
                id__in=image_ids, submission_id=submission.id, status=UploadStatus.ATTACHED
            ).values("id")
            if not first
            else []
        )
        kept = {int(row["id"]) for row in rows}
        new = [pk for pk in image_ids if pk not in kept]
        if new and await Upload.filter(
            id__in=new, status=UploadStatus.READY, owner_id=submission.worker_id, expires_at__gt=now
        ).update(
            status=UploadStatus.ATTACHED,
            submission_id=submission.id,
            task_id=task.id,
            employer_id=task.employer_id,
            attached_at=now,
            expires_at=None,
        ) != len(new):
            raise DomainError(
                ErrorCode.DUPLICATE,
                "An upload was used or expired meanwhile; submit again.",
                ["input", "answers"],
            )
        if not first:
            await (
                Upload.filter(submission_id=submission.id, status=UploadStatus.ATTACHED)
                .exclude(id__in=image_ids or [0])
                .update(status=UploadStatus.DELETING)
            )
        await self._record_matches(submission, task, image_ids, first=first)

    async def _record_matches(
        self, submission: Submission, task: Task, image_ids: list[int], *, first: bool
    ) -> None:
        if not first:
            await ImageMatch.filter(submission_id=submission.id).delete()
        if not image_ids:
            return
        mine = await Upload.filter(id__in=image_ids).values("id", "fingerprints")
        candidates = (
            await Upload.filter(
                employer_id=task.employer_id,
                purpose=UploadPurpose.PROOF_IMAGE,
                status=UploadStatus.ATTACHED,
            )
            .exclude(owner_id=submission.worker_id)
            .order_by("-id")
            .limit(self.settings.image_match_candidates)
            .values("id", "submission_id", "task_id", "fingerprints")
        )
        # Pure CPU (a few XORs per candidate): off the event loop.
        close = await asyncio.to_thread(
            closest, mine, candidates, self.settings.image_match_max_distance
        )
        matches = [
            ImageMatch(
                submission_id=submission.id,
                image_id=image_id,
                other_submission_id=row["submission_id"],
                other_image_id=row["id"],
                same_task=row["task_id"] == task.id,
                distance=d,
            )
            for image_id, d, row in close
        ]
        if matches:
            await ImageMatch.bulk_create(matches)


def closest(
    mine: list[dict[str, Any]], candidates: list[dict[str, Any]], max_distance: int
) -> list[tuple[int, int, dict[str, Any]]]:
    """(image id, distance, candidate row) of the candidates within `max_distance` of each
    of `mine`, the closest `MATCHES_PER_IMAGE` per image."""
    theirs = [(row, parse(row["fingerprints"])) for row in candidates]
    found: list[tuple[int, int, dict[str, Any]]] = []
    for image in mine:
        prints = parse(image["fingerprints"])
        near = sorted(
            ((d, row["id"]), row)
            for row, other in theirs
            if (d := distance(prints, other)) <= max_distance
        )
        found.extend((image["id"], d, row) for (d, _), row in near[:MATCHES_PER_IMAGE])
    return found
