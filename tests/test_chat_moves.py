"""The chat REPL's daily moves: a first message on the command line (with -a, -f and
--usage), /file, /copy N, the last exchange shown on resume, the goodbye line, and Tab
completion wired to the catalogue, the settings, the history and the roles."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.conftest import invoke, spawn
from tests.loopback import Reply, sse_reply

PROMPT = "›"
REPLY = "Hello from the loopback server."
TWO_BLOCKS = (
    "Here:\n\n```python\nprint(1)\nprint(2)\n```\n\nand a shell one:\n\n```sh\nls -l\n```\n"
)


def quit_(child: Any) -> str:
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    return str(child.before)


def ready(child: Any) -> None:
    """After the reply the REPL is back at its prompt."""
    child.expect_exact(REPLY)
    child.expect_exact(PROMPT)


# -- the first message --------------------------------------------------------------------


def test_chat_with_a_message_sends_it_at_once_then_prompts(cli_env, server):
    child = spawn(["chat", "first", "message"], cli_env)
    child.expect_exact("› first message")
    ready(child)
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "first message"
    child.sendline("second")
    ready(child)
    assert [m["content"] for m in server.chat_bodies()[1]["messages"]] == [
        "first message",
        REPLY,
        "second",
    ]
    quit_(child)


def test_attach_and_file_go_with_the_first_message(cli_env, server, tmp_path):
    from tests.test_ecosystem import PNG

    (tmp_path / "p.png").write_bytes(PNG)
    (tmp_path / "notes.txt").write_text("the notes\n")
    child = spawn(
        ["chat", "what is this", "-a", "p.png", "-f", "notes.txt"], cli_env, cwd=str(tmp_path)
    )
    ready(child)
    parts = server.chat_bodies()[0]["messages"][-1]["content"]
    assert parts[0]["type"] == "text"
    assert parts[0]["text"] == "notes.txt\n```\nthe notes\n```\n\nwhat is this"
    assert parts[1]["type"] == "image_url"
    child.sendline("and now?")
    ready(child)
    assert server.chat_bodies()[1]["messages"][-1]["content"] == "and now?"  # once only
    quit_(child)


def test_files_without_a_first_message_wait_for_the_first_one_typed(cli_env, server, tmp_path):
    (tmp_path / "notes.txt").write_text("the notes\n")
    child = spawn(["chat", "-f", "notes.txt"], cli_env, cwd=str(tmp_path))
    child.expect_exact("1 file waits for the first message")
    child.expect_exact(PROMPT)
    assert server.chat_bodies() == []
    child.sendline("summarise")
    ready(child)
    text = server.chat_bodies()[0]["messages"][-1]["content"]
    assert text.startswith("notes.txt\n```\nthe notes") and text.endswith("summarise")
    quit_(child)


def test_a_bad_file_is_refused_before_the_repl_opens(cli_env, server, tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02binary")
    child = spawn(["chat", "hi", "-f", "blob.bin"], cli_env, cwd=str(tmp_path))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 2 and "blob.bin is a binary file" in child.before
    assert server.chat_bodies() == []


def test_usage_prints_a_usage_line_after_each_reply(cli_env, server):
    child = spawn(["chat", "--usage", "hi"], cli_env)
    child.expect_exact(REPLY)
    child.expect_exact("tokens: 10 prompt + 5 completion = 15")
    child.expect_exact(PROMPT)
    child.sendline("again")
    child.expect_exact(REPLY)
    child.expect_exact("tokens: 10 prompt + 5 completion = 15")
    child.expect_exact(PROMPT)
    quit_(child)


# -- resuming, and saying goodbye ------------------------------------------------------------


def test_continue_shows_the_last_exchange_before_the_prompt(cli_env, server):
    child = spawn(["chat", "the question before"], cli_env)
    ready(child)
    quit_(child)
    server.push(Reply(events=sse_reply(["a newer reply"])))
    child = spawn(["chat", "--continue"], cli_env)
    child.expect_exact("resumed 2 messages")
    child.expect_exact("› the question before")
    child.expect_exact(REPLY)
    child.expect_exact(PROMPT)
    assert server.chat_bodies()[-1]["messages"][-1]["content"] == "the question before"
    quit_(child)


def test_load_shows_the_last_exchange(cli_env, server):
    child = spawn(["chat", "--session", "older", "kept question"], cli_env)
    ready(child)
    quit_(child)
    server.push(Reply(events=sse_reply(["fresh reply"])))
    child = spawn(["chat", "new talk"], cli_env)
    child.expect_exact("fresh reply")
    child.expect_exact(PROMPT)
    child.sendline("/load older")
    child.expect_exact("loaded conversation")
    child.expect_exact("› kept question")
    child.expect_exact(REPLY)
    child.expect_exact(PROMPT)
    quit_(child)


def test_goodbye_names_the_conversation_by_id_or_name(cli_env, server):
    child = spawn(["chat", "hi"], cli_env)
    ready(child)
    assert "Resume with: aimlchat chat --session 1" in quit_(child)
    child = spawn(["chat", "--session", "my work", "hi"], cli_env)
    ready(child)
    assert "Resume with: aimlchat chat --session 'my work'" in quit_(child)
    r = invoke(["history", "show", "my work"], cli_env)
    assert r.returncode == 0 and b"hi" in r.stdout


# -- Tab ------------------------------------------------------------------------------------


def test_tab_on_model_completes_from_the_cached_catalogue(cli_env, server):
    assert invoke(["models"], cli_env).returncode == 0  # fills the cache
    child = spawn(["chat"], cli_env)
    child.expect_exact(PROMPT)
    child.send("/model scou")
    child.expect_exact("meta-llama/llama-4-scout")  # the menu, while typing
    child.send("\t")
    child.send("\r")
    child.expect_exact("model is now meta-llama/llama-4-scout")
    child.expect_exact(PROMPT)
    quit_(child)


# -- logic through prompt_toolkit's pipe input ---------------------------------------------


@pytest.fixture
def repl_on_pipe(cli_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """A Repl on a fake terminal (OSC 52 reaches `out`), its stderr in `err`."""
    from aimlchat.commands.repl import Repl
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    env = {k: v for k, v in cli_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out, err = io.StringIO(), io.StringIO()
    environment = Environment(
        stdin=io.StringIO(), stdout=out, stderr=err, environ=env, stdout_tty=True
    )
    app = App(Flags(raw=True), environment)
    repl = Repl(app, app.open_chat(stream=True), out.write)
    repl.out, repl.err = out, err  # type: ignore[attr-defined]
    yield repl


def drive(repl: Any, keys: str) -> None:
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from aimlchat.commands.repl import loop, make_prompt_session

    with create_pipe_input() as pipe:
        pipe.send_text(keys + "/exit\r")
        loop(repl, make_prompt_session(repl.app, repl, input=pipe, output=DummyOutput()))


def osc52(text: str) -> str:
    return "\x1b]52;c;" + base64.b64encode(text.encode()).decode() + "\x07"


def test_copy_n_copies_that_code_block_and_says_what(repl_on_pipe, server):
    server.push(Reply(events=sse_reply([TWO_BLOCKS])))
    drive(repl_on_pipe, "show code\r/copy 1\r/copy 2\r")
    assert osc52("print(1)\nprint(2)\n") in repl_on_pipe.out.getvalue()
    assert osc52("ls -l\n") in repl_on_pipe.out.getvalue()
    err = repl_on_pipe.err.getvalue()
    assert "copied code block 1 (python, 2 lines) via OSC 52" in err
    assert "copied code block 2 (sh, 1 line) via OSC 52" in err


def test_copy_alone_copies_the_whole_reply(repl_on_pipe, server):
    server.push(Reply(events=sse_reply([TWO_BLOCKS])))
    drive(repl_on_pipe, "show code\r/copy\r")
    assert osc52(TWO_BLOCKS) in repl_on_pipe.out.getvalue()
    assert "copied the whole reply (12 lines) via OSC 52" in repl_on_pipe.err.getvalue()


def test_copy_n_out_of_range_names_how_many_blocks_there_are(repl_on_pipe, server):
    server.push(Reply(events=sse_reply([TWO_BLOCKS])))
    drive(repl_on_pipe, "show code\r/copy 3\r/copy x\r")
    err = repl_on_pipe.err.getvalue()
    assert err.count("no code block") == 2
    assert "the last reply has 2: /copy 1 to /copy 2" in err
    assert "\x1b]52" not in repl_on_pipe.out.getvalue()


def test_copy_n_of_a_reply_without_code_says_so(repl_on_pipe, server):
    drive(repl_on_pipe, "hi\r/copy 1\r")
    assert "the last reply has no code blocks" in repl_on_pipe.err.getvalue()


def test_file_attaches_to_the_next_message_only(repl_on_pipe, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.py").write_text("x = 1\n")
    drive(repl_on_pipe, "/file a.py\rexplain\rthanks\r")
    assert "1 file attached to the next message" in repl_on_pipe.err.getvalue()
    first, second = (b["messages"][-1]["content"] for b in server.chat_bodies())
    assert first == "a.py\n```python\nx = 1\n```\n\nexplain"
    assert second == "thanks"


def test_file_that_cannot_be_sent_is_an_error_and_nothing_is_attached(
    repl_on_pipe, server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    drive(repl_on_pipe, "/file missing.txt\rhi\r")
    assert "no such file: missing.txt" in repl_on_pipe.err.getvalue()
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "hi"


def test_a_message_that_got_no_reply_keeps_its_files_for_the_retry(
    repl_on_pipe, server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("data\n")
    server.push(Reply(status=400, body={"error": {"message": "bad request"}}))
    repl_on_pipe.handle("/file a.txt")
    repl_on_pipe.handle("sum it up")
    assert "bad request" in repl_on_pipe.err.getvalue()
    assert repl_on_pipe.draft == "sum it up"  # the typed words, not the file's text
    repl_on_pipe.handle(repl_on_pipe.draft)
    sent = server.chat_bodies()[-1]["messages"][-1]["content"]
    assert sent == "a.txt\n```\ndata\n```\n\nsum it up"
    assert repl_on_pipe.pending_files == []


def test_tab_sources_come_from_catalogue_settings_history_and_roles(repl_on_pipe, cli_env):
    from aimlchat.commands.repl import completion_sources

    assert invoke(["models"], cli_env).returncode == 0
    repl_on_pipe.handle("/save kept")
    sources = completion_sources(repl_on_pipe.app, repl_on_pipe)
    assert "meta-llama/llama-4-scout" in sources.models()
    assert "llama-4-scout" in sources.models()  # aliases too
    assert "flux/schnell" not in sources.models()  # chat models only, as `aimlchat models`
    assert "cmd" in sources.roles()
    assert "kept" in sources.conversations()
    assert "temperature" in sources.params()
    assert "/copy" in dict(sources.commands) and "/file" in dict(sources.commands)
