"""A batch's items as the employer sends them: a CSV (as text, or base64 of its bytes) or a JSON
list of objects, checked whole before anything is written; and the `{{name}}` placeholders of
its instructions, filled per item.

Rows are numbered as the items are (1 is the first row after the CSV header, or the first
object of the JSON list); every problem names its row and column.

Just over ~300 lines: the three formats share one row check, which is what keeps their errors
alike.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from picotask.services.core.errors import DomainError, ErrorCode, Problem
from picotask.services.core.text import json_problem
from picotask.services.core.user_text import TextKind, describe, first_refused
from picotask.settings import Settings

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")
COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_COLUMNS = 50
MAX_CELL = 2_000
MAX_PROBLEMS = 20  # a broken 10,000-row file answers with its first problems, not all
# Markdown's ASCII punctuation that can start markup (emphasis, links, html, code, headings,
# lists, tables, entities): a value is plain text inside the instructions, never markup.
_UNDECODED = re.compile("[\udc80-\udcff]")
_MARKUP = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~&])")


@dataclass(frozen=True, slots=True)
class ItemSource:
    """Exactly one of the three is given."""

    csv: str | None = None
    csv_base64: str | None = None
    json: str | None = None


@dataclass(frozen=True, slots=True)
class Items:
    columns: list[str]
    rows: list[dict[str, str]]


def placeholders(instructions: str) -> list[str]:
    """The names `{{name}}` refers to, in order of first use."""
    return list(dict.fromkeys(PLACEHOLDER.findall(instructions)))


def fill(instructions: str, data: dict[str, str]) -> str:
    """The instructions one item's worker reads: each placeholder replaced by the item's value
    as plain text (markup characters escaped, line breaks made spaces)."""

    def value(match: re.Match[str]) -> str:
        text = " ".join(data.get(match[1], "").split())
        return _MARKUP.sub(r"\\\1", text)

    return PLACEHOLDER.sub(value, instructions)


class _Problems:
    def __init__(self, field: str) -> None:
        self.field = field
        self.problems: list[Problem] = []

    def add(self, code: ErrorCode, message: str, *path: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(code, message, ["input", self.field, *path]))

    @property
    def full(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def check(self) -> None:
        if self.problems:
            raise DomainError.of(self.problems)


def read_items(
    source: ItemSource, settings: Settings, *, columns: Sequence[str] | None = None
) -> Items:
    """The items of `source`, every cell checked. `columns`: those the batch already has
    (adding items), which the file must have exactly."""
    given = [
        (name, value)
        for name, value in (
            ("csv", source.csv),
            ("csvBase64", source.csv_base64),
            ("json", source.json),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise DomainError(
            ErrorCode.INVALID, "Give the items as exactly one of csv, csvBase64 or json.", ["input"]
        )
    field, value = given[0]
    problems = _Problems(field)
    if field == "csvBase64":
        value = _decode(value, settings, problems)
    if len(value.encode("utf-8", "surrogatepass")) > settings.batch_max_file_bytes:
        raise DomainError(
            ErrorCode.TOO_LARGE,
            f"{field} is larger than {settings.batch_max_file_bytes} bytes.",
            ["input", field],
        )
    value = value.removeprefix("\ufeff")
    if not value.strip():
        raise DomainError(ErrorCode.REQUIRED, f"{field} is empty.", ["input", field])
    items = (
        _from_json(value, settings.max_json_depth, problems)
        if field == "json"
        else _from_csv(value, problems)
    )
    problems.check()
    if not items.rows:
        raise DomainError(ErrorCode.REQUIRED, f"{field} has no items.", ["input", field])
    if len(items.rows) > settings.batch_max_items:
        raise DomainError(
            ErrorCode.TOO_LARGE,
            f"{field} has {len(items.rows)} items; at most {settings.batch_max_items}.",
            ["input", field],
        )
    if columns is not None:
        _same_columns(items.columns, list(columns), problems)
        problems.check()
    return items


def check_placeholders(instructions: str, columns: Sequence[str]) -> None:
    """Every placeholder names a column of the items."""
    missing = [name for name in placeholders(instructions) if name not in columns]
    if missing:
        raise DomainError(
            ErrorCode.INVALID,
            f"instructions use {', '.join('{{' + n + '}}' for n in missing)}, which the items "
            f"have no column for (columns: {', '.join(columns)}).",
            ["input", "instructions"],
        )


def _decode(value: str, settings: Settings, problems: _Problems) -> str:
    if len(value) > settings.batch_max_file_bytes * 4 // 3 + 4:
        raise DomainError(
            ErrorCode.TOO_LARGE,
            f"csvBase64 is larger than {settings.batch_max_file_bytes} bytes.",
            ["input", "csvBase64"],
        )
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DomainError(
            ErrorCode.INVALID, "csvBase64 is not valid base64.", ["input", "csvBase64"]
        ) from None
    # Bytes that are not UTF-8 become lone surrogates (U+DC80..U+DCFF), found and named by row
    # and column where the cells are checked (`_cell`, `_header`); nothing with one is stored.
    return raw.decode("utf-8", errors="surrogateescape")


def _undecoded(value: str) -> str | None:
    """`byte 0xe9` for the first byte of `value` that was not UTF-8, or None."""
    bad = _UNDECODED.search(value)
    return f"byte 0x{ord(bad[0]) - 0xDC00:02x}" if bad else None


def _from_csv(text: str, problems: _Problems) -> Items:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except csv.Error as e:
        problems.add(ErrorCode.INVALID, f"The header is not valid CSV: {e}.", "0")
        return Items([], [])
    columns = _header(header, problems)
    rows: list[dict[str, str]] = []
    row = 0
    try:
        for cells in reader:
            if problems.full:
                break
            if not any(cell.strip() for cell in cells):
                continue  # blank lines carry no item
            row += 1
            if len(cells) != len(columns):
                what = "missing" if len(cells) < len(columns) else "extra"
                at = min(len(cells), len(columns))
                column = columns[at] if at < len(columns) else f"#{len(columns) + 1}"
                problems.add(
                    ErrorCode.INVALID,
                    f"Row {row} has {len(cells)} cells for {len(columns)} columns: "
                    f"column {column} is {what}.",
                    str(row),
                    column,
                )
                continue
            rows.append(
                {
                    name: _cell(cell, row, name, problems)
                    for name, cell in zip(columns, cells, strict=True)
                }
            )
    except csv.Error as e:
        problems.add(ErrorCode.INVALID, f"Row {row + 1} is not valid CSV: {e}.", str(row + 1))
    return Items(columns, rows)


def _header(header: list[str], problems: _Problems) -> list[str]:
    columns = [name.strip() for name in header]
    if len(columns) > MAX_COLUMNS:
        problems.add(ErrorCode.TOO_LARGE, f"At most {MAX_COLUMNS} columns.", "0")
    seen: set[str] = set()
    for i, name in enumerate(columns, 1):
        if (byte := _undecoded(name)) is not None:
            problems.add(
                ErrorCode.INVALID,
                f"Column {i} of the header is not valid UTF-8 ({byte}); save the file as UTF-8.",
                "0",
                f"#{i}",
            )
        elif not COLUMN.fullmatch(name):
            problems.add(
                ErrorCode.INVALID,
                f"Column {i} of the header ({name[:40]!r}) must be 1-64 letters, digits or _, "
                "not starting with a digit.",
                "0",
                name[:64] or f"#{i}",
            )
        elif name in seen:
            problems.add(ErrorCode.DUPLICATE, f"Column {name} is in the header twice.", "0", name)
        seen.add(name)
    return columns


def _number(text: str) -> str:
    """A JSON number kept as the client wrote it (`1.50` stays `1.50`); one no float can hold
    (`1e999`) is refused like NaN and Infinity, which are not JSON at all."""
    if not math.isfinite(float(text)):
        raise _NotJson(f"{text[:20]} is not a finite number")
    return text


def _not_json(name: str) -> object:
    raise _NotJson(f"{name} is not a JSON value")


class _NotJson(ValueError):
    pass


def _from_json(text: str, max_depth: int, problems: _Problems) -> Items:
    try:
        parsed = json.loads(text, parse_float=_number, parse_int=str, parse_constant=_not_json)
    except RecursionError:
        problems.add(ErrorCode.INVALID, f"json is nested deeper than {max_depth} levels.")
        return Items([], [])
    except ValueError as e:  # JSONDecodeError, _NotJson
        problems.add(ErrorCode.INVALID, f"json is not valid JSON: {e}.")
        return Items([], [])
    if (problem := json_problem(parsed, "json", max_depth)) is not None:
        problems.add(ErrorCode.INVALID, problem)
        return Items([], [])
    if not isinstance(parsed, list) or not parsed:
        problems.add(ErrorCode.INVALID, "json must be a non-empty list of objects.")
        return Items([], [])
    first = parsed[0]
    if not isinstance(first, dict):
        problems.add(ErrorCode.INVALID, "Row 1 is not an object.", "1")
        return Items([], [])
    columns = _header(list(first), problems)
    rows: list[dict[str, str]] = []
    for row, item in enumerate(parsed, 1):
        if problems.full:
            break
        if not isinstance(item, dict):
            problems.add(ErrorCode.INVALID, f"Row {row} is not an object.", str(row))
            continue
        for name in columns:
            if name not in item:
                problems.add(ErrorCode.INVALID, f"Row {row}: {name} is missing.", str(row), name)
        for name in item:
            if name not in columns:
                problems.add(
                    ErrorCode.INVALID,
                    f"Row {row}: {str(name)[:64]} is not a column of row 1.",
                    str(row),
                    str(name)[:64],
                )
        data: dict[str, str] = {}
        for name in columns:
            value = item.get(name, "")
            if not isinstance(value, str):  # numbers are kept as their text (_number)
                problems.add(
                    ErrorCode.INVALID,
                    f"Row {row}, column {name}: a value must be a string or a number.",
                    str(row),
                    name,
                )
                continue
            data[name] = _cell(value, row, name, problems)
        rows.append(data)
    return Items(columns, rows)


def _cell(value: str, row: int, column: str, problems: _Problems) -> str:
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    if (byte := _undecoded(value)) is not None:
        problems.add(
            ErrorCode.INVALID,
            f"Row {row}, column {column} is not valid UTF-8 ({byte}); save the file as UTF-8.",
            str(row),
            column,
        )
    elif len(value) > MAX_CELL:
        problems.add(
            ErrorCode.TOO_LONG,
            f"Row {row}, column {column}: at most {MAX_CELL} characters.",
            str(row),
            column,
        )
    elif "\ufffd" in value:
        problems.add(
            ErrorCode.INVALID,
            f"Row {row}, column {column} holds U+FFFD, the mark of a broken encoding: "
            "save the file as UTF-8 (or send its bytes as csvBase64).",
            str(row),
            column,
        )
    elif (ch := first_refused(value, TextKind.PROSE)) is not None:
        problems.add(
            ErrorCode.INVALID,
            f"Row {row}, column {column} must not contain invisible, control or "
            f"direction-changing characters (found {describe(ch)}).",
            str(row),
            column,
        )
    return value


def _same_columns(found: list[str], expected: list[str], problems: _Problems) -> None:
    for name in expected:
        if name not in found:
            problems.add(ErrorCode.INVALID, f"Column {name} of the batch is missing.", "0", name)
    for name in found:
        if name not in expected:
            problems.add(
                ErrorCode.INVALID,
                f"Column {name} is not a column of the batch ({', '.join(expected)}).",
                "0",
                name,
            )
