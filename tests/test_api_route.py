"""Which API a model gets: --api > `[models."ID"] api` > the cached catalogue's `type` >
what a server said before (remembered per base URL and model) > Chat Completions; and the
fallback: a Chat Completions 4xx naming the responses endpoint is asked once on
/v1/responses, with one notice line, and remembered so the next run goes straight there.

Loopback server: `responses_only` answers the gpt-5-5-pro model as the AI/ML API does."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from aimlchat.api.adapters import ChatRequest
from aimlchat.api.client import Client
from aimlchat.api.route import (
    Route,
    Router,
    choose,
    is_responses_type,
    names_chat,
    names_responses,
)
from aimlchat.errors import ApiError, ExitCode
from aimlchat.messages import user
from tests.conftest import invoke
from tests.loopback import MODELS, RESPONSES_MODEL, RESPONSES_ONLY, Reply, default_reply

CHAT_PATH, RESPONSES_PATH = "/v1/chat/completions", "/v1/responses"
NOTICE = f"{RESPONSES_MODEL} answers only on /v1/responses; using it"


def responses_only(request: dict[str, Any]) -> Reply:
    """gpt-5-5-pro refuses /chat/completions with the API's 400; everything else answers."""
    body = request.get("json") or {}
    if body.get("model") == RESPONSES_MODEL and request["path"].endswith("/chat/completions"):
        return Reply(status=400, body=RESPONSES_ONLY)
    if request["path"].endswith("/responses"):
        return Reply(text=["Hi", " from", " Responses."])
    return default_reply(request)


def memory_file(home: Path) -> Path:
    return home / "cache" / "aimlchat" / "apis.json"


def client(server: Any, notices: list[str], router: Router | None = None) -> Client:
    return Client(
        base_url=server.base_url,
        api_key="k",
        timeout=10,
        retries=0,
        notice=notices.append,
        router=router,
    )


def request(model: str = RESPONSES_MODEL, *, stream: bool = True) -> ChatRequest:
    return ChatRequest(model, (user("hi"),), stream=stream)


# -- the order, decided by a pure function ---------------------------------------------------


def test_the_flag_beats_config_catalogue_and_memory():
    got = choose(flag="chat", config="responses", catalogue_type="openai/responses",
                 remembered="responses")  # fmt: skip
    assert got == Route("chat", "--api", forced=True)


def test_config_beats_catalogue_and_memory():
    got = choose(config="chat", catalogue_type="openai/responses", remembered="responses")
    assert got == Route("chat", "config.toml", forced=True)


def test_a_catalogue_type_naming_responses_beats_memory_and_is_not_forced():
    got = choose(catalogue_type="openai/responses", remembered="chat")
    assert (got.api, got.forced) == ("responses", False)
    assert "openai/responses" in got.why


def test_a_chat_completions_catalogue_type_leaves_it_to_memory_then_the_default():
    assert choose(catalogue_type="openai/chat-completions", remembered="responses").api == (
        "responses"
    )
    assert choose(catalogue_type="openai/chat-completions") == Route("chat", "the default")
    assert choose(remembered="nonsense").api == "chat"  # a hand-edited memory file


def test_which_catalogue_types_name_the_responses_endpoint():
    assert is_responses_type("openai/responses") and is_responses_type("responses")
    assert not is_responses_type("openai/chat-completions")
    assert not is_responses_type("internal/video-generations/submit")


@pytest.mark.parametrize(
    "message",
    [
        "HTTP 400: This model can only be called via the /responses endpoint",
        "This model is only supported in v1/responses and not in v1/chat/completions.",
        "Please use the Responses API for this model",
        "gpt-5-pro is only available via the /v1/responses endpoint",
        "litellm.BadRequestError: OpenAIException - This model is only supported in "
        "v1/responses and not in v1/chat/completions.",
    ],
)
def test_messages_that_send_us_to_the_responses_endpoint(message):
    assert names_responses(message)


@pytest.mark.parametrize(
    "message",
    [
        "HTTP 400: temperature: must be at most 2",
        "This model's maximum context length is 2048 tokens; model responses were cut",
        "This is not a chat model; did you mean to use v1/completions?",
        # A bare mention is no instruction (issue 16's review):
        "string_too_long: input: how do I call the /responses endpoint from curl?",
        "streamed responses only support n=1",
        "Cannot POST /v1/responses",
        "This model is only supported in v1/chat/completions and not in v1/responses",
    ],
)
def test_messages_that_do_not(message):
    assert not names_responses(message)


# -- the fallback on the loopback server -----------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_a_4xx_naming_responses_is_asked_once_on_responses_with_one_notice(
    server, tmp_path, stream
):
    server.script = responses_only
    notices: list[str] = []
    router = Router(base_url=server.base_url, memory=tmp_path / "apis.json")
    c = client(server, notices, router)
    response = c.chat(request(stream=stream)) if stream else c.complete(request(stream=False))
    assert response.text() == "Hi from Responses."
    assert server.api_paths() == [CHAT_PATH, RESPONSES_PATH]
    assert notices == [NOTICE + " (remembered)"]
    # The same router (the rest of a chat session) goes straight there, saying nothing.
    assert c.chat(request()).text() == "Hi from Responses."
    assert server.api_paths()[2:] == [RESPONSES_PATH] and len(notices) == 1


def test_the_choice_is_remembered_privately_per_base_url_and_model(server, tmp_path):
    server.script = responses_only
    memory = tmp_path / "cache" / "apis.json"
    client(server, [], Router(base_url=server.base_url, memory=memory)).chat(request()).text()
    assert json.loads(memory.read_text()) == {server.base_url: {RESPONSES_MODEL: "responses"}}
    assert stat.S_IMODE(memory.stat().st_mode) == 0o600
    assert stat.S_IMODE(memory.parent.stat().st_mode) == 0o700

    again = Router(base_url=server.base_url, memory=memory)  # the next process
    assert again.route(RESPONSES_MODEL).api == "responses"
    assert again.route("meta-llama/llama-4-scout").api == "chat"
    proxy = Router(base_url="http://127.0.0.1:4000", memory=memory)  # LiteLLM, say
    assert proxy.route(RESPONSES_MODEL).api == "chat"


def test_a_corrupt_memory_file_is_ignored_and_replaced(server, tmp_path):
    server.script = responses_only
    memory = tmp_path / "apis.json"
    memory.write_text("{not json")
    router = Router(base_url=server.base_url, memory=memory)
    assert router.route(RESPONSES_MODEL).api == "chat"
    assert client(server, [], router).chat(request()).text() == "Hi from Responses."
    assert json.loads(memory.read_text())[server.base_url] == {RESPONSES_MODEL: "responses"}


def test_without_a_router_the_fallback_still_works_but_is_not_remembered(server):
    server.script = responses_only
    notices: list[str] = []
    assert client(server, notices).chat(request()).text() == "Hi from Responses."
    assert notices == [NOTICE]


def test_a_4xx_that_does_not_name_responses_is_not_retried(server, tmp_path):
    server.push(Reply(status=400, body={"message": "temperature must be at most 2"}))
    notices: list[str] = []
    router = Router(base_url=server.base_url, memory=tmp_path / "apis.json")
    with pytest.raises(ApiError, match="temperature"):
        client(server, notices, router).chat(request()).text()
    assert server.api_paths() == [CHAT_PATH] and notices == []
    assert not (tmp_path / "apis.json").exists()


@pytest.mark.parametrize("forced", ["caller", "flag", "config"])
def test_a_chosen_api_is_not_retried(server, tmp_path, forced):
    server.script = responses_only
    notices: list[str] = []
    router = Router(
        base_url=server.base_url,
        flag="chat" if forced == "flag" else None,
        configured=lambda model: "chat" if forced == "config" else None,
        memory=tmp_path / "apis.json",
    )
    c = client(server, notices, router)
    with pytest.raises(ApiError, match="/responses endpoint"):
        c.chat(request(), "chat" if forced == "caller" else None).text()
    assert server.api_paths() == [CHAT_PATH] and notices == []


def test_a_responses_reply_is_never_asked_on_chat_completions(server):
    server.push(Reply(status=400, body={"message": "use /chat/completions, not /responses"}))
    with pytest.raises(ApiError):
        client(server, []).chat(request(), "responses").text()
    assert server.api_paths() == [RESPONSES_PATH]


# -- from the command line -------------------------------------------------------------------


def test_a_piped_ask_falls_back_once_then_the_next_run_goes_straight_there(cli_env, server, home):
    server.script = responses_only
    r = invoke(["ask", "-m", RESPONSES_MODEL, "hi"], cli_env)  # history on: saved as any reply
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Hi from Responses.\n"  # only the text: the notice is on stderr
    assert r.stderr.count(NOTICE) == 1, r.stderr
    assert server.api_paths() == [CHAT_PATH, RESPONSES_PATH]
    assert stat.S_IMODE(memory_file(home).stat().st_mode) == 0o600

    r = invoke(["ask", "-c", "-m", RESPONSES_MODEL, "again"], cli_env)
    assert r.returncode == 0, r.stderr
    assert NOTICE not in r.stderr
    assert server.api_paths()[2:] == [RESPONSES_PATH]  # no /chat/completions this time


def test_api_flag_chat_gives_the_servers_400(cli_env, server):
    server.script = responses_only
    r = invoke(["ask", "--no-history", "--api", "chat", "-m", RESPONSES_MODEL, "hi"], cli_env)
    assert r.returncode == ExitCode.API
    assert "/responses endpoint" in r.stderr and NOTICE not in r.stderr
    assert server.api_paths() == [CHAT_PATH]


def test_api_flag_responses_goes_straight_there(cli_env, server):
    r = invoke(["ask", "--no-history", "--api", "responses", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert server.api_paths() == [RESPONSES_PATH]


def test_an_unknown_api_is_a_one_line_usage_error(cli_env, server):
    r = invoke(["ask", "--no-history", "--api", "completions", "hi"], cli_env)
    assert r.returncode == ExitCode.USAGE
    assert "--api must be chat or responses" in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 2  # the error, and at most a hint
    assert server.api_paths() == []


def _config(home: Path, text: str) -> None:
    (home / "config" / "aimlchat").mkdir(parents=True, exist_ok=True)
    (home / "config" / "aimlchat" / "config.toml").write_text(text)


def test_config_api_for_a_model_goes_straight_there(cli_env, server, home):
    _config(home, '[models."my/pro"]\napi = "responses"\n')
    assert invoke(["ask", "--no-history", "-m", "my/pro", "hi"], cli_env).returncode == 0
    assert invoke(["ask", "--no-history", "-m", "other", "hi"], cli_env).returncode == 0
    assert server.api_paths() == [RESPONSES_PATH, CHAT_PATH]


def test_config_api_chat_is_not_retried_and_the_flag_beats_it(cli_env, server, home):
    server.script = responses_only
    _config(home, f'[models."{RESPONSES_MODEL}"]\napi = "chat"\n')
    assert (
        invoke(["ask", "--no-history", "-m", RESPONSES_MODEL, "hi"], cli_env).returncode
        == ExitCode.API
    )
    r = invoke(["ask", "--no-history", "--api", "responses", "-m", RESPONSES_MODEL, "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert server.api_paths() == [CHAT_PATH, RESPONSES_PATH]


def test_a_bad_config_api_is_refused(cli_env, server, home):
    _config(home, '[models."my/pro"]\napi = "completions"\n')
    r = invoke(["ask", "--no-history", "-m", "my/pro", "hi"], cli_env)
    assert r.returncode == ExitCode.AUTH  # auth/config: 3
    assert "models.my/pro.api must be chat or responses" in r.stderr


def _catalogue_with_a_responses_model(cli_env: dict[str, str], server: Any) -> None:
    entry = {"id": "vendor/pro-model", "type": "openai/responses", "aliases": ["pro"],
             "info": {"name": "Pro", "contextLength": 400000}}  # fmt: skip
    server.models_reply = Reply(body={**MODELS, "data": [*MODELS["data"], entry]})
    assert invoke(["models"], cli_env).returncode == 0  # caches the catalogue


def test_a_cached_catalogue_type_sends_the_model_to_responses(cli_env, server):
    _catalogue_with_a_responses_model(cli_env, server)
    assert (
        invoke(["ask", "--no-history", "-m", "pro", "hi"], cli_env).returncode == 0
    )  # an alias too
    assert (
        invoke(["ask", "--no-history", "hi"], cli_env).returncode == 0
    )  # a chat-completions model
    assert server.api_paths() == [RESPONSES_PATH, CHAT_PATH]


def test_the_catalogue_is_never_fetched_to_route_a_plain_ask(cli_env, server):
    assert invoke(["ask", "--no-history", "hi"], cli_env).returncode == 0
    assert [r["method"] for r in server.requests] == ["POST"]


def test_debug_says_which_api_and_why(cli_env, server):
    server.script = responses_only
    r = invoke(["ask", "--no-history", "--debug", "-m", RESPONSES_MODEL, "hi"], cli_env)
    assert f"API for {RESPONSES_MODEL}: chat (the default)" in r.stderr
    assert f"API for {RESPONSES_MODEL}: responses (the server's 4xx names it)" in r.stderr
    r = invoke(["ask", "--no-history", "--debug", "-m", RESPONSES_MODEL, "hi"], cli_env)
    assert f"API for {RESPONSES_MODEL}: responses (a server's answer before, remembered)" in (
        r.stderr
    )
    r = invoke(["ask", "--no-history", "--debug", "--api", "chat", "hi"], cli_env)
    assert "API for meta-llama/llama-4-scout: chat (--api)" in r.stderr


def test_batch_falls_back_and_its_workers_share_what_was_learned(cli_env, server, home, tmp_path):
    server.script = responses_only
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": f"q{i}", "prompt": f"p{i}"}) + "\n" for i in range(6)))
    out = tmp_path / "out.jsonl"
    r = invoke(["batch", str(src), "-o", str(out), "-m", RESPONSES_MODEL, "-j", "1"], cli_env)
    assert r.returncode == 0, r.stderr
    texts = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert texts == ["Hi from Responses."] * 6
    # One worker: the first item learns, the other five go straight to /responses.
    assert server.api_paths() == [CHAT_PATH] + [RESPONSES_PATH] * 6
    assert RESPONSES_MODEL in json.loads(memory_file(home).read_text())[server.base_url]


# -- review of issue 16: a mention is no instruction, and a choice is kept only once it holds --


ECHOED = "how do I call the /responses endpoint from curl?"
THE_PHRASE = "This model can only be called via the /responses endpoint"


def test_a_phrase_the_request_itself_sent_is_not_trusted():
    mine = f"what does '{THE_PHRASE}' mean?"
    assert not names_responses(f"string_too_long: input: {mine}", [mine])
    assert not names_responses(THE_PHRASE, ["", THE_PHRASE.upper()])  # any case
    assert names_responses(THE_PHRASE, ["hello"])
    assert names_chat("only supported in v1/chat/completions")
    assert not names_chat("use /chat/completions", ["please use /chat/completions"])


def test_a_400_that_echoes_the_prompt_is_not_followed_nor_remembered(cli_env, server, home):
    """The review's reproduction: a 400 quoting a prompt that mentions /responses."""
    server.push(Reply(status=400, body={"message": f"string_too_long: input: {ECHOED}"}))
    r = invoke(["ask", "--no-history", ECHOED], cli_env)
    assert r.returncode == ExitCode.API
    assert "answers only on" not in r.stderr
    assert server.api_paths() == [CHAT_PATH]
    assert not memory_file(home).exists()


def test_a_400_quoting_the_servers_own_phrase_from_the_prompt_is_not_followed(
    cli_env, server, home
):
    prompt = f"what does '{THE_PHRASE}' mean?"
    server.push(Reply(status=400, body={"message": f"input too long: {prompt}"}))
    r = invoke(["ask", "--no-history", prompt], cli_env)
    assert r.returncode == ExitCode.API and server.api_paths() == [CHAT_PATH]
    assert not memory_file(home).exists()


def test_a_404_naming_responses_is_not_followed(server, tmp_path):
    server.push(Reply(status=404, body={"message": "Cannot POST /v1/responses"}))
    with pytest.raises(ApiError):
        client(server, [], Router(base_url=server.base_url, memory=tmp_path / "apis.json")).chat(
            request()
        ).text()
    assert server.api_paths() == [CHAT_PATH] and not (tmp_path / "apis.json").exists()


def test_a_fallback_whose_responses_request_fails_remembers_nothing(server, tmp_path):
    def script(req: dict[str, Any]) -> Reply:
        if req["path"].endswith("/responses"):
            return Reply(status=400, body={"message": "Unsupported parameter: 'temperature'"})
        return responses_only(req)

    server.script = script
    notices: list[str] = []
    router = Router(base_url=server.base_url, memory=tmp_path / "apis.json")
    with pytest.raises(ApiError, match="temperature") as caught:
        client(server, notices, router).chat(request()).text()
    assert server.api_paths() == [CHAT_PATH, RESPONSES_PATH]
    assert not (tmp_path / "apis.json").exists() and notices == []
    assert router.route(RESPONSES_MODEL).api == "chat"  # not even for the rest of this run
    assert "/v1/chat/completions said" in (caught.value.hint or "")  # why it went there


def _remembered(home: Path, server: Any, model: str = RESPONSES_MODEL) -> None:
    memory_file(home).parent.mkdir(parents=True, exist_ok=True)
    memory_file(home).write_text(json.dumps({server.base_url: {model: "responses"}}))


@pytest.mark.parametrize("status", [404, 405])
def test_a_remembered_responses_refused_is_forgotten_and_chat_asked_once(
    cli_env, server, home, status
):
    _remembered(home, server, "meta-llama/llama-4-scout")
    server.push(Reply(status=status, body={"message": "Not Found"}))
    r = invoke(["ask", "--no-history", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert server.api_paths() == [RESPONSES_PATH, CHAT_PATH]
    assert r.stderr.count("forgot that and asking /v1/chat/completions") == 1, r.stderr
    assert json.loads(memory_file(home).read_text()) == {}
    assert invoke(["ask", "--no-history", "again"], cli_env).returncode == 0
    assert server.api_paths()[2:] == [CHAT_PATH]


def test_a_remembered_responses_refused_naming_chat_completions_goes_back(server, tmp_path):
    memory = tmp_path / "apis.json"
    memory.write_text(json.dumps({server.base_url: {RESPONSES_MODEL: "responses"}}))
    server.push(Reply(status=400, body={"message": "only supported in v1/chat/completions"}))
    notices: list[str] = []
    got = client(server, notices, Router(base_url=server.base_url, memory=memory)).chat(request())
    assert got.text() and server.api_paths() == [RESPONSES_PATH, CHAT_PATH]
    assert len(notices) == 1 and json.loads(memory.read_text()) == {}


def test_a_chosen_responses_is_not_sent_back_on_a_404(cli_env, server, home):
    server.push(Reply(status=404, body={"message": "Not Found"}))
    r = invoke(["ask", "--no-history", "--api", "responses", "hi"], cli_env)
    assert r.returncode == ExitCode.API and server.api_paths() == [RESPONSES_PATH]


def test_an_error_on_a_remembered_route_names_the_memory_file(cli_env, server, home):
    _remembered(home, server, "meta-llama/llama-4-scout")
    server.push(Reply(status=400, body={"message": "Unsupported parameter: 'temperature'"}))
    r = invoke(["ask", "--no-history", "hi"], cli_env)
    assert r.returncode == ExitCode.API and server.api_paths() == [RESPONSES_PATH]
    assert str(memory_file(home)) in r.stderr and "--api chat" in r.stderr
    assert memory_file(home).exists()  # a 400 of another kind says nothing of the route


def test_the_memory_key_is_the_base_url_without_its_trailing_slash(server, tmp_path):
    memory = tmp_path / "apis.json"
    slashed = Router(base_url=server.base_url + "/", memory=memory)
    assert slashed.learn(RESPONSES_MODEL, "responses")
    assert json.loads(memory.read_text()) == {server.base_url: {RESPONSES_MODEL: "responses"}}
    assert Router(base_url=server.base_url, memory=memory).route(RESPONSES_MODEL).api == (
        "responses"
    )
    memory.write_text(json.dumps({server.base_url + "/": {"old/model": "responses"}}))
    assert Router(base_url=server.base_url, memory=memory).route("old/model").api == "responses"


def test_a_trailing_slash_on_the_base_url_finds_what_was_learned(cli_env, server, home):
    server.script = responses_only
    assert invoke(["ask", "--no-history", "-m", RESPONSES_MODEL, "hi"], cli_env).returncode == 0
    env = {**cli_env, "AIML_BASE_URL": server.base_url + "/"}
    r = invoke(["ask", "--no-history", "-m", RESPONSES_MODEL, "hi"], env)
    assert r.returncode == 0, r.stderr
    assert server.api_paths() == [CHAT_PATH, RESPONSES_PATH, RESPONSES_PATH]


# -- the user's choice, said in the error ------------------------------------------------------


def test_api_chat_flag_says_so_in_the_error(cli_env, server):
    server.script = responses_only
    r = invoke(["ask", "--no-history", "--api", "chat", "-m", RESPONSES_MODEL, "hi"], cli_env)
    assert r.returncode == ExitCode.API
    assert "you chose --api chat; this model answers only on /v1/responses" in r.stderr


def test_config_api_chat_says_so_in_the_error(cli_env, server, home):
    server.script = responses_only
    _config(home, f'[models."{RESPONSES_MODEL}"]\napi = "chat"\n')
    r = invoke(["ask", "--no-history", "-m", RESPONSES_MODEL, "hi"], cli_env)
    assert r.returncode == ExitCode.API
    assert (
        f'you chose api = "chat" for {RESPONSES_MODEL} in config.toml; this model answers '
        "only on /v1/responses"
    ) in r.stderr


# -- batch: one notice a model, however many workers meet the 4xx at once ---------------------


def test_batch_workers_meeting_the_4xx_at_once_give_one_notice(cli_env, server, home, tmp_path):
    import threading

    workers = 4
    together = threading.Barrier(workers, timeout=10)

    def script(req: dict[str, Any]) -> Reply:
        if req["path"].endswith("/chat/completions"):
            together.wait()  # every worker has its 400 before any learns
        return responses_only(req)

    server.script = script
    src = tmp_path / "in.jsonl"
    lines = (json.dumps({"id": f"q{i}", "prompt": f"p{i}"}) + "\n" for i in range(workers))
    src.write_text("".join(lines))
    out = tmp_path / "out.jsonl"
    args = ["batch", str(src), "-o", str(out), "-m", RESPONSES_MODEL, "-j", str(workers)]
    r = invoke(args, cli_env)
    assert r.returncode == 0, r.stderr
    assert server.api_paths().count(CHAT_PATH) == workers
    assert r.stderr.count(NOTICE) == 1, r.stderr


# -- parallel runs keep every entry --------------------------------------------------------------

WRITER = """
import sys
from pathlib import Path
from aimlchat import remembered
path, me = Path(sys.argv[1]), sys.argv[2]
sys.stdin.readline()  # go: every writer starts at once
for i in range(15):
    remembered.remember(path, "http://127.0.0.1:1/v1", f"{me}/m{i}", "responses")
"""


def test_parallel_processes_writing_the_memory_lose_no_entry(tmp_path):
    import subprocess
    import sys

    memory = tmp_path / "apis.json"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(memory), f"p{n}"],
            stdin=subprocess.PIPE,
        )
        for n in range(12)
    ]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    assert all(proc.wait(timeout=60) == 0 for proc in procs)
    kept = json.loads(memory.read_text())["http://127.0.0.1:1/v1"]
    assert len(kept) == 12 * 15
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_forget_keeps_the_other_entries(tmp_path):
    from aimlchat import remembered

    memory = tmp_path / "context-windows.json"
    remembered.remember(memory, "http://h/v1", "a", 2048)
    remembered.remember(memory, "http://h/v1/", "b", 4096)
    remembered.forget(memory, "http://h/v1", "a")
    assert json.loads(memory.read_text()) == {"http://h/v1": {"b": 4096}}


# -- one lookup of `[models."NAME"]` for the API and the window -------------------------------


def test_a_model_entry_is_found_by_the_name_asked_then_the_catalogue_id_then_an_alias():
    from aimlchat.api.catalog import Model
    from aimlchat.commands.tooling import model_setting
    from aimlchat.settings.config import ModelConfig

    found = Model("vendor/pro", aliases=("pro", "p"))
    entries = {
        "p": ModelConfig(api="chat", context_length=1000),
        "vendor/pro": ModelConfig(api="responses"),
    }
    assert model_setting(entries, "p", found, lambda m: m.api) == "chat"  # the name asked
    assert model_setting(entries, "pro", found, lambda m: m.api) == "responses"  # the id
    assert model_setting(entries, "pro", found, lambda m: m.context_length) == 1000  # alias
    assert model_setting(entries, "other", None, lambda m: m.api) is None


def test_config_api_under_an_alias_routes_the_catalogue_model(cli_env, server, home):
    _catalogue_with_a_responses_model(cli_env, server)
    _config(home, '[models."pro"]\napi = "chat"\n')  # the alias's entry: the user's choice
    r = invoke(["ask", "--no-history", "--debug", "-m", "vendor/pro-model", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "API for vendor/pro-model: chat (config.toml)" in r.stderr
    assert server.api_paths() == [CHAT_PATH]
