"""Post-process migrations written by `tortoise makemigrations` (tortoise-orm 1.1.9).

`CreateModel` records `Meta.constraints` in the model's options but never creates them, so a
CHECK or named UNIQUE constraint would silently be missing. This moves each one into an
`AddConstraint` operation, which does create it (on SQLite by rebuilding the table).
Run by `make migrations`; idempotent.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_CREATE_MODEL = re.compile(r"ops\.CreateModel\(\n\s+name='(\w+)',.*?\n        \),\n", re.S)
_CONSTRAINTS = re.compile(r"'constraints': \[(.*?)\], ")
_ONE = re.compile(r"(?:CheckConstraint|UniqueConstraint)\(.*?\)(?=, (?:Check|Unique)|$)")


def fix(source: str) -> str:
    fixed = source
    additions: list[str] = []
    for match in _CREATE_MODEL.finditer(source):
        model, block = match.group(1), match.group(0)
        found = _CONSTRAINTS.search(block)
        if not found:
            continue
        for constraint in _ONE.findall(found.group(1)):
            additions.append(
                f"        ops.AddConstraint(model_name='{model}', constraint={constraint}),\n"
            )
        fixed = fixed.replace(block, block.replace(found.group(0), ""))
    if additions:
        head, sep, tail = fixed.rpartition("\n    ]\n")
        fixed = head + "\n" + "".join(additions).rstrip("\n") + sep + tail
    return fixed


def main(folder: str) -> None:
    for path in sorted(Path(folder).glob("[0-9]*.py")):
        text = path.read_text(encoding="utf-8")
        fixed = fix(text)
        if fixed != text:
            path.write_text(fixed, encoding="utf-8")
            print(f"moved constraints into AddConstraint operations in {path}")


if __name__ == "__main__":
    main(sys.argv[1])
