"""`--api` reaches every command that asks, not only `ask`: `cmd` and `batch` build their
requests from the same resolved settings."""

from __future__ import annotations

import json

from tests.conftest import invoke
from tests.loopback import Reply

CHAT_PATH, RESPONSES_PATH = "/v1/chat/completions", "/v1/responses"


def test_cmd_asks_the_api_the_flag_names(cli_env, server):
    server.push(Reply(text=["```sh\nls -l\n```"]))
    r = invoke(["cmd", "--api", "responses", "list the files"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ls -l\n"
    assert server.api_paths() == [RESPONSES_PATH]


def test_batch_asks_the_api_the_flag_names(cli_env, server):
    r = invoke(["batch", "-", "--api", "responses"], cli_env, input="hello\n")
    assert r.returncode == 0, r.stderr
    assert server.api_paths() == [RESPONSES_PATH]


def test_batch_without_the_flag_asks_chat_completions(cli_env, server):
    r = invoke(["batch", "-"], cli_env, input="hello\n")
    assert r.returncode == 0, r.stderr
    assert server.api_paths() == [CHAT_PATH]


def test_a_batch_records_output_format_reaches_responses_as_its_text_format(cli_env, server):
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    record = {
        "prompt": "p",
        "params": {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "thing", "schema": schema, "strict": True},
            }
        },
    }
    r = invoke(["batch", "-", "--api", "responses"], cli_env, input=json.dumps(record) + "\n")
    assert r.returncode == 0, r.stderr
    (body,) = server.responses_bodies()
    assert "response_format" not in body
    assert body["text"]["format"] == {
        "type": "json_schema",
        "name": "thing",
        "schema": schema,
        "strict": True,
    }


def test_a_batch_records_output_format_is_sent_as_written_to_chat_completions(cli_env, server):
    fmt = {"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object"}}}
    record = {"prompt": "p", "params": {"response_format": fmt}}
    r = invoke(["batch", "-"], cli_env, input=json.dumps(record) + "\n")
    assert r.returncode == 0, r.stderr
    (body,) = server.chat_bodies()
    assert body["response_format"] == {
        **fmt,
        "json_schema": {**fmt["json_schema"], "strict": False},
    }
