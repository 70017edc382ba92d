"""The context window wired end to end: trimming before sending, the oversized message,
the server's context error and the one retry, overrides, `/context`. Loopback server."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from aimlchat.chat.tokens import Estimator, fixed_tokens, message_tokens
from aimlchat.storage.legacy import from_020
from tests.conftest import invoke
from tests.loopback import LoopbackServer, Reply
from tests.loopback_tools import (
    CONTEXT_ERRORS,
    MODELS_WITH_SMALL,
    SMALL_MODEL_ID,
    SMALL_WINDOW,
    context_error,
    smallctx_script,
    text_reply,
)

NOTICE = re.compile(r"context: left out (\d+) earlier messages? \(~[\d.]+k? tokens\)")


@pytest.fixture
def catalogue(cli_env: dict[str, str], server: LoopbackServer) -> None:
    """The catalogue (with the small-window model) cached, as `aimlchat models` leaves it."""
    server.models_reply = Reply(body=MODELS_WITH_SMALL)
    assert invoke(["models"], cli_env).returncode == 0


def question(i: int) -> str:
    return f"question {i}: " + "tell me more about the history of this topic please. " * 10


def estimate(body: dict[str, Any]) -> int:
    """The request as our estimator sees it, uncalibrated, with its margin."""
    sent = [from_020(m) for m in body["messages"]]  # the Chat Completions shape
    raw = fixed_tokens(None) + sum(message_tokens(m) for m in sent)
    return Estimator().tokens(raw)


def test_a_small_window_model_keeps_the_newest_turns_over_30_turns(
    cli_env, server, catalogue, home
):
    server.script = smallctx_script  # a context error if a request ever did not fit
    notices = []
    for i in range(30):
        r = invoke(["ask", "-m", SMALL_MODEL_ID, "--continue", question(i)], cli_env)
        assert r.returncode == 0, r.stderr
        notices += NOTICE.findall(r.stderr)
    bodies = server.chat_bodies()
    assert len(bodies) == 30  # one request a turn: nothing was refused, nothing retried
    assert notices and int(notices[-1]) >= 20
    for body in bodies:
        assert body["messages"][0]["role"] == "user"  # whole turns: a user message first
        assert body["messages"][-1]["content"].startswith("question")
        assert estimate(body) <= SMALL_WINDOW - 256  # room left for the reply (outputMax)
    assert len(bodies[-1]["messages"]) < 59
    db = sqlite3.connect(home / "data" / "aimlchat" / "history.db")
    assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 60  # history keeps all


def test_a_message_too_big_for_the_window_exits_2_before_sending(cli_env, server, catalogue):
    stdin = "lorem ipsum dolor sit amet " * 1500  # ~40 KB
    r = invoke(["ask", "-m", SMALL_MODEL_ID, "summarise"], cli_env, stdin)
    assert r.returncode == 2
    assert re.search(r"the message is ~[\d.]+k tokens; tiny/small-window takes 2k", r.stderr)
    assert "reserved for the reply" in r.stderr and "head -c" in r.stderr
    assert server.chat_bodies() == []


def history_of(cli_env: dict[str, str], turns: int) -> None:
    for i in range(turns):
        assert invoke(["ask", "--continue", question(i)], cli_env).returncode == 0


@pytest.mark.parametrize("shape", sorted(CONTEXT_ERRORS))
def test_the_servers_context_error_trims_harder_and_retries_once(cli_env, server, shape):
    history_of(cli_env, 6)  # the model's window is not known: no catalogue cached
    server.push(context_error(shape), text_reply("Fine now."))
    r = invoke(["ask", "--continue", "one more"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"Fine now.\n"
    failed, retried = server.chat_bodies()[6:]  # exactly two requests
    assert len(retried["messages"]) < len(failed["messages"])
    assert retried["messages"][0]["role"] == "user"
    assert retried["messages"][-1]["content"] == "one more"
    assert "the server says the context is too long; retrying once" in r.stderr
    assert NOTICE.search(r.stderr)


def test_a_second_context_error_is_not_retried(cli_env, server):
    history_of(cli_env, 4)
    server.push(context_error("openai"), context_error("openai"))
    r = invoke(["ask", "--continue", "one more"], cli_env)
    assert r.returncode == 1
    assert "maximum context length is 2048" in r.stderr
    assert len(server.chat_bodies()) == 4 + 2


def test_a_context_error_with_nothing_to_leave_out_exits_2(cli_env, server):
    server.push(context_error("openai"))
    r = invoke(["ask", "a question"], cli_env)
    assert r.returncode == 2
    assert "the server says the message is too long" in r.stderr
    assert len(server.chat_bodies()) == 1


def test_other_400s_are_not_taken_for_context_errors(cli_env, server):
    history_of(cli_env, 2)
    server.push(Reply(status=400, body={"error": {"message": "temperature: too high"}}))
    assert invoke(["ask", "--continue", "x"], cli_env).returncode == 1
    assert len(server.chat_bodies()) == 3


def write_config(home: Path, text: str) -> None:
    (home / "config" / "aimlchat").mkdir(parents=True, exist_ok=True)
    (home / "config" / "aimlchat" / "config.toml").write_text(text)


@pytest.mark.parametrize(
    ("flags", "config"),
    [
        (["--context-length", "1500"], ""),
        ([], '[models."meta-llama/llama-4-scout"]\ncontext_length = 1500\n'),
        ([], '[models."llama-4-scout"]\ncontext_length = 1500\n'),  # an alias
        (
            ["--context-length", "1500"],
            '[models."meta-llama/llama-4-scout"]\ncontext_length = 9000000\n',
        ),
    ],
)
def test_the_flag_and_the_model_config_override_the_catalogue(
    cli_env, server, catalogue, home, flags, config
):
    write_config(home, config)
    history_of(cli_env, 8)  # the catalogue says 1M: nothing left out so far
    r = invoke(["ask", "--continue", *flags, "next"], cli_env)
    assert r.returncode == 0, r.stderr
    assert NOTICE.search(r.stderr)
    assert len(server.chat_bodies()[-1]["messages"]) < 17


def test_a_bad_model_config_value_is_a_config_error(cli_env, server, home):
    write_config(home, '[models."x"]\ncontext_length = -5\n')
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 3 and "models.x.context_length" in r.stderr


# -- /context and calibration, in the REPL's logic ------------------------------------------


def open_repl(cli_env: dict[str, str], **flags: Any) -> tuple[Any, list[str]]:
    from aimlchat.commands.runtime import App
    from aimlchat.commands.slash import Repl
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    env = Environment(io.StringIO(), io.StringIO(), io.StringIO(), environ=cli_env)
    app = App(Flags(**flags), env)
    written: list[str] = []
    return Repl(app, app.open_chat(stream=True), written.append), written


def test_slash_context_shows_the_window_the_estimate_and_its_calibration(
    cli_env, server, catalogue
):
    server.script = smallctx_script
    repl, written = open_repl(cli_env, model=SMALL_MODEL_ID)
    repl.handle("/context")
    before = "".join(written)
    assert "tiny/small-window: window 2k (catalogue)" in before
    assert "not yet calibrated" in before
    for i in range(12):
        repl.handle(question(i))
    written.clear()
    repl.handle("/context")
    shown = "".join(written)
    assert "reply    256 reserved" in shown
    assert re.search(r"history  ~[\d.]+k?  \d+ of 24 messages \(\d+ earlier left out", shown)
    assert re.search(r"estimate: per character, x[\d.]+ from \d+ server counts", shown)
    assert "last request: left out" in shown
