"""Text every store accepts: no NUL (PostgreSQL refuses it) and no lone surrogate (no encoder
accepts it), checked once where every transport meets, before anything runs."""

from __future__ import annotations

from collections.abc import Iterator


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (it holds a lone surrogate)"
    return None


def _walk(value: object, path: str) -> Iterator[tuple[str, object, int]]:
    """(path, value, depth) of every node, without recursion (input may be nested deep)."""
    stack: list[tuple[str, object, int]] = [(path, value, 0)]
    while stack:
        where, item, depth = stack.pop()
        yield where, item, depth
        if isinstance(item, dict):
            stack.extend((f"{where}.{k}", v, depth + 1) for k, v in item.items())
            stack.extend((f"{where} (a key)", k, depth + 1) for k in item)
        elif isinstance(item, list):
            stack.extend((f"{where}[{i}]", v, depth + 1) for i, v in enumerate(item))


def json_problem(value: object, path: str, max_depth: int) -> str | None:
    """The first problem of a decoded JSON value, naming where it is: nesting deeper than
    `max_depth`, or a string that cannot be stored."""
    for where, item, depth in _walk(value, path):
        if depth > max_depth:
            return f"{path} is nested deeper than {max_depth} levels."
        if isinstance(item, str) and (problem := text_problem(item)):
            return f"{where[:200]} {problem}."
    return None
