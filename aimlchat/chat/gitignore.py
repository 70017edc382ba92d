"""Just enough of .gitignore to keep build output and secrets out of `-f DIR`.

Patterns from each folder's .gitignore apply below it: `#` comments, `!` negation,
a trailing `/` for folders only, a `/` inside anchoring to that folder, `*`, `?`,
`[...]` and `**`. The last matching pattern wins, as in git.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class _Rule:
    base: Path
    regex: re.Pattern[str]
    negate: bool
    dir_only: bool


def _translate(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def _rules(folder: Path) -> list[_Rule]:
    try:
        text = (folder / ".gitignore").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        line = line[1:] if negate else line
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        body = _translate(line)
        regex = re.compile(("^" if anchored else "^(?:.*/)?") + body + "$")
        rules.append(_Rule(folder, regex, negate, dir_only))
    return rules


@dataclass(frozen=True)
class Ignore:
    rules: tuple[_Rule, ...] = ()

    @classmethod
    def load(cls, root: Path) -> Ignore:
        return cls(tuple(_rules(root)))

    def child(self, folder: Path) -> Ignore:
        """The rules in force inside `folder` (its own .gitignore added)."""
        own = [r for r in _rules(folder) if r.base == folder]
        if not own or any(r.base == folder for r in self.rules):
            return self
        return Ignore((*self.rules, *own))

    def excluded(self, path: Path, is_dir: bool) -> bool:
        result = False
        for rule in self.rules:
            if rule.dir_only and not is_dir:
                continue
            try:
                rel = path.relative_to(rule.base).as_posix()
            except ValueError:
                continue
            if rule.regex.match(rel):
                result = not rule.negate
        return result
