"""`-f/--file` on ask: files, folders, globs, images, stdin and URLs in the user message,
against the loopback server; every limit refused before anything is sent."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY, invoke, run_cli
from tests.loopback import LoopbackServer, Reply
from tests.test_ecosystem import PNG


@pytest.fixture
def web() -> Iterator[LoopbackServer]:
    """Another host, serving pages: not the API, so it must never see the key."""
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


def _content(server: LoopbackServer) -> object:
    return server.chat_bodies()[-1]["messages"][-1]["content"]


def _url(srv: LoopbackServer, path: str) -> str:
    return srv.base_url.removesuffix("/v1") + path


def test_files_come_first_then_stdin_then_the_prompt(cli_env, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.py").write_text("print('hi')\n")
    r = invoke(["-f", "app.py", "what does it print"], cli_env, input="log line\n")
    assert r.returncode == 0, r.stderr
    assert _content(server) == (
        "app.py\n```python\nprint('hi')\n```\n\nlog line\n\nwhat does it print"
    )


def test_a_folder_honours_gitignore_and_skipped_binaries_get_one_notice(
    cli_env, server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "src"
    (src / "build").mkdir(parents=True)
    (src / ".gitignore").write_text("build/\n*.log\n")
    (src / "main.py").write_text("x = 1\n")
    (src / "notes.md").write_text("# notes\n")
    (src / "debug.log").write_text("ignored\n")
    (src / "build" / "out.txt").write_text("ignored\n")
    (src / "blob.bin").write_bytes(b"\x00\x01\x02")
    (src / "logo.png").write_bytes(PNG)
    r = invoke(["ask", "-f", "src", "review"], cli_env)
    assert r.returncode == 0, r.stderr
    text = _content(server)
    assert isinstance(text, str)
    assert "src/main.py\n```python\nx = 1\n```" in text and "src/notes.md" in text
    assert "ignored" not in text and text.endswith("\n\nreview")
    notices = [line for line in r.stderr.splitlines() if "skipped" in line]
    assert notices == ["aimlchat: skipped 2 binary files: src/blob.bin, src/logo.png"]


def test_an_image_given_to_f_goes_as_an_image_part(cli_env, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shot.png").write_bytes(PNG)
    (tmp_path / "a.txt").write_text("A\n")
    r = invoke(["ask", "-f", "shot.png", "-f", "*.txt", "describe"], cli_env)
    assert r.returncode == 0, r.stderr
    parts = _content(server)
    assert isinstance(parts, list)
    assert parts[0] == {"type": "text", "text": "a.txt\n```\nA\n```\n\ndescribe"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("make", "spec", "message"),
    [
        (lambda d: (d / "blob.dat").write_bytes(b"\x00\x01"), "blob.dat", "blob.dat is a binary"),
        (lambda d: (d / "big.txt").write_bytes(b"a" * (1024 * 1024 + 1)), "big.txt", "1 MB"),
        (lambda d: None, "missing.txt", "no such file: missing.txt"),
        (lambda d: None, "*.nothing", "no file matches"),
    ],
)
def test_a_file_that_cannot_be_sent_exits_2_before_any_request(
    cli_env, server, tmp_path, monkeypatch, make, spec, message
):
    monkeypatch.chdir(tmp_path)
    make(tmp_path)
    r = invoke(["ask", "-f", spec, "hi"], cli_env)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert server.requests == []


def test_files_adding_up_past_the_total_limit_exit_2(cli_env, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i in range(9):  # 9 x 1 MB: each file allowed, the total (8 MB) not
        (tmp_path / f"part{i}.txt").write_bytes(b"a" * (1024 * 1024))
    r = invoke(["ask", "-f", "*.txt", "hi"], cli_env)
    assert r.returncode == 2 and "add up to more than 8 MB; nothing sent" in r.stderr
    assert server.requests == []


def test_f_dash_makes_stdin_a_fenced_block_read_once(cli_env, server):
    r = invoke(["-f", "-", "summarise"], cli_env, input="piped data\n")
    assert r.returncode == 0, r.stderr
    assert _content(server) == "stdin\n```\npiped data\n```\n\nsummarise"


@pytest.mark.parametrize(
    ("args", "tty", "message"),
    [
        (["-f", "-", "-a", "-", "hi"], False, "stdin can be read once"),
        (["-f", "-", "hi"], True, "-f - reads stdin, but stdin is a terminal"),
        (["--no-stdin", "-f", "-", "hi"], False, "but --no-stdin is given"),
        (["-f", "-", "fix {stdin} now"], False, "{stdin} has nothing to hold"),
    ],
)
def test_f_dash_that_cannot_read_stdin_is_a_usage_error(cli_env, server, args, tty, message):
    r = invoke(["ask", *args], cli_env, input="data", stdin_tty=tty)
    assert r.returncode == 2 and message in r.stderr
    assert server.requests == []


def test_files_alone_on_a_terminal_are_the_message(cli_env, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.md").write_text("What is 2+2?\n")
    r = invoke(["ask", "-f", "q.md"], cli_env, stdin_tty=True)
    assert r.returncode == 0, r.stderr
    assert _content(server) == "q.md\n```markdown\nWhat is 2+2?\n```"


def test_a_url_is_fetched_as_text_and_never_sent_the_key(cli_env, server, web):
    web.pages["/doc"] = Reply(
        body="<html><body><h1>Title</h1><p>Some <b>bold</b> text.</p>"
        "<script>evil()</script></body></html>",
        content_type="text/html; charset=utf-8",
    )
    url = _url(web, "/doc")
    r = invoke(["ask", "-f", url, "summarise"], cli_env)
    assert r.returncode == 0, r.stderr
    assert _content(server) == f"{url}\n```\nTitle\n\nSome bold text.\n```\n\nsummarise"
    page = web.requests[0]
    assert page["path"] == "/doc" and "Authorization" not in page["headers"]
    assert TEST_KEY not in str(page["headers"])
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {TEST_KEY}"


def test_a_redirect_is_followed_to_http_only(cli_env, server, web):
    web.pages["/old"] = Reply(status=301, headers={"Location": "/new"})
    web.pages["/new"] = Reply(body="moved here\n", content_type="text/plain")
    web.pages["/evil"] = Reply(status=302, headers={"Location": "file:///etc/passwd"})
    r = invoke(["ask", "-f", _url(web, "/old"), "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "moved here" in str(_content(server))
    assert all("Authorization" not in req["headers"] for req in web.requests)
    r = invoke(["ask", "-f", _url(web, "/evil"), "hi"], cli_env)
    assert r.returncode == 2 and "redirects to file:///etc/passwd, not http(s)" in r.stderr


@pytest.mark.parametrize(
    ("page", "code", "message"),
    [
        (Reply(status=404, body={"message": "gone"}), 2, "HTTP 404"),
        (Reply(status=503, body={"message": "down"}), 4, "HTTP 503"),
        (Reply(body=b"%PDF-1.7", content_type="application/pdf"), 2, "only text pages"),
        (Reply(body="a" * (2 * 1024 * 1024 + 1), content_type="text/plain"), 2, "2 MB limit"),
    ],
)
def test_a_page_that_cannot_be_used_is_refused_before_the_chat(
    cli_env, server, web, page, code, message
):
    web.pages["/p"] = page
    r = invoke(["ask", "-f", _url(web, "/p"), "hi"], cli_env)
    assert r.returncode == code and message in r.stderr, r.stderr
    assert server.chat_bodies() == []


def test_an_unreachable_url_is_a_network_error(cli_env, server, web):
    url = _url(web, "/x")
    web.stop()
    r = invoke(["ask", "-f", url, "hi"], cli_env)
    assert r.returncode == 4 and "connection refused" in r.stderr
    assert server.chat_bodies() == []


def test_files_count_against_the_context_window(cli_env, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.txt").write_text("word " * 5000)
    r = invoke(["-f", "big.txt", "--context-length", "1000", "summarise"], cli_env)
    assert r.returncode == 2 and "the message is ~" in r.stderr
    assert server.requests == []


def _ignoring_repo(top: Path, *, git: bool) -> Path:
    """The new-user layout: the root .gitignore names src/secrets.txt, info/exclude
    src/deep/private.cfg, and src/sub/.gitignore drops *.log but keeps keep.log."""
    if git:
        subprocess.run(["git", "init", "-q", str(top)], check=True)
    else:
        (top / ".git" / "info").mkdir(parents=True)
        (top / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    files = ["main.py", "secrets.txt", "sub/x.log", "sub/keep.log", "deep/private.cfg",
             "deep/er/.hidden.txt", "deep/.er/hidden.txt", "deep/ok.md"]  # fmt: skip
    for rel in files:
        (top / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / "src" / rel).write_text(f"content of {rel}\n")
    (top / ".gitignore").write_text("src/secrets.txt\n")
    (top / ".git" / "info" / "exclude").write_text("src/deep/private.cfg\n")
    (top / "src" / "sub" / ".gitignore").write_text("*.log\n!keep.log\n")
    return top


@pytest.fixture(params=["git", "pathspec"])
def ignoring_repo(request, tmp_path, monkeypatch) -> Path:
    """The repository, the working folder, answered by git or (PATH without git) pathspec;
    the user's own git config kept out."""
    git = request.param == "git"
    if git and shutil.which("git") is None:
        pytest.skip("git is not installed")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    top = _ignoring_repo(tmp_path / "repo", git=git)
    if not git:
        monkeypatch.setenv("PATH", "")
    monkeypatch.chdir(top)
    return top


def _sent(server: LoopbackServer) -> list[str]:
    """The labels of the fenced files in the last message."""
    text = _content(server)
    assert isinstance(text, str)
    return re.findall(r"^(src/\S+)\n```", text, flags=re.M)


def test_a_glob_leaves_out_what_git_ignores_and_hidden_files(cli_env, server, ignoring_repo):
    r = invoke(["ask", "-f", "src/**", "review"], cli_env)
    assert r.returncode == 0, r.stderr
    assert _sent(server) == ["src/deep/ok.md", "src/main.py", "src/sub/keep.log"]
    r = invoke(["ask", "-f", "src/*", "review"], cli_env)
    assert r.returncode == 0, r.stderr
    assert _sent(server) == ["src/main.py"]


def test_a_file_named_exactly_is_sent_even_when_git_ignores_it(cli_env, server, ignoring_repo):
    """Naming a file is consent: no wildcard, no ignore rule."""
    r = invoke(["ask", "-f", "src/secrets.txt", "-f", "src/deep/private.cfg", "review"], cli_env)
    assert r.returncode == 0, r.stderr
    assert _sent(server) == ["src/secrets.txt", "src/deep/private.cfg"]


@pytest.mark.parametrize(
    "spec", ["src/secrets.tx?", "src/sub/x.lo?", "src/deep/*.cfg", "src/deep/*/.*"]
)
def test_a_glob_matching_only_ignored_files_exits_2_saying_so(cli_env, server, ignoring_repo, spec):
    r = invoke(["ask", "-f", spec, "review"], cli_env)
    assert r.returncode == 2 and f"{spec}: matched only ignored files" in r.stderr, r.stderr
    assert server.requests == []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need POSIX")
def test_a_fifo_in_a_folder_gets_one_notice_and_named_is_exit_2(cli_env, server, tmp_path):
    """In a subprocess: were the FIFO ever opened, the run would block, and time out."""
    for folder in ("d", "e"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "ok.txt").write_text("fine\n")
    os.mkfifo(tmp_path / "d" / "fifo")
    os.mkfifo(tmp_path / "e" / "pipe")
    env = {**cli_env, "PATH": ""}  # the pathspec walk: git would not list the FIFO at all
    r = run_cli(["ask", "-f", str(tmp_path / "d"), "-f", f"{tmp_path}/e/*", "review"], env)
    assert r.returncode == 0, r.stderr
    notices = [line for line in r.stderr.decode().splitlines() if "skipped" in line]
    assert notices == [
        f"aimlchat: skipped 2 pipes, sockets or devices: {tmp_path}/d/fifo, {tmp_path}/e/pipe"
    ]
    r = run_cli(["ask", "-f", str(tmp_path / "d" / "fifo"), "review"], env)
    assert r.returncode == 2 and "is a named pipe (FIFO), not a regular file" in r.stderr.decode()
    assert len(server.chat_bodies()) == 1


def test_a_glob_follows_no_symlink_as_a_folder_walk_does(cli_env, server, tmp_path, monkeypatch):
    """`-f '*.txt'` must not send what a link points at elsewhere (~/.aws/credentials)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the secret\n")
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "a.txt").write_text("plain\n")
    (work / "link.txt").symlink_to(outside / "secret.txt")
    (work / "linked_dir").symlink_to(outside)
    monkeypatch.chdir(work)
    for spec in ("*.txt", "**/*.txt"):
        r = invoke(["ask", "-f", spec, "read"], cli_env)
        assert r.returncode == 0, r.stderr
        sent = str(_content(server))
        assert "plain" in sent and "the secret" not in sent, spec
