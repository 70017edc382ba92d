"""What the release review found on the terminal side: model and server text that got
past the sanitiser, flags that lost to a role, a clipboard that timed out, secrets shown
or inherited, editors that failed with a traceback, and a CRLF cut between two deltas."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aimlchat.errors import StdoutClosed, UsageError
from aimlchat.settings.config import Role, load_file
from aimlchat.settings.resolve import Flags, resolve
from aimlchat.settings.secrets import is_secret_name, masked
from aimlchat.terminal.clipboard import copy
from aimlchat.terminal.columns import columns
from aimlchat.terminal.editor import edit_text, editor_command
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.output import Output, PlainSink
from aimlchat.terminal.reasoning import ThinkingSink
from aimlchat.terminal.render import MarkdownSink
from tests.conftest import TEST_KEY, invoke, spawn
from tests.loopback import Reply, sse_reply

# What must never reach a terminal from model or server text.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
CONTROLS = "".join(chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)])


def _unsafe(text: str, *, ours: str = "") -> list[str]:
    """The control and bidi characters in `text`, ESC of our own SGR codes aside."""
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text) if ours == "sgr" else text
    return [hex(ord(ch)) for ch in text if ch in BIDI or (ch in CONTROLS and ch != "\x1b")] + (
        ["ESC"] if "\x1b" in text else []
    )


def _render(pieces: list[str], *, color: bool = True, live: bool = False, width: int = 70) -> str:
    out = io.StringIO()
    sink = MarkdownSink(out, color=color, code_theme="monokai", live=live, width=width)
    for piece in pieces:
        sink.feed(piece)
    sink.finish()
    return out.getvalue()


def _write_config(cli_env: dict[str, str], text: str) -> Path:
    path = Path(cli_env["XDG_CONFIG_HOME"]) / "aimlchat" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _script(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


# -- 1. character references decoded by markdown-it are made safe too ----------------------


@pytest.mark.parametrize("color", [True, False])
@pytest.mark.parametrize(
    "markdown",
    [
        "a &#x202E;evil&#x202C; b\n",  # a paragraph: the general path
        "**&#x202e;bold** and &#8238;_em_\n",
        "# heading &#x2067;x\n",
        "- item &#x202D;x\n- two\n",
        "| a | b |\n|---|---|\n| &#x202E;cell | &#27;[2J &#x9b;31m |\n",  # a small table
        "| wide |\n|---|\n| &#x202E;" + "w" * 90 + " |\n",  # too wide: rich's own table
        "x &#27;]0;title&#7; &#x9b;31m &#155; &#0; &#x85; &#x1b;[2J\n",  # C0, C1, ESC
    ],
)
def test_character_references_cannot_smuggle_controls_to_the_terminal(markdown, color):
    out = _render([markdown], color=color)
    assert _unsafe(out, ours="sgr" if color else "") == []
    if "202E" in markdown.upper():
        assert "<U+202E>" in out


def test_a_character_reference_in_the_live_tail_is_safe_before_the_block_ends():
    out = io.StringIO()
    sink = MarkdownSink(out, color=False, code_theme="monokai", live=True, width=70)
    try:
        sink.feed("still &#x202E;typing")  # no newline yet: drawn in the live region
        assert "\u202e" not in out.getvalue() and "<U+202E>" in out.getvalue()
    finally:
        sink.finish()
    assert "\u202e" not in out.getvalue()


def test_a_reply_with_character_references_reaches_a_terminal_safe(cli_env, server):
    server.push(
        Reply(events=sse_reply(["x &#x202E;", "evil&#x202C;\n\n| a |\n|--|\n| &#8238;b |\n"]))
    )
    r = invoke(["ask", "hi"], cli_env, stdout_tty=True)
    assert r.returncode == 0, r.stderr
    screen = r.stdout.decode()  # the live region's own \r and cursor moves aside
    assert not any(ch in BIDI for ch in screen)
    assert "x <U+202E>evil<U+202C>" in screen and "<U+202E>b" in screen


# -- 2. --debug lines carry server text: safe on a terminal ---------------------------------

HOSTILE = "bad request \x1b]0;pwned\x07 \x1b[2J \u202eevil"


def test_debug_on_a_terminal_shows_the_servers_escapes_instead_of_obeying_them(cli_env, server):
    server.push(Reply(status=400, body=f"{HOSTILE} {TEST_KEY}", content_type="text/plain"))
    r = invoke(["ask", "--debug", "hi"], cli_env, stderr_tty=True)
    assert r.returncode == 1
    assert "\x1b]" not in r.stderr and "\x07" not in r.stderr and "\x1b[2J" not in r.stderr
    assert "\u202e" not in r.stderr and TEST_KEY not in r.stderr
    (body,) = [line for line in r.stderr.splitlines() if "<- error body:" in line]
    assert "^[]0;pwned^G" in body and "<U+202E>evil" in body
    assert "Traceback (most recent call last):" in r.stderr  # lines kept, one per line
    traceback = r.stderr[r.stderr.index("Traceback") :]
    assert traceback.count("\n") > 3 and "^[]0;pwned^G" in traceback


def test_debug_to_a_file_keeps_the_servers_text_as_it_came_but_never_the_key(cli_env, server):
    server.push(Reply(status=400, body=f"{HOSTILE} {TEST_KEY}", content_type="text/plain"))
    r = invoke(["ask", "--debug", "hi"], cli_env, stderr_tty=False)
    (body,) = [line for line in r.stderr.splitlines() if "<- error body:" in line]
    assert "\x1b]0;pwned\x07" in body and TEST_KEY not in r.stderr


# -- 3. -s beats the role's prompt, as every flag beats the role ----------------------------


def test_system_flag_wins_over_the_roles_prompt_and_says_so(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[roles.poet]\nsystem = "Answer in verse."\nmodel = "m/poet"\n')
    cfg = load_file(path)
    s = resolve(Flags(role="poet", system="Be terse."), {}, cfg)
    assert s.system == "Be terse." and s.sources["system"] == "flag --system"
    assert s.model == "m/poet"  # the rest of the role still applies
    s = resolve(Flags(role="poet"), {}, cfg)
    assert s.system == "Answer in verse." and s.sources["system"] == "role poet"
    builtin = {"cmd": Role(system="One shell command.")}
    s = resolve(Flags(role="cmd", system="mine"), {}, cfg, builtin)
    assert s.system == "mine" and s.sources["system"] == "flag --system"


def test_ask_with_a_role_and_s_sends_the_flags_prompt(cli_env, server):
    _write_config(cli_env, '[roles.poet]\nsystem = "Answer in verse."\n')
    r = invoke(["ask", "-r", "poet", "-s", "Be terse.", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    messages = server.chat_bodies()[0]["messages"]
    assert messages[0] == {"role": "system", "content": "Be terse."}


# -- 4. a clipboard tool that forks a child does not time out -------------------------------


def test_a_clipboard_tool_whose_child_holds_stdout_is_not_waited_for(tmp_path, monkeypatch):
    copied, child_pid = tmp_path / "copied", tmp_path / "child.pid"
    # Like wl-copy and xclip: read the text, then leave a child behind that serves the
    # selection with the tool's stdout and stderr still open.
    _script(tmp_path, "wl-copy", f'cat > "{copied}"\nsleep 30 &\necho $! > "{child_pid}"\n')
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    out = Output(Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO()))
    started = time.monotonic()
    try:
        ways = copy("ls -l\n", out, {"WAYLAND_DISPLAY": "wayland-0"})
    finally:
        if child_pid.exists():
            os.kill(int(child_pid.read_text()), signal.SIGTERM)
    assert ways == ["wl-copy"]
    assert time.monotonic() - started < 2
    assert copied.read_text() == "ls -l\n"


# -- 5. config show masks secrets, not token limits -----------------------------------------


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("api_key", True),
        ("apiKey", True),
        ("auth_token", True),
        ("accessToken", True),
        ("client_secret", True),
        ("password", True),
        ("db-password", True),
        ("Authorization", True),
        ("max_tokens", False),
        ("max_completion_tokens", False),
        ("top_logprobs", False),
        ("api_key_command", False),
        ("keys", False),
        ("monkey", False),
        ("temperature", False),
        ("PGPASSWORD", True),  # run together, ending in a secret's word
        ("APITOKEN", True),
        ("GH_PAT", True),
        ("session_cookie", True),
        ("COOKIE_DOMAIN", False),
        ("TOKEN_ENDPOINT", False),
        ("AUTH_MODE", False),
    ],
)
def test_a_name_is_secret_when_its_last_word_names_a_secret(name, secret):
    assert is_secret_name(name) is secret


def test_config_show_shows_token_limits_and_masks_secrets_inside_tables(cli_env):
    _write_config(
        cli_env,
        "[params]\nmax_tokens = 512\nmax_completion_tokens = 900\n"
        '[body]\nuser_token = "tok-123"\n'
        'extra_headers = { Authorization = "Bearer b-1", X-Id = "7" }\n',
    )
    r = invoke(["config", "show"], cli_env)
    assert r.returncode == 0, r.stderr
    rows = {line.split("\t")[0]: line.split("\t")[1] for line in r.stdout.decode().splitlines()}
    assert rows["params.max_tokens"] == "512"
    assert rows["params.max_completion_tokens"] == "900"
    assert rows["body.user_token"] == '"***"'
    assert rows["body.extra_headers"] == '{"Authorization": "***", "X-Id": "7"}'
    assert b"tok-123" not in r.stdout and b"b-1" not in r.stdout
    assert masked("api_key", "") == "" and masked("api_key", None) is None  # nothing to hide


# -- 6. one table, one editor ---------------------------------------------------------------


def test_listings_are_aligned_for_a_person_and_tab_separated_for_a_pipe():
    rows = [["a", "long value", "end"], ["bbbb", "v", "last column is not padded"]]
    assert columns(["N", "V", "S"], rows, aligned=False) == (
        "N\tV\tS\na\tlong value\tend\nbbbb\tv\tlast column is not padded\n"
    )
    assert columns(["N", "V", "S"], rows, aligned=True).splitlines() == [
        "N     V           S",
        "a     long value  end",
        "bbbb  v           last column is not padded",
    ]


def test_visual_wins_over_editor_and_a_blank_one_is_not_set():
    assert editor_command({"VISUAL": "code -w", "EDITOR": "nano"}) == ["code", "-w"]
    assert editor_command({"VISUAL": "  ", "EDITOR": "nano -R"}) == ["nano", "-R"]
    assert editor_command({}) == ["vi"]


def test_an_editor_variable_with_an_unbalanced_quote_is_a_usage_error(cli_env):
    r = invoke(["config", "edit"], {**cli_env, "VISUAL": "", "EDITOR": "vim '-c set"})
    assert r.returncode == 2, r.stderr
    assert "cannot read $EDITOR" in r.stderr and "unexpected" not in r.stderr
    r = invoke(["roles", "edit", "x"], {**cli_env, "VISUAL": 'code "-w'})
    assert r.returncode == 2 and "cannot read $VISUAL" in r.stderr


def test_an_editor_that_is_not_there_is_named(cli_env, tmp_path):
    missing = str(tmp_path / "no-such-editor")
    r = invoke(["config", "edit"], {**cli_env, "VISUAL": "", "EDITOR": f"{missing} --wait"})
    assert r.returncode == 2 and f"editor not found: {missing}" in r.stderr


def test_a_message_saved_as_latin_1_is_a_clear_error_and_no_file_is_left(tmp_path):
    edited = tmp_path / "edited"
    editor = _script(tmp_path, "ed.sh", f'printf "caf\\351" > "$1"\necho "$1" > "{edited}"\n')
    with pytest.raises(UsageError, match="not UTF-8") as caught:
        edit_text({"EDITOR": str(editor)})
    assert caught.value.hint == "save the file as UTF-8"
    assert not Path(edited.read_text().strip()).exists()


def test_edit_in_the_repl_with_a_non_utf8_file_says_so_and_sends_nothing(cli_env, server, tmp_path):
    editor = _script(tmp_path, "ed.sh", 'printf "caf\\351" > "$1"\n')
    child = spawn(["chat"], {**cli_env, "EDITOR": str(editor), "VISUAL": ""})
    child.expect_exact("›")
    child.sendline("/edit")
    child.expect_exact("is not UTF-8")
    child.expect_exact("›")
    child.sendeof()
    child.expect(pexpect.EOF)
    assert "UnicodeDecodeError" not in (child.before or "")
    assert server.chat_bodies() == []


# -- 7. cmd: stdout through Output, no key for the model's command, a NUL refused -----------


@pytest.fixture
def cmd_env(cli_env: dict[str, str]) -> dict[str, str]:
    return {**cli_env, "SHELL": "/bin/sh"}


def test_the_models_command_runs_without_the_api_key(cmd_env, server, tmp_path):
    seen = tmp_path / "seen"
    command = f'echo "key=${{AIML_API_KEY-unset}} home=${{HOME:+set}}" > {seen}'
    server.script = lambda request: Reply(events=sse_reply([command]))
    child = spawn(["cmd", "show the key"], cmd_env)
    child.expect_exact("bort ? ")
    child.send("e")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert seen.read_text() == "key=unset home=set\n"


def test_a_nul_byte_in_the_models_command_is_a_clear_error(cmd_env, server):
    fenced = "```sh\nrm -rf /tmp/x\x00 ; echo hi\n```"
    server.script = lambda request: Reply(events=sse_reply([fenced]))
    r = invoke(["cmd", "do it"], cmd_env)
    assert r.returncode == 1
    assert "NUL byte" in r.stderr and "unexpected" not in r.stderr
    assert r.stdout == b""


class _ClosedStdout(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError

    def isatty(self) -> bool:
        return True


def test_showing_the_command_writes_through_output(cli_env):
    from aimlchat.commands.cmd import show_command
    from aimlchat.commands.runtime import App

    env = Environment(
        stdin=io.StringIO(),
        stdout=_ClosedStdout(),
        stderr=io.StringIO(),
        environ={**cli_env, "FORCE_COLOR": "1"},
        stdout_tty=True,
    )
    app = App(Flags(), env)
    with pytest.raises(StdoutClosed):  # Output's: not a BrokenPipeError from a stray write
        show_command(app, "ls -l")


# -- 8. a CRLF cut between two deltas ------------------------------------------------------


def _plain_sink(tty: bool) -> tuple[PlainSink, Any]:
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    env = Environment(stdin=io.StringIO(), stdout=stream, stderr=io.StringIO(), stdout_tty=tty)
    return PlainSink(Output(env)), stream


@pytest.mark.parametrize("tty", [True, False])
def test_a_crlf_cut_between_deltas_is_a_newline_on_a_terminal_and_exact_to_a_pipe(tty):
    sink, stream = _plain_sink(tty)
    for piece in ["one\r", "\ntwo\r\n", "three\r", "x\r", "\r", "\n", "end\r"]:
        sink.feed(piece)
    if tty:  # only the last CR waits: it may be half a CRLF
        assert stream.buffer.getvalue().decode() == "one\ntwo\nthree^Mx^M\nend"
    sink.finish()
    shown = stream.buffer.getvalue().decode()
    if tty:
        assert shown == "one\ntwo\nthree^Mx^M\nend\n"
    else:
        assert shown == "one\r\ntwo\r\nthree\rx\r\r\nend\r\n"


def test_raw_on_a_terminal_shows_no_carriage_return_for_a_split_crlf(cli_env, server):
    server.push(Reply(events=sse_reply(["line one\r", "\nline two\r", "\n"])))
    r = invoke(["ask", "--raw", "hi"], cli_env, stdout_tty=True)
    assert r.stdout == b"line one\nline two\n"
    server.push(Reply(events=sse_reply(["line one\r", "\nline two\r", "\n"])))
    assert invoke(["ask", "hi"], cli_env).stdout == b"line one\r\nline two\r\n"


def test_the_live_tail_does_not_show_the_cr_of_a_crlf_still_arriving():
    out = io.StringIO()
    sink = MarkdownSink(out, color=False, code_theme="monokai", live=True, width=70)
    try:
        sink.feed("line one\r")  # drawn at once, in the live region
        assert "line one" in out.getvalue() and "^M" not in out.getvalue()
        sink.feed("\nline two\r\n")
    finally:
        sink.finish()
    assert "^M" not in out.getvalue()


def test_kept_thinking_shows_no_carriage_return_for_a_split_crlf():
    out = io.StringIO()
    answer, _ = _plain_sink(True)
    sink = ThinkingSink(answer, out, color=False, keep=True, live=False, width=70)
    for piece in ["first\r", "\nsecond\r", "\n"]:
        sink.reason(piece)
    sink.finish()
    assert "^M" not in out.getvalue() and "first\nsecond" in out.getvalue()
    assert sink.text == "first\r\nsecond\r\n"  # history keeps what came
