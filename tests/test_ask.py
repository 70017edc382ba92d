"""`ask` against the loopback server: pipes, stdin, exit codes. In-process through `main`;
real processes where a real pipe or terminal is the point (byte-exact stdout, `| head`,
the first delta while the server holds the stream, ptys)."""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import time

import pytest

from tests.conftest import TEST_KEY, invoke, popen_ask, run_cli
from tests.loopback import Reply, chunk, completion, sse_reply


def test_piped_stdout_gets_exactly_the_reply_and_stderr_nothing(cli_env, server):
    r = invoke(["ask", "count the lines"], cli_env, input="a\nb\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Hello from the loopback server.\n"
    assert r.stderr == ""
    body = server.chat_bodies()[0]
    assert body["messages"] == [{"role": "user", "content": "a\nb\n\ncount the lines"}]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    headers = server.requests[0]["headers"]
    assert headers["Authorization"] == f"Bearer {TEST_KEY}"


def test_stdin_placeholder_puts_stdin_inside_the_prompt(cli_env, server):
    invoke(["ask", "summarise <{stdin}> now"], cli_env, input="TEXT")
    assert server.chat_bodies()[0]["messages"][0]["content"] == "summarise <TEXT> now"


def test_no_stdin_ignores_an_open_pipe(cli_env, server):
    r = invoke(["ask", "--no-stdin", "hi"], cli_env, input="ignored")
    assert r.returncode == 0
    assert server.chat_bodies()[0]["messages"][0]["content"] == "hi"


def test_empty_message_is_a_usage_error(cli_env, server):
    r = invoke(["ask"], cli_env, input="  \n")
    assert r.returncode == 2 and "empty message" in r.stderr
    assert server.chat_bodies() == []


def test_invalid_utf8_stdin_is_a_clear_error(cli_env, server):
    r = invoke(["ask", "x"], cli_env, input=b"caf\xe9\n")
    assert r.returncode == 2
    assert "not valid UTF-8" in r.stderr and "Traceback" not in r.stderr


def test_out_of_range_parameter_fails_before_any_request(cli_env, server):
    r = invoke(["ask", "--temperature", "3", "hi"], cli_env)
    assert r.returncode == 2
    assert "--temperature must be between 0 and 2 (got 3)" in r.stderr
    assert server.requests == []


def test_missing_key_exits_3_and_says_how_to_fix(cli_env, server):
    env = {**cli_env, "AIML_API_KEY": ""}
    r = invoke(["ask", "hi"], env)
    assert r.returncode == 3
    assert "AIML_API_KEY" in r.stderr and "aimlchat key set" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_401_exits_3_with_the_servers_message(cli_env, server):
    server.push(
        Reply(
            status=401,
            body={
                "message": "Invalid API key",
                "statusCode": 401,
                "requestId": "req-42",
                "path": "/v1/chat/completions",
            },
        )
    )
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 3
    assert "Invalid API key" in r.stderr and "req-42" in r.stderr
    assert r.stdout == b""


def test_503_twice_then_success_retries_with_a_line_each(cli_env, server):
    server.push(
        Reply(status=503, body={"error": {"message": "busy"}}, headers={"Retry-After": "0"}),
        Reply(status=503, body="Service Unavailable", headers={"Retry-After": "0"}),
    )
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Hello from the loopback server.\n"
    assert r.stderr.count("retrying") == 2


def test_non_streamed_reply(cli_env, server):
    r = invoke(["ask", "--no-stream", "hi"], cli_env)
    assert r.stdout == b"Hello from the loopback server.\n"
    assert "stream_options" not in server.chat_bodies()[0]


def test_pipe_output_is_byte_exact_with_escape_sequences(cli_env, server):
    evil = "t\x1b]0;PWNED\x07 \x1b[2J \x1b]52;c;aGk=\x07 \x9b31m [bold]x[/] é\n"
    server.push(Reply(events=sse_reply([evil])))
    # A real process: the bytes must survive the interpreter's own stdout and its encoding.
    r = run_cli(["ask", "hi"], cli_env)
    assert r.stdout == evil.encode()


def test_usage_goes_to_stderr_with_cost_when_prices_are_cached(cli_env, server):
    invoke(["models"], cli_env)
    r = invoke(["ask", "--usage", "hi"], cli_env)
    assert r.stdout == b"Hello from the loopback server.\n"
    assert "10 prompt + 5 completion = 15" in r.stderr
    # 10 * 0.189/1e6 + 5 * 0.63/1e6
    assert "$0.000005" in r.stderr


def test_ndjson_is_one_event_per_line(cli_env, server):
    r = invoke(["ask", "--ndjson", "hi"], cli_env)
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    assert [e["type"] for e in events] == ["delta"] * 5 + ["finish", "usage"]


def test_json_prints_the_full_response(cli_env, server):
    r = invoke(["ask", "--json", "hi"], cli_env)
    obj = json.loads(r.stdout)
    assert obj["choices"][0]["message"]["content"] == "Hello from the loopback server."
    assert server.chat_bodies()[0]["stream"] is False


def test_format_json_and_schema_set_response_format(cli_env, server, tmp_path):
    invoke(["ask", "--format", "json", "hi"], cli_env)
    schema = tmp_path / "person.json"
    schema.write_text('{"title": "person", "type": "object"}')
    invoke(["ask", "--schema", str(schema), "hi"], cli_env)
    a, b = server.chat_bodies()
    assert a["response_format"] == {"type": "json_object"}
    assert b["response_format"]["type"] == "json_schema"
    assert b["response_format"]["json_schema"]["strict"] is True


def test_head_closing_the_pipe_ends_quietly(cli_env, server):
    text = "word " * 20000
    server.push(Reply(events=sse_reply([text[i : i + 50] for i in range(0, len(text), 50)])))
    proc = subprocess.Popen(
        f"{sys.executable} -m aimlchat ask hi | head -c 1",
        shell=True,
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    out, err = proc.communicate(timeout=30)
    assert out == b"w"
    assert b"Traceback" not in err and b"BrokenPipe" not in err and err == b""


def _first_line_while_open(cli_env, server, mode, encoding=None):
    events = [chunk("first"), chunk(" second"), *sse_reply([])]
    server.push(Reply(events=events, mode=mode, delay=1.5, encoding=encoding))
    proc = popen_ask(cli_env)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    ready, _, _ = select.select([fd], [], [], 10)
    got = os.read(fd, 100) if ready else b""
    read_at = time.monotonic()
    proc.communicate(timeout=15)
    return got, read_at, [t for t, data in server.sent]


@pytest.mark.parametrize("mode", ["chunked", "close"])
@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_first_delta_reaches_stdout_while_the_server_holds_the_stream(
    cli_env, server, mode, encoding
):
    # gzip: a proxy compressing anyway; read1 used to hand over the compressed bytes (exit 4)
    got, read_at, sent = _first_line_while_open(cli_env, server, mode, encoding)
    assert got == b"first"
    # The second event left the server 1.5 s after the first; we had the first before it.
    assert len(sent) >= 2 and read_at < sent[1]
    print(f"first delta latency ({mode}, {encoding}): {(read_at - sent[0]) * 1000:.2f} ms")


def test_request_bodies_follow_the_documented_schema(cli_env, server):
    invoke(
        [
            "ask",
            "hi",
            "-s",
            "be brief",
            "--temperature",
            "0.2",
            "--top-p",
            "0.9",
            "--max-tokens",
            "50",
            "--max-completion-tokens",
            "40",
            "--stop",
            "END",
            "--stop",
            "STOP",
            "--seed",
            "7",
            "--frequency-penalty",
            "-1",
            "--presence-penalty",
            "1.5",
            "--top-k",
            "40",
            "--min-p",
            "0.05",
            "--repetition-penalty",
            "1.1",
            "--logprobs",
            "--top-logprobs",
            "3",
            "-o",
            'logit_bias={"1": 2}',
            "-o",
            "user=me",
        ],
        cli_env,
    )
    invoke(["ask", "-n", "2", "hi"], cli_env)
    for body in server.chat_bodies():
        check_body(body)
    first = server.chat_bodies()[0]
    assert first["messages"][0] == {"role": "system", "content": "be brief"}
    assert first["stop"] == ["END", "STOP"] and first["top_k"] == 40


def check_body(body):
    """The fields and ranges of the published OpenAPI document for llama-4-scout."""
    assert isinstance(body["model"], str) and body["messages"]
    for m in body["messages"]:
        assert m["role"] in {"system", "developer", "user", "assistant", "tool"}
        if isinstance(m["content"], list):
            for part in m["content"]:
                assert part["type"] in {"text", "image_url"}
                if part["type"] == "image_url":
                    assert part["image_url"]["url"]
                    assert part["image_url"].get("detail", "auto") in {"low", "high", "auto"}
        else:
            assert isinstance(m["content"], str)
    ranges = {
        "temperature": (0, 2),
        "top_p": (0.01, 1),
        "frequency_penalty": (-2, 2),
        "presence_penalty": (-2, 2),
        "top_logprobs": (0, 20),
        "min_p": (0.001, 0.999),
    }
    for key, (lo, hi) in ranges.items():
        if key in body:
            assert lo <= body[key] <= hi
    for key in ("max_tokens", "max_completion_tokens", "n", "seed"):
        if key in body:
            assert body[key] >= 1
    if "stop" in body:
        assert isinstance(body["stop"], (str, list)) and len(body["stop"]) <= 4
    if "logprobs" in body:
        assert isinstance(body["logprobs"], bool)
    assert isinstance(body["stream"], bool)


def test_n_choices_are_all_printed(cli_env, server):
    server.script = lambda req: Reply(body=completion("A", 2))
    r = invoke(["ask", "-n", "2", "hi"], cli_env)
    assert r.stdout == b"A\n\n---\n\nA (2)\n"


def test_continue_and_session_append_to_a_conversation(cli_env, server):
    invoke(["ask", "one"], cli_env)
    invoke(["ask", "-c", "two"], cli_env)
    assert [m["content"] for m in server.chat_bodies()[1]["messages"]] == [
        "one",
        "Hello from the loopback server.",
        "two",
    ]
    invoke(["ask", "--session", "proj", "a"], cli_env)
    invoke(["ask", "hi"], cli_env)
    invoke(["ask", "--session", "proj", "b"], cli_env)
    assert [m["content"] for m in server.chat_bodies()[-1]["messages"]] == [
        "a",
        "Hello from the loopback server.",
        "b",
    ]


def test_history_list_search_export_rm(cli_env, server):
    invoke(["ask", "about zebras"], cli_env)
    invoke(["ask", "about lions"], cli_env)
    listed = invoke(["history", "list"], cli_env).stdout.decode()
    assert "about zebras" in listed and "about lions" in listed
    found = invoke(["history", "search", "zebra"], cli_env).stdout.decode()
    assert "zebras" in found and "lions" not in found
    doc = json.loads(invoke(["history", "export", "1", "-f", "json"], cli_env).stdout)
    assert [m["role"] for m in doc["messages"]] == ["user", "assistant"]
    assert doc["messages"][1]["usage"] == {"prompt_tokens": 10, "completion_tokens": 5}
    md = invoke(["history", "export", "1", "-f", "md"], cli_env).stdout.decode()
    assert md.startswith("# about zebras") and "## assistant" in md
    assert invoke(["history", "rm", "1"], cli_env).returncode == 0
    assert "zebras" not in invoke(["history", "list"], cli_env).stdout.decode()


def test_retry_after_http_date_is_honoured():
    import email.utils

    from aimlchat.api.retry import retry_after

    future = email.utils.formatdate(time.time() + 3, usegmt=True)
    assert 1 <= (retry_after(future) or 0) <= 3
    assert retry_after("2") == 2.0 and retry_after("soon") is None


def test_terminal_stdin_without_a_prompt_is_a_usage_error_not_a_hang(cli_env, server):
    from tests.conftest import spawn

    child = spawn(["ask"], cli_env)
    child.expect_exact("no prompt")
    child.expect(pexpect_eof())
    child.close()
    assert child.exitstatus == 2


def pexpect_eof():
    import pexpect

    return pexpect.EOF


@pytest.mark.parametrize("env_extra", [{"NO_COLOR": "1"}, {"TERM": "dumb"}])
def test_no_color_and_dumb_terminals_get_no_colour_or_cursor_moves(cli_env, server, env_extra):
    from tests.conftest import spawn

    server.push(Reply(events=sse_reply(["# Title\n\n", "```python\nx = 1\n```\n"])))
    child = spawn(["ask", "hi"], {**cli_env, **env_extra})
    out = child.read()
    assert "x = 1" in out
    assert not re.search(r"\x1b\[[0-9;]*m", out.replace("\x1b[0m", "")), repr(out)
    if env_extra.get("TERM") == "dumb":
        assert "\x1b[1A" not in out and "\x1b[2K" not in out


def test_a_stdin_open_for_writing_only_is_no_input(cli_env, server):
    """`nohup` gives the command a write-only stdin: reading it fails with EBADF, and that
    is no input, as a closed stdin is, not an error."""
    with open(os.devnull, "w") as write_only:
        r = subprocess.run(
            [sys.executable, "-m", "aimlchat", "ask", "hi"],
            env=cli_env,
            stdin=write_only,
            capture_output=True,
            timeout=30,
            check=False,
        )
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[-1]["messages"][-1]["content"] == "hi"
