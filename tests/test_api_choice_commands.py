"""`--api` reaches every command that asks, not only `ask`: `cmd` and `batch` build their
requests from the same resolved settings."""

from __future__ import annotations

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
