"""Words for people: counts (`1 file`, `2 files`, `3 replies`, so no message says
"1 replies"), and a text made one line that fits a width."""

from __future__ import annotations


def plural(count: int, word: str, many: str | None = None) -> str:
    """The count and its noun, agreeing; `many` for a plural the rules below miss."""
    return f"{count:,} {noun(count, word, many)}"


def plural_of(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def noun(count: int, word: str, many: str | None = None) -> str:
    """The noun alone, agreeing with `count`: for tables that right-align the number."""
    return word if count == 1 else many or plural_of(word)


def elide(text: object, width: int) -> str:
    """`text` on one line (its whitespace collapsed), cut to `width` characters with `…`."""
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 1] + "…"
