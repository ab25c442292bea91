"""The direct path: a live subscriber's events written to its socket without waking its
generator (the transport provides it: server/direct.py).

A subscriber whose generator is parked on its empty queue has delivered everything before; an
event it accepts may then be offered to its `Direct`, which turns it into the frame its
generator would have sent (the group's shared execution, encoded once) and writes it to the
socket, or hands it back to the generator (`Subscriber.hand`) when that is not possible (the
group's execution depends on its subscriber, or has errors). Once a subscriber has an event
on the direct path, every later one follows it there (`Subscriber.pending`), so frames and
hand-backs keep the order of the events. The event is rendered there, in the bus's listener:
one that raises (an event this instance cannot render) ends that subscriber alone, with its
cursor (`Subscriber.fail`).

A parked subscriber whose events all go the direct path needs no generator at all: the
transport may let it rest (`Direct.rest`). Its generator then ends with `Rested`, which
unwinds the operation's task like a cancellation (nothing is sent, nothing completes), and
the subscriber stays on the bus, held by the transport, with nothing of its operation left
but what the direct path needs. An event that needs the generator after all (handed back, or
the subscriber dropped) wakes it (`Direct.wake`): the transport runs the operation again,
which resumes this very subscriber (`Outlet.resumed`) with its queue and cursor as they are,
without reading the log again or repeating its resolver's set-up. (These are the phases of
subscriber.py: PARKED, RESTING, WAKING; the transitions are there.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Protocol

from picotask.subscriptions.messages import Message

if TYPE_CHECKING:
    from picotask.subscriptions.subscriber import Subscriber

# How a subscription turns an event into its root value (the same object for every
# subscriber: `schema.events.rendered`).
Render = Callable[[Message], object]


class Rested(asyncio.CancelledError):
    """Ends a resting subscriber's generator and its operation's task as a cancellation does:
    every frame above it (graphql-core's, strawberry's, the transport's) unwinds without
    sending anything. A cancellation, not an error, so nothing on the way reports it."""


class Direct(Protocol):
    def take(self, subscriber: Subscriber, message: Message) -> bool:
        """Whether the direct path took the event (else the generator gets it)."""
        ...

    def dropped(self, subscriber: Subscriber) -> None:
        """The subscriber was dropped as too slow: free what waits for it."""
        ...

    def rest(self, subscriber: Subscriber) -> bool:
        """Called by the parked subscriber's generator, in its operation's task: whether the
        transport now holds the subscriber (then the generator ends with `Rested`)."""
        ...

    def wake(self, subscriber: Subscriber) -> None:
        """A resting subscriber's queue has what only its generator can deliver: run it."""
        ...


class Outlet(Protocol):
    """The transport's side of one operation: what its executor and its resolver need."""

    executor: object | None
    # A subscriber this operation resumes (it rested, and was woken): no new one, no replay.
    resumed: Subscriber | None

    def direct(self, render: Render) -> Direct | None: ...


# Set by the transport in the task that runs one operation (server/ws_handler.py).
outlet: ContextVar[Outlet | None] = ContextVar("picotask_outlet", default=None)
