"""What people may write where others read it: one Unicode normalization and one rule about
invisible characters, by kind of field.

Names are compared by eye, so they are NFKC-normalized (full-width, circled or mathematical
letters become the plain ones) and may hold nothing that draws nothing. Prose keeps its exact
characters (NFC only) and its line breaks, and is refused only what hides or reorders text.
"""

from __future__ import annotations

import unicodedata
from enum import Enum
from typing import Literal


class TextKind(Enum):
    NAME = "name"  # display names, skills, emails: NFKC, one line, nothing invisible
    LINE = "line"  # titles: NFC, one line
    PROSE = "prose"  # bios, instructions, messages, comments: NFC, line breaks and tabs kept


# Controls, format characters (zero-width spaces, bidi overrides and isolates, soft hyphen,
# BOM, tag characters), private use, surrogates, line and paragraph separators.
_REFUSED = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
# Characters of other categories that draw nothing: Hangul fillers, braille blank, the
# combining grapheme joiner.
_BLANK = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f")
# Format characters that Persian, Indic scripts and emoji sequences need: allowed but in names.
_JOINERS = frozenset("\u200c\u200d")
_PROSE_CONTROLS = frozenset("\n\t")


def _is_variation_selector(ch: str) -> bool:
    code = ord(ch)
    return (
        0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
        or 0x180B <= code <= 0x180D
        or code == 0x180F
    )


def normalize(value: str, kind: TextKind) -> str:
    """The form stored and compared: NFKC for names, NFC otherwise; a single line has each run
    of whitespace (tabs and line breaks included) made one space; both ends trimmed."""
    if kind is TextKind.PROSE:
        text = value.replace("\r\n", "\n").replace("\r", "\n")
        return unicodedata.normalize("NFC", text).strip()
    form: Literal["NFC", "NFKC"] = "NFKC" if kind is TextKind.NAME else "NFC"
    return " ".join(unicodedata.normalize(form, value).split())


def first_refused(text: str, kind: TextKind) -> str | None:
    """The first character `text` may not hold, or None. Names also refuse code points this
    Python's Unicode tables do not know and variation selectors not after a symbol (emoji)."""
    if text.isascii() and text.isprintable():
        return None  # no printable ASCII character is refused in any kind (a batch's cells)
    previous = ""
    for ch in text:
        if _refused(ch, kind, previous):
            return ch
        previous = ch
    return None


def _refused(ch: str, kind: TextKind, previous: str) -> bool:
    if ch in _BLANK:
        return True
    if kind is TextKind.PROSE and ch in _PROSE_CONTROLS:
        return False
    if kind is not TextKind.NAME and ch in _JOINERS:
        return False
    category = unicodedata.category(ch)
    if category in _REFUSED:
        return True
    if kind is TextKind.NAME:
        if category == "Cn":
            return True
        if _is_variation_selector(ch):
            return not previous or unicodedata.category(previous) != "So"
    return False


def describe(ch: str) -> str:
    """`U+202E RIGHT-TO-LEFT OVERRIDE`, for an error message."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")
