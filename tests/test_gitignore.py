"""`-f DIR` inside a git repository: every .gitignore from the root down and
.git/info/exclude apply, as git applies them, with git on PATH or without it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from aimlchat.chat.files import walk
from aimlchat.errors import UsageError
from tests.conftest import invoke
from tests.loopback import LoopbackServer

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")

FILES = [
    "secrets.txt",
    "src/secrets.txt",
    "src/main.py",
    "src/debug.log",
    "src/local.txt",
    "src/.env",
    "src/build/out.txt",
    "src/sub/keep.log",
    "src/sub/other.log",
    "src/sub/notes.md",
    "src/sub/deep/secrets.txt",
    "src/sub/deep/b.py",
    "src/sub/cache/x.py",
]


def _repo(top: Path, *, git: bool) -> Path:
    """A work tree: root .gitignore, a nested one with a negation, and info/exclude."""
    if git:
        subprocess.run(["git", "init", "-q", str(top)], check=True)
    else:
        (top / ".git" / "info").mkdir(parents=True)
        (top / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    for rel in FILES:
        path = top / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {rel}\n")
    (top / ".gitignore").write_text("secrets.txt\n*.log\nbuild/\n")
    (top / "src" / "sub" / ".gitignore").write_text("!keep.log\ncache/\n")
    (top / ".git" / "info" / "exclude").write_text("local.txt\n")
    return top


EXPECTED = ["main.py", "sub/keep.log", "sub/notes.md", "sub/deep/b.py"]


def _names(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in walk(root)]


@pytest.fixture
def no_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """git is not installed: an empty PATH."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.fixture(autouse=True)
def private_git_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The user's global excludes file must not change what these tests see."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@needs_git
def test_a_subfolder_of_a_repo_honours_root_and_nested_gitignore_and_info_exclude(tmp_path):
    top = _repo(tmp_path / "repo", git=True)
    assert _names(top / "src") == EXPECTED


def test_without_git_on_path_the_same_files_are_left_out(tmp_path, no_git):
    top = _repo(tmp_path / "repo", git=False)
    assert _names(top / "src") == EXPECTED


@needs_git
def test_git_and_pathspec_agree_on_the_same_repository(tmp_path, monkeypatch):
    top = _repo(tmp_path / "repo", git=True)
    with_git = _names(top / "src")
    monkeypatch.setenv("PATH", "")
    assert _names(top / "src") == with_git == EXPECTED


@needs_git
def test_untracked_and_tracked_files_both_count_and_the_repo_root_works(tmp_path):
    top = _repo(tmp_path / "repo", git=True)
    subprocess.run(["git", "-C", str(top), "add", "src/main.py"], check=True)
    (top / "src" / "main.py").rename(top / "src" / "moved.py")  # tracked, deleted: left out
    names = _names(top)
    assert names == [n.replace("main", "moved") for n in ["src/" + e for e in EXPECTED]]


@pytest.mark.parametrize("git", [True, False], ids=["git", "pathspec"])
def test_a_folder_that_git_ignores_gives_nothing(tmp_path, monkeypatch, git):
    if git and GIT is None:
        pytest.skip("git is not installed")
    top = _repo(tmp_path / "repo", git=git)
    if not git:
        monkeypatch.setenv("PATH", "")
    assert _names(top / "src" / "build") == []


def test_a_folder_outside_any_repository_honours_its_own_gitignore(tmp_path, no_git):
    (tmp_path / ".gitignore").write_text("*.log\n")
    (tmp_path / "a.log").write_text("x")
    (tmp_path / "a.py").write_text("x")
    assert _names(tmp_path) == ["a.py"]


@needs_git
def test_ask_f_src_does_not_send_a_secret_the_root_gitignore_excludes(
    cli_env: dict[str, str], server: LoopbackServer, tmp_path: Path, monkeypatch
):
    top = _repo(tmp_path / "repo", git=True)
    monkeypatch.chdir(top)
    r = invoke(["ask", "-f", "src/", "review"], cli_env)
    assert r.returncode == 0, r.stderr
    text = server.chat_bodies()[-1]["messages"][-1]["content"]
    assert "src/main.py" in text and "secrets" not in text and "local.txt" not in text


@needs_git
def test_f_on_a_folder_git_ignores_says_why_nothing_was_sent(
    cli_env: dict[str, str], server: LoopbackServer, tmp_path: Path, monkeypatch
):
    top = _repo(tmp_path / "repo", git=True)
    monkeypatch.chdir(top)
    r = invoke(["ask", "-f", "src/build", "review"], cli_env)
    assert r.returncode == 2 and server.chat_bodies() == []
    assert "no files to send" in r.stderr and "what git ignores" in r.stderr


def _git(*args: str, cwd: Path | None = None) -> None:
    base = ["git", "-c", "protocol.file.allow=always", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*base, *args], cwd=cwd, check=True, capture_output=True)


def _committed_repo(path: Path, files: dict[str, str]) -> Path:
    _git("init", "-q", str(path))
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    _git("add", "-A", cwd=path)
    _git("commit", "-q", "-m", "init", cwd=path)
    return path


def _superproject(tmp_path: Path) -> Path:
    """A repository with a submodule `mod` (whose own .gitignore drops *.tmp)."""
    lib = _committed_repo(tmp_path / "lib", {"lib.py": "x", ".gitignore": "*.tmp\n"})
    top = _committed_repo(tmp_path / "top", {"app.py": "x"})
    _git("submodule", "add", "-q", str(lib), "mod", cwd=top)
    _git("commit", "-q", "-m", "sub", cwd=top)
    (top / "mod" / "scratch.tmp").write_text("x")
    return top


@needs_git
def test_an_initialised_submodule_is_walked_with_its_own_gitignore(tmp_path):
    top = _superproject(tmp_path)
    assert _names(top) == ["app.py", "mod/lib.py"]


@needs_git
def test_an_uninitialised_submodule_is_an_empty_folder_not_an_endless_recursion(tmp_path):
    top = _superproject(tmp_path)
    clone = tmp_path / "clone"
    _git("clone", "-q", str(top), str(clone))  # no --recurse-submodules: `mod` stays empty
    assert (clone / "mod").is_dir() and not any((clone / "mod").iterdir())
    assert _names(clone) == ["app.py"]
    assert _names(clone / "mod") == []


@needs_git
def test_f_on_an_uninitialised_submodule_says_nothing_to_send(
    cli_env: dict[str, str], server: LoopbackServer, tmp_path: Path, monkeypatch
):
    top = _superproject(tmp_path)
    clone = tmp_path / "clone"
    _git("clone", "-q", str(top), str(clone))
    monkeypatch.chdir(clone)
    r = invoke(["ask", "-f", ".", "review"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "app.py" in server.chat_bodies()[-1]["messages"][-1]["content"]
    r = invoke(["ask", "-f", "mod", "review"], cli_env)
    assert r.returncode == 2 and "no files to send" in r.stderr and "Traceback" not in r.stderr


NESTED = {"a.py": "x", "build.log": "x", ".gitignore": "secret.txt\n"}


def _with_nested_repo(tmp_path: Path, *, git: bool) -> Path:
    """An outer work tree ignoring *.log, holding an untracked repository `inner` whose
    own rules ignore secret.txt and, through info/exclude, local.txt."""
    top = _repo(tmp_path / "outer", git=git)
    inner = top / "inner"
    if git:
        subprocess.run(["git", "init", "-q", str(inner)], check=True)
    else:
        (inner / ".git" / "info").mkdir(parents=True)
        (inner / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (inner / ".git" / "info" / "exclude").write_text("local.txt\n")
    for rel in ["a.py", "build.log", "secret.txt", "local.txt"]:
        (inner / rel).write_text("x")
    (inner / ".gitignore").write_text("secret.txt\n")
    return top


@pytest.mark.parametrize("git", [True, False], ids=["git", "pathspec"])
def test_a_nested_repository_is_sent_under_its_own_rules_only(tmp_path, monkeypatch, git):
    """git does not list inside a nested repository; aimlchat sends its files, as `git -C
    inner ls-files` would list them: its own .gitignore and info/exclude, not the outer ones."""
    if git and GIT is None:
        pytest.skip("git is not installed")
    top = _with_nested_repo(tmp_path, git=git)
    if not git:
        monkeypatch.setenv("PATH", "")
    assert _names(top / "inner") == ["a.py", "build.log"]
    assert [n for n in _names(top) if n.startswith("inner/")] == ["inner/a.py", "inner/build.log"]


@needs_git
def test_a_nested_repository_the_outer_gitignore_ignores_is_not_sent(tmp_path):
    top = _with_nested_repo(tmp_path, git=True)
    (top / ".gitignore").write_text("inner/\n")
    assert not [n for n in _names(top) if n.startswith("inner")]


@needs_git
@pytest.mark.parametrize("var", ["GIT_DIR", "GIT_WORK_TREE"])
def test_git_variables_from_a_hook_do_not_change_which_rules_apply(tmp_path, monkeypatch, var):
    """Inside a git hook, `rebase -x` or `bisect run`, GIT_DIR and friends point at another
    repository; the folder's own repository must still decide."""
    top = _repo(tmp_path / "repo", git=True)
    other = tmp_path / "other"
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    monkeypatch.setenv(var, str(other / ".git") if var == "GIT_DIR" else str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    assert _names(top / "src") == EXPECTED


def _spy_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The real read_capped, counting the files `-f` reads."""
    from aimlchat.chat import files

    reads: list[Path] = []
    real = files.read_capped

    def counting(path: Path, **kw: object) -> bytes:
        reads.append(path)
        return real(path, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(files, "read_capped", counting)
    return reads


@pytest.mark.parametrize("git", [True, False], ids=["git", "pathspec"])
def test_a_folder_over_the_file_count_limit_is_refused_before_any_file_is_read(
    tmp_path, monkeypatch, git
):
    from aimlchat.chat import files
    from aimlchat.errors import UsageError

    if git and GIT is None:
        pytest.skip("git is not installed")
    if git:
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    else:
        monkeypatch.setenv("PATH", "")
    for i in range(20):
        (tmp_path / f"f{i:02}.txt").write_text("x")
    monkeypatch.setattr(files, "MAX_FOLDER_FILES", 5)
    reads = _spy_reads(monkeypatch)
    with pytest.raises(UsageError, match="more than 5 files"):
        files.collect(["."], cwd=tmp_path)
    assert reads == []


def test_without_git_the_walk_stops_listing_at_the_file_count_limit(tmp_path, no_git, monkeypatch):
    """`-f ~` outside a repository: the walk stops once the limit is passed, not after
    visiting every folder (each visited folder has its .gitignore looked up once)."""
    from aimlchat.chat import files, gitignore
    from aimlchat.errors import UsageError

    for i in range(40):
        (tmp_path / f"d{i:02}").mkdir()
        (tmp_path / f"d{i:02}" / "a.txt").write_text("x")
    looked_up: list[Path] = []
    real_load = gitignore._load
    monkeypatch.setattr(gitignore, "_load", lambda b, f: looked_up.append(f) or real_load(b, f))
    monkeypatch.setattr(files, "MAX_FOLDER_FILES", 5)
    with pytest.raises(UsageError, match="more than 5 files"):
        files.collect(["."], cwd=tmp_path)
    assert len(looked_up) < 10


@pytest.mark.parametrize("git", [True, False], ids=["git", "pathspec"])
def test_the_byte_budget_stops_reading_a_big_folder_early(tmp_path, monkeypatch, git):
    from aimlchat.chat import files
    from aimlchat.errors import UsageError

    if git and GIT is None:
        pytest.skip("git is not installed")
    if git:
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    else:
        monkeypatch.setenv("PATH", "")
    for i in range(20):
        (tmp_path / f"f{i:02}.txt").write_bytes(b"x" * 900_000)
    reads = _spy_reads(monkeypatch)
    with pytest.raises(UsageError, match="add up to more than 8 MB"):
        files.collect(["."], cwd=tmp_path)
    assert len(reads) == 10  # the 10th file passes 8 MB; the other 10 are never read


@pytest.mark.skipif(not hasattr(os, "fork"), reason="a shell-script git needs POSIX")
def test_a_git_that_times_out_stops_with_a_message_instead_of_a_slower_walk(tmp_path, monkeypatch):
    """A git too slow to list the folder (a huge tree, `-f ~` in a dotfiles repo): say so
    and stop; walking the same tree in Python would take longer still."""
    from aimlchat.chat import files, gitignore
    from aimlchat.errors import UsageError

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    sleep = shutil.which("sleep") or "sleep"
    fake.write_text(f"#!/bin/sh\nexec {sleep} 60\n")  # a git stuck on a huge tree
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(gitignore, "GIT_TIMEOUT", 0.2)
    walked: list[Path] = []
    monkeypatch.setattr(gitignore, "_pathspec_files", lambda root: walked.append(root) or iter(()))
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UsageError, match=r"git took more than 0\.2 s") as info:
        files.collect(["."], cwd=tmp_path)
    assert "narrower folder" in (info.value.hint or "")
    assert walked == []


def _global_excludes(home: Path, how: str) -> None:
    """`*.pem` in the user's own excludes file, found the way `how` says."""
    config = home / ".config"
    if how == "default":
        (config / "git").mkdir(parents=True)
        (config / "git" / "ignore").write_text("*.pem\n")
        return
    (home / "my-ignores").write_text("# keys\n*.pem\n")
    setting = '[user]\n\tname = t\n[core]\n\tbare = false\n\texcludesFile = "~/my-ignores"\n'
    if how == "gitconfig":
        (home / ".gitconfig").write_text(setting)
    else:
        (config / "git").mkdir(parents=True)
        (config / "git" / "config").write_text(setting)


@pytest.mark.parametrize("git", [True, False], ids=["git", "pathspec"])
@pytest.mark.parametrize("how", ["default", "gitconfig", "xdg-config"])
def test_the_users_global_excludes_file_applies_with_or_without_git(
    tmp_path, monkeypatch, git, how
):
    if git and GIT is None:
        pytest.skip("git is not installed")
    _global_excludes(tmp_path / "home", how)
    top = _repo(tmp_path / "repo", git=git)
    (top / "src" / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    if not git:
        monkeypatch.setenv("PATH", "")
    assert _names(top / "src") == EXPECTED
    assert files_of_glob(top, "src/*") == ["src/main.py"]


def files_of_glob(cwd: Path, spec: str) -> list[str]:
    from aimlchat.chat.files import collect

    return [block.split("\n")[0] for block in collect([spec], cwd=cwd).blocks]


@pytest.mark.parametrize("git", [True, False], ids=["git", "pathspec"])
def test_a_glob_into_a_nested_repository_follows_its_rules_and_the_outer_folder_rule(
    tmp_path, monkeypatch, git
):
    """As a folder walk: from `inner` down only its own rules apply (`inner/*` is `-f inner`);
    a glob whose folder is the outer repository leaves `inner` out once the outer
    .gitignore names it."""
    if git and GIT is None:
        pytest.skip("git is not installed")
    top = _with_nested_repo(tmp_path, git=git)
    if not git:
        monkeypatch.setenv("PATH", "")
    assert files_of_glob(top, "inner/*") == ["inner/a.py", "inner/build.log"]
    assert files_of_glob(top / "inner", "*") == ["a.py", "build.log"]
    assert files_of_glob(top, "*/*.py") == ["inner/a.py", "src/main.py"]
    (top / ".gitignore").write_text("inner/\n")
    assert files_of_glob(top, "inner/*") == ["inner/a.py", "inner/build.log"]
    assert files_of_glob(top, "*/*.py") == ["src/main.py"]
    with pytest.raises(UsageError, match="matched only ignored files"):
        files_of_glob(top, "*/a.py")
