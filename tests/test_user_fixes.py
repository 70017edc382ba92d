"""What a brand-new user met in the release: closed or full stdout and stdin, a config file
with more than one error, a Latin-1 -f file, a models table that wrapped the ID, a
catalogue that caught no mistakes, and counts that did not agree with their nouns."""

from __future__ import annotations

import errno
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aimlchat.api.catalog import Model, closest, parse_models, text_only
from aimlchat.chat.context_view import describe
from aimlchat.chat.tokens import tokens_text
from aimlchat.cli import main
from aimlchat.errors import StdoutUnwritable
from aimlchat.settings.params import TABLE
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.output import Output, PlainSink
from aimlchat.words import noun, plural
from tests.conftest import invoke, spawn
from tests.loopback import MODELS, Reply, sse_reply

PIECES = ["one ", "two ", "three ", "four"]
REPLY = "".join(PIECES)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _run(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run(
        [sys.executable, "-m", "aimlchat", *args],
        env=env,
        stderr=subprocess.PIPE,
        timeout=30,
        check=False,
        **kw,
    )


def _close(fd: int) -> Any:
    return lambda: os.close(fd)


# -- 1. closed or full stdin and stdout ---------------------------------------------------


def test_a_closed_stdin_is_no_stdin(cli_env, server):
    r = _run(["hi"], cli_env, stdin=None, preexec_fn=_close(0))
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Hello from the loopback server.\n"
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "hi"


def test_a_closed_stdout_is_one_clear_line_and_the_reply_is_saved(cli_env, server):
    server.push(Reply(events=sse_reply(PIECES)))
    r = _run(["hi"], cli_env, stdout=None, preexec_fn=_close(1))
    err = r.stderr.decode()
    assert r.returncode == 1
    assert err.splitlines() == [
        "aimlchat: error: cannot write the reply: stdout is closed"
        " — it was saved: aimlchat history show"
    ]
    assert REPLY in invoke(["history", "show"], cli_env).stdout.decode()


def test_a_full_disk_under_stdout_is_one_clear_line_and_the_whole_reply_is_saved(cli_env, server):
    server.push(Reply(events=sse_reply(PIECES)))
    with open("/dev/full", "wb") as full:
        r = _run(["hi"], cli_env, stdout=full)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        "aimlchat: error: cannot write the reply: No space left on device"
        " — it was saved: aimlchat history show"
    ]
    shown = invoke(["history", "show"], cli_env).stdout.decode()
    assert REPLY in shown and "incomplete" not in shown


def test_a_listing_to_a_full_disk_is_one_clear_line(cli_env, server):
    assert invoke(["hi"], cli_env).returncode == 0
    with open("/dev/full", "wb") as full:
        r = _run(["history", "list"], cli_env, stdout=full)
    assert r.returncode == 1
    assert r.stderr.decode().splitlines() == [
        "aimlchat: error: cannot write the output: No space left on device"
    ]


class _Refusing(io.TextIOBase):
    """stdout on a device that fails every write with `code` (EIO on a gone terminal)."""

    def __init__(self, code: int, tty: bool) -> None:
        self._code, self._tty = code, tty

    def write(self, text: str) -> int:
        raise OSError(self._code, os.strerror(self._code))

    def isatty(self) -> bool:
        return self._tty


def _main_with_stdout(args: list[str], env: dict[str, str], stdout: Any, tty: bool) -> Any:
    from aimlchat.errors import redact

    redact._secrets.clear()
    stderr = io.StringIO()
    environment = Environment(
        stdin=io.StringIO(), stdout=stdout, stderr=stderr, environ=env, stdout_tty=tty
    )
    return main(args, environment), stderr.getvalue()


def test_an_io_error_on_the_terminal_renderer_is_a_typed_error(cli_env, server):
    env = {**cli_env, "FORCE_COLOR": "1"}
    status, err = _main_with_stdout(["hi"], env, _Refusing(errno.EIO, True), tty=True)
    assert status == 1
    assert "cannot write the reply: Input/output error" in err and "unexpected" not in err


def test_a_pipe_sink_that_cannot_write_keeps_going_and_says_so_at_the_end():
    env = Environment(
        stdin=io.StringIO(), stdout=_Refusing(errno.ENOSPC, False), stderr=io.StringIO()
    )
    sink = PlainSink(Output(env))
    for piece in PIECES:
        sink.feed(piece)  # no error yet: the reply keeps coming, to be saved whole
    with pytest.raises(StdoutUnwritable) as caught:
        sink.finish()
    assert caught.value.message == "cannot write the reply: No space left on device"


# -- 2. every error of config.toml --------------------------------------------------------

BROKEN = 'timeout = "fast"\nmodle = "x"\n[params]\ntemperature = 5\n'


def _config(home: Path, text: str) -> Path:
    path = home / "config" / "aimlchat" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_show_lists_every_error_and_warning(cli_env, home):
    path = _config(home, BROKEN)
    r = invoke(["config", "show"], cli_env)
    assert r.returncode == 3
    assert r.stderr.splitlines() == [
        "aimlchat: warning: config.toml: unknown key 'modle' (did you mean 'model'?); ignored",
        "aimlchat: error: config.toml: timeout must be a number (got 'fast')",
        "aimlchat: error: config.toml: params.temperature must be between 0 and 2 (got 5)",
        f"aimlchat: error: {path}: 2 errors and 1 warning, listed above"
        " — fix it with: aimlchat config edit",
    ]


def test_other_commands_name_the_first_error_and_where_all_are_listed(cli_env, home, server):
    path = _config(home, BROKEN)
    r = invoke(["hi"], cli_env)
    assert r.returncode == 3 and server.chat_bodies() == []
    assert r.stderr.splitlines()[-1] == (
        f"aimlchat: error: {path}: timeout must be a number (got 'fast') (and 1 more error)"
        " — all 2 listed by: aimlchat config show"
    )


def test_config_edit_ends_with_an_honest_summary(cli_env, home):
    path = _config(home, BROKEN)
    edit = {**cli_env, "EDITOR": "true", "VISUAL": ""}
    r = invoke(["config", "edit"], edit)
    assert r.returncode == 3 and "is valid" not in r.stderr
    assert "params.temperature must be between 0 and 2" in r.stderr
    assert r.stderr.splitlines()[-1].startswith(f"aimlchat: error: {path}: 2 errors and 1 warning")
    path.write_text('modle = "x"\n')
    r = invoke(["config", "edit"], edit)
    assert r.returncode == 0
    assert r.stderr.splitlines()[-1] == f"aimlchat: {path} is valid, with 1 warning (listed above)"


# -- 3. -f files that are not UTF-8, and a BOM --------------------------------------------


def test_a_latin1_file_gets_the_utf8_message_not_binary(cli_env, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "latin.txt").write_bytes("café crème\n".encode("latin-1"))
    r = invoke(["hi", "-f", "latin.txt"], cli_env)
    assert r.returncode == 2 and server.chat_bodies() == []
    assert r.stderr == (
        "aimlchat: error: latin.txt is not valid UTF-8 (byte 0xe9 at offset 3)"
        " — convert it first, e.g. iconv -f latin1 -t utf-8 latin.txt\n"
    )


def test_a_latin1_file_in_a_folder_is_skipped_and_named_as_such(
    cli_env, server, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "latin.txt").write_bytes("café\n".encode("latin-1"))
    (tmp_path / "d" / "ok.txt").write_text("fine\n")
    r = invoke(["hi", "-f", "d"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "aimlchat: skipped 1 file not in UTF-8: d/latin.txt" in r.stderr.splitlines()


def test_a_utf8_bom_is_dropped_from_files_and_stdin(cli_env, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bom.txt").write_bytes(b"\xef\xbb\xbfhello\n")
    assert invoke(["hi", "-f", "bom.txt"], cli_env).returncode == 0
    assert invoke(["hi"], cli_env, input=b"\xef\xbb\xbfpiped").returncode == 0
    assert invoke(["hi", "-f", "-"], cli_env, input=b"\xef\xbb\xbfpiped").returncode == 0
    sent = [body["messages"][-1]["content"] for body in server.chat_bodies()]
    assert sent == ["bom.txt\n```\nhello\n```\n\nhi", "piped\n\nhi", "stdin\n```\npiped\n```\n\nhi"]


# -- 4. the models table and token counts -------------------------------------------------


def _models_on_a_terminal(env: dict[str, str], columns: int, monkeypatch: Any) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))  # what rich reads for the width
    r = invoke(["models", "--pricing"], env, stdout_tty=True)
    assert r.returncode == 0, r.stderr
    return re.sub(r"\x1b\[[0-9;]*m", "", r.stdout.decode())  # the bold header


@pytest.mark.parametrize("columns", [100, 80])
def test_the_models_table_never_wraps_the_id(cli_env, server, monkeypatch, columns):
    out = _models_on_a_terminal(cli_env, columns, monkeypatch)
    lines = out.splitlines()
    assert any(line.startswith("meta-llama/Llama-3.3-70B-Instruct-Turbo ") for line in lines)
    assert max(len(line) for line in lines) <= columns
    assert "1000K" not in out and " 1M " in out and "128k" in out


def test_the_name_gives_way_on_a_narrow_terminal(cli_env, server, monkeypatch):
    out = _models_on_a_terminal(cli_env, 100, monkeypatch)
    assert "Llama 3.3 70B" in out  # folded, not gone
    assert "NAME" not in _models_on_a_terminal(cli_env, 80, monkeypatch)  # no room: left out


@pytest.mark.parametrize(
    ("n", "text"),
    [(128_000, "128k"), (131_072, "128k"), (1_000_000, "1M"), (1_048_576, "1M"), (8192, "8k")],
)
def test_one_token_formatter_reads_catalogue_numbers_as_people_say_them(n: int, text: str):
    assert tokens_text(n) == text


def test_context_says_the_window_as_models_lists_it():
    from aimlchat.chat.context import ContextWindow, Window
    from aimlchat.messages import user

    ctx = ContextWindow(Window("meta-llama/Llama-3.3-70B-Instruct-Turbo", 128_000, "catalogue"))
    plan = ctx.fit(None, [], [user("hi")])
    assert "window 128k (catalogue)" in describe(plan, ctx.estimator)


# -- 5. the catalogue catches mistakes ----------------------------------------------------


def test_an_image_for_a_text_only_model_gets_one_warning(cli_env, server, tmp_path):
    assert invoke(["models"], cli_env).returncode == 0  # the catalogue, cached
    image = tmp_path / "p.png"
    image.write_bytes(PNG)
    r = invoke(["-m", "llama-3.3-70b", "hi", "-a", str(image)], cli_env)
    assert r.returncode == 0
    assert r.stderr.splitlines() == [
        "aimlchat: warning: llama-3.3-70b takes no image input, says the catalogue; the image "
        "may be ignored (models that take images: aimlchat models --vision)"
    ]
    assert invoke(["-m", "gpt-4o", "hi", "-a", str(image)], cli_env).stderr == ""


def test_a_listing_without_modalities_warns_of_nothing():
    assert not text_only([Model(id="plain/model")], "plain/model")


def test_an_unknown_model_is_matched_only_against_chat_models(cli_env, server):
    models = parse_models(MODELS)
    assert closest(models, "flux/schnel") == []
    assert closest(models, "llama-3.3-7b")[0] == "llama-3.3-70b"
    assert invoke(["models"], cli_env).returncode == 0
    r = invoke(["-m", "nosuch/model", "hi"], cli_env)
    assert "flux" not in r.stderr and "is not in the catalogue" in r.stderr


# -- 6. words ------------------------------------------------------------------------------


def test_counts_agree_with_their_nouns():
    assert plural(1, "reply") == "1 reply" and plural(3, "reply") == "3 replies"
    assert plural(1, "tool") == "1 tool" and plural(2, "tool") == "2 tools"
    assert plural(1_234, "message") == "1,234 messages" and plural(0, "file") == "0 files"
    assert plural(2, "day") == "2 days" and plural(2, "box") == "2 boxes"
    assert noun(1, "msg") == "msg" and noun(5, "msg") == "msgs"


def test_history_list_says_1_msg(cli_env, server):
    server.push(Reply(status=400, body={"message": "no"}))
    assert invoke(["hi"], cli_env).returncode == 1  # no reply: kept, but hidden as failed
    assert invoke(["hi"], cli_env).returncode == 0
    from aimlchat.storage.store import Store

    store = Store(Path(cli_env["XDG_DATA_HOME"]) / "aimlchat" / "history.db")
    from aimlchat.messages import user

    store.add(store.create(model="m", system=None), user("left unanswered by kill -9"))
    listing = invoke(["history", "list"], cli_env).stdout.decode()
    assert "   1 msg  " in listing and "   2 msgs  " in listing, listing
    assert "   0 msgs  " in listing, listing


def test_the_seed_range_is_said_once_in_help(cli_env):
    out = invoke(["ask", "--help"], {**cli_env, "COLUMNS": "200"}).stdout.decode()
    assert "≥" not in out
    for param in TABLE:
        if param.low is not None or param.high is not None:
            assert not any(w in param.help for w in ("≥", "≤", "at least", "between")), param.name
            assert param.help_text().count("(") == 1, param.help_text()


def test_the_command_shown_by_cmd_starts_without_a_blank_line(cli_env):
    from aimlchat.commands.cmd import show_command
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    env = Environment(stdin=io.StringIO(), stdout=stdout, stderr=io.StringIO(), environ=cli_env)
    app = App(Flags(raw=True), env)
    show_command(app, "ls -l")
    buffer = stdout.buffer
    assert isinstance(buffer, io.BytesIO)
    assert buffer.getvalue() == b"ls -l\n\n"
    show_command(app, "ls -la", gap=True)  # a second round is set apart from the first
    assert buffer.getvalue() == b"ls -l\n\n\nls -la\n\n"


def test_chat_says_history_is_off_and_counts_its_attachment_rightly(cli_env, server, tmp_path):
    (tmp_path / "notes.txt").write_text("the notes\n")
    child = spawn(["chat", "--no-history", "-f", "notes.txt", "hi"], cli_env, cwd=str(tmp_path))
    child.expect_exact("· history off")
    child.expect_exact("1 file goes with it")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact("›")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
