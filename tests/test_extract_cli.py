"""`-x/--extract` and `--extract-last`: a code block of the reply, and nothing else on
stdout; exact bytes to a pipe, made safe on a terminal; the reply still saved."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import invoke
from tests.loopback import Reply, chunk, sse_reply

REPLY = (
    "Here is a filter:\n\n```jq\n.items[] | .name\n```\n\n"
    "And a test:\n\n```sh\necho '{}' | jq -f f.jq\n```\nDone.\n"
)


def _reply(text: str) -> Reply:
    return Reply(events=sse_reply([text[i : i + 7] for i in range(0, len(text), 7)]))


def test_extract_prints_only_the_first_code_block_to_a_pipe(cli_env, server):
    server.push(_reply(REPLY))
    r = invoke(["-x", "a jq filter for the names"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b".items[] | .name\n"
    assert r.stderr == ""


def test_extract_last_prints_the_last_code_block(cli_env, server):
    server.push(_reply(REPLY))
    r = invoke(["ask", "--extract-last", "filter and test"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"echo '{}' | jq -f f.jq\n"


def test_a_reply_without_code_exits_1_with_one_line_and_is_still_saved(cli_env, server):
    server.push(_reply("I would rather explain it in words.\n"))
    r = invoke(["-x", "a jq filter"], cli_env)
    assert r.returncode == 1 and r.stdout == b""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "the reply has no fenced code block" in lines[0]
    assert "aimlchat history show" in lines[0]
    shown = invoke(["history", "show"], cli_env)
    assert b"rather explain it in words" in shown.stdout


def test_the_whole_reply_is_saved_to_history(cli_env, server):
    server.push(_reply(REPLY))
    invoke(["-x", "a jq filter"], cli_env)
    shown = invoke(["history", "show"], cli_env)
    assert b"Here is a filter:" in shown.stdout and b"Done." in shown.stdout


def test_extract_to_a_pipe_is_byte_exact_and_to_a_terminal_safe(cli_env, server):
    code = "```sh\nprintf '\x1b[31mred\x1b[0m'\n```\n"
    server.push(_reply(code), _reply(code))
    piped = invoke(["-x", "colour"], cli_env)
    assert piped.stdout == b"printf '\x1b[31mred\x1b[0m'\n"
    shown = invoke(["-x", "colour"], cli_env, stdout_tty=True)
    assert b"\x1b" not in shown.stdout and b"red" in shown.stdout


def test_extract_with_json_is_a_usage_error(cli_env, server):
    for flag in ("--json", "--ndjson"):
        r = invoke(["ask", "-x", flag, "hi"], cli_env)
        assert r.returncode == 2 and f"use -x or {flag}, not both" in r.stderr
    assert server.requests == []


def test_extract_into_tee_writes_the_code_to_the_file(cli_env, server, tmp_path):
    server.push(_reply(REPLY))
    target = tmp_path / "f.jq"
    line = f'"{sys.executable}" -m aimlchat -x "a jq filter for the names" | tee "{target}"'
    r = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {line}"],
        env=cli_env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert target.read_bytes() == r.stdout == b".items[] | .name\n"


def _cut_off(text: str) -> Reply:
    """`text`, then finish_reason length: the reply hit the token limit."""
    return Reply(events=[chunk(text), chunk(finish="length"), "data: [DONE]\n\n"])


def test_extract_of_a_reply_cut_off_at_the_token_limit_prints_nothing_to_a_pipe(cli_env, server):
    server.push(_cut_off("```sh\nrm -rf build\n```\nand then"), _cut_off("```sh\nls\n```\n"))
    r = invoke(["-x", "clean"], cli_env)
    assert r.returncode == 1 and r.stdout == b""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "cut off at the token limit" in lines[0]
    assert "nothing printed" in lines[0]
    r = invoke(["ask", "--extract-last", "list"], cli_env)
    assert r.returncode == 1 and r.stdout == b""


def test_extract_of_a_cut_off_reply_is_shown_on_a_terminal_with_the_warning(cli_env, server):
    server.push(_cut_off("```sh\nls -la\n```\nmore"))
    r = invoke(["-x", "list"], cli_env, stdout_tty=True)
    assert r.returncode == 0 and b"ls -la" in r.stdout
    assert "cut off at the token limit" in r.stderr


def test_an_unclosed_fence_is_no_code_block_for_extract(cli_env, server):
    for stdout_tty in (False, True):
        server.push(_reply("Here:\n\n```sh\nrm -rf build/ca"))
        r = invoke(["-x", "clean"], cli_env, stdout_tty=stdout_tty)
        assert r.returncode == 1 and b"rm -rf" not in r.stdout
        assert "never closed" in r.stderr


def test_extract_last_skips_an_unclosed_fence_after_a_closed_one(cli_env, server):
    server.push(_reply("```sh\nls\n```\nthen\n```sh\nrm -rf bu"))
    r = invoke(["ask", "--extract-last", "list"], cli_env)
    assert r.returncode == 0 and r.stdout == b"ls\n"
