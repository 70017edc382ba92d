"""The first-token spinner of `ask`, in real pseudo-terminals: shown on stderr while the
server holds the first token, erased before the reply, retries shown beside it; nothing
at all on a pipe."""

from __future__ import annotations

import sys

import pexpect

from aimlchat.terminal.spinner import ERASE
from tests.conftest import invoke, spawn
from tests.loopback import Reply, sse_reply

SLOW = 1.2  # seconds before the first token: several spinner frames


def _slow(pieces: list[str]) -> Reply:
    return Reply(events=sse_reply(pieces), first_delay=SLOW)


def _all_output(child: pexpect.spawn) -> str:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return str(child.before)


def test_a_slow_first_token_shows_the_spinner_then_erases_it_before_the_reply(cli_env, server):
    server.push(_slow(["Hello", " there."]))
    child = spawn(["ask", "--raw", "hi"], cli_env)
    child.expect(r"waiting \d\.\d s")
    seen = str(child.after) + _all_output(child)
    last_frame = seen.rindex(" s")
    erased = seen.index(ERASE, last_frame)
    assert erased < seen.index("Hello there.")
    assert "waiting" not in seen[erased:]


def test_with_stdout_piped_the_spinner_is_on_the_terminal_and_the_file_exact(
    cli_env, server, tmp_path
):
    server.push(_slow(["Hello", " there."]))
    out = tmp_path / "reply.txt"
    child = pexpect.spawn(
        "bash",
        ["-c", f'"{sys.executable}" -m aimlchat ask hi > "{out}"'],
        env=cli_env,
        dimensions=(30, 100),
        timeout=15,
        encoding="utf-8",
    )
    child.expect(r"waiting \d\.\d s")
    assert _all_output(child).endswith(ERASE)
    assert out.read_bytes() == b"Hello there.\n"


def test_a_retry_is_shown_beside_the_spinner(cli_env, server):
    busy = Reply(status=503, body={"message": "busy"}, headers={"Retry-After": "1"})
    server.push(busy, _slow(["Fine."]))
    child = spawn(["ask", "--raw", "--retries", "1", "hi"], cli_env)
    child.expect(r"HTTP 503; retrying \(1/1\) in \d\.\d s")  # the delay, counting down
    child.expect(r"waiting \(retry 1/1\) 0\.\d s")  # then the retry's own wait, from zero
    assert "Fine." in _all_output(child)


def test_extract_keeps_the_spinner_until_the_reply_is_whole_then_prints_the_code(cli_env, server):
    server.push(_slow(["Use:\n\n```sh\n", "ls -la\n", "```\n"]))
    child = spawn(["-x", "list files"], cli_env)
    child.expect(r"waiting \d\.\d s")
    seen = _all_output(child)
    assert seen[seen.rindex(ERASE) + len(ERASE) :] == "ls -la\r\n"


def test_a_pipe_gets_no_spinner_at_all(cli_env, server):
    server.push(_slow(["Hello."]), Reply(status=503, body={"message": "busy"}), _slow(["x"]))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0 and r.stdout == b"Hello.\n" and r.stderr == ""
    r = invoke(["ask", "--retries", "1", "hi"], cli_env)
    assert r.stderr.startswith("aimlchat: HTTP 503; retrying in")  # a line, as before
    assert "waiting" not in r.stderr and "\x1b" not in r.stderr
