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
from picotask.services.errors import ErrorCode, Validator

MAX_TEXT_ANSWER = 5_000
MAX_ANSWER = 2_000  # URLs, numbers and image links
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Answer:
    label: str
    value: str


def check_answers(
    proof_fields: list[dict[str, Any]], answers: list[Answer]
) -> list[dict[str, str]]:
    """Answers against the task's proof fields: required ones present, each of its kind."""
    v = Validator(("input", "answers"))
    by_label = {str(f["label"]).casefold(): f for f in proof_fields}
    given: dict[str, str] = {}
    for i, answer in enumerate(answers):
        key = answer.label.strip().casefold()
        field = by_label.get(key)
        if field is None:
            v.add(str(i), ErrorCode.INVALID, f"{answer.label!r} is not a proof field of this task.")
            continue
        if key in given:
            v.add(str(i), ErrorCode.DUPLICATE, f"{field['label']!r} is answered twice.")
            continue
        value = answer.value.strip()
        problem = _answer_problem(ProofKind(field["kind"]), value)
        if problem:
            v.add(str(i), ErrorCode.INVALID, f"{field['label']}: {problem}")
        given[key] = value
    for key, field in by_label.items():
        if field["required"] and not given.get(key):
            v.add(str(field["label"]), ErrorCode.REQUIRED, f"{field['label']} is required.")
    v.check()
    return [
        {"label": str(by_label[key]["label"]), "value": value}
        for key, value in given.items()
        if value
    ]


def _answer_problem(kind: ProofKind, value: str) -> str | None:
    if kind == ProofKind.TEXT:
        return f"at most {MAX_TEXT_ANSWER} characters." if len(value) > MAX_TEXT_ANSWER else None
    if len(value) > MAX_ANSWER:
        return f"at most {MAX_ANSWER} characters."
    if not value:
        return None
    if kind == ProofKind.NUMBER:
        return None if _NUMBER.match(value) else "must be a number."
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        return "must be an http(s) URL."
    return None


def proof_digest(value: str) -> str:
    """Case and surrounding space do not make a proof different."""
    return hashlib.sha256(value.strip().casefold().encode()).hexdigest()


async def record_proof(submission: Submission, answers: list[dict[str, str]]) -> None:
    """Hash each answer; flag the labels another account already submitted on this task.
    Inside the transaction that stored the answers."""
    digests = {a["label"]: proof_digest(a["value"]) for a in answers}
    reused = (
        await ProofHash.filter(task_id=submission.task_id, digest__in=list(digests.values()))
        .exclude(worker_id=submission.worker_id)
        .values("digest")
    )
    taken = {row["digest"] for row in reused}
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
    await Submission.filter(id=submission.id).update(
        reused_labels=[label for label, digest in digests.items() if digest in taken]
    )
