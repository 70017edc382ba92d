"""`aimlchat cmd` on a pipe prints only what the model fenced as code: the content of
exactly one closed fenced block, or a reply that is one inline code span. Bare lines,
prose, several blocks, an open fence and a reply cut off at the token limit are exit 1
with nothing on stdout. On a terminal the user sees the command before pressing e, so a
bare one-line command is still offered there; a cut-off reply never is."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import invoke, spawn
from tests.loopback import Reply, chunk
from tests.test_cmd import MENU, env, finish, plain, reply_with  # noqa: F401 - the fixture

NOT_FENCED = "the model's reply is not one fenced command"
CUT_OFF = "the reply was cut off at the token limit; nothing printed"


def reply_ending(server: Any, text: str, reason: str) -> None:
    """Every chat request is answered with `text`, then finish_reason `reason`."""
    server.script = lambda request: Reply(
        events=[chunk(text), chunk(finish=reason), "data: [DONE]\n\n"]
    )


@pytest.mark.parametrize(
    "reply",
    [
        "rm -rf * deletes everything in the current folder.",
        "git status shows what changed.",
        "which one do you mean, the file or the folder?",
        "touch base with your admin before deleting",
        "yes I can do that",
        "find out which process holds the port first",
        "sudo is required; run: sudo ls",
        "$HOME is your home folder",
        "ls |\nI think this works",
        "ls &&",
        "ls -la",  # a bare line, even a real command: the fence is the rule on a pipe
        "I cannot help with that request.",
        "Use `du -sh *` to see sizes.",
        "`ls` and `pwd`",
        "Either:\n```\nls\n```\nor:\n```\nfind . -maxdepth 1\n```",
        "```sh\nls\n```\n```sh\nls\n```",  # exactly one block, even the same one twice
    ],
)
def test_on_a_pipe_a_reply_that_is_not_one_fenced_command_prints_nothing(env, server, reply):  # noqa: F811
    reply_with(server, reply)
    r = invoke(["cmd", "do it"], env)
    assert r.returncode == 1 and r.stdout == b""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and NOT_FENCED in lines[0] and "nothing printed" in lines[0]
    assert "terminal" in lines[0] and "aimlchat ask" in lines[0]  # the hint


@pytest.mark.parametrize(
    ("reply", "printed"),
    [
        ("```sh\nmkdir -p out\ncd out && ls\n```", b"mkdir -p out\ncd out && ls\n"),
        ("Sure:\n\n```bash\n$ ls -la\n```\n\nThat lists hidden files.", b"ls -la\n"),
        ("`ls -la`", b"ls -la\n"),
        ("  `du -sh /var`\n", b"du -sh /var\n"),
        ("``echo `date` ``", b"echo `date`\n"),
    ],
)
def test_on_a_pipe_one_fenced_block_or_one_whole_code_span_is_printed(env, server, reply, printed):  # noqa: F811
    reply_with(server, reply)
    r = invoke(["cmd", "do it"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == printed


def test_the_built_in_prompt_asks_for_one_fenced_block(env, server):  # noqa: F811
    reply_with(server, "```sh\nls\n```")
    invoke(["cmd", "list"], env)
    system = server.chat_bodies()[0]["messages"][0]["content"]
    assert "exactly one fenced code block" in system and "```sh" in system
    assert "no code fences" not in system


def test_a_fenced_reply_cut_off_at_the_token_limit_is_never_printed(env, server):  # noqa: F811
    reply_ending(server, "```sh\nrm -rf build\n```", "length")
    r = invoke(["cmd", "clean"], env)
    assert r.returncode == 1 and r.stdout == b""
    assert CUT_OFF in r.stderr and len(r.stderr.splitlines()) == 1


def test_a_reply_with_an_open_fence_is_cut_off_and_never_printed(env, server):  # noqa: F811
    reply_with(server, "```sh\nrm -rf build/cache")  # finish "stop", but the fence is open
    r = invoke(["cmd", "clean"], env)
    assert r.returncode == 1 and r.stdout == b""
    assert "cut off" in r.stderr and "nothing printed" in r.stderr


def test_a_filtered_reply_is_never_printed(env, server):  # noqa: F811
    reply_ending(server, "```sh\nls\n```", "content_filter")
    r = invoke(["cmd", "list"], env)
    assert r.returncode == 1 and r.stdout == b"" and "content filter" in r.stderr


def test_on_a_terminal_a_bare_command_is_still_offered(env, server):  # noqa: F811
    reply_with(server, "echo BARE-$((1+1))")
    child = spawn(["cmd", "say"], env)
    child.expect_exact(MENU)
    child.send("e")
    child.expect_exact("BARE-2")
    assert finish(child) == 0


def test_on_a_terminal_a_cut_off_reply_exits_1_and_shows_no_menu(env, server):  # noqa: F811
    reply_ending(server, "```sh\nrm -rf build\n```", "length")
    child = spawn(["cmd", "clean"], env)
    child.expect_exact("cut off at the token limit")
    assert finish(child) == 1
    assert "execute" not in plain(child.before)


def test_on_a_terminal_a_cut_off_revision_keeps_the_last_command(env, server):  # noqa: F811
    replies = [
        [chunk("```sh\necho FIRST-$((2+2))\n```"), chunk(finish="stop")],
        [chunk("```sh\nrm -rf bui"), chunk(finish="length")],
    ]
    server.script = lambda request: Reply(events=[*replies.pop(0), "data: [DONE]\n\n"])
    child = spawn(["cmd", "say"], env)
    child.expect_exact(MENU)
    child.send("r")
    child.expect_exact("revise:")
    child.send("something else\r")
    child.expect_exact("keeping the last command")
    child.expect_exact(MENU)
    child.send("e")
    child.expect_exact("FIRST-4")
    assert finish(child) == 0
