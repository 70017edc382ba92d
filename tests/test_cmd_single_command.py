"""`aimlchat cmd` reads one command out of the reply: one closed fenced block, or a
reply that is one inline code span. On a terminal only (the menu shows the command
before e runs it) one bare line whose first word a shell would run is offered too.
Anything else is exit 1 with a note on stderr, never text for `| sh` (see
tests/test_cmd_strict_pipe.py for the pipe's side)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from aimlchat.chat.shellcmd import command_from
from aimlchat.errors import ApiError
from tests.conftest import invoke, spawn
from tests.loopback import Reply, sse_reply
from tests.test_cmd import MENU, env, finish, plain, reply_with  # noqa: F401 - the fixture

PROSE_AROUND_A_BLOCK = (
    "Sure! To list files, run:\n\n```bash\nls -la\n```\n\nThis shows hidden files.\n"
)


def replies_in_turn(server: Any, *texts: str) -> None:
    """The n-th chat request is answered with the n-th text."""
    queue = list(texts)
    server.script = lambda request: Reply(events=sse_reply([queue.pop(0)]))


def test_prose_around_one_code_block_is_dropped(env, server):  # noqa: F811
    reply_with(server, PROSE_AROUND_A_BLOCK)
    r = invoke(["cmd", "list files"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ls -la\n"


def offered(reply: str, path: str | None = None) -> str:
    """What the terminal's menu would show for `reply`."""
    return command_from(reply, bare=True, path=path or os.environ.get("PATH"))


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("I cannot help with that request.", '"I" is not a command'),
        ("Run: `find . -size +100M`", '"Run:" is not a command'),
        ("Here you go: du -sh *", '"Here" is not a command'),
        ("Certainly!", '"Certainly!" is not a command'),
        ("You can use the ls command to list the files.", "prose"),
        ("Use `du -sh *` to see sizes.", "prose"),
        ("`ls` and `pwd`", "prose"),
        ("I/O stats: iostat -x", '"I/O" is not a command'),
        ("ls -la\n\nThis lists every file, hidden ones too.", "several lines"),
        ("ls |\nI think this works", '"I" is not a command'),
        ("ls &&", "ends in the middle of a command"),
        ("Either:\n```\nls\n```\nor:\n```\nfind . -maxdepth 1\n```", "2 code blocks"),
    ],
)
def test_on_a_terminal_a_reply_with_no_single_command_is_refused(reply, why):
    with pytest.raises(ApiError) as caught:
        offered(reply)
    assert why in caught.value.message and "nothing printed" in caught.value.message


@pytest.mark.parametrize(
    ("reply", "command"),
    [
        ("ls -la", "ls -la"),
        ("find . -name '*.py'", "find . -name '*.py'"),
        ('echo "done."', 'echo "done."'),
        ("FOO=1 make test", "FOO=1 make test"),
        ("./build.sh", "./build.sh"),
        ("cd /srv && make", "cd /srv && make"),  # a builtin
        ('for f in *.log; do gzip "$f"; done', 'for f in *.log; do gzip "$f"; done'),
        ("(cd src && ls)", "(cd src && ls)"),
        ("if true; then ls; fi", "if true; then ls; fi"),
        ("( cd src && ls )", "( cd src && ls )"),
        ("sudo du -sh /var", "sudo du -sh /var"),  # a wrapper, on PATH or not
        ("find . -name '*.py' |\n  xargs wc -l", "find . -name '*.py' |\n  xargs wc -l"),
        ("tar czf out.tgz \\\n  src", "tar czf out.tgz \\\n  src"),
        ("$ ls -la", "ls -la"),
        ("cd /srv && echo Done.", "cd /srv && echo Done."),
        ("PATH=/opt/bin:$PATH", "PATH=/opt/bin:$PATH"),  # an assignment alone is a command
        ("$EDITOR notes.txt", "$EDITOR notes.txt"),
    ],
)
def test_on_a_terminal_one_bare_command_is_offered(reply, command):
    assert offered(reply) == command


def test_the_first_word_is_looked_up_on_the_users_path(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "frobnicate"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert offered("frobnicate --all", f"{bin_dir}{os.pathsep}/usr/bin") == "frobnicate --all"
    with pytest.raises(ApiError, match='"frobnicate" is not a command'):
        offered("frobnicate --all", "/usr/bin")


def test_a_relative_path_is_a_command_only_when_the_file_is_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ApiError, match=r'"scripts/build\.sh" is not a command'):
        offered("scripts/build.sh --fast")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "build.sh").write_text("#!/bin/sh\n")
    assert offered("scripts/build.sh --fast") == "scripts/build.sh --fast"


def test_an_empty_reply_is_no_command():
    with pytest.raises(ApiError, match="no command"):
        command_from("```\n\n```")


def test_on_a_terminal_a_reply_with_no_command_exits_1_and_shows_no_menu(env, server):  # noqa: F811
    reply_with(server, "I cannot help with that request.")
    child = spawn(["cmd", "delete everything"], env)
    child.expect_exact("no single command")
    assert finish(child) == 1
    assert "execute" not in plain(child.before)


def test_a_revision_with_no_command_keeps_the_last_command(env, server, tmp_path):  # noqa: F811
    made = tmp_path / "made"
    replies_in_turn(server, f"touch {made}", "Sorry, I can't do that.")
    child = spawn(["cmd", "make a file"], env)
    child.expect_exact(MENU)
    child.send("r")
    child.expect_exact("revise:")
    child.send("do something else\r")
    child.expect_exact("keeping the last command")
    child.expect_exact(MENU)
    assert f"touch {made}" in plain(child.before)
    child.send("e")
    assert finish(child) == 0
    assert Path(made).exists()


def test_cmd_with_no_prompt_hints_at_cmd(env, server):  # noqa: F811
    r = invoke(["cmd"], env, input="")
    assert r.returncode == 2 and "aimlchat cmd" in r.stderr and "aimlchat ask" not in r.stderr
