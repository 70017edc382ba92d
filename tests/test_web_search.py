"""--web-search low|medium|high: sent as `web_search_options`, and a model that cannot
search is refused as one, in one clear line."""

from __future__ import annotations

import pexpect
import pytest

from aimlchat.api.adapters import ChatRequest, chat_completions
from aimlchat.api.errors_http import SEARCH_HINT, search_refused
from aimlchat.errors import ApiError
from aimlchat.messages import user
from aimlchat.settings import params
from tests.conftest import invoke, spawn
from tests.loopback import Reply


@pytest.mark.parametrize("size", ["low", "medium", "high"])
def test_web_search_sends_the_search_context_size(cli_env, server, size):
    r = invoke(["ask", "--web-search", size, "news today"], cli_env)
    assert r.returncode == 0, r.stderr
    (body,) = server.chat_bodies()
    assert body["web_search_options"] == {"search_context_size": size}


def test_without_web_search_no_search_is_asked_for(cli_env, server):
    r = invoke(["ask", "news today"], cli_env)
    assert r.returncode == 0, r.stderr
    (body,) = server.chat_bodies()
    assert "web_search_options" not in body


def test_web_search_from_config_toml(cli_env, server, home):
    (home / "config" / "aimlchat").mkdir()
    (home / "config" / "aimlchat" / "config.toml").write_text('web_search = "low"\n')
    r = invoke(["ask", "news today"], cli_env)
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[0]["web_search_options"] == {"search_context_size": "low"}


def test_web_search_takes_one_of_three_sizes(cli_env, server):
    r = invoke(["ask", "--web-search", "huge", "news today"], cli_env)
    assert r.returncode == 2
    assert "--web-search must be low, medium or high (got 'huge')" in r.stderr
    assert server.chat_bodies() == []


def test_web_search_is_a_row_of_the_parameter_table_not_a_body_field():
    row = params.BY_NAME["web_search"]
    assert not row.body and row.choices == ("low", "medium", "high")
    assert row.flag == "--web-search"


def test_the_chat_completions_body_carries_web_search_options():
    request = ChatRequest("perplexity/sonar", (user("hi"),), web_search="high")
    body = chat_completions.body(request)
    assert body["web_search_options"] == {"search_context_size": "high"}
    assert "web_search" not in body


@pytest.mark.parametrize(
    "said",
    [
        "web_search_options is not supported for this model",
        "Unrecognized request argument supplied: web_search_options",
        "Model meta-llama/llama-4-scout does not support web search",
    ],
)
def test_a_model_that_refuses_the_search_is_said_to_be_one_that_cannot_search(
    cli_env, server, said
):
    server.push(Reply(status=400, body={"error": {"message": said}}))
    r = invoke(["ask", "--web-search", "medium", "news today"], cli_env)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(
        "aimlchat: error: meta-llama/llama-4-scout does not support web search (HTTP 400: "
    )
    assert lines[0].endswith(f" — {SEARCH_HINT}")
    assert r.stdout == b""
    assert len(server.chat_bodies()) == 1  # a refusal is not retried


def test_a_refusal_that_names_nothing_gets_the_hint(cli_env, server):
    server.push(Reply(status=400, body={"message": "Extra inputs are not permitted"}))
    r = invoke(["ask", "--web-search", "low", "news today"], cli_env)
    assert r.returncode == 1
    assert "Extra inputs are not permitted (the request asked for a web search" in r.stderr
    assert SEARCH_HINT in r.stderr


def test_the_same_400_without_web_search_is_left_as_the_server_said_it(cli_env, server):
    said = "web_search_options is not supported for this model"
    server.push(Reply(status=400, body={"error": {"message": said}}))
    r = invoke(["ask", "news today"], cli_env)
    assert r.returncode == 1
    assert "does not support web search" not in r.stderr and said in r.stderr


@pytest.mark.parametrize("status", [401, 404, 429, 500])
def test_other_errors_are_not_taken_for_a_search_refusal(status):
    exc = ApiError("HTTP x: web_search failed", status=status)
    assert search_refused(exc, "m") is None


def test_a_400_about_something_else_is_not_a_search_refusal():
    exc = ApiError("HTTP 400: temperature must be at most 2", status=400)
    assert search_refused(exc, "m") is None


def test_chat_asks_for_the_search_on_every_turn(cli_env, server):
    child = spawn(["chat", "--web-search", "high"], cli_env)
    for word in ("one", "two"):
        child.expect("›")
        child.sendline(word)
        child.expect("loopback server")
    child.expect("›")
    child.sendeof()
    child.expect(pexpect.EOF)
    bodies = server.chat_bodies()
    assert [b["web_search_options"] for b in bodies] == [{"search_context_size": "high"}] * 2
