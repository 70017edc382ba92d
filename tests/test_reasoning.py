"""Reasoning models: the thinking in each shape servers send it, kept apart from the answer.

On a pipe stdout is the answer only; --ndjson and --json carry the thinking; history keeps
it and never sends it back; a terminal shows it while it lasts, then one line.
"""

from __future__ import annotations

import io
import json
import os
import select
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from typing import Any

import pexpect
import pyte
import pytest

from aimlchat.api.events import ReasoningDelta, TextDelta
from aimlchat.api.response import Response
from aimlchat.api.think import ThinkSplitter
from aimlchat.settings import params, parse
from aimlchat.sse import SSEDecoder, SSEEvent
from aimlchat.storage import migrations
from aimlchat.storage.store import Store
from aimlchat.terminal.reasoning import ThinkingSink, summary
from tests.conftest import invoke, spawn
from tests.loopback import (
    REASONING_SHAPES,
    Reply,
    chunk,
    reasoning_completion,
    reasoning_reply,
    sse_reply,
)

THOUGHT = "The user greets me.\nA short, friendly answer will do."
# Awkward bytes for a pipe: no trailing newline lost or added, escapes and UTF-8 intact.
ANSWER = "Hi \x1b[31mthere\x1b[0m — «naïve» 😀\n\n```\n<think>not a tag</think>\n```\n"


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _sse(*raws: str) -> list[SSEEvent]:
    decoder = SSEDecoder()
    return [e for raw in raws for e in decoder.feed(raw.encode())] + decoder.finish()


def _split(response: Response) -> tuple[str, str]:
    events = list(response)
    thought = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert (thought, answer) == (response.reasoning(), response.text())
    return thought, answer


def _content_stream(pieces: list[str]) -> Response:
    return Response(_sse(*sse_reply(pieces)))


# -- the protocol layer: every shape becomes ReasoningDelta + TextDelta ------------------


@pytest.mark.parametrize("shape", REASONING_SHAPES)
def test_streamed_reasoning_in_every_shape_is_told_from_the_answer(shape):
    events = reasoning_reply(_pieces(THOUGHT, 5), _pieces(ANSWER, 3), shape=shape)
    thought, answer = _split(Response(_sse(*events)))
    assert thought.strip() == THOUGHT and answer == ANSWER


@pytest.mark.parametrize("shape", REASONING_SHAPES)
def test_non_streamed_reasoning_in_every_shape_is_told_from_the_answer(shape):
    thought, answer = _split(Response([reasoning_completion(THOUGHT, ANSWER, shape=shape)]))
    assert thought.strip() == THOUGHT and answer == ANSWER


def test_think_block_split_at_any_two_points_gives_the_same_thinking_and_answer():
    content = " \n<think>\nhmm, a <b> and </thin, no\n</think>\n\nAnswer <think>x</think>"
    for i in range(len(content) + 1):
        for j in range(i, len(content) + 1):
            pieces = [p for p in (content[:i], content[i:j], content[j:]) if p]
            assert _split(_content_stream(pieces)) == (
                "hmm, a <b> and </thin, no\n",
                "Answer <think>x</think>",
            ), pieces


def test_a_think_block_one_character_per_chunk():
    content = "<think>deep\nthought</think>\n\nThe answer."
    assert _split(_content_stream(list(content))) == ("deep\nthought", "The answer.")


@pytest.mark.parametrize(
    "content",
    [
        "Use <think> tags like this: <think>x</think>",
        "<thinking>is not the tag</thinking>",
        "  <th",  # the stream ends inside what might have been a tag: it was text
        "\n\n  indented answer",
        "<b>bold</b>",
    ],
)
def test_content_without_a_leading_think_block_is_passed_exactly(content):
    for size in (1, 2, 3, len(content)):
        assert _split(_content_stream(_pieces(content, size))) == ("", content)


def test_a_think_block_that_never_closes_is_all_reasoning():
    pieces = ["<think>", "still thinking when ", "the tokens ran out </th"]
    assert _split(_content_stream(pieces)) == ("still thinking when the tokens ran out </th", "")


def test_reasoning_content_wins_when_a_server_sends_both_fields():
    obj = {"choices": [{"delta": {"reasoning_content": "a", "reasoning": "a"}}]}
    response = Response(_sse(f"data: {json.dumps(obj)}\n\n", *sse_reply([])))
    assert _split(response) == ("a", "")


def test_reasoning_details_are_ignored_when_another_field_carries_the_thinking():
    # OpenRouter sends the same thinking in `reasoning` and in `reasoning_details`.
    details = [{"type": "reasoning.text", "text": "a", "format": "unknown", "index": 0}]
    obj = {"choices": [{"delta": {"reasoning": "a", "reasoning_details": details}}]}
    response = Response(_sse(f"data: {json.dumps(obj)}\n\n", *sse_reply([])))
    assert _split(response) == ("a", "")


@pytest.mark.parametrize("where", ["delta", "message"])
def test_only_readable_reasoning_details_count_never_encrypted_ones(where):
    details = [
        {"type": "reasoning.summary", "summary": "In short: ", "format": "x", "index": 0},
        {"type": "reasoning.encrypted", "data": "gAAAAB-opaque", "text": "no", "index": 1},
        {"type": "reasoning.text", "text": "say hi.", "signature": "sig", "index": 2},
        {"type": "reasoning.text", "text": None, "index": 3},
        "junk",
    ]
    obj = {"choices": [{where: {"content": "Hi", "reasoning_details": details}}]}
    if where == "delta":
        response = Response(_sse(f"data: {json.dumps(obj)}\n\n", *sse_reply([])))
    else:
        response = Response([obj])
    assert _split(response) == ("In short: say hi.", "Hi")


def test_text_held_back_as_a_possible_tag_counts_when_the_reply_is_abandoned():
    response = _content_stream(["<th", "ink>ok</thi"])
    events = iter(response)
    next(events)  # the first piece that is more than a possible tag
    response.close()
    assert (response.reasoning(), response.text()) == ("ok</thi", "")


def test_a_plain_reply_is_not_held_back():
    splitter = ThinkSplitter()
    assert splitter.feed("Hello") == [TextDelta("Hello")] and splitter.passing


# -- the terminal sink, on a StringIO ------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Answer:
    def __init__(self, out: io.StringIO) -> None:
        self.out = out

    def feed(self, text: str) -> None:
        self.out.write(text)

    def finish(self, *, status: str | None = None) -> None:
        self.out.write(f"<end {status}>")


def _thinking_sink(**kw: Any) -> tuple[ThinkingSink, io.StringIO, Clock]:
    out, clock = io.StringIO(), Clock()
    sink = ThinkingSink(Answer(out), out, color=False, clock=clock, width=60, **kw)
    return sink, out, clock


def test_summary_line_says_time_and_tokens_marking_estimates():
    assert summary(8.24, 1240, 3.0) == "thought for 8.2 s · 1,240 tokens"
    assert summary(0.04, None, 1239.6) == "thought for 0.0 s · ~1,240 tokens"
    assert summary(None, None, 0.2) == "thought · ~1 token"  # a whole body: no time


def test_a_whole_reply_has_no_thinking_time_to_tell():
    sink, out, _ = _thinking_sink(live=True)
    sink.reason("all the thinking at once")
    sink.feed("A")
    assert "thought · ~6 tokens\n\nA" in out.getvalue()


@pytest.mark.parametrize("live", [True, False])
def test_the_thinking_collapses_to_one_line_when_the_answer_starts(live):
    sink, out, clock = _thinking_sink(live=live, estimate=lambda text: 1239.6)
    sink.reason("weighing ")
    clock.now += 8.2
    sink.reason("options")
    sink.feed("The answer.")
    sink.finish()
    shown = out.getvalue()
    assert "thought for 8.2 s · ~1,240 tokens\n\nThe answer.<end None>" in shown
    if not live:  # no cursor moves but a carriage return over "thinking…"
        assert shown.startswith("thinking…\rthought for") and "\x1b" not in shown


def test_the_servers_count_replaces_the_estimate():
    sink, out, _ = _thinking_sink(live=False)
    sink.reason("hmm")
    sink.reasoning_tokens(1240)
    sink.feed("A")
    assert "· 1,240 tokens" in out.getvalue()


@pytest.mark.parametrize("live", [True, False])
def test_kept_thinking_is_printed_and_sanitised(live):
    sink, out, _ = _thinking_sink(live=live, keep=True)
    sink.reason("title \x1b]0;PWNED\x07 and \x1b]52;c;aGk=\x07 done")
    sink.feed("A")
    sink.finish()
    shown = out.getvalue()
    assert "\x1b]0;" not in shown and "\x1b]52" not in shown
    assert "^[]0;PWNED^G" in shown and "^[]52;c;aGk=^G done" in shown


def test_a_reply_that_is_all_thinking_keeps_it_on_screen():
    sink, out, _ = _thinking_sink(live=False)
    sink.reason("I ran out ")
    sink.reason("of tokens")
    sink.finish(status="interrupted")
    shown = out.getvalue()
    assert "I ran out of tokens" in shown and "thought for" in shown
    assert shown.endswith("<end interrupted>")


def test_a_reply_without_thinking_is_untouched():
    sink, out, _ = _thinking_sink(live=True)
    sink.feed("Just text")
    sink.finish()
    assert out.getvalue() == "Just text<end None>"


# -- the CLI on the loopback server ---------------------------------------------------------


def _stream(shape: str, answer: str = ANSWER, **kw: Any) -> Reply:
    return Reply(events=reasoning_reply(_pieces(THOUGHT, 4), _pieces(answer, 3), shape=shape, **kw))


@pytest.mark.parametrize("shape", REASONING_SHAPES)
def test_piped_stdout_is_the_answer_only_byte_exact(cli_env, server, shape):
    server.push(_stream(shape), Reply(body=reasoning_completion(THOUGHT, ANSWER, shape=shape)))
    streamed = invoke(["ask", "hi"], cli_env)
    whole = invoke(["ask", "hi", "--no-stream"], cli_env)
    for r in (streamed, whole):
        assert r.returncode == 0 and r.stderr == ""
        assert r.stdout == ANSWER.encode()


@pytest.mark.parametrize("shape", REASONING_SHAPES)
def test_ndjson_carries_reasoning_events_beside_the_deltas(cli_env, server, shape):
    server.push(_stream(shape))
    r = invoke(["ask", "hi", "--ndjson"], cli_env)
    events = [json.loads(line) for line in r.stdout.decode().splitlines()]
    thought = "".join(e["text"] for e in events if e["type"] == "reasoning")
    answer = "".join(e["text"] for e in events if e["type"] == "delta")
    assert thought.strip() == THOUGHT and answer == ANSWER
    assert {e["index"] for e in events if e["type"] == "reasoning"} == {0}
    kinds = [e["type"] for e in events]
    assert kinds.index("delta") > max(i for i, k in enumerate(kinds) if k == "reasoning")


@pytest.mark.parametrize("shape", REASONING_SHAPES)
def test_json_is_the_body_with_its_reasoning_as_the_server_sent_it(cli_env, server, shape):
    body = reasoning_completion(THOUGHT, ANSWER, shape=shape)
    server.push(Reply(body=body))
    r = invoke(["ask", "hi", "--json"], cli_env)
    assert json.loads(r.stdout) == body


def _messages_sent(server) -> list[list[dict[str, Any]]]:
    return [body["messages"] for body in server.chat_bodies()]


@pytest.mark.parametrize("shape", REASONING_SHAPES)
def test_reasoning_is_kept_in_history_but_never_sent_back(cli_env, server, shape):
    server.push(_stream(shape, "Hello."))
    invoke(["ask", "hi"], cli_env)
    invoke(["ask", "again", "-c"], cli_env)
    second = _messages_sent(server)[1]
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[1] == {"role": "assistant", "content": "Hello."}  # no reasoning field
    assert "The user greets me" not in json.dumps(server.chat_bodies()[1])
    shown = invoke(["history", "show"], cli_env).stdout.decode()
    assert "> thinking\n>\n> The user greets me.\n> A short, friendly answer will do.\n" in shown
    assert shown.index("> thinking") < shown.index("Hello.")
    md = invoke(["history", "export", "1"], cli_env).stdout.decode()
    assert "<details>\n<summary>reasoning</summary>\n\nThe user greets me." in md
    doc = json.loads(invoke(["history", "export", "1", "-f", "json"], cli_env).stdout)
    assert doc["messages"][1]["reasoning"].strip() == THOUGHT
    assert "reasoning" not in doc["messages"][0]


def test_history_show_sets_the_thinking_apart_on_a_terminal_and_sanitises_it(cli_env, server):
    events = reasoning_reply(["evil \x1b]52;c;aGk=\x07 thought"], ["Hello."])
    server.push(Reply(events=events))
    invoke(["ask", "hi"], cli_env)
    shown = invoke(["history", "show"], cli_env, stdout_tty=True).stdout.decode()
    assert "\x1b[2m> thinking\n>\n> evil ^[]52;c;aGk=^G thought\n\n\x1b[0mHello." in shown
    piped = invoke(["history", "show"], cli_env).stdout.decode()
    assert "> evil \x1b]52;c;aGk=\x07 thought\n\nHello." in piped  # a pipe gets it exactly


def test_a_reply_cut_off_while_thinking_keeps_its_thinking_out_of_the_context(cli_env, server):
    events = reasoning_reply(_pieces(THOUGHT, 4), ["never sent"])
    server.push(Reply(events=events, drop_after=6))  # the stream drops mid-thought
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 4 and r.stdout == b""
    invoke(["ask", "again", "-c"], cli_env)
    assert [m["role"] for m in _messages_sent(server)[1]] == ["user"]
    doc = json.loads(invoke(["history", "export", "1", "-f", "json"], cli_env).stdout)
    cut = doc["messages"][1]
    assert cut["role"] == "assistant" and cut["status"] == "failed" and cut["content"] == ""
    assert THOUGHT.startswith(cut["reasoning"]) and cut["reasoning"]


def test_a_partial_answer_keeps_its_thinking_too(cli_env, server):
    events = reasoning_reply(["deep ", "thought"], ["Part", "ial", " answer"])
    server.push(Reply(events=events, drop_after=4))
    assert invoke(["ask", "hi"], cli_env).stdout == b"Partial\n"  # then the drop
    doc = json.loads(invoke(["history", "export", "1", "-f", "json"], cli_env).stdout)
    assert doc["messages"][1]["status"] == "incomplete"
    assert doc["messages"][1]["reasoning"] == "deep thought"


def test_a_piped_reply_that_is_all_thinking_says_so_on_stderr(cli_env, server):
    server.push(_stream("think", "", close=False))
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0 and r.stdout == b""
    assert "no answer, only its thinking" in r.stderr and "history show" in r.stderr


def test_reasoning_effort_is_sent_only_when_given(cli_env, server):
    invoke(["ask", "hi"], cli_env)
    invoke(["ask", "hi", "--reasoning-effort", "high"], cli_env)
    first, second = server.chat_bodies()
    assert "reasoning_effort" not in first and second["reasoning_effort"] == "high"
    bad = invoke(["ask", "hi", "--reasoning-effort", "hgh"], cli_env)
    assert bad.returncode == 2 and "low, medium or high" in bad.stderr
    assert params.settable_choices()["reasoning_effort"] == ("low", "medium", "high")
    assert parse.apply_set({}, "reasoning-effort", "medium") == (
        {"reasoning_effort": "medium"},
        "reasoning_effort = medium",
    )
    assert params.find("reasoning-effort").config_key == "params.reasoning_effort"


def test_reasoning_effort_from_config_reaches_the_body(cli_env, server, home):
    (home / "config" / "aimlchat").mkdir(parents=True, exist_ok=True)
    (home / "config" / "aimlchat" / "config.toml").write_text(
        '[params]\nreasoning_effort = "low"\n'
    )
    assert invoke(["ask", "hi"], cli_env).returncode == 0
    assert server.chat_bodies()[0]["reasoning_effort"] == "low"


def test_a_database_from_before_reasoning_is_upgraded(tmp_path):
    path = tmp_path / "history.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    for step in migrations.MIGRATIONS[:3]:  # what the last release had
        step(db)
        db.execute("INSERT INTO _migrations VALUES (?, 0)", (step.__name__,))
    db.execute("INSERT INTO conversations(model, created_at, updated_at) VALUES ('m', 0, 0)")
    db.execute(
        "INSERT INTO messages(conversation_id, role, content, created_at)"
        " VALUES (1, 'assistant', '\"old\"', 0)"
    )
    db.commit()
    db.close()
    store = Store(path)
    (old,) = store.messages(1)
    assert old.message.text == "old" and old.message.reasoning == ""
    from aimlchat.messages import assistant

    store.add(1, assistant("new", reasoning="why"))
    assert store.messages(1)[1].message.reasoning == "why"


# -- on a terminal ------------------------------------------------------------------------


class Screen:
    """What a terminal shows of a child's output: the screen and the scrollback above it."""

    def __init__(self, child: pexpect.spawn, rows: int = 30, cols: int = 100) -> None:
        self.child = child
        self.screen = pyte.HistoryScreen(cols, rows, history=2000)
        self.stream = pyte.Stream(self.screen)

    def pump_until(self, text: str, timeout: float = 15, count: int = 1) -> None:
        end = time.monotonic() + timeout
        while self.text().count(text) < count and time.monotonic() < end:
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.1))
            except pexpect.TIMEOUT:
                continue
            except pexpect.EOF:
                break
        assert self.text().count(text) >= count, self.text()

    def pump_to_end(self) -> None:
        while True:
            try:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=10))
            except pexpect.EOF:
                return

    def text(self) -> str:
        above = ["".join(c.data for c in row.values()) for row in self.screen.history.top]
        return "\n".join(line.rstrip() for line in [*above, *self.screen.display])


def _slow_thought() -> list[str]:
    return [f"step {i} of the thought\n" for i in range(1, 13)]


def test_thinking_streams_dimmed_then_collapses_to_one_line(cli_env, server):
    events = reasoning_reply(_slow_thought(), ["The **answer**."], shape="think")
    server.push(Reply(events=events, delay=0.1))
    screen = Screen(spawn(["ask", "hi"], cli_env))
    screen.pump_until("step 3 of the thought")
    assert "thinking…" in screen.text()
    screen.pump_until("The answer.")
    screen.pump_to_end()
    shown = screen.text()
    assert "step 1 of" not in shown and "thinking…" not in shown  # collapsed, scrollback too
    lines = [line for line in shown.splitlines() if line.strip()]
    assert lines[0].startswith("thought for ") and lines[0].endswith(" tokens")
    assert lines[1] == "The answer."


def test_ctrl_c_while_it_thinks_keeps_the_thinking_on_screen_and_in_history(cli_env, server):
    server.push(Reply(events=reasoning_reply(_slow_thought(), ["never"]), delay=0.2))
    child = spawn(["ask", "hi"], cli_env)
    screen = Screen(child)
    screen.pump_until("step 3 of the thought")
    child.sendintr()
    screen.pump_to_end()
    child.close()
    assert child.exitstatus == 130 or child.signalstatus == 2
    shown = screen.text()
    assert "[interrupted]" in shown and "thinking…" not in shown
    assert shown.count("step 1 of the thought") == 1 and "thought for " in shown
    doc = json.loads(invoke(["history", "export", "1", "-f", "json"], cli_env).stdout)
    assert doc["messages"][1]["status"] == "failed"
    assert doc["messages"][1]["reasoning"].startswith("step 1 of the thought\nstep 2")


def test_show_reasoning_and_the_repl_toggle_keep_the_thinking(cli_env, server):
    for _ in range(2):
        server.push(Reply(events=reasoning_reply(_slow_thought(), ["Done."]), delay=0.02))
    child = spawn(["chat", "--show-reasoning"], cli_env)
    screen = Screen(child)
    screen.pump_until("›")
    child.sendline("one")
    screen.pump_until("Done.")
    child.sendline("/reasoning off")
    screen.pump_until("reasoning is summed up in one line")
    child.sendline("two")
    screen.pump_until("Done.", count=2)
    screen.pump_until("›", count=4)
    shown = screen.text()
    assert shown.count("step 12 of the thought") == 1  # kept after "one", not after "two"
    assert shown.count("thought for ") == 2
    child.sendeof()
    child.expect(pexpect.EOF)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_narrowing_the_terminal_while_it_thinks_leaves_no_stale_copies(cli_env, server):
    # tmux re-wraps lines when narrowed, as most terminals do, and keeps the cursor's row:
    # what no longer fits above it goes to its history, where no erase can reach.
    thought = [
        f"thought number {i} is a long line of words that fills a wide row. " for i in range(40)
    ]
    server.push(Reply(events=reasoning_reply(thought, ["Done."]), delay=0.05))
    env = {k: v for k, v in cli_env.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    tmux = ["tmux", "-L", f"aimlchat-think-{os.getpid()}", "-f", "/dev/null"]
    command = (
        f"echo above; {shlex.quote(sys.executable)} -m aimlchat ask hi; echo __DONE__; sleep 60"
    )
    subprocess.run([*tmux, "new-session", "-d", "-x", "100", "-y", "30", command], env=env)
    try:

        def pane(*args: str) -> list[str]:
            shown = subprocess.run([*tmux, "capture-pane", "-p", *args], capture_output=True)
            return [line for line in shown.stdout.decode().splitlines() if line.strip()]

        def wait_for(text: str) -> None:
            deadline = time.monotonic() + 15
            while not any(text in line for line in pane()) and time.monotonic() < deadline:
                time.sleep(0.05)

        wait_for("thought number 9 ")
        subprocess.run([*tmux, "resize-window", "-x", "60", "-y", "30"], check=True)
        wait_for("__DONE__")
        screen = pane()
        assert screen[-3].startswith("thought for ") and screen[-2:] == ["Done.", "__DONE__"]
        assert not any("thought number" in line for line in screen)
        # At most the one copy tmux pushed up when narrowing; none from the redraws after.
        assert sum(line.startswith("thinking…") for line in pane("-J", "-S", "-")) <= 1
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


# -- latency: the first word reaches a pipe at once ------------------------------------------


def test_first_answer_word_reaches_the_pipe_while_the_server_holds_the_stream(cli_env, server):
    events = reasoning_reply(["a thought"], ["first", " second"], shape="think")
    server.push(Reply(events=events, delay=1.0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "aimlchat", "ask", "hi"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    ready, _, _ = select.select([fd], [], [], 15)
    got = os.read(fd, 100) if ready else b""
    read_at = time.monotonic()
    proc.communicate(timeout=15)
    sent = [t for t, data in server.sent]
    first = next(i for i, (_, data) in enumerate(server.sent) if b'"first"' in data)
    assert got == b"first" and read_at < sent[first + 1]
    print(f"first answer word after thinking: {(read_at - sent[first]) * 1000:.2f} ms")


def test_a_chunk_carrying_only_a_finish_flushes_a_held_back_piece(cli_env, server):
    server.push(Reply(events=[chunk("  <th"), *sse_reply([])]))
    assert invoke(["ask", "hi"], cli_env).stdout == b"  <th\n"
