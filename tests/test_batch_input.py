"""`aimlchat batch` input: a UTF-8 BOM, unknown keys in a record's params, and --debug lines
that carry the server's text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.batch_helpers import results
from tests.conftest import TEST_KEY, invoke
from tests.loopback import LoopbackServer, Reply

BOM = b"\xef\xbb\xbf"


def _jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def _prompts(server: LoopbackServer) -> list[str]:
    return [body["messages"][-1]["content"] for body in server.chat_bodies()]


# -- a UTF-8 BOM at the start of IN is dropped ----------------------------------------------


def test_a_bom_before_a_json_record_is_dropped(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(BOM + _jsonl({"id": "a", "prompt": "first"}, {"id": "b", "prompt": "second"}))
    out = tmp_path / "out.jsonl"
    result = invoke(["batch", str(src), "-o", str(out), "--ordered", "-j", "1"], cli_env)
    assert result.returncode == 0, result.stderr
    assert _prompts(server) == ["first", "second"]  # not the first line's JSON as a prompt
    assert [r["id"] for r in results(out)] == ["a", "b"]


def test_a_bom_before_plain_text_on_stdin_is_dropped(
    server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    result = invoke(["batch", "-", "-j", "1", "--ordered"], cli_env, BOM + b"one\ntwo\n")
    assert result.returncode == 0, result.stderr
    assert _prompts(server) == ["one", "two"]


# -- unknown keys in a record's params: warned once, not sent --------------------------------


def test_unknown_params_are_warned_once_with_the_nearest_key_and_not_sent(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        _jsonl(
            {"id": 1, "prompt": "a", "params": {"temprature": 0.5, "top_p": 0.9}},
            {"id": 2, "prompt": "b", "params": {"temprature": 0.1, "zzqx": 1}},
            {"id": 3, "prompt": "c", "params": {"response_format": {"type": "json_object"}}},
        )
    )
    result = invoke(["batch", str(src), "-o", str(tmp_path / "out.jsonl")], cli_env)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2, result.stderr
    typo = [w for w in warnings if "temprature" in w]
    assert len(typo) == 1 and "did you mean 'temperature'?" in typo[0]
    assert "not sent" in typo[0] and "input line 1" in typo[0]
    assert any("'zzqx'" in w for w in warnings)
    bodies = {body["messages"][-1]["content"]: body for body in server.chat_bodies()}
    assert "temprature" not in bodies["a"] and bodies["a"]["top_p"] == 0.9
    assert "zzqx" not in bodies["b"]
    assert bodies["c"]["response_format"] == {"type": "json_object"}


# -- --debug on a terminal: the server's text is shown, never obeyed --------------------------

HOSTILE = "bad request \x1b]0;pwned\x07 \x1b[2J \u202eevil"


def test_debug_on_a_terminal_shows_the_servers_escapes_instead_of_obeying_them(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    server.push(Reply(status=400, body=f"{HOSTILE} {TEST_KEY}", content_type="text/plain"))
    src = tmp_path / "in.txt"
    src.write_text("hi\n")
    out = tmp_path / "out.jsonl"
    r = invoke(["batch", str(src), "-o", str(out), "--debug"], cli_env, stderr_tty=True)
    assert r.returncode == 1, r.stderr
    assert "\x1b]" not in r.stderr and "\x07" not in r.stderr and "\x1b[2J" not in r.stderr
    assert "\u202e" not in r.stderr and TEST_KEY not in r.stderr
    (body,) = [line for line in r.stderr.splitlines() if "<- error body:" in line]
    assert "^[]0;pwned^G" in body and "<U+202E>evil" in body


def test_debug_to_a_file_keeps_the_servers_text_as_it_came(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    server.push(Reply(status=400, body=f"{HOSTILE} {TEST_KEY}", content_type="text/plain"))
    src = tmp_path / "in.txt"
    src.write_text("hi\n")
    r = invoke(["batch", str(src), "-o", str(tmp_path / "o.jsonl"), "--debug"], cli_env)
    (body,) = [line for line in r.stderr.splitlines() if "<- error body:" in line]
    assert "\x1b]0;pwned\x07" in body and TEST_KEY not in r.stderr
