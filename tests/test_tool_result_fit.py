"""A tool result bigger than the window has room for is cut to fit, with a note to the
model inside the result and a line to the user: the turn goes on, never exit 2."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import invoke
from tests.loopback import LoopbackServer, Reply
from tests.loopback_tools import MODELS_WITH_SMALL, SMALL_MODEL_ID, smallctx_script, tool_reply
from tests.test_context_window import estimate
from tests.test_tool_calls import declare

CUT_NOTE = re.compile(
    r"\[cut: ([\d,]+) characters left out to fit the context window"
    r"(?:; before that, the output cut at [\d.]+ KB of ([\d.]+) KB)?\]$"
)


@pytest.fixture
def catalogue(cli_env: dict[str, str], server: LoopbackServer) -> None:
    server.models_reply = Reply(body=MODELS_WITH_SMALL)
    assert invoke(["models"], cli_env).returncode == 0


def tool_results(body: dict[str, Any]) -> list[str]:
    return [m["content"] for m in body["messages"] if m["role"] == "tool"]


def test_a_tool_result_too_big_for_the_window_is_cut_to_fit(cli_env, server, catalogue, home):
    declare(home, big={"code": "import sys; sys.stdout.write('word ' * 4000)"})  # 20,000 chars
    server.push(tool_reply(("c1", "big", "{}")))
    server.script = smallctx_script  # the server's context error if a request did not fit
    r = invoke(["ask", "-m", SMALL_MODEL_ID, "-T", "big", "--yes", "go"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"This answer is long on purpose")
    body = server.chat_bodies()[-1]
    (result,) = tool_results(body)
    cut = CUT_NOTE.search(result)
    assert cut is not None, result[-200:]
    kept = result[: cut.start()].rstrip("\n")
    assert kept and "word word" in kept
    # The tool's output was read only as far as the window could use; the model is told
    # both cuts, so it knows how much it did not see.
    assert cut.group(2) == "20", result[-200:]
    assert len(kept) + int(cut.group(1).replace(",", "")) < 20000
    assert estimate(body) <= 2048 - 256  # room left for the reply
    assert re.search(
        r"the result of big was cut to fit the context window: [\d,]+ characters "
        r"of [\d,]+ left out",
        r.stderr,
    )
    assert len(server.chat_bodies()) == 2  # no context error, no retry


def test_two_big_results_in_one_round_share_the_room(cli_env, server, catalogue, home):
    declare(home, big={"code": "import sys; sys.stdout.write('word ' * 4000)"})
    server.push(tool_reply(("c1", "big", "{}"), ("c2", "big", "{}")))
    server.script = smallctx_script
    r = invoke(["ask", "-m", SMALL_MODEL_ID, "-T", "big", "--yes", "go"], cli_env)
    assert r.returncode == 0, r.stderr
    body = server.chat_bodies()[-1]
    first, second = tool_results(body)
    assert CUT_NOTE.search(first) and CUT_NOTE.search(second)
    assert "word word" in second  # the first did not take all the room
    assert estimate(body) <= 2048 - 256


def test_a_result_that_fits_is_sent_whole(cli_env, server, catalogue, home):
    declare(home, small={"code": "print('sunny')"})
    server.push(tool_reply(("c1", "small", "{}")))
    server.script = smallctx_script
    r = invoke(["ask", "-m", SMALL_MODEL_ID, "-T", "small", "--yes", "go"], cli_env)
    assert r.returncode == 0, r.stderr
    assert tool_results(server.chat_bodies()[-1]) == ["sunny\n"]
    assert "cut to fit" not in r.stderr
