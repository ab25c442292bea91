"""Who decided: the vocabulary of reviews and blocks, manual or automatic."""

from __future__ import annotations

from enum import StrEnum


class DecidedBy(StrEnum):
    """Who approved or rejected a submission, or blocked a worker."""

    MANUAL = "MANUAL"  # the employer's review (or block)
    REVIEW_WINDOW = "REVIEW_WINDOW"  # nobody reviewed it in time
    REVISION_DEADLINE = "REVISION_DEADLINE"  # the revision asked for never came
    GOLD_ACCURACY = "GOLD_ACCURACY"  # the worker's accuracy on gold items
    MAJORITY = "MAJORITY"  # it agrees with the majority of overlapping answers
    FAST_RESPONSE = "FAST_RESPONSE"  # submitted faster than the task's minimum
    DISPUTE = "DISPUTE"  # a moderator overturned its rejection
