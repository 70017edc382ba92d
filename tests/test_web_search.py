"""--web-search low|medium|high: sent as `web_search_options`, and a model that cannot
search is refused as one, in one clear line."""

from __future__ import annotations

import pexpect
import pytest

from aimlchat.api.adapters import ChatRequest, chat_completions
from aimlchat.api.errors_http import CONFIG_SEARCH_HINT, SEARCH_HINT, search_refused
from aimlchat.errors import ApiError
from aimlchat.messages import user
from tests.conftest import invoke, spawn
from tests.loopback import Reply, sse_reply


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


def test_web_search_takes_one_of_three_sizes_or_off(cli_env, server):
    r = invoke(["ask", "--web-search", "huge", "news today"], cli_env)
    assert r.returncode == 2
    assert "--web-search must be low, medium, high or off (got 'huge')" in r.stderr
    assert server.chat_bodies() == []


def _config(home, text):
    folder = home / "config" / "aimlchat"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text(text)


def test_web_search_off_turns_config_toml_s_search_off_for_one_run(cli_env, server, home):
    _config(home, 'web_search = "high"\n')
    r = invoke(["ask", "--web-search", "off", "news today"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "web_search_options" not in server.chat_bodies()[0]
    assert invoke(["ask", "again"], cli_env).returncode == 0  # the next run searches again
    assert server.chat_bodies()[1]["web_search_options"] == {"search_context_size": "high"}


def test_web_search_off_in_config_toml_asks_for_no_search(cli_env, server, home):
    _config(home, 'web_search = "off"\n')
    r = invoke(["ask", "news today"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "web_search_options" not in server.chat_bodies()[0]


@pytest.mark.parametrize("empty", ["", "  "])
def test_an_empty_web_search_is_refused_not_taken_as_not_given(cli_env, server, home, empty):
    _config(home, 'web_search = "high"\n')
    r = invoke(["ask", "--web-search", empty, "news today"], cli_env)
    assert r.returncode == 2
    assert "--web-search needs low, medium, high or off" in r.stderr
    assert server.chat_bodies() == []


def test_cmd_never_asks_for_a_web_search(cli_env, server, home):
    _config(home, 'web_search = "high"\n')
    server.script = lambda request: Reply(events=sse_reply(["```sh\nls\n```"]))
    r = invoke(["cmd", "list files"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "web_search_options" not in server.chat_bodies()[0]


def _batch(tmp_path, cli_env, *flags):
    src = tmp_path / "in.txt"
    src.write_text("one\n")
    return invoke(["batch", str(src), *flags], cli_env)


def test_batch_asks_for_config_toml_s_search(cli_env, server, home, tmp_path):
    _config(home, 'web_search = "medium"\n')
    r = _batch(tmp_path, cli_env)
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[0]["web_search_options"] == {"search_context_size": "medium"}


def test_batch_web_search_flag_sets_the_size_or_turns_it_off(cli_env, server, home, tmp_path):
    _config(home, 'web_search = "medium"\n')
    assert _batch(tmp_path, cli_env, "--web-search", "low").returncode == 0
    assert server.chat_bodies()[0]["web_search_options"] == {"search_context_size": "low"}
    r = _batch(tmp_path, cli_env, "--web-search", "off", "-o", str(tmp_path / "out.jsonl"))
    assert r.returncode == 0, r.stderr
    assert "web_search_options" not in server.chat_bodies()[1]


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


@pytest.mark.parametrize(
    "said",
    [
        "Unsupported value: 'temperature' does not support 0.3 with this model",
        "Extra inputs are not permitted",
    ],
)
def test_a_400_that_does_not_name_the_search_is_left_as_the_server_said_it(cli_env, server, said):
    server.push(Reply(status=400, body={"error": {"message": said}}))
    r = invoke(["ask", "--web-search", "low", "--temperature", "0.3", "hi"], cli_env)
    assert r.returncode == 1
    assert said in r.stderr
    assert "web search" not in r.stderr and "--web-search" not in r.stderr


@pytest.mark.parametrize(
    "said",
    [
        "search_context_size: unknown field",
        "tools[0].type web_search_preview is not available for this model",
        "This model does not do web search",
    ],
)
def test_a_400_naming_the_search_in_any_of_its_spellings_is_a_search_refusal(said):
    exc = ApiError(f"HTTP 400: {said}", status=400)
    refused = search_refused(exc, "m")
    assert refused is not None and refused.message.startswith("m does not support web search")


def test_a_refusal_of_config_toml_s_search_names_config_toml_in_its_hint(cli_env, server, home):
    _config(home, 'web_search = "low"\n')
    said = "web_search_options is not supported for this model"
    server.push(Reply(status=400, body={"error": {"message": said}}))
    r = invoke(["ask", "news today"], cli_env)
    assert r.returncode == 1
    assert r.stderr.rstrip("\n").endswith(f" — {CONFIG_SEARCH_HINT}"), r.stderr
    assert "web_search in config.toml (or --web-search off)" in CONFIG_SEARCH_HINT
    assert "drop --web-search" not in r.stderr


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
