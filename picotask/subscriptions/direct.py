"""The direct path: a live subscriber's events written to its socket without waking its
generator (the transport provides it: server/direct.py).

A subscriber whose generator is parked on its empty queue has delivered everything before; an
event it accepts may then be offered to its `Direct`, which turns it into the frame its
generator would have sent (the group's shared execution, encoded once) and writes it to the
socket, or hands it back to the generator (`Subscriber.hand`) when that is not possible (the
group's execution depends on its subscriber, or has errors). Once a subscriber has an event
on the direct path, every later one follows it there (`Subscriber.pending`), so frames and
hand-backs keep the order of the events.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from picotask.subscriptions.messages import Message

if TYPE_CHECKING:
    from picotask.subscriptions.bus import Subscriber

# How a subscription turns an event into its root value (the same object for every
# subscriber: `schema.events.rendered`).
Render = Callable[[Message], object]


class Direct(Protocol):
    def take(self, subscriber: Subscriber, message: Message) -> bool:
        """Whether the direct path took the event (else the generator gets it)."""
        ...

    def dropped(self, subscriber: Subscriber) -> None:
        """The subscriber was dropped as too slow: free what waits for it."""
        ...


class Outlet(Protocol):
    """The transport's side of one operation: what its executor and its resolver need."""

    executor: object | None

    def direct(self, render: Render) -> Direct | None: ...


# Set by the transport in the task that runs one operation (server/ws_handler.py).
outlet: ContextVar[Outlet | None] = ContextVar("picotask_outlet", default=None)
