"""Proof: answers checked against a task's proof fields, and hashed to spot one proof passed
off by several accounts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from picotask.models.submissions import ProofHash, Submission
from picotask.models.tasks import ProofKind
from picotask.services.core.errors import ErrorCode, Validator

MAX_TEXT_ANSWER = 5_000
MAX_ANSWER = 2_000  # URLs and numbers
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Answer:
    label: str
    value: str
    # IMAGE fields: the uploads' ids (None for an id that names no upload).
    upload_ids: tuple[int | None, ...] = ()


def check_answers(
    proof_fields: list[dict[str, Any]], answers: list[Answer], max_images: int
) -> list[dict[str, Any]]:
    """Answers against the task's proof fields: required ones present, each of its kind.
    IMAGE fields are answered with uploads (1 to `max_images`), every other kind with a
    value; stored as `{"label", "value"}` plus `"images": [upload id, ...]`."""
    v = Validator(("input", "answers"))
    by_label = {str(f["label"]).casefold(): f for f in proof_fields}
    given: dict[str, tuple[str, list[int | None]]] = {}
    for i, answer in enumerate(answers):
        key = answer.label.strip().casefold()
        field = by_label.get(key)
        if field is None:
            v.add(str(i), ErrorCode.INVALID, f"{answer.label!r} is not a proof field of this task.")
            continue
        if key in given:
            v.add(str(i), ErrorCode.DUPLICATE, f"{field['label']!r} is answered twice.")
            continue
        kind = ProofKind(field["kind"])
        value = answer.value.strip()
        images = list(answer.upload_ids)
        if kind == ProofKind.IMAGE:
            problem = _images_problem(value, images, max_images)
            if len(set(images)) < len(images):
                v.add(str(i), ErrorCode.DUPLICATE, f"{field['label']}: an upload is given twice.")
        else:
            problem = (
                (ErrorCode.INVALID, "only IMAGE fields take uploads.")
                if images
                else _answer_problem(kind, value)
            )
        if problem:
            v.add(str(i), problem[0], f"{field['label']}: {problem[1]}")
        given[key] = (value, images)
    for key, field in by_label.items():
        value, images = given.get(key, ("", []))
        if field["required"] and not value and not images:
            v.add(str(field["label"]), ErrorCode.REQUIRED, f"{field['label']} is required.")
    v.check()
    stored: list[dict[str, Any]] = []
    for key, (value, images) in given.items():
        label = str(by_label[key]["label"])
        if images:
            stored.append({"label": label, "value": "", "images": images})
        elif value:
            stored.append({"label": label, "value": value})
    return stored


def image_ids(answers: list[dict[str, Any]]) -> list[int]:
    """Every upload a stored proof uses."""
    return [i for a in answers for i in a.get("images", ())]


Problem = tuple[ErrorCode, str]


def _images_problem(value: str, images: list[int | None], max_images: int) -> Problem | None:
    if value:
        return (
            ErrorCode.INVALID,
            "upload the image (createUpload) and give its id in uploadIds, not a value.",
        )
    if len(images) > max_images:
        return ErrorCode.LIMIT_REACHED, f"at most {max_images} images."
    return None


def _answer_problem(kind: ProofKind, value: str) -> Problem | None:
    limit = MAX_TEXT_ANSWER if kind == ProofKind.TEXT else MAX_ANSWER
    if len(value) > limit:
        return ErrorCode.TOO_LONG, f"at most {limit} characters."
    if not value or kind == ProofKind.TEXT:
        return None
    if kind == ProofKind.NUMBER:
        return None if _NUMBER.match(value) else (ErrorCode.INVALID, "must be a number.")
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        return ErrorCode.INVALID, "must be an http(s) URL."
    return None


def proof_digest(value: str) -> str:
    """Case and surrounding space do not make a proof different."""
    return hashlib.sha256(value.strip().casefold().encode()).hexdigest()


async def record_proof(
    submission: Submission, answers: list[dict[str, Any]], *, first: bool
) -> None:
    """Hash each answer with a value; flag the labels another account already submitted on
    this task (on `submission` too). Images are compared by their look instead
    (`proof_images.py`). Inside the transaction that stored the answers; `first`: the
    submission had no proof before (nothing of an earlier version to replace)."""
    digests = {a["label"]: proof_digest(a["value"]) for a in answers if a["value"]}
    reused = (
        await ProofHash.filter(task_id=submission.task_id, digest__in=list(digests.values()))
        .exclude(worker_id=submission.worker_id)
        .values("digest")
    )
    taken = {row["digest"] for row in reused}
    if not first:
        await ProofHash.filter(submission_id=submission.id).delete()
    await ProofHash.bulk_create(
        [
            ProofHash(
                task_id=submission.task_id,
                submission_id=submission.id,
                worker_id=submission.worker_id,
                label=label,
                digest=digest,
            )
            for label, digest in digests.items()
        ]
    )
    labels = [label for label, digest in digests.items() if digest in taken]
    if labels != submission.reused_labels:
        await Submission.filter(id=submission.id).update(reused_labels=labels)
        submission.reused_labels = labels
