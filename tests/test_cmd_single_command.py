"""`aimlchat cmd` into a pipe: the code block's content and nothing else; a reply that
holds no single command is exit 1 with a note on stderr, never text for `| sh`."""

from __future__ import annotations

import pytest

from aimlchat.chat.shellcmd import command_from
from aimlchat.errors import ApiError
from tests.conftest import invoke
from tests.test_cmd import env, reply_with  # noqa: F401 - the fixture

PROSE_AROUND_A_BLOCK = (
    "Sure! To list files, run:\n\n```bash\nls -la\n```\n\nThis shows hidden files.\n"
)


def test_prose_around_one_code_block_is_dropped(env, server):  # noqa: F811
    reply_with(server, PROSE_AROUND_A_BLOCK)
    r = invoke(["cmd", "list files"], env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ls -la\n"


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        ("You can use the ls command to list the files.", "prose"),
        ("ls -la\n\nThis lists every file, hidden ones too.", "several lines"),
        ("Either:\n```\nls\n```\nor:\n```\nfind . -maxdepth 1\n```", "2 code blocks"),
    ],
)
def test_a_reply_with_no_single_command_exits_1_and_prints_nothing(env, server, reply, why):  # noqa: F811
    reply_with(server, reply)
    r = invoke(["cmd", "list files"], env)
    assert r.returncode == 1 and r.stdout == b""
    assert "no single command" in r.stderr and why in r.stderr


@pytest.mark.parametrize(
    ("reply", "command"),
    [
        ("find . -name '*.py' |\n  xargs wc -l", "find . -name '*.py' |\n  xargs wc -l"),
        ("tar czf out.tgz \\\n  src", "tar czf out.tgz \\\n  src"),
        ("```sh\nls\n```\n```sh\nls\n```", "ls"),  # the same block twice is one command
        ("Rscript analysis.R", "Rscript analysis.R"),
        ("cd /srv && echo Done.", "cd /srv && echo Done."),
    ],
)
def test_commands_that_span_lines_or_look_wordy_are_still_commands(reply, command):
    assert command_from(reply) == command


def test_an_empty_reply_is_no_command():
    with pytest.raises(ApiError, match="no command"):
        command_from("```\n\n```")
