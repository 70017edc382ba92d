"""Words for people: counts (`1 file`, `2 files`, `3 replies`, so no message says
"1 replies"), lists (`a, b or c`), "did you mean", and a text made one line that fits a
width."""

from __future__ import annotations

from collections.abc import Callable, Iterable


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
    """`text` on one line (its whitespace collapsed), cut to `width` terminal columns with
    `…` (a wide character, CJK or emoji, takes two). Costs O(width), not O(len(text)):
    a stray line can be megabytes."""
    if width < 1:
        return ""
    raw = str(text)
    # Only a head can show. Combining marks take no column and runs of blanks become one,
    # so the head is generous; past it, anything but blanks is cut.
    head = raw[: 8 * width + 64]
    line = " ".join(head.split())
    more = len(head) < len(raw) and bool(raw[len(head) :].strip())
    if line.isascii():
        if len(line) <= width and not more:
            return line
        return line[: width - 1] + "…"
    used, fits = 0, 0  # columns so far; characters that fit with room for the `…`
    for index, char in enumerate(line):
        used += _cell(char)
        if used > width:
            break
        if used <= width - 1:
            fits = index + 1
    else:
        if not more:
            return line
    return line[:fits].rstrip("\u200d") + "…"  # no joiner left dangling before the mark


def pad(text: str, width: int) -> str:
    """`text` and spaces up to `width` columns: `f"{text:<width}"` counts characters, and
    a wide character would push the next column out."""
    return text + " " * max(0, width - cells(text))


def cells(text: str) -> int:
    """Columns `text` takes on a terminal."""
    return len(text) if text.isascii() else sum(_cell(char) for char in text)


def _cell(char: str) -> int:
    import unicodedata  # not for ASCII

    if unicodedata.combining(char) or char in "\u200b\u200c\u200d\ufe0f":
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def one_of(items: Iterable[str]) -> str:
    """`a`, `a or b`, `a, b or c`."""
    names = list(items)
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def did_you_mean(
    word: str, known: Iterable[str], *, n: int = 3, shown: Callable[[str], str] = str
) -> str | None:
    """`did you mean a, b or c?` of the known names close to `word`, each as `shown`
    writes it; None if none is."""
    import difflib  # only for a mistake

    near = difflib.get_close_matches(word, list(known), n=n, cutoff=0.6)
    return f"did you mean {one_of(map(shown, near))}?" if near else None
