"""Is `aimlchat WORD …` a mistyped command, or a prompt? Refusing a prompt costs a retype;
asking a typo costs a paid request, so only clear typos are refused.

- A lone word is a typo of a command when it starts with the same letter and is one
  swap of neighbouring letters away (`hsitory`, `rolse`, `chta`); for command names of
  5 letters also one added, dropped or changed letter (`bach`, `confg`), and for 6 or
  more letters up to two such edits (`histry`, `modles`). Short words one letter from
  `chat`, `ask`, `cmd` or `key` are too often real words (`cat`, `hat`, `what`, `keys`).
- A word followed by a subcommand of the command it resembles is a typo
  (`histroy list`, `confg show`), by a looser likeness: the subcommand says enough.
"""

from __future__ import annotations


def mistyped(args: list[str], names: list[str], subcommands: dict[str, list[str]]) -> str | None:
    """The command `args[0]` looks like a typo of, or None when it is a prompt."""
    first = args[0]
    if first.startswith("-") or " " in first or not first:
        return None
    words = [a for a in args[1:] if not a.startswith("-")]
    if not words:
        return next((name for name in names if _close(first.lower(), name)), None)
    import difflib

    close = difflib.get_close_matches(first, names, n=1, cutoff=0.75)
    if close and words[0] in subcommands.get(close[0], []):
        return close[0]
    return None


def _close(word: str, name: str) -> bool:
    if word[0] != name[0]:
        return False
    distance = edit_distance(word, name)
    if len(name) >= 6:
        return distance <= 2
    if len(name) == 5:
        return distance <= 1
    return distance == 1 and sorted(word) == sorted(name)  # a swap only


def edit_distance(a: str, b: str) -> int:
    """Optimal string alignment: insertions, deletions, substitutions and swaps of
    neighbouring letters each count 1."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]
