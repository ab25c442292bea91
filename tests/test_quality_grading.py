"""Gold grading without HTTP: each match kind, and every expected answer needed."""

from __future__ import annotations

from typing import Any

import pytest

from picotask.services.quality.specs import grade, is_right


def gold(match: str, *values: str, tolerance: float | None = None) -> dict[str, Any]:
    return {"label": "A", "match": match, "values": list(values), "tolerance": tolerance}


@pytest.mark.parametrize(
    ("expected", "given", "right"),
    [
        (gold("EXACT", "Paris"), " Paris ", True),
        (gold("EXACT", "Paris"), "paris", False),
        (gold("NORMALIZED", "New  York"), " new york", True),
        (gold("NORMALIZED", "New York"), "NewYork", False),
        (gold("NUMERIC", "42", tolerance=0.5), "42.4", True),
        (gold("NUMERIC", "42", tolerance=0.5), "41.4", False),
        (gold("NUMERIC", "42"), "42.0", True),
        (gold("NUMERIC", "42"), "forty-two", False),
        (gold("NUMERIC", "42"), "NaN", False),
        (gold("ONE_OF", "Rome", "Roma"), "ROMA ", True),
        (gold("ONE_OF", "Rome", "Roma"), "Milan", False),
    ],
)
def test_each_match_kind(expected: dict[str, Any], given: str, right: bool) -> None:
    assert is_right(expected, given) is right


def test_every_expected_answer_must_match() -> None:
    expected = [gold("EXACT", "x"), {**gold("NUMERIC", "3"), "label": "B"}]
    assert grade(expected, [{"label": "a", "value": "x"}, {"label": "B", "value": "3"}])
    assert not grade(expected, [{"label": "A", "value": "x"}, {"label": "B", "value": "4"}])
    assert not grade(expected, [{"label": "A", "value": "x"}])  # a missing answer is wrong
