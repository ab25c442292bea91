"""Cells of the CSV exports that hold people's words (batch items and answers, proof labels,
task titles, names): never taken by a spreadsheet for a formula (CSV injection, OWASP)."""

from __future__ import annotations

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """`text`, with a `'` in front when a spreadsheet would start a formula with it."""
    return "'" + text if text.startswith(_FORMULA) else text
