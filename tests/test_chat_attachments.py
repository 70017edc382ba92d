"""`/file` attachments in chat: listed by `/file` alone, removed by `/file rm N|PATH|all`;
a message refused as too big for the window leaves them listed and removable, and the
chat goes on. The REPL's logic against the loopback server."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import invoke
from tests.loopback import LoopbackServer, Reply
from tests.loopback_tools import MODELS_WITH_SMALL, SMALL_MODEL_ID


@pytest.fixture
def catalogue(cli_env: dict[str, str], server: LoopbackServer) -> None:
    server.models_reply = Reply(body=MODELS_WITH_SMALL)
    assert invoke(["models"], cli_env).returncode == 0


def open_repl(cli_env: dict[str, str], **flags: Any) -> Any:
    from aimlchat.commands.runtime import App
    from aimlchat.commands.slash import Repl
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    out, err = io.StringIO(), io.StringIO()
    app = App(Flags(**flags), Environment(io.StringIO(), out, err, environ=cli_env))
    repl = Repl(app, app.open_chat(stream=True), out.write)
    repl.out, repl.err = out, err
    return repl


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "b.py").write_text("b = 2\n")
    (tmp_path / "src" / "c.py").write_text("c = 3\n")
    yield tmp_path


def listed(repl: Any) -> str:
    repl.out.truncate(0)
    repl.out.seek(0)
    repl.handle("/file")
    return str(repl.out.getvalue())


def test_file_alone_lists_what_is_attached(cli_env, server, files):
    repl = open_repl(cli_env)
    assert listed(repl) == ""
    assert "nothing attached; /file PATH attaches to the next message" in repl.err.getvalue()
    repl.handle("/file a.txt src")
    assert listed(repl) == (
        "attached to the next message:\n  1  a.txt\n  2  src/b.py\n  3  src/c.py\n"
    )


def test_file_rm_by_number_path_or_folder_removes_it(cli_env, server, files):
    repl = open_repl(cli_env)
    repl.handle("/file a.txt src")
    repl.handle("/file rm 2")
    assert "removed src/b.py" in repl.err.getvalue()
    assert listed(repl) == "attached to the next message:\n  1  a.txt\n  2  src/c.py\n"
    repl.handle("/file rm a.txt")
    assert listed(repl) == "attached to the next message:\n  1  src/c.py\n"
    repl.handle("/file a.txt src")
    repl.handle("/file rm src")
    assert "a.txt" in listed(repl) and "src/" not in listed(repl)
    repl.handle("/file rm all")
    repl.handle("hi")
    assert server.chat_bodies()[-1]["messages"][-1]["content"] == "hi"


def test_file_rm_of_something_not_attached_is_an_error_and_changes_nothing(cli_env, server, files):
    repl = open_repl(cli_env)
    repl.handle("/file a.txt")
    repl.handle("/file rm 5")
    repl.handle("/file rm nosuch.txt")
    err = repl.err.getvalue()
    assert "no attachment 5" in err and "no attachment nosuch.txt" in err
    assert listed(repl) == "attached to the next message:\n  1  a.txt\n"


def test_a_message_refused_as_too_big_keeps_its_files_listed_and_removable(
    cli_env, server, catalogue, files
):
    (files / "big.txt").write_text("lorem ipsum dolor sit amet " * 1500)
    repl = open_repl(cli_env, model=SMALL_MODEL_ID)
    repl.handle("/file a.txt big.txt")
    repl.handle("sum these up")
    assert "tiny/small-window takes 2k" in repl.err.getvalue()
    assert server.chat_bodies() == []  # refused before sending
    assert repl.draft == "sum these up"
    assert listed(repl) == "attached to the next message:\n  1  a.txt\n  2  big.txt\n"
    repl.handle("/file rm big.txt")
    repl.handle(repl.draft)
    sent = server.chat_bodies()[-1]["messages"][-1]["content"]
    assert sent == "a.txt\n```\nalpha\n```\n\nsum these up"
    assert listed(repl) == "" and "nothing attached" in repl.err.getvalue()


def test_help_and_the_prompt_know_file_rm(cli_env, server, files):
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from aimlchat.commands.repl import loop, make_prompt_session

    repl = open_repl(cli_env)
    with create_pipe_input() as pipe:
        pipe.send_text("/help\r/file a.txt\r/file rm 1\r/file\rhi\r/exit\r")
        loop(repl, make_prompt_session(repl.app, repl, input=pipe, output=DummyOutput()))
    assert "/file [PATH…|rm N]" in repl.out.getvalue()
    assert "removed a.txt; 0 attachments left" in repl.err.getvalue()
    assert server.chat_bodies()[-1]["messages"][-1]["content"] == "hi"
