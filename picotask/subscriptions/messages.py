"""What the bus carries: one committed event, as subscribers filter and render it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from picotask.models.events import Event, Stream


@dataclass(slots=True, eq=False)
class Message:
    id: int
    stream: Stream
    type: str
    audience_id: int | None
    task_id: int | None
    submission_id: int | None
    payout_id: int | None
    text: str
    payload: dict[str, Any]
    created_at: str  # ISO-8601, as on the wire
    # Renderings shared by every subscriber of this process (never sent on the wire).
    rendered: dict[str, object] = field(default_factory=dict)
    failures: int = 0  # subscribers it could not be delivered to (failures.py logs the first)

    @classmethod
    def of(cls, event: Event) -> Message:
        return cls(
            id=event.id,
            stream=event.stream,
            type=event.type,
            audience_id=event.audience_id,
            task_id=event.task_id,
            submission_id=event.submission_id,
            payout_id=event.payout_id,
            text=event.message,
            payload=event.payload,
            created_at=event.created_at.isoformat(),
        )

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stream": self.stream.value,
            "type": self.type,
            "audience_id": self.audience_id,
            "task_id": self.task_id,
            "submission_id": self.submission_id,
            "payout_id": self.payout_id,
            "message": self.text,
            "payload": self.payload,
            "created_at": self.created_at,
        }

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Message:
        return cls(
            id=int(data["id"]),
            stream=Stream(data["stream"]),
            type=str(data["type"]),
            audience_id=data["audience_id"],
            task_id=data["task_id"],
            submission_id=data["submission_id"],
            payout_id=data["payout_id"],
            text=str(data["message"]),
            payload=dict(data["payload"]),
            created_at=str(data["created_at"]),
        )
