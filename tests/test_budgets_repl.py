"""What a turn spent and how a refusal reads, as a new user meets them: `--usage` is one
line for the whole turn (a tool loop's requests summed, also when a budget or Ctrl-C
ends it); in chat a refused message goes to the input history, not back into the input
line where the command the refusal suggests would be typed after it; `/cost`, `/usage`
and `/budget` count the whole session, across /clear and /load, and say "no reply yet"
or "unknown" rather than $0; chat's hints name chat's commands; amounts take a `$`."""

from __future__ import annotations

import io
import re
from typing import Any

import pexpect
import pytest

from tests.conftest import invoke, spawn
from tests.loopback import Reply, sse_reply
from tests.loopback_tools import text_reply
from tests.test_budgets import TEXT, charging, config, loop_replies, stderr_lines

PROMPT = "›"


@pytest.fixture
def priced(cli_env: dict[str, str]) -> dict[str, str]:
    """The catalogue cached, so every reply has a cost."""
    assert invoke(["models"], cli_env).returncode == 0
    return cli_env


def usage_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.search(r"aimlchat: (tokens|usage):", line)]


# -- ask --usage: one line for the turn ---------------------------------------------------


def test_ask_usage_sums_every_request_of_a_tool_loop(cli_env, server, home):
    config(home, tools=True)
    charging(server)  # $0.001 a reply, exact
    loop_replies(server, steps=1)  # a tool call, then the answer: two requests
    r = invoke(["ask", "-T", "weather", "--yes", "--usage", "go"], cli_env)
    assert r.returncode == 0, r.stderr
    [line] = usage_lines(r.stderr)
    # 50 + 20 tokens for the tool step, 10 + 5 for the answer
    assert line.endswith("tokens: 60 prompt + 25 completion = 85 · cost $0.002 · 2 requests")


def test_ask_usage_of_one_request_says_no_request_count(cli_env, server):
    charging(server)
    r = invoke(["ask", "--usage", "hi"], cli_env)
    [line] = usage_lines(r.stderr)
    assert line.endswith("cost $0.001") and "request" not in line


def test_ask_usage_is_printed_when_a_budget_stops_the_loop(cli_env, server, home):
    config(home, tools=True)
    charging(server)
    loop_replies(server, steps=4)
    r = invoke(["ask", "-T", "weather", "--yes", "--usage", "--max-cost", "0.0015", "go"], cli_env)
    assert r.returncode == 1, r.stderr
    assert len(server.chat_bodies()) == 2
    [line] = usage_lines(r.stderr)
    assert line.endswith("= 140 · cost $0.002 · 2 requests")
    lines = r.stderr.splitlines()
    assert lines.index(line) < lines.index(stderr_lines(r.stderr, "error: --max-cost")[0])


def test_ask_usage_is_printed_after_ctrl_c(priced, server):
    words = [f"w{i} " for i in range(300)]
    server.push(Reply(events=sse_reply(words), delay=0.05))
    child = spawn(["ask", "--usage", "slow please"], priced)
    child.expect_exact("w3")
    child.sendintr()
    child.expect(r"aimlchat: usage: the server reported no token counts · cost ~\$[0-9.]+")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130


def test_a_turn_partly_of_unknown_cost_says_plus_question_mark():
    from aimlchat.api.events import Usage
    from aimlchat.chat.session import Totals
    from aimlchat.commands.ask import TurnMeter
    from aimlchat.messages import ESTIMATE, Cost

    totals = Totals()
    totals.add(Usage(1, 1, 2), Cost(0.5))  # an earlier turn: not this one's
    meter = TurnMeter(totals)
    assert meter.line() is None  # nothing sent yet
    totals.add(Usage(10, 5, 15), Cost(0.0003, ESTIMATE))
    totals.add(Usage(20, 5, 25), None)
    assert meter.line() == "tokens: 30 prompt + 10 completion = 40 · cost ~$0.0003+? · 2 requests"


# -- chat --usage: one line a turn -------------------------------------------------------


def test_chat_usage_sums_the_requests_of_a_turn(cli_env, server, home):
    config(home, tools=True)
    charging(server)
    loop_replies(server, steps=1)
    child = spawn(["chat", "-T", "weather", "--yes", "--usage"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("go")
    child.expect_exact("tokens: 60 prompt + 25 completion = 85 · cost $0.002 · 2 requests")
    child.expect_exact(PROMPT)
    child.sendline("/quit")
    child.expect(pexpect.EOF)


# -- a refusal in chat: the message goes to the input history ------------------------------


def test_a_refused_message_is_not_put_back_into_the_input_line(priced, server):
    server.script = lambda request: Reply(events=sse_reply(["Hello", " there."]))
    child = spawn(["chat", "--max-cost", f"{TEXT / 2:.10f}"], priced)
    child.expect_exact(PROMPT)
    child.sendline("one")
    child.expect_exact("Hello there.")
    child.expect_exact(PROMPT)
    child.sendline("two")
    child.expect_exact("/budget USD raises it")
    child.expect_exact("↑ brings your message back")
    child.expect_exact(PROMPT)
    child.sendline("/budget")  # as the refusal suggests: a command, not "two/budget"
    child.expect(r"--max-cost \$[0-9.]+: ~\$[0-9.]+ spent")
    child.expect_exact(PROMPT)
    child.sendline("/budget off")
    child.expect_exact("no --max-cost for this session")
    child.expect_exact(PROMPT)
    child.send("\x1b[A\x1b[A\x1b[A\r")  # Up past the two commands: the refused message
    child.expect_exact("Hello there.")
    child.expect_exact(PROMPT)
    bodies = server.chat_bodies()
    assert len(bodies) == 2 and bodies[1]["messages"][-1]["content"] == "two"
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_a_refused_first_message_from_the_command_line_is_in_the_input_history(
    priced, server, home
):
    config(home, f"max_cost_per_day = {TEXT / 2:.10f}")
    server.push(text_reply("spent"))
    assert invoke(["ask", "hi"], priced).returncode == 0  # the day is spent
    child = spawn(["chat", "first words"], priced)
    child.expect_exact("max_cost_per_day")
    # The daily limit cannot be changed from here: said as where it can.
    child.expect_exact("can be raised for the next run with --max-cost-per-day, or in config.toml")
    child.expect_exact("↑ brings your message back")
    child.expect_exact(PROMPT)
    child.send("\x1b[A")
    child.expect_exact("first words")
    child.sendcontrol("u")
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    assert len(server.chat_bodies()) == 1


def test_max_cost_that_cannot_be_kept_in_chat_says_budget_off(cli_env, server):
    # No catalogue and no charge: the first reply's cost is unknown.
    child = spawn(["chat", "--max-cost", "1"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("one")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact(PROMPT)
    child.sendline("two")
    child.expect_exact("--max-cost cannot be kept")
    child.expect_exact("/budget off drops the limit")
    child.expect_exact(PROMPT)
    child.sendline("/budget off")
    child.expect_exact("no --max-cost for this session (cost unknown)")
    child.expect_exact(PROMPT)
    child.send("\x1b[A\x1b[A\r")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact(PROMPT)
    assert [b["messages"][-1]["content"] for b in server.chat_bodies()] == ["one", "two"]
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_out_of_credits_in_chat_keeps_the_message_in_the_input_line(cli_env, server):
    body = {"message": "You've run out of credits. Please top up your balance.", "statusCode": 403}
    server.push(Reply(status=403, body=body))
    child = spawn(["chat"], cli_env)
    child.expect_exact(PROMPT)
    child.sendline("hello")
    child.expect_exact("no credits left")
    child.expect_exact(PROMPT)
    # No command to type here (the top-up is on the web): Enter sends it again.
    child.send("\r")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact(PROMPT)
    assert [b["messages"][-1]["content"] for b in server.chat_bodies()] == ["hello", "hello"]
    child.sendline("/quit")
    child.expect(pexpect.EOF)


# -- /cost, /usage and /budget: the whole session ---------------------------------------------


def _repl(cli_env: dict[str, str], **flags: Any) -> tuple[Any, io.StringIO, io.StringIO]:
    from aimlchat.commands.repl import Repl
    from aimlchat.commands.runtime import App
    from aimlchat.commands.slash import session_budget
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, environ=cli_env)
    app = App(Flags(**flags), env)
    chat = app.open_chat(stream=True)
    session_budget(chat)
    return Repl(app, chat, out.write), out, err


def test_cost_and_usage_count_the_whole_session_across_clear_and_load(cli_env, server):
    charging(server)
    repl, out, err = _repl(cli_env)
    repl.handle("one")
    repl.handle("/clear")
    repl.handle("two")
    repl.handle("/load 1")
    repl.handle("three")
    repl.handle("/cost")
    repl.handle("/usage")
    repl.handle("/budget")
    said = out.getvalue()
    assert "cost: $0.003 · 3 replies" in said
    assert "3 replies · 30 prompt + 15 completion = 45 tokens · $0.003" in said
    assert "no --max-cost for this session ($0.003 spent)" in err.getvalue()


def test_with_no_reply_yet_usage_and_budget_say_so(cli_env, server):
    repl, out, err = _repl(cli_env)
    repl.handle("/usage")
    repl.handle("/cost")
    repl.handle("/budget")
    assert "usage: no reply yet" in out.getvalue() and "cost unknown" not in out.getvalue()
    assert "cost: no reply yet" in out.getvalue()
    assert "no --max-cost for this session (no reply yet)" in err.getvalue()


def test_a_session_of_unknown_cost_is_not_said_to_cost_nothing(cli_env, server):
    repl, out, err = _repl(cli_env)  # no catalogue, no charge
    repl.handle("one")
    repl.handle("/budget")
    repl.handle("/usage")
    assert "(cost unknown)" in err.getvalue() and "$0 " not in err.getvalue()
    assert "1 reply · 10 prompt + 5 completion = 15 tokens · cost unknown" in out.getvalue()


# -- chat's hints name chat's commands -------------------------------------------------------


def test_a_withdrawn_model_in_chat_says_slash_model(cli_env, server):
    from tests.loopback_deprecations import WITHDRAWN

    assert invoke(["models"], cli_env).returncode == 0  # the feed, cached beside the list
    repl, _out, err = _repl(cli_env)
    repl.handle(f"/model {WITHDRAWN}")
    assert "— /model openai/gpt-4o" in err.getvalue() and "-m" not in err.getvalue()


# -- amounts as people type them ----------------------------------------------------------------


@pytest.mark.parametrize("amount", ["$0.05", "0.05", " $1,000 "])
def test_max_cost_takes_a_dollar_sign(cli_env, server, amount):
    r = invoke(["ask", "--max-cost", amount, "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    r = invoke(["ask", "--max-cost-per-day", amount, "hi"], cli_env)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("flag", ["--max-cost", "--max-cost-per-day"])
def test_a_bad_amount_is_one_clear_line(cli_env, server, flag):
    r = invoke(["ask", flag, "five bucks", "hi"], cli_env)
    assert r.returncode == 2
    [line] = r.stderr.splitlines()
    assert f"{flag} takes an amount in US dollars, such as 0.05 or $0.05" in line
    assert "not a valid float" not in line
    assert server.chat_bodies() == []


def test_max_cost_per_day_off_lifts_the_daily_limit_for_one_run(priced, server, home):
    config(home, f"max_cost_per_day = {TEXT / 2:.10f}")
    server.push(text_reply("spent"))
    assert invoke(["ask", "hi"], priced).returncode == 0
    assert invoke(["ask", "again"], priced).returncode == 1  # the day is spent
    r = invoke(["ask", "--max-cost-per-day", "off", "again"], priced)
    assert r.returncode == 0, r.stderr
    assert len(server.chat_bodies()) == 2
    assert invoke(["ask", "again"], priced).returncode == 1  # for that run only


def test_max_cost_takes_no_off(cli_env, server):
    r = invoke(["ask", "--max-cost", "off", "hi"], cli_env)
    assert r.returncode == 2 and "amount in US dollars" in r.stderr


# -- the model name as typed ------------------------------------------------------------------


def test_spaces_around_a_model_name_are_dropped(cli_env, server):
    r = invoke(["ask", "-m", " other/model\t", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[0]["model"] == "other/model"
    r = invoke(["ask", "hi"], {**cli_env, "AIMLCHAT_MODEL": "  env/model "})
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[1]["model"] == "env/model"


def test_spaces_around_a_withdrawn_model_do_not_get_it_past_the_feed(cli_env, server):
    assert invoke(["models"], cli_env).returncode == 0
    r = invoke(["ask", "-m", " openai/gpt-4-0613", "hi"], cli_env)
    assert r.returncode == 2 and "was withdrawn" in r.stderr
    assert server.chat_bodies() == []


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["-m", "  "], {}, "-m/--model needs a model name"),
        (["-m", ""], {}, "-m/--model needs a model name"),
        ([], {"AIMLCHAT_MODEL": " "}, "env AIMLCHAT_MODEL needs a model name"),
    ],
)
def test_a_blank_model_name_is_a_usage_error(cli_env, server, args, env, said):
    r = invoke(["ask", *args, "hi"], {**cli_env, **env})
    assert r.returncode == 2 and said in r.stderr
    assert server.chat_bodies() == []


def test_an_empty_model_variable_is_unset(cli_env, server):
    r = invoke(["ask", "hi"], {**cli_env, "AIMLCHAT_MODEL": ""})
    assert r.returncode == 0, r.stderr


def test_a_withdrawn_model_from_the_environment_names_the_variable(cli_env, server):
    assert invoke(["models"], cli_env).returncode == 0
    r = invoke(["ask", "hi"], {**cli_env, "AIMLCHAT_MODEL": "gpt-4-0613"})
    assert r.returncode == 2
    assert "model gpt-4-0613 (from AIMLCHAT_MODEL) was withdrawn" in r.stderr
    assert "set AIMLCHAT_MODEL=openai/gpt-4o" in r.stderr
