"""`aimlchat cmd`: a suggested command runs only on consent (real ptys), and a pipe gets
the command alone and runs nothing."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.conftest import invoke, spawn
from tests.loopback import Reply, cmd_reply, sse_reply

MENU = "bort ? "  # the menu's last word; its first letter is underlined on a terminal
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    return ANSI.sub("", text)


def play_cmd(server: Any) -> None:
    """The server answers like a model asked for commands (see loopback.cmd_reply)."""
    server.script = lambda request: Reply(events=sse_reply([cmd_reply(request["json"])]))


def reply_with(server: Any, command: str) -> None:
    server.script = lambda request: Reply(events=sse_reply([command]))


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:
    return {**cli_env, "SHELL": "/bin/sh"}


def start(env: dict[str, str], *words: str) -> Any:
    child = spawn(["cmd", *words], env)
    child.expect_exact(MENU)
    return child


def finish(child: Any) -> int:
    child.expect(pexpect.EOF)
    child.close()
    status: int = child.exitstatus
    return status


def test_execute_runs_the_command_on_the_terminal_and_saves_the_exchange(env, server):
    play_cmd(server)
    child = start(env, "say", "the", "answer")
    assert "echo CMD-RAN-$((6*7))" in plain(child.before)  # highlighted, whole
    child.send("e")
    child.expect_exact("CMD-RAN-42")
    assert finish(child) == 0
    body = server.chat_bodies()[0]
    assert (
        body["messages"][0]["role"] == "system"
        and "one shell command" in body["messages"][0]["content"]
    )
    assert body["messages"][1] == {"role": "user", "content": "say the answer"}
    shown = invoke(["history", "show"], env).stdout.decode()
    assert "say the answer" in shown and "echo CMD-RAN-$((6*7))" in shown


def test_the_command_runs_with_the_users_shell_on_the_terminal(env, server, tmp_path):
    reply_with(server, "echo shell=$0; test -t 0 && test -t 1 && echo ON-A-TTY")
    child = start({**env, "SHELL": "/bin/bash"}, "which shell")
    child.send("e")
    child.expect_exact("shell=/bin/bash")
    child.expect_exact("ON-A-TTY")
    assert finish(child) == 0


def test_abort_runs_nothing(env, server, tmp_path):
    made = tmp_path / "made-by-the-model"
    reply_with(server, f"touch {made}")
    child = start(env, "make a file")
    child.send("a")
    child.expect_exact("aborted; nothing was run")
    assert finish(child) == 0
    assert not made.exists()


def test_ctrl_c_at_the_menu_aborts_with_130_and_runs_nothing(env, server, tmp_path):
    made = tmp_path / "made-by-the-model"
    reply_with(server, f"touch {made}")
    child = start(env, "make a file")
    child.sendintr()
    child.expect_exact("aborted; nothing was run")
    assert finish(child) == 130
    assert not made.exists()
    assert "partial reply" not in child.before


def test_a_key_pressed_while_the_model_answers_does_not_choose(env, server, tmp_path):
    made = tmp_path / "made-by-the-model"
    server.script = lambda request: Reply(events=sse_reply([f"touch {made}"]), header_delay=1.0)
    child = spawn(["cmd", "make a file"], {**env, "TERM": "xterm"})
    child.expect(r"waiting \d+\.\d s")  # the spinner: the model is still answering
    child.send("e")  # typed ahead, before any command was shown
    child.expect_exact(MENU)
    child.send("a")
    child.expect_exact("aborted; nothing was run")  # the menu took the "a", not the "e"
    assert finish(child) == 0
    assert not made.exists()  # looked at once the process is over: nothing can come late


def test_revise_sends_the_follow_up_and_offers_the_new_command(env, server):
    play_cmd(server)
    child = start(env, "say the answer")
    child.send("r")
    child.expect_exact("revise:")
    child.send("and number the revision\r")
    child.expect_exact("REVISION-1")
    child.expect_exact(MENU)
    child.send("e")
    child.expect_exact("CMD-RAN-42 REVISION-1")
    assert finish(child) == 0
    second = server.chat_bodies()[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
    assert second[3]["content"] == "and number the revision"


def test_describe_explains_as_markdown_then_shows_the_menu_again(env, server):
    play_cmd(server)
    child = start(env, "say the answer")
    child.send("d")
    child.expect_exact("arithmetic")
    assert "**" not in child.before + child.after  # rendered, not raw Markdown
    child.expect_exact(MENU)
    child.send("a")
    assert finish(child) == 0
    described = server.chat_bodies()[1]["messages"]
    assert [m["role"] for m in described] == ["user"]  # asked aside, without the cmd prompt
    assert "echo CMD-RAN-$((6*7))" in described[0]["content"]


def test_copy_puts_the_command_on_the_clipboard_and_runs_nothing(env, server, tmp_path):
    made = tmp_path / "made-by-the-model"
    command = f"touch {made}"
    reply_with(server, command)
    child = start(env, "make a file")
    child.send("c")
    child.expect_exact("\x1b]52;c;" + base64.b64encode(f"{command}\n".encode()).decode() + "\x07")
    child.expect_exact("copied the command via OSC 52")
    assert finish(child) == 0
    assert not made.exists()


def test_a_failing_command_is_reported_and_its_status_is_ours(env, server):
    reply_with(server, "echo failing; exit 3")
    child = start(env, "fail")
    child.send("e")
    child.expect_exact("the command exited with status 3")
    assert finish(child) == 3


def test_a_command_ended_by_a_signal_exits_128_plus_n_as_a_shell_would(env, server):
    reply_with(server, "kill -USR1 $$")
    child = start({**env, "SHELL": "/bin/bash"}, "signal")
    child.send("e")
    child.expect_exact("the command was ended by SIGUSR1")
    assert finish(child) == 128 + 10


def test_q_and_esc_abort_too(env, server, tmp_path):
    made = tmp_path / "made-by-the-model"
    reply_with(server, f"touch {made}")
    for key in ("q", "\x1b"):
        child = start(env, "make a file")
        child.send(key)
        child.expect_exact("aborted; nothing was run")
        assert finish(child) == 0
    assert not made.exists()


def test_piped_stdout_gets_the_command_only_and_nothing_runs(env, server, tmp_path):
    made = tmp_path / "made-by-the-model"
    reply_with(server, f"```bash\n$ touch {made}\n```")
    r = invoke(["cmd", "make a file"], env)
    assert r.returncode == 0
    assert r.stdout == f"touch {made}\n".encode()
    assert not made.exists()


def test_stdin_not_a_terminal_prints_the_command_even_to_a_terminal(env, server, tmp_path):
    made = tmp_path / "made-by-the-model"
    reply_with(server, f"```sh\ntouch {made}\n```")
    r = invoke(["cmd", "make a file"], env, input="", stdout_tty=True)
    assert r.returncode == 0 and r.stdout == f"touch {made}\n".encode()
    assert "execute" not in r.stderr
    assert not made.exists()


def test_cmd_offers_no_yes_flag(env, server, capsys):
    r = invoke(["cmd", "--yes", "make a file"], env)
    assert r.returncode == 2 and "--yes" in r.stderr
    assert server.chat_bodies() == []
    # Click prints --help itself, to sys.stdout rather than the injected stream.
    shown = invoke(["cmd", "--help"], env).stdout.decode() + capsys.readouterr().out
    assert shown.startswith("Usage: aimlchat cmd ") and "--model" in shown
    assert "--yes" not in shown


def test_a_reply_with_no_command_is_an_error(env, server):
    reply_with(server, "   ")
    r = invoke(["cmd", "nothing"], env)
    assert r.returncode == 1 and "no command" in r.stderr and r.stdout == b""


def test_a_config_role_named_cmd_replaces_the_built_in_prompt(env, server, tmp_path):
    config = Path(env["XDG_CONFIG_HOME"]) / "aimlchat"
    config.mkdir(parents=True, exist_ok=True)
    (config / "config.toml").write_text('[roles]\ncmd = "Only fish shell commands."\n')
    reply_with(server, "```fish\necho hi\n```")
    r = invoke(["cmd", "greet"], env)
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[0]["messages"][0]["content"] == "Only fish shell commands."
