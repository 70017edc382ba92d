"""Which files under a folder `-f DIR` may send: what git would list, hidden names skipped.

Every .gitignore from the repository root down applies, plus .git/info/exclude, as in git.
git itself answers where it is installed and the folder is in a work tree (so tracked files
and the global core.excludesFile count too); otherwise pathspec's GitIgnoreSpec evaluates
the same files the same way. A folder outside any repository honours its own .gitignore
files only.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

GIT_TIMEOUT = 30.0


def listed(root: Path) -> list[str]:
    """Paths under `root` (relative, POSIX), in folder-walk order: a folder's files, then its
    subfolders; hidden names and what git ignores left out."""
    found = _git_files(root)
    if found is None:
        found = _pathspec_files(root.resolve())
    visible = {p for p in found if not any(part.startswith(".") for part in p.split("/"))}
    return sorted(visible, key=_walk_order)


def _walk_order(rel: str) -> list[tuple[int, str]]:
    # os.walk order with sorted names: at each level files come before folders
    *dirs, name = rel.split("/")
    return [(1, d) for d in dirs] + [(0, name)]


def _git_files(root: Path) -> list[str] | None:
    """Tracked and untracked-but-not-ignored files, or None when git cannot answer here
    (not installed, not a work tree, a repository git refuses to read)."""
    argv = ["git", "-c", "core.fsmonitor=false", "-C", str(root), "ls-files"]
    argv += ["--cached", "--others", "--exclude-standard", "-z", "--", "."]
    try:
        proc = subprocess.run(
            argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    out: list[str] = []
    for raw in proc.stdout.split(b"\0"):
        rel = os.fsdecode(raw).rstrip("/")
        path = root / rel
        if not rel or path.is_symlink():
            continue
        if path.is_dir():  # a submodule or a nested repository: its own rules apply
            nested = _git_files(path) or []
            out += [f"{rel}/{sub}" for sub in nested]
        elif path.is_file():  # a tracked file deleted from the work tree is left out
            out.append(rel)
    return out


Spec = tuple[Path, "GitIgnoreSpec"]


def _pathspec_files(root: Path) -> list[str]:
    top = _work_tree(root)
    specs: list[Spec] = []
    if top is None:
        top = root
    else:
        specs = _load(top, top / ".git" / "info" / "exclude")  # below every .gitignore
    for folder in [top, *_below(top, root)]:
        if folder != top and _excluded(specs, folder, True):
            return []  # git lists nothing under a folder it ignores
        specs = specs + _load(folder, folder / ".gitignore")
    return list(_walk(root, specs))


def _below(top: Path, root: Path) -> list[Path]:
    """The folders from just under `top` down to `root`, outermost first."""
    return [p for p in reversed((root, *root.parents)) if top in p.parents]


def _walk(root: Path, base_specs: list[Spec]) -> Iterable[str]:
    specs_of = {root: base_specs}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        specs = specs_of[here]
        if here != root:
            specs = specs_of[here] = specs + _load(here, here / ".gitignore")
        # hidden folders are left out anyway: no need to read them
        dirs[:] = [
            d for d in dirs if not d.startswith(".") and not _excluded(specs, here / d, True)
        ]
        for d in dirs:
            specs_of[here / d] = specs
        for name in files:
            path = here / name
            if not _excluded(specs, path, False):
                yield path.relative_to(root).as_posix()


def _load(base: Path, file: Path) -> list[Spec]:
    from pathspec import GitIgnoreSpec

    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [(base, GitIgnoreSpec.from_lines(text.splitlines()))]


def _excluded(specs: list[Spec], path: Path, is_dir: bool) -> bool:
    """git's precedence: the deepest file with a matching line decides, and within a file
    the last matching line wins."""
    for base, spec in reversed(specs):
        rel = path.relative_to(base).as_posix()
        result = spec.check_file(rel + "/" if is_dir else rel).include
        if result is not None:
            return result
    return False


def _work_tree(folder: Path) -> Path | None:
    """The top of the repository holding `folder`, found as git finds it."""
    for candidate in (folder, *folder.parents):
        dot_git = candidate / ".git"
        if dot_git.is_file() or (dot_git / "HEAD").is_file():
            return candidate
    return None
