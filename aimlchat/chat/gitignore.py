"""Which files under a folder `-f DIR` may send: what git would list, hidden names skipped.

Every .gitignore from the repository root down applies, plus .git/info/exclude, as in git.
git itself answers where it is installed and the folder is in a work tree (so tracked files
and the global core.excludesFile count too); otherwise pathspec's GitIgnoreSpec evaluates
the same files the same way. A folder outside any repository honours its own .gitignore
files only. A repository nested inside (a submodule, or an untracked clone) is walked under
its own rules, as `git -C nested ls-files` lists it; an empty, uninitialised submodule gives
nothing. Paths come lazily, so the caller's limits stop the walk early.

The files a glob expands to pass the same test (`kept`): `git check-ignore`, else the same
pathspec rules, so a glob never sends what a walk of its folder would leave out. Without
git, the user's global excludes file is read where git would read it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from aimlchat.errors import UsageError

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

GIT_TIMEOUT = 30.0
# GIT_* variables kept for git: they only choose config files (where core.excludesFile is
# set). Every other one is dropped, since GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE,
# GIT_COMMON_DIR, GIT_CEILING_DIRECTORIES… (set inside hooks, `rebase -x`, `bisect run`)
# would make git answer for another repository than the folder's own.
KEEP_GIT_ENV = frozenset({"GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"})


def kept(base: Path, paths: list[Path]) -> list[Path]:
    """Those of `paths` (files under `base`, found by a glob) that a walk of `base` would
    list, in their order: hidden names below `base` and what git ignores left out."""
    visible = [p for p in paths if not _hidden(p.relative_to(base).as_posix())]
    ignored = _ignored(base, [(p, False) for p in visible])
    return [p for p in visible if p not in ignored]


def listed(root: Path) -> Iterator[str]:
    """Paths under `root` (relative, POSIX), in folder-walk order: a folder's files, then its
    subfolders; hidden names and what git ignores left out."""
    found = _git_files(root, set())
    return _pathspec_files(root.resolve()) if found is None else found


def _walk_order(rel: str, is_dir: bool = False) -> list[tuple[int, str]]:
    # os.walk order with sorted names: at each level files come before folders
    *dirs, name = rel.split("/")
    return [(1, d) for d in dirs] + [(1 if is_dir else 0, name)]


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def _is_repo(folder: Path) -> bool:
    return (folder / ".git").exists()


def _git_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in KEEP_GIT_ENV}


def _git(root: Path, args: list[str], *, doing: str, stdin: bytes | None = None) -> bytes | None:
    """What `git -C root ARGS` prints, or None when git cannot answer here (not installed,
    not a work tree, a repository git refuses to read)."""
    argv = ["git", "-c", "core.fsmonitor=false", "-C", str(root), *args]
    try:
        proc = subprocess.run(
            argv,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            env=_git_env(),
        )
    except subprocess.TimeoutExpired:
        # walking the same tree in Python would be slower still: stop here
        raise UsageError(
            f"git took more than {GIT_TIMEOUT:g} s to {doing} in {root}; nothing sent",
            hint="name a narrower folder, or a glob",
        ) from None
    except (OSError, subprocess.SubprocessError):
        return None
    # check-ignore exits 1 when it finds nothing ignored
    ok = proc.returncode == 0 or (args[0] == "check-ignore" and proc.returncode == 1)
    return proc.stdout if ok else None


def _git_files(root: Path, seen: set[Path]) -> Iterator[str] | None:
    """Tracked and untracked-but-not-ignored files, or None when git cannot answer here."""
    seen.add(root.resolve())
    args = ["ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", "."]
    args += [":(exclude).*", ":(exclude)*/.*"]  # hidden paths: left out anyway
    out = _git(root, args, doing="list the files")
    if out is None:
        return None
    entries: dict[str, bool] = {}  # path -> is a folder (a submodule or a nested repository)
    for raw in out.split(b"\0"):
        rel = os.fsdecode(raw).rstrip("/")
        # "." is what git prints for an empty, uninitialised submodule it is asked about
        if rel in ("", ".") or _hidden(rel) or rel in entries:
            continue
        path = root / rel
        if path.is_symlink():
            continue
        if path.is_file():  # a tracked file deleted from the work tree is left out
            entries[rel] = False
        elif path.is_dir() and _is_repo(path):  # an empty submodule folder gives nothing
            entries[rel] = True
    order = sorted(entries, key=lambda rel: _walk_order(rel, entries[rel]))
    return _expand(root, order, entries, seen)


def _expand(
    root: Path, order: list[str], is_dir: dict[str, bool], seen: set[Path]
) -> Iterator[str]:
    for rel in order:
        if not is_dir[rel]:
            yield rel
            continue
        nested = root / rel
        if nested.resolve() in seen:  # never the same repository twice (a loop, a bind mount)
            continue
        # git does not list inside a nested repository: ask it there, under that one's rules
        inner = _git_files(nested, seen)
        for sub in _pathspec_files(nested.resolve()) if inner is None else inner:
            yield f"{rel}/{sub}"


Spec = tuple[Path, "GitIgnoreSpec"]


def _pathspec_files(root: Path) -> Iterator[str]:
    top = _work_tree(root)
    specs: list[Spec] = []
    if top is None:
        top = root
    else:
        specs = _repo_specs(top)
    for folder in [top, *_below(top, root)]:
        if folder != top and _excluded(specs, folder, True):
            return iter(())  # git lists nothing under a folder it ignores
        specs = specs + _load(folder, folder / ".gitignore")
    return _walk(root, specs)


def _below(top: Path, root: Path) -> list[Path]:
    """The folders from just under `top` down to `root`, outermost first."""
    return [p for p in reversed((root, *root.parents)) if top in p.parents]


def _walk(root: Path, base_specs: list[Spec]) -> Iterator[str]:
    specs_of = {root: base_specs}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        specs = specs_of[here]
        if here != root:
            if _is_repo(here):  # a nested repository: only its own rules apply
                specs = _repo_specs(here)
            specs = specs_of[here] = specs + _load(here, here / ".gitignore")
        # hidden folders are left out anyway: no need to read them; sorted, so os.walk
        # gives the same order as git's path (a folder's files, then its subfolders)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and not _excluded(specs, here / d, True)
        )
        for d in dirs:
            specs_of[here / d] = specs
        for name in sorted(files):
            path = here / name
            if not name.startswith(".") and not _excluded(specs, path, False):
                yield path.relative_to(root).as_posix()


Candidate = tuple[Path, bool]  # a path, and whether it is a folder


def _ignored(base: Path, paths: list[Candidate]) -> set[Path]:
    """Those of `paths` (under `base`) that git ignores, each asked of its own repository;
    a repository nested below `base` that its outer one ignores takes its files with it,
    as in a folder walk. Outside any repository, the .gitignore files from `base` down."""
    groups: dict[Path | None, list[Candidate]] = {}
    for path, is_dir in paths:
        groups.setdefault(_work_tree(path.parent), []).append((path, is_dir))
    found: set[Path] = set()
    for top, group in groups.items():
        if top is None:
            found |= _pathspec_ignored(base, [], group)
            continue
        by_git = _git_ignored(top, group)
        found |= _pathspec_ignored(top, _repo_specs(top), group) if by_git is None else by_git
        if base in top.parents and top in _ignored(base, [(top, True)]):
            found |= {path for path, _ in group}
    return found


def _git_ignored(top: Path, group: list[Candidate]) -> set[Path] | None:
    # tracked files are never reported (as ls-files --cached lists them); -z: any name
    names = {path.relative_to(top).as_posix(): path for path, _ in group}
    stdin = b"".join(os.fsencode(name) + b"\0" for name in names)
    out = _git(top, ["check-ignore", "-z", "--stdin"], doing="check the files", stdin=stdin)
    if out is None:
        return None
    return {names[n] for n in (os.fsdecode(raw) for raw in out.split(b"\0")) if n in names}


def _pathspec_ignored(top: Path, base_specs: list[Spec], group: list[Candidate]) -> set[Path]:
    """git's rules without git: a path is ignored when a folder above it (below `top`) is,
    or when the .gitignore files from `top` down to its folder say so."""
    specs_of: dict[Path, list[Spec] | None] = {}  # None: the folder itself is ignored

    def specs_at(folder: Path) -> list[Spec] | None:
        if folder not in specs_of:
            outer = base_specs if folder == top else specs_at(folder.parent)
            if outer is not None and folder != top and _excluded(outer, folder, True):
                outer = None
            specs_of[folder] = (
                None if outer is None else outer + _load(folder, folder / ".gitignore")
            )
        return specs_of[folder]

    found = set()
    for path, is_dir in group:
        specs = specs_at(path.parent)
        if specs is None or _excluded(specs, path, is_dir):
            found.add(path)
    return found


def _repo_specs(top: Path) -> list[Spec]:
    """The user's global excludes, then .git/info/exclude: below every .gitignore in
    precedence, as in git."""
    git_dir = _git_dir(top)
    return _load(top, _excludes_file(git_dir)) + _load(top, git_dir / "info" / "exclude")


def _excludes_file(git_dir: Path) -> Path:
    """Where git reads the user's own ignore patterns: core.excludesFile from the system,
    global or repository config (the last one set wins), else $XDG_CONFIG_HOME/git/ignore."""
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no passwd entry
        home = Path("/nonexistent")
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    files = []
    if not os.environ.get("GIT_CONFIG_NOSYSTEM"):
        files.append(Path(os.environ.get("GIT_CONFIG_SYSTEM") or "/etc/gitconfig"))
    chosen = os.environ.get("GIT_CONFIG_GLOBAL")
    files += [Path(chosen)] if chosen else [config / "git" / "config", home / ".gitconfig"]
    value = None
    for file in [*files, git_dir / "config"]:
        value = _core_excludes_file(file) or value
    return Path(value).expanduser() if value else config / "git" / "ignore"


def _core_excludes_file(file: Path) -> str | None:
    """`[core] excludesFile` in one git config file; a file configparser cannot read (an
    unusual git syntax) counts as unset."""
    import configparser

    parser = configparser.ConfigParser(
        strict=False, allow_no_value=True, interpolation=None, inline_comment_prefixes=("#", ";")
    )
    try:
        parser.read_string(file.read_text(encoding="utf-8", errors="replace"))
    except (OSError, configparser.Error):
        return None
    value = None
    for section in parser.sections():  # git's section and key names ignore case
        if section.strip().lower() == "core":
            value = parser[section].get("excludesfile") or value
    return value.strip().strip('"') if value else None


def _git_dir(top: Path) -> Path:
    """The repository's git folder: `.git`, or where a `.git` file (a submodule, a linked
    worktree) points; info/exclude lives in the common one."""
    dot_git = top / ".git"
    try:
        text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return dot_git
    if not text.startswith("gitdir:"):
        return dot_git
    git_dir = top / text.removeprefix("gitdir:").strip()
    try:
        common = (git_dir / "commondir").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return git_dir
    return git_dir / common


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
