"""What is logged when delivering an event fails: each failure once, with a bounded traceback.

A failure in one subscriber's delivery stays that subscriber's (subscriber.py ends it, with
its cursor); what it leaves is one log line per event, however many subscribers the event
fails for (an event this instance cannot render fails the same way for each of them).
"""

from __future__ import annotations

import logging
import traceback

from picotask.subscriptions.messages import Message

log = logging.getLogger("picotask.subscriptions")
LOGGED_CHARS = 4_000  # a traceback may quote a client's value: never log more than this


def bounded_traceback(error: BaseException) -> str:
    trace = "".join(traceback.format_exception(error))
    if len(trace) > LOGGED_CHARS:
        trace = trace[: LOGGED_CHARS // 2] + "\n[...]\n" + trace[-LOGGED_CHARS // 2 :]
    return trace


def report(message: Message, error: BaseException, step: str) -> None:
    """A subscriber could not be delivered `message` (`step` says where): logged with its
    traceback the first time for this event, at debug level after."""
    message.failures += 1
    if message.failures == 1:
        log.error(
            "event %d (%s) could not be delivered (%s); the subscriptions it fails for end "
            "with their cursor\n%s",
            message.id,
            message.type,
            step,
            bounded_traceback(error),
        )
    else:
        log.debug("event %d fails for one more subscriber (%s): %r", message.id, step, error)
