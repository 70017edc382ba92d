"""`-f DIR` inside a git repository: every .gitignore from the root down and
.git/info/exclude apply, as git applies them, with git on PATH or without it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from aimlchat.chat.files import walk
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
