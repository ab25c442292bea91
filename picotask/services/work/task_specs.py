"""What an employer may post: every limit on a task, checked before anything is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from picotask.models.tasks import ProofKind, TaskCategory
from picotask.services.accounts.countries import COUNTRY_CODES
from picotask.services.core.amounts import parse_amount
from picotask.services.core.errors import DomainError, ErrorCode, Validator
from picotask.services.core.user_text import TextKind
from picotask.services.targeting.qualifications import Requirement, TestSpec
from picotask.settings import Settings

MAX_TITLE = 120
MAX_INSTRUCTIONS = 10_000
MAX_SLOTS = 10_000
MAX_MINUTES = 600
MAX_PROOF_FIELDS = 20
MAX_LABEL = 80
MAX_APPROVED_COUNT = 1_000_000


@dataclass(frozen=True, slots=True)
class ProofFieldSpec:
    label: str
    kind: ProofKind
    required: bool = True


@dataclass(frozen=True, slots=True)
class TaskSpec:
    title: str
    instructions: str
    category: TaskCategory
    reward: Decimal
    slots: int
    estimated_minutes: int
    proof_fields: list[ProofFieldSpec]
    claim_timeout_seconds: int | None = None
    review_window_seconds: int | None = None
    expires_at: datetime | None = None
    countries: list[str] | None = None
    min_approval_rate: float | None = None
    min_approved_count: int | None = None
    # Private work and qualifications (checked against the employer's own by the task service).
    hire_group_ids: list[int | None] = field(default_factory=list)
    requirements: list[Requirement] = field(default_factory=list)
    qualification_test: TestSpec | None = None


@dataclass(slots=True)
class CheckedTask:
    """A valid task, in storage units."""

    title: str
    instructions: str
    category: TaskCategory
    reward: int
    fee: int
    slots: int
    estimated_minutes: int
    claim_timeout_seconds: int
    review_window_seconds: int
    expires_at: datetime | None
    proof_fields: list[dict[str, object]]
    target_countries: str
    min_approval_rate: float | None
    min_approved_count: int | None
    pay_per_minute: int = field(init=False)

    def __post_init__(self) -> None:
        self.pay_per_minute = self.reward * 100 // self.estimated_minutes


def platform_fee(reward: int, percent: int) -> int:
    """The fee on one slot, in cents, rounded half up."""
    return (reward * percent + 50) // 100


def check_task(spec: TaskSpec, settings: Settings, now: datetime) -> CheckedTask:
    v = Validator()
    title = v.text("title", spec.title, min_length=1, max_length=MAX_TITLE)
    instructions = v.text(
        "instructions",
        spec.instructions,
        min_length=1,
        max_length=MAX_INSTRUCTIONS,
        kind=TextKind.PROSE,
    )
    reward = 0
    try:
        reward = parse_amount(
            spec.reward,
            ["input", "reward"],
            minimum_cents=settings.min_reward_cents,
            maximum_cents=settings.max_reward_cents,
        )
    except DomainError as e:
        v.problems.extend(e.problems)
    if not 1 <= spec.slots <= MAX_SLOTS:
        v.add("slots", ErrorCode.OUT_OF_RANGE, f"slots must be between 1 and {MAX_SLOTS}.")
    if not 1 <= spec.estimated_minutes <= MAX_MINUTES:
        v.add(
            "estimatedMinutes",
            ErrorCode.OUT_OF_RANGE,
            f"estimatedMinutes must be between 1 and {MAX_MINUTES}.",
        )
    claim_timeout = _seconds(
        v,
        "claimTimeoutSeconds",
        spec.claim_timeout_seconds,
        settings.default_claim_timeout_seconds,
        settings.min_claim_timeout_seconds,
        settings.max_claim_timeout_seconds,
    )
    review_window = _seconds(
        v,
        "reviewWindowSeconds",
        spec.review_window_seconds,
        settings.default_review_window_seconds,
        settings.min_review_window_seconds,
        settings.max_review_window_seconds,
    )
    if spec.expires_at is not None and spec.expires_at <= now:
        v.add("expiresAt", ErrorCode.OUT_OF_RANGE, "expiresAt must be in the future.")
    proof_fields = _proof_fields(v, spec.proof_fields)
    countries = _countries(v, spec.countries)
    if spec.min_approval_rate is not None and not 0 <= spec.min_approval_rate <= 1:
        v.add(
            "minApprovalRate",
            ErrorCode.OUT_OF_RANGE,
            "minApprovalRate must be between 0 and 1.",
            prefix=("input", "targeting"),
        )
    if spec.min_approved_count is not None and not (
        0 <= spec.min_approved_count <= MAX_APPROVED_COUNT
    ):
        v.add(
            "minApprovedCount",
            ErrorCode.OUT_OF_RANGE,
            f"minApprovedCount must be between 0 and {MAX_APPROVED_COUNT}.",
            prefix=("input", "targeting"),
        )
    v.check()
    return CheckedTask(
        title=title,
        instructions=instructions,
        category=spec.category,
        reward=reward,
        fee=platform_fee(reward, settings.platform_fee_percent),
        slots=spec.slots,
        estimated_minutes=spec.estimated_minutes,
        claim_timeout_seconds=claim_timeout,
        review_window_seconds=review_window,
        expires_at=spec.expires_at,
        proof_fields=proof_fields,
        target_countries=countries,
        min_approval_rate=spec.min_approval_rate,
        min_approved_count=spec.min_approved_count,
    )


def _seconds(v: Validator, name: str, value: int | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if not low <= value <= high:
        v.add(name, ErrorCode.OUT_OF_RANGE, f"{name} must be between {low} and {high} seconds.")
    return value


def _proof_fields(v: Validator, specs: list[ProofFieldSpec]) -> list[dict[str, object]]:
    if not 1 <= len(specs) <= MAX_PROOF_FIELDS:
        v.add(
            "proofFields",
            ErrorCode.OUT_OF_RANGE,
            f"proofFields must list 1 to {MAX_PROOF_FIELDS} fields.",
        )
        return []
    seen: set[str] = set()
    fields: list[dict[str, object]] = []
    for i, spec in enumerate(specs):
        label = spec.label.strip()
        path = ("input", "proofFields", str(i))
        if not 1 <= len(label) <= MAX_LABEL:
            v.add(
                "label",
                ErrorCode.OUT_OF_RANGE,
                f"label must be 1 to {MAX_LABEL} characters.",
                prefix=path,
            )
        elif label.casefold() in seen:
            v.add("label", ErrorCode.DUPLICATE, f"label {label!r} is used twice.", prefix=path)
        seen.add(label.casefold())
        fields.append({"label": label, "kind": spec.kind.value, "required": spec.required})
    return fields


def _countries(v: Validator, countries: list[str] | None) -> str:
    if not countries:
        return ""
    codes = sorted({c.strip().upper() for c in countries})
    unknown = [c for c in codes if c not in COUNTRY_CODES]
    if unknown:
        v.add(
            "countries",
            ErrorCode.UNKNOWN_COUNTRY,
            f"countries must be ISO 3166-1 alpha-2 codes; unknown: {', '.join(unknown)}.",
            prefix=("input", "targeting"),
        )
    return "," + ",".join(codes) + ","
