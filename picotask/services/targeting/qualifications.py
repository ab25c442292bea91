"""Qualifications: employer-defined, granted by hand or by a qualification test task, and
required by a task's targeting with a minimum score.

The rule a worker must meet is `discovery.access_problem` (the feed, a claim) and the same rule
as SQL in `discovery.claimable_by` (the `tasks` list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from picotask.models.qualifications import Qualification, QualificationGrant, QualificationTest
from picotask.models.submissions import Submission
from picotask.models.users import User
from picotask.services.core.clock import Clock
from picotask.services.core.errors import DomainError, ErrorCode
from picotask.services.core.events import EventLog
from picotask.services.core.standing import ensure_active
from picotask.services.targeting.groups import check_name

MAX_REQUIREMENTS = 10
MAX_EXPECTED = 2_000


@dataclass(frozen=True, slots=True)
class Requirement:
    qualification_id: int | None  # None: an id that is not a qualification's
    min_score: int


@dataclass(frozen=True, slots=True)
class TestSpec:
    """A task that is a qualification's test: the answer expected for each proof label."""

    qualification_id: int | None
    expected: Sequence[tuple[str, str]]


async def own_test(
    employer_id: int, spec: TestSpec | None, proof_fields: Sequence[Mapping[str, object]]
) -> tuple[int, dict[str, str]] | None:
    """The qualification (the employer's own) and expected answers (by proof label) of a
    test task; every expected label is one of its proof fields."""
    if spec is None:
        return None
    base = ["input", "qualificationTest"]
    if spec.qualification_id is None or not await Qualification.exists(
        id=spec.qualification_id, employer_id=employer_id
    ):
        raise qualification_not_found([*base, "qualificationId"])
    labels = {str(f["label"]).casefold(): str(f["label"]) for f in proof_fields}
    expected: dict[str, str] = {}
    if not spec.expected:
        raise DomainError(
            ErrorCode.REQUIRED, "Give at least one expected answer.", [*base, "expectedAnswers"]
        )
    for i, (label, value) in enumerate(spec.expected):
        where = [*base, "expectedAnswers", str(i)]
        known = labels.get(label.strip().casefold())
        if known is None:
            raise DomainError(
                ErrorCode.NOT_FOUND, f"{label[:80]!r} is not a proof field of this task.", where
            )
        if not 1 <= len(value.strip()) <= MAX_EXPECTED:
            raise DomainError(
                ErrorCode.OUT_OF_RANGE, f"value must be 1 to {MAX_EXPECTED} characters.", where
            )
        expected[known] = value.strip()
    return spec.qualification_id, expected


def qualification_not_found(field: Sequence[str]) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, "No such qualification of yours.", field)


async def own_requirements(
    employer_id: int, requirements: Sequence[Requirement]
) -> list[dict[str, int]]:
    """`required_qualifications` of a task: each the employer's own, scores 0..100."""
    if not requirements:
        return []
    base = ["input", "targeting", "requiredQualifications"]
    if len(requirements) > MAX_REQUIREMENTS:
        raise DomainError(
            ErrorCode.OUT_OF_RANGE, f"At most {MAX_REQUIREMENTS} qualifications.", base
        )
    ids = [r.qualification_id for r in requirements if r.qualification_id is not None]
    rows = await Qualification.filter(id__in=ids, employer_id=employer_id).values("id")
    owned = {int(row["id"]) for row in rows}
    seen: set[int] = set()
    checked: list[dict[str, int]] = []
    for i, r in enumerate(requirements):
        if r.qualification_id not in owned:
            raise qualification_not_found([*base, str(i), "qualificationId"])
        assert r.qualification_id is not None
        if r.qualification_id in seen:
            raise DomainError(
                ErrorCode.DUPLICATE, "A qualification is listed twice.", [*base, str(i)]
            )
        if not 0 <= r.min_score <= 100:
            raise DomainError(
                ErrorCode.OUT_OF_RANGE, "minScore must be 0 to 100.", [*base, str(i), "minScore"]
            )
        seen.add(r.qualification_id)
        checked.append({"id": r.qualification_id, "min_score": r.min_score})
    return checked


async def grants_of(worker_id: int) -> dict[int, int]:
    """Qualification id -> score, for everything the worker holds (read once per request or
    subscription)."""
    rows = await QualificationGrant.filter(worker_id=worker_id).values("qualification_id", "score")
    return {int(row["qualification_id"]): int(row["score"]) for row in rows}


def score_answers(expected: Mapping[str, str], answers: Sequence[Mapping[str, object]]) -> int:
    """The share (0..100) of expected answers the worker gave, compared without case or
    surrounding space."""
    given = {str(a["label"]).casefold(): str(a.get("value", "")) for a in answers}
    hits = sum(
        1
        for label, value in expected.items()
        if given.get(label.casefold(), "").strip().casefold() == value.strip().casefold()
    )
    return hits * 100 // len(expected) if expected else 0


class QualificationService:
    def __init__(self, clock: Clock, events: EventLog) -> None:
        self.clock = clock
        self.events = events

    async def own(self, employer: User, qualification_id: int | None) -> Qualification:
        found = await Qualification.get_or_none(id=qualification_id) if qualification_id else None
        if found is None or found.employer_id != employer.id:
            raise qualification_not_found(["input", "qualificationId"])
        return found

    async def create(self, employer: User, name: str, description: str) -> Qualification:
        ensure_active(employer)
        clean, about = check_name(name, description)
        if await Qualification.exists(employer_id=employer.id, name=clean):
            raise DomainError(
                ErrorCode.DUPLICATE,
                f"You already have a qualification named {clean!r}.",
                ["input", "name"],
            )
        return await Qualification.create(
            employer_id=employer.id, name=clean, description=about, created_at=self.clock.now()
        )

    async def grant(
        self, employer: User, qualification_id: int | None, worker_id: int | None, score: int
    ) -> QualificationGrant:
        ensure_active(employer)
        qualification = await self.own(employer, qualification_id)
        if not 0 <= score <= 100:
            raise DomainError(ErrorCode.OUT_OF_RANGE, "score must be 0 to 100.", ["input", "score"])
        worker = await User.get_or_none(id=worker_id) if worker_id else None
        if worker is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such worker.", ["input", "workerId"])
        async with self.events.transaction():
            await set_grant(self.events, qualification, worker.id, score)
        return await QualificationGrant.get(qualification_id=qualification.id, worker_id=worker.id)

    async def revoke(
        self, employer: User, qualification_id: int | None, worker_id: int | None
    ) -> Qualification:
        qualification = await self.own(employer, qualification_id)
        if (
            not worker_id
            or not await QualificationGrant.filter(
                qualification_id=qualification.id, worker_id=worker_id
            ).delete()
        ):
            raise DomainError(
                ErrorCode.NOT_FOUND, "That worker does not hold it.", ["input", "workerId"]
            )
        return qualification


async def set_grant(
    events: EventLog, qualification: Qualification, worker_id: int, score: int
) -> None:
    """Grant (or re-score) inside the caller's `EventLog.transaction()`, and tell the worker."""
    now = events.clock.now()
    if not await QualificationGrant.filter(
        qualification_id=qualification.id, worker_id=worker_id
    ).update(score=score, granted_at=now):
        await QualificationGrant.create(
            qualification_id=qualification.id, worker_id=worker_id, score=score, granted_at=now
        )
    events.notify(
        worker_id,
        "qualification.granted",
        f"You hold the qualification {qualification.name} (score {score}).",
    )


async def grant_from_test(events: EventLog, submission: Submission) -> None:
    """Proof on a qualification test: its score is recorded as the worker's score for the
    qualification, 0 included (a `minScore: 0` requirement asks for a test taken, and a
    re-test replaces a score given by hand). Inside the submit's transaction."""
    test = await QualificationTest.get_or_none(task_id=submission.task_id)
    if test is None:
        return
    score = score_answers(test.expected, submission.answers)
    qualification = await Qualification.get(id=test.qualification_id)
    await set_grant(events, qualification, submission.worker_id, score)
