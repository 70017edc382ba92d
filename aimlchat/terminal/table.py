"""Tables on a terminal (`aimlchat models`): rich lays them out; an ID column is never
wrapped or cut, since it is what people copy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from aimlchat.terminal.output import StdoutWrites
from aimlchat.terminal.render import make_console
from aimlchat.terminal.sanitize import terminal_safe


def print_table(
    file: TextIO,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    color: bool,
    terminal: bool,
    justify_right: Sequence[int] = (),
    whole: Sequence[int] = (),
    optional: Sequence[int] = (),
) -> None:
    """Columns fold to fit, but those in `whole` (an ID people copy) never wrap or get cut.
    Too narrow a terminal loses the `optional` columns, then sees lines run past its edge
    (it wraps them, and a copied ID stays whole)."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    console = make_console(file, color=color, terminal=terminal)
    widest = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    shown, least = _fitting(widest, whole, optional, console.width)
    if console.width < least:
        console = make_console(file, color=color, terminal=terminal, width=least)
    table = Table(box=SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i in shown:
        table.add_column(
            headers[i],
            justify="right" if i in justify_right else "left",
            overflow="fold",
            no_wrap=i in whole,
            min_width=widest[i] if i in whole else None,
        )
    for row in rows:
        table.add_row(*(terminal_safe(row[i]) for i in shown))
    with StdoutWrites():
        console.print(table)


def _fitting(
    widest: list[int], whole: Sequence[int], optional: Sequence[int], width: int
) -> tuple[list[int], int]:
    """The columns to show, and the least width they take (a folding one takes 8)."""
    shown = list(range(len(widest)))
    while True:
        least = sum(w if i in whole else min(w, 8) for i, w in enumerate(widest) if i in shown)
        least += 3 * (len(shown) - 1)  # the gaps between columns
        dropped = [i for i in shown if i in optional]
        if least <= width or not dropped:
            return shown, least
        shown.remove(dropped[-1])
