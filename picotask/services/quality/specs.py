"""What an employer may set for quality: gold answers per item and a review policy, each
checked whole against the task before anything is written."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from picotask.models.quality import GoldMatch
from picotask.models.tasks import ProofKind, Task
from picotask.services.core.errors import ErrorCode, Validator

MAX_GOLD_ITEMS = 1_000  # per call
MAX_VALUE = 2_000
MAX_ONE_OF = 50
MAX_MIN_GOLD = 1_000
# Accuracy counts from the third gold answer: one lucky guess or one slip decides nothing.
DEFAULT_MIN_GOLD = 3
MAX_MIN_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class GoldAnswerSpec:
    label: str
    match: GoldMatch
    value: str | None = None  # EXACT, NORMALIZED, NUMERIC
    values: Sequence[str] = ()  # ONE_OF
    tolerance: float | None = None  # NUMERIC: how far off may still be right (default 0)


@dataclass(frozen=True, slots=True)
class GoldItemSpec:
    position: int | None  # a batch's item; None on a plain task
    answers: Sequence[GoldAnswerSpec]  # empty: the item is no longer gold


@dataclass(frozen=True, slots=True)
class PolicySpec:
    auto_approve_at: float | None = None
    auto_reject_below: float | None = None
    block_below: float | None = None
    min_gold_answered: int = DEFAULT_MIN_GOLD
    overlap: int | None = None
    min_seconds: int | None = None
    reject_too_fast: bool = False


def as_number(value: str) -> Decimal | None:
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def check_gold(task: Task, specs: Sequence[GoldItemSpec], item_count: int) -> list[dict[str, Any]]:
    """Each item's expected answers as stored (`GoldItem.expected`), in the order given.
    `item_count`: the batch's items (0 on a plain task)."""
    v = Validator()
    if not 1 <= len(specs) <= MAX_GOLD_ITEMS:
        v.add("items", ErrorCode.OUT_OF_RANGE, f"items must list 1 to {MAX_GOLD_ITEMS} items.")
        v.check()
    fields = {str(f["label"]).casefold(): f for f in task.proof_fields}
    batch = task.batch_columns is not None
    seen: set[int] = set()
    checked: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        at = ("input", "items", str(i))
        if batch and (spec.position is None or not 1 <= spec.position <= item_count):
            v.add(
                "position",
                ErrorCode.NOT_FOUND,
                f"position must name an item of this batch (1 to {item_count}).",
                prefix=at,
            )
        elif not batch and spec.position is not None:
            v.add(
                "position",
                ErrorCode.INVALID,
                "A plain task is one item: leave position out.",
                prefix=at,
            )
        elif (spec.position or 0) in seen:
            v.add("position", ErrorCode.DUPLICATE, "This item is listed twice.", prefix=at)
        seen.add(spec.position or 0)
        labels: set[str] = set()
        expected: list[dict[str, Any]] = []
        for j, answer in enumerate(spec.answers):
            where = (*at, "answers", str(j))
            proof = fields.get(answer.label.strip().casefold())
            if proof is None:
                v.add(
                    "label",
                    ErrorCode.NOT_FOUND,
                    f"{answer.label[:80]!r} is not a proof field of this task.",
                    prefix=where,
                )
                continue
            label = str(proof["label"])
            if label in labels:
                v.add("label", ErrorCode.DUPLICATE, f"{label!r} is given twice.", prefix=where)
                continue
            labels.add(label)
            stored = _expected(v, where, label, ProofKind(proof["kind"]), answer)
            if stored is not None:
                expected.append(stored)
        checked.append({"position": spec.position or 0, "expected": expected})
    v.check()
    return checked


def _expected(
    v: Validator, where: tuple[str, ...], label: str, kind: ProofKind, answer: GoldAnswerSpec
) -> dict[str, Any] | None:
    if kind == ProofKind.IMAGE:
        v.add("label", ErrorCode.INVALID, f"{label}: an IMAGE field cannot be gold.", prefix=where)
        return None
    if answer.match == GoldMatch.ONE_OF:
        values = [x.strip() for x in answer.values]
        if answer.value is not None or not 1 <= len(values) <= MAX_ONE_OF:
            v.add(
                "values",
                ErrorCode.INVALID,
                f"ONE_OF takes values (1 to {MAX_ONE_OF}), not value.",
                prefix=where,
            )
            return None
    else:
        if answer.value is None or answer.values:
            v.add("value", ErrorCode.REQUIRED, f"{answer.match} takes value.", prefix=where)
            return None
        values = [answer.value.strip()]
    given = "values" if answer.match == GoldMatch.ONE_OF else "value"  # the field to name
    if any(not 1 <= len(x) <= MAX_VALUE for x in values):
        v.add(
            given,
            ErrorCode.OUT_OF_RANGE,
            f"An expected value must be 1 to {MAX_VALUE} characters.",
            prefix=where,
        )
        return None
    numeric = answer.match == GoldMatch.NUMERIC or kind == ProofKind.NUMBER
    if numeric and any(as_number(x) is None for x in values):
        v.add(
            given,
            ErrorCode.INVALID,
            f"{label}: the expected value must be a number.",
            prefix=where,
        )
        return None
    if answer.tolerance is not None and (
        answer.match != GoldMatch.NUMERIC or not 0 <= answer.tolerance < 1e12
    ):
        v.add(
            "tolerance",
            ErrorCode.INVALID,
            "tolerance is for NUMERIC only, and at least 0.",
            prefix=where,
        )
        return None
    return {
        "label": label,
        "match": answer.match.value,
        "values": values,
        "tolerance": answer.tolerance,
    }


def check_policy(task: Task, spec: PolicySpec, item_slots: int) -> None:
    """Thresholds 0..1, a reject threshold not above the approve one, an overlap the item's
    slots can hold, a minimum time given when too-fast answers are to be rejected."""
    v = Validator()
    thresholds = {
        "autoApproveAtAccuracy": spec.auto_approve_at,
        "autoRejectBelowAccuracy": spec.auto_reject_below,
        "blockBelowAccuracy": spec.block_below,
    }
    for name, value in thresholds.items():
        if value is not None and not 0 <= value <= 1:
            v.add(name, ErrorCode.OUT_OF_RANGE, f"{name} must be between 0 and 1.")
    if (
        spec.auto_approve_at is not None
        and spec.auto_reject_below is not None
        and spec.auto_reject_below > spec.auto_approve_at
    ):
        v.add(
            "autoRejectBelowAccuracy",
            ErrorCode.INVALID,
            "autoRejectBelowAccuracy must not be above autoApproveAtAccuracy.",
        )
    if not 1 <= spec.min_gold_answered <= MAX_MIN_GOLD:
        v.add(
            "minGoldAnswered",
            ErrorCode.OUT_OF_RANGE,
            f"minGoldAnswered must be between 1 and {MAX_MIN_GOLD}.",
        )
    if spec.overlap is not None and not 2 <= spec.overlap <= item_slots:
        what = "1 per item of a batch" if task.batch_columns is not None else f"{item_slots}"
        v.add(
            "overlap",
            ErrorCode.OUT_OF_RANGE,
            f"overlap must be at least 2 and at most the item's slots ({what}).",
        )
    if spec.min_seconds is not None and not 1 <= spec.min_seconds <= MAX_MIN_SECONDS:
        v.add(
            "minSeconds",
            ErrorCode.OUT_OF_RANGE,
            f"minSeconds must be between 1 and {MAX_MIN_SECONDS}.",
        )
    if spec.reject_too_fast and spec.min_seconds is None:
        v.add("rejectTooFast", ErrorCode.REQUIRED, "rejectTooFast needs minSeconds.")
    v.check()


def normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


def is_right(expected: Mapping[str, Any], given: str) -> bool:
    """One answer against one expected answer (`GoldItem.expected` entry)."""
    match = GoldMatch(expected["match"])
    values = [str(x) for x in expected["values"]]
    if match == GoldMatch.EXACT:
        return given.strip() == values[0]
    if match == GoldMatch.NUMERIC:
        number, want = as_number(given), as_number(values[0])
        tolerance = Decimal(str(expected.get("tolerance") or 0))
        return number is not None and want is not None and abs(number - want) <= tolerance
    return normalized(given) in {normalized(x) for x in values}


def grade(expected: Sequence[Mapping[str, Any]], answers: Sequence[Mapping[str, Any]]) -> bool:
    """Gold answered right: every expected answer matched."""
    given = {str(a["label"]).casefold(): str(a.get("value", "")) for a in answers}
    return all(is_right(e, given.get(str(e["label"]).casefold(), "")) for e in expected)
