"""The one entry point and error boundary: `main(argv, env)`, exit codes, signals, colour."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pexpect
import pytest

from tests.conftest import invoke, spawn
from tests.loopback import Reply, sse_reply

PROMPT = "›"


def test_main_returns_the_status_instead_of_exiting(capsys):
    from aimlchat.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("aimlchat ")
    # A usage error comes back as 2; no SystemExit escapes.
    assert main(["ask", "x", "--no-stdin", "--temperature", "9"]) == 2


def test_main_version_in_a_fresh_interpreter_prints_version_and_zero():
    code = "from aimlchat.cli import main; print(main(['--version']))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0
    assert r.stdout.splitlines()[-1] == "0" and r.stdout.startswith("aimlchat ")


def test_unknown_option_is_one_usage_line_naming_the_help(cli_env):
    r = invoke(["ask", "--bogus", "hi"], cli_env)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "No such option: --bogus" in r.stderr and "aimlchat ask --help" in r.stderr


@pytest.mark.parametrize(
    ("extra_env", "args"),
    [({"NO_COLOR": "1"}, []), ({}, ["--no-color"])],
    ids=["NO_COLOR", "--no-color"],
)
def test_error_lines_follow_no_color(cli_env, extra_env, args):
    env = {**cli_env, **extra_env}
    plain = invoke(["ask", "--temperature", "9", *args, "hi"], env, stderr_tty=True)
    assert plain.returncode == 2 and "must be between 0 and 2" in plain.stderr
    assert "\x1b" not in plain.stderr
    coloured = invoke(["ask", "--temperature", "9", "hi"], cli_env, stderr_tty=True)
    assert "\x1b[" in coloured.stderr  # the same error is painted when colour is allowed


def test_stdin_placeholder_without_stdin_is_a_usage_error(cli_env, server):
    for args, data in (
        (["ask", "--no-stdin", "fix {stdin}"], "ignored"),
        (["ask", "fix {stdin}"], ""),
    ):
        r = invoke(args, cli_env, data)
        assert r.returncode == 2, r.stderr
        assert "{stdin}" in r.stderr and "no stdin" in r.stderr
    assert server.chat_bodies() == []


def test_stdin_placeholder_drops_one_trailing_newline(cli_env, server):
    r = invoke(["ask", "translate «{stdin}» now"], cli_env, "line one\nline two\n\n")
    assert r.returncode == 0, r.stderr
    content = server.chat_bodies()[0]["messages"][0]["content"]
    assert content == "translate «line one\nline two\n» now"


def _start_chat(env, *args):
    child = spawn(["chat", *args], env)
    child.expect_exact(PROMPT)
    return child


def test_sigterm_mid_reply_in_chat_exits_143_and_saves_the_partial(cli_env, server):
    server.push(Reply(events=sse_reply([f"w{i} " for i in range(300)]), delay=0.05))
    child = _start_chat(cli_env)
    child.sendline("slow please")
    child.expect_exact("w5")
    sent = time.monotonic()
    child.kill(signal.SIGTERM)
    child.expect(pexpect.EOF, timeout=5)
    child.close()
    assert time.monotonic() - sent < 1.0
    assert child.exitstatus == 143
    shown = invoke(["history", "show"], cli_env).stdout.decode()
    assert "## assistant [interrupted]" in shown and "w5" in shown


def test_sigterm_at_the_chat_prompt_exits_143(cli_env, server):
    child = _start_chat(cli_env)
    sent = time.monotonic()
    child.kill(signal.SIGTERM)
    child.expect(pexpect.EOF, timeout=5)
    child.close()
    assert time.monotonic() - sent < 1.0
    assert child.exitstatus == 143


def test_ctrl_z_at_the_chat_prompt_suspends_and_fg_resumes(cli_env, server):
    shell = pexpect.spawn(
        "/bin/bash",
        ["--norc", "--noprofile", "-i"],
        env={**cli_env, "PS1": "$ "},
        dimensions=(30, 100),
        timeout=15,
        encoding="utf-8",
        codec_errors="replace",
    )
    shell.expect_exact("$ ")
    shell.sendline(f"{sys.executable} -m aimlchat chat")
    shell.expect_exact(PROMPT)
    shell.sendcontrol("z")
    shell.expect("Stopped")
    shell.expect_exact("$ ")
    shell.sendline("fg")
    shell.expect_exact("aimlchat")  # bash names the job it resumes
    shell.sendline("after resume")
    shell.expect_exact("Hello from the loopback server.")
    shell.expect_exact(PROMPT)
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "after resume"
    shell.sendeof()
    shell.expect_exact("$ ")
    shell.sendline("exit")
    shell.expect(pexpect.EOF)


def test_edit_shows_the_message_and_drops_the_editors_newline(cli_env, server, tmp_path):
    editor = tmp_path / "ed.sh"
    editor.write_text('#!/bin/sh\nprintf "from the editor\\n" > "$1"\n')
    editor.chmod(0o755)
    child = _start_chat({**cli_env, "EDITOR": str(editor)})
    child.sendline("/edit")
    child.expect_exact("› from the editor")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact(PROMPT)
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "from the editor"
    child.sendeof()
    child.expect(pexpect.EOF)


def test_piped_ask_closed_by_head_exits_141_quietly(cli_env, server):
    server.push(Reply(events=sse_reply([f"line {i}\n" for i in range(2000)])))
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimlchat", "ask", "hi"],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(5)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=10) == 141
    assert err == b""


def test_a_bare_prompt_is_asked(cli_env, server):
    r = invoke(["Hello there", "--temperature", "0.5"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Hello from the loopback server.\n"
    body = server.chat_bodies()[0]
    assert body["messages"][-1]["content"] == "Hello there" and body["temperature"] == 0.5


def test_piped_stdin_alone_is_asked(cli_env, server):
    r = invoke([], cli_env, "what is 2+2?")
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "what is 2+2?"


def test_a_command_name_wins_and_ask_sends_it_as_a_prompt(cli_env, server):
    assert invoke(["ask", "models"], cli_env, "").returncode == 0
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "models"


def test_a_mistyped_command_is_an_error_not_a_request(cli_env, server):
    r = invoke(["hsitory"], cli_env, "")
    assert r.returncode == 2
    assert "did you mean history" in r.stderr and "aimlchat ask hsitory" in r.stderr
    assert server.chat_bodies() == []


def test_bare_aimlchat_on_a_terminal_opens_chat(cli_env, server):
    child = spawn([], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("hi")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact(PROMPT)
    child.sendeof()
    child.expect(pexpect.EOF)


def test_an_unrelated_complete_variable_does_not_turn_off_the_default_command(cli_env, server):
    r = invoke([], {**cli_env, "BUILD_COMPLETE": "1"}, "hello")
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "hello"


@pytest.mark.parametrize("args", [["histroy", "list"], ["confg", "show"], ["hsitory"]])
def test_a_mistyped_group_with_its_subcommand_is_an_error_not_a_request(cli_env, server, args):
    r = invoke(args, cli_env, "")
    assert r.returncode == 2 and "is not a command; did you mean" in r.stderr
    assert server.chat_bodies() == []


def test_words_that_only_look_like_a_command_are_asked(cli_env, server):
    r = invoke(["history", "of", "rome"], cli_env, "")
    assert r.returncode != 0  # a real group name wins: history has no subcommand "of"
    assert invoke(["histry", "of", "rome"], cli_env, "").returncode == 0
    assert server.chat_bodies()[-1]["messages"][-1]["content"] == "histry of rome"


def test_help_into_a_closed_pipe_exits_141_quietly(cli_env):
    read_end, write_end = os.pipe()
    os.close(read_end)
    proc = subprocess.run(
        [sys.executable, "-m", "aimlchat", "--help"],
        env=cli_env,
        stdout=write_end,
        stderr=subprocess.PIPE,
        check=False,
    )
    os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == b""


@pytest.mark.parametrize("no_history", [False, True])
def test_interrupt_says_the_partial_reply_was_saved_only_when_it_was(cli_env, server, no_history):
    server.push(Reply(events=sse_reply([f"t{i} " for i in range(400)]), delay=0.02))
    extra = ["--no-history"] if no_history else []
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimlchat", "ask", "hi", *extra],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.read(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and b"interrupted" in err
    assert (b"partial reply was saved" in err) is not no_history
