"""Batches' inputs and payloads, and their results as CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import strawberry

from picotask.models.submissions import Submission
from picotask.models.tasks import TaskCategory
from picotask.schema.csv_text import csv_text
from picotask.schema.errors import UserError
from picotask.schema.relay import to_global_id
from picotask.schema.tasks import ProofFieldInput, TargetingInput, TaskType
from picotask.services.campaigns.batches import BatchResults

_ITEMS = "The items: a CSV with a header row"
CSV_HELP = f"{_ITEMS}, as text (give exactly one of csv, csvBase64 and json)."
CSV_BASE64_HELP = f"{_ITEMS}, its bytes (UTF-8) in base64."
JSON_HELP = "The items as a JSON list of objects, all with the same keys (text)."


@strawberry.input
class CreateBatchInput:
    title: str
    instructions: str = strawberry.field(
        description="Markdown; `{{column}}` is replaced by each item's value for its worker."
    )
    category: TaskCategory
    reward: Decimal = strawberry.field(description="Per item.")
    estimated_minutes: int
    proof_fields: list[ProofFieldInput]
    csv: str | None = strawberry.field(default=None, description=CSV_HELP)
    csv_base64: str | None = strawberry.field(default=None, description=CSV_BASE64_HELP)
    json: str | None = strawberry.field(default=None, description=JSON_HELP)
    claim_timeout_seconds: int | None = None
    review_window_seconds: int | None = None
    expires_at: datetime | None = None
    targeting: TargetingInput | None = None
    publish: bool = strawberry.field(
        default=True,
        description="Fund every item (one ledger posting) and open the batch now; false keeps "
        "a DRAFT.",
    )


@strawberry.input
class AddBatchItemsInput:
    task_id: strawberry.ID
    csv: str | None = strawberry.field(default=None, description=CSV_HELP)
    csv_base64: str | None = strawberry.field(default=None, description=CSV_BASE64_HELP)
    json: str | None = strawberry.field(default=None, description=JSON_HELP)


@strawberry.type
class CreateBatchPayload:
    task: TaskType | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


def _time(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def _flag(value: bool | None) -> str:
    return "" if value is None else str(value).lower()


QUALITY_COLUMNS = ("decided_by", "gold_correct", "too_fast", "agreement")


def _quality(results: BatchResults, sub: Submission | None) -> list[str]:
    """Blank until there is proof: a claim is neither graded nor timed."""
    if sub is None or sub.submitted_at is None:
        return ["", "", "", ""]
    agreement = results.agreement.get(sub.id)
    return [
        sub.decided_by.value if sub.decided_by else "",
        _flag(sub.gold_correct),
        _flag(sub.too_fast),
        "" if agreement is None else f"{agreement:.4g}",
    ]


def batch_results_csv(results: BatchResults) -> str:
    """RFC 4180 CSV, one line per item in file order: its data, the state of its work, the
    worker and submission (API ids), who decided and the quality checks (as the API's
    `decidedBy`, `goldCorrect`, `tooFast`, `agreement`), and one column per proof field."""
    columns = list(results.task.batch_columns or ())
    labels = [str(f["label"]) for f in results.task.proof_fields]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "item",
            *columns,
            "status",
            "worker",
            "submission",
            "submitted_at",
            "reviewed_at",
            *QUALITY_COLUMNS,
            *(csv_text(label) for label in labels),  # an employer's words, like the cells
        ]
    )
    for row in results.rows:
        sub = row.submission
        answers: dict[str, str] = {}
        if sub is not None:
            for answer in sub.answers:
                images = answer.get("images") or ()
                answers[answer["label"]] = (
                    " ".join(to_global_id("Upload", int(pk)) for pk in images)
                    if images
                    else str(answer.get("value", ""))
                )
        writer.writerow(
            [
                row.position,
                *(csv_text(row.data.get(c, "")) for c in columns),
                row.status,
                to_global_id("User", sub.worker_id) if sub else "",
                to_global_id("Submission", sub.id) if sub else "",
                _time(row.submitted_at),
                _time(sub.reviewed_at if sub else None),
                *_quality(results, sub),
                *(csv_text(answers.get(label, "")) for label in labels),
            ]
        )
    return out.getvalue()
