"""A small table of text for listings (`config show`, `roles list`): columns for a
person, tab-separated fields for a pipe."""

from __future__ import annotations

from collections.abc import Sequence


def columns(headers: Sequence[str], rows: Sequence[Sequence[str]], *, aligned: bool) -> str:
    """Aligned columns for a person; tab-separated for a pipe (cut, sort, grep).

    The last column is not padded, so a long value there leaves no trailing spaces.
    """
    lines = [headers, *rows]
    if not aligned:
        return "".join("\t".join(r) + "\n" for r in lines)
    widths = [max(len(r[i]) for r in lines) for i in range(len(headers) - 1)]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=False)) + "  " + r[-1] + "\n"
        for r in lines
    )
