"""Web-search citations (`url_citation` annotations), streamed in deltas or whole in the
message: parsed once each, numbered under the reply on a terminal (made safe like any
model output), never on a piped stdout, carried by --json and --ndjson."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pexpect
import pyte
import pytest

from aimlchat.api.adapters import chat_completions
from aimlchat.api.events import CitationDelta, Finish, TextDelta
from aimlchat.api.response import Response
from aimlchat.messages import Citation
from aimlchat.sse import SSEDecoder, SSEEvent
from aimlchat.storage.store import Store
from aimlchat.terminal.environment import Environment
from aimlchat.terminal.output import Output
from aimlchat.terminal.sources import safe_url, show_sources, sources_lines
from tests.conftest import invoke, spawn
from tests.loopback import Reply, chunk, completion

ANSWER = "Rust 1.80 shipped in July [1]. It stabilised LazyCell [2].\n"
# A title and a URL that try to retitle the window and write the clipboard.
EVIL_TITLE = "Evil\x1b]0;pwned\x07 page\x1b]52;c;ZWNobyBoaQ==\x07"
EVIL_URL = "https://evil.example/\x1b[2Jpath\u202e"


def note(url: str, title: str, start: int | None = None, end: int | None = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"url": url, "title": title}
    if start is not None:
        fields |= {"start_index": start, "end_index": end}
    return {"type": "url_citation", "url_citation": fields}


NOTES = [
    note("https://blog.rust-lang.org/1.80", "Announcing Rust 1.80", 27, 30),
    note("https://doc.rust-lang.org/std/cell/struct.LazyCell.html", "LazyCell", 56, 59),
]


def annotated_chunk(notes: list[dict[str, Any]], text: str | None = None, index: int = 0) -> str:
    delta: dict[str, Any] = {"annotations": notes}
    if text is not None:
        delta["content"] = text
    obj = {"object": "chat.completion.chunk", "choices": [{"index": index, "delta": delta}]}
    return f"data: {json.dumps(obj)}\n\n"


def cited_stream(notes: list[dict[str, Any]] = NOTES, *, repeat: int = 3) -> list[str]:
    """The answer streamed with its annotations sent again with each of the last chunks
    (as Perplexity-style servers do)."""
    half = len(ANSWER) // 2
    return [
        chunk(ANSWER[:half]),
        annotated_chunk(notes, ANSWER[half:]),
        *[annotated_chunk(notes) for _ in range(repeat - 1)],
        chunk(finish="stop"),
        chunk(empty_choices=True, usage={"prompt_tokens": 5, "completion_tokens": 9}),
        "data: [DONE]\n\n",
    ]


def cited_completion(notes: list[dict[str, Any]] = NOTES) -> dict[str, Any]:
    body = completion(ANSWER)
    body["choices"][0]["message"]["annotations"] = notes
    return body


def sse(*raws: str) -> list[SSEEvent]:
    d = SSEDecoder()
    return [e for raw in raws for e in d.feed(raw.encode())] + d.finish()


EXPECTED = [
    Citation("https://blog.rust-lang.org/1.80", "Announcing Rust 1.80", 27, 30),
    Citation("https://doc.rust-lang.org/std/cell/struct.LazyCell.html", "LazyCell", 56, 59),
]


# -- parsing -------------------------------------------------------------------------------


def test_streamed_annotations_repeated_across_chunks_become_each_citation_once():
    response = Response(sse(*cited_stream()))
    events = list(response)
    cited = [e for e in events if isinstance(e, CitationDelta)]
    assert [Citation(c.url, c.title, c.start, c.end) for c in cited] == EXPECTED
    assert response.citations(0) == EXPECTED
    assert response.text(0) == ANSWER  # the text is untouched by them


def test_annotations_of_a_whole_message_become_citations():
    response = Response([cited_completion()])
    assert response.citations(0) == EXPECTED
    assert response.text(0) == ANSWER


def test_url_and_title_on_the_annotation_itself_are_read_too():
    flat = {"type": "url_citation", "url": "https://a.example/", "title": "A", "start_index": 1}
    events = chat_completions.choice_events({"message": {"content": "x", "annotations": [flat]}}, 0)
    assert CitationDelta("https://a.example/", "A", 1, None, 0) in events


def test_other_annotations_and_unusable_urls_are_ignored():
    notes = [
        {"type": "file_citation", "file_citation": {"file_id": "f1"}},
        {"type": "url_citation", "url_citation": {"url": "", "title": "empty"}},
        {"type": "url_citation", "url_citation": {"url": 42}},
        "junk",
        note("https://ok.example/", "OK"),
    ]
    events = chat_completions.choice_events({"delta": {"annotations": notes}}, 0)
    assert events == [CitationDelta("https://ok.example/", "OK", None, None, 0)]


def test_citations_belong_to_their_choice():
    events = [
        annotated_chunk([note("https://one.example/", "one")], "a", index=0),
        annotated_chunk([note("https://two.example/", "two")], "b", index=1),
        chunk(finish="stop", index=0),
        chunk(finish="stop", index=1),
        "data: [DONE]\n\n",
    ]
    response = Response(sse(*events))
    assert [c.url for c in response.citations(0)] == ["https://one.example/"]
    assert [c.url for c in response.citations(1)] == ["https://two.example/"]
    assert response.citations(2) == []


def test_a_stream_assembled_completion_carries_the_annotations():
    message = Response(sse(*cited_stream())).json()["choices"][0]["message"]
    assert message["content"] == ANSWER
    assert message["annotations"] == NOTES


def test_the_same_url_cited_at_two_spans_is_kept_twice_but_listed_once():
    notes = [note("https://a.example/", "A", 0, 3), note("https://a.example/", "A", 9, 12)]
    response = Response([cited_completion(notes)])
    assert len(response.citations(0)) == 2
    assert sources_lines(response.citations(0)) == ["Sources:", "[1] A — https://a.example/"]


# -- the sources view ----------------------------------------------------------------------


def _output(tty: bool, color: bool = False) -> tuple[Output, io.StringIO]:
    stream = io.StringIO()
    env = Environment(
        stdin=io.StringIO(),
        stdout=stream,
        stderr=io.StringIO(),
        environ={} if color else {"NO_COLOR": "1"},
        stdin_tty=False,
        stdout_tty=tty,
        stderr_tty=False,
    )
    return Output(env), stream


def test_sources_are_numbered_with_title_and_url():
    rows = [*EXPECTED, Citation("https://untitled.example/")]
    assert sources_lines(rows) == [
        "Sources:",
        "[1] Announcing Rust 1.80 — https://blog.rust-lang.org/1.80",
        "[2] LazyCell — https://doc.rust-lang.org/std/cell/struct.LazyCell.html",
        "[3] https://untitled.example/",
    ]


def test_no_escape_sequence_from_a_title_or_url_reaches_the_terminal():
    out, stream = _output(tty=True)
    show_sources(out, [Citation(EVIL_URL, EVIL_TITLE + "\nsecond line")])
    shown = stream.getvalue()
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "[1] Evil^[]0;pwned^G page^[]52;c;ZWNobyBoaQ==^G second line — " in shown
    assert "https://evil.example/%1B[2Jpath%E2%80%AE" in shown  # still one word to copy


def test_sources_are_dimmed_in_colour_and_never_written_to_a_pipe():
    out, stream = _output(tty=True, color=True)
    show_sources(out, EXPECTED)
    assert stream.getvalue().startswith("\x1b[2m\nSources:\n[1] ")
    assert stream.getvalue().endswith("\x1b[0m")
    piped, pipe = _output(tty=False)
    show_sources(piped, EXPECTED)
    assert pipe.getvalue() == ""


def test_a_url_with_spaces_or_line_breaks_stays_one_word():
    assert safe_url("https://a.example/a b\nc\u2028d") == "https://a.example/a%20b%0Ac%E2%80%A8d"


# Bidi marks and isolates, and zero-width characters: invisible, yet they reorder or
# split what is shown (a title that reads right to left, a host that looks like another).
HIDDEN = "\u200e\u200f\u061c\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u2060\ufeff"
HIDDEN_SHOWN = "".join(f"<U+{ord(c):04X}>" for c in HIDDEN)
SNEAKY = Citation("https://exa\u200bmple.com/p", f"Bank{HIDDEN} login")
SNEAKY_LINE = f"[1] Bank{HIDDEN_SHOWN} login — https://exa%E2%80%8Bmple.com/p"


def test_invisible_and_bidi_characters_of_a_title_are_shown_visibly():
    assert sources_lines([SNEAKY]) == ["Sources:", SNEAKY_LINE]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://exa\u200bmple.com/", "https://exa%E2%80%8Bmple.com/"),
        ("https://b\u00fccher.example/caf\u00e9", "https://b%C3%BCcher.example/caf%C3%A9"),
        ("https://\u0430pple.com/", "https://%D0%B0pple.com/"),  # a Cyrillic a
        ("https://a.example/\ufeff\u2060x", "https://a.example/%EF%BB%BF%E2%81%A0x"),
        ("https://a.example/?q=1&r=[2]#~", "https://a.example/?q=1&r=[2]#~"),
    ],
)
def test_a_url_is_shown_in_printable_ascii_with_everything_else_percent_encoded(url, shown):
    assert safe_url(url) == shown


# -- ask, end to end -----------------------------------------------------------------------


def test_piped_stdout_is_the_reply_byte_for_byte_without_sources(cli_env, server):
    server.push(Reply(events=cited_stream()))
    r = invoke(["ask", "what is new in rust"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ANSWER.encode()
    assert r.stderr == ""


def test_piped_stdout_with_stderr_on_a_terminal_gets_one_line_about_the_sources(cli_env, server):
    server.push(Reply(events=cited_stream()))
    r = invoke(["ask", "what is new in rust"], cli_env, stderr_tty=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ANSWER.encode()
    assert "the reply cites 2 sources (aimlchat history show)" in r.stderr
    assert "rust-lang.org" not in r.stderr


def test_json_carries_the_citations(cli_env, server):
    server.push(Reply(body=cited_completion()))
    r = invoke(["ask", "--json", "what is new in rust"], cli_env)
    assert r.returncode == 0, r.stderr
    message = json.loads(r.stdout)["choices"][0]["message"]
    assert message["annotations"] == NOTES and message["content"] == ANSWER


def test_ndjson_gives_one_citation_event_per_citation_as_it_arrives(cli_env, server):
    server.push(Reply(events=cited_stream()))
    r = invoke(["ask", "--ndjson", "what is new in rust"], cli_env)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.decode().splitlines()]
    kinds = [line["type"] for line in lines]
    cited = [line for line in lines if line["type"] == "citation"]
    assert cited == [
        {"type": "citation", "index": 0, "url": c.url, "title": c.title, "start": c.start,
         "end": c.end}
        for c in EXPECTED
    ]  # fmt: skip
    # In the order they came: after the text that carried them, before the finish.
    assert kinds.index("citation") > kinds.index("delta") and kinds[-2:] == ["finish", "usage"]


def test_the_saved_reply_keeps_its_citations_and_continuing_does_not_send_them(cli_env, server):
    server.push(Reply(events=cited_stream()))
    assert invoke(["ask", "what is new in rust"], cli_env).returncode == 0
    store = Store(Path(cli_env["XDG_DATA_HOME"]) / "aimlchat" / "history.db")
    reply = store.messages(1)[-1].message
    store.close()
    assert list(reply.citations) == EXPECTED and reply.text == ANSWER
    assert invoke(["ask", "-c", "and then?"], cli_env).returncode == 0
    sent = server.chat_bodies()[-1]["messages"]
    assert sent[1] == {"role": "assistant", "content": ANSWER}  # sources stay home


def _saved_sneaky_reply(cli_env, server):
    notes = [note(SNEAKY.url, SNEAKY.title), *NOTES]
    server.push(Reply(body=cited_completion(notes)))
    assert invoke(["ask", "--no-stream", "what is new in rust"], cli_env).returncode == 0


def test_history_show_shows_a_title_s_hidden_characters_as_the_terminal_does(cli_env, server):
    _saved_sneaky_reply(cli_env, server)
    for tty in (False, True):
        r = invoke(["history", "show", "1"], cli_env, stdout_tty=tty)
        assert r.returncode == 0, r.stderr
        shown = r.stdout.decode()
        assert SNEAKY_LINE in shown
        assert not any(c in shown for c in HIDDEN)


def test_export_md_lists_the_sources_one_item_each_with_hidden_characters_shown(cli_env, server):
    _saved_sneaky_reply(cli_env, server)
    r = invoke(["history", "export", "-f", "md", "1"], cli_env)
    assert r.returncode == 0, r.stderr
    md = r.stdout.decode()
    assert not any(c in md for c in HIDDEN)
    assert (
        "Sources:\n\n"
        f"- {SNEAKY_LINE}\n"
        "- [2] Announcing Rust 1.80 — https://blog.rust-lang.org/1.80\n"
        "- [3] LazyCell — https://doc.rust-lang.org/std/cell/struct.LazyCell.html\n"
    ) in md


# -- on a terminal -------------------------------------------------------------------------


def _screen_of(child: pexpect.spawn) -> tuple[str, str]:
    """Everything the child wrote to the terminal (raw) and what a terminal shows of it."""
    raw = []
    while True:
        try:
            raw.append(child.read_nonblocking(65536, timeout=15))
        except pexpect.EOF:
            break
    child.close()
    screen = pyte.HistoryScreen(100, 30, history=2000)
    pyte.Stream(screen).feed("".join(raw))
    above = ["".join(c.data for c in row.values()) for row in screen.history.top]
    shown = "\n".join(line.rstrip() for line in [*above, *screen.display])
    return "".join(raw), shown.strip()


def test_a_terminal_shows_numbered_sources_under_a_streamed_reply(cli_env, server):
    server.push(Reply(events=cited_stream()))
    child = spawn(["ask", "what is new in rust"], cli_env)
    _, shown = _screen_of(child)
    assert child.exitstatus == 0, shown
    assert shown.endswith(
        "Sources:\n"
        "[1] Announcing Rust 1.80 — https://blog.rust-lang.org/1.80\n"
        "[2] LazyCell — https://doc.rust-lang.org/std/cell/struct.LazyCell.html"
    ), shown
    assert shown.index("It stabilised LazyCell") < shown.index("Sources:")


def test_a_terminal_shows_the_sources_of_a_whole_reply_with_escapes_neutralised(cli_env, server):
    notes = [note(EVIL_URL, EVIL_TITLE), *NOTES]
    server.push(Reply(body=cited_completion(notes)))
    child = spawn(["ask", "--no-stream", "what is new in rust"], cli_env)
    raw, shown = _screen_of(child)
    assert child.exitstatus == 0, shown
    assert "\x1b]" not in raw and "\x07" not in raw and "\x1b[2J" not in raw
    assert "[1] Evil^[]0;pwned^G page^[]52;c;ZWNobyBoaQ==^G — " in shown
    assert "https://evil.example/%1B[2Jpath%E2%80%AE" in shown
    assert "[3] LazyCell — " in shown


def test_chat_shows_the_sources_under_each_reply(cli_env, server):
    server.push(Reply(events=cited_stream()))
    server.push(Reply(body=None, events=cited_stream([note("https://third.example/", "Third")])))
    child = spawn(["chat"], cli_env)
    child.expect("›")
    child.sendline("one")
    child.expect(r"\[2\] LazyCell")
    child.expect("›")
    child.sendline("two")
    child.expect(r"\[1\] Third — https://third\.example/")
    child.expect("›")
    child.sendeof()
    child.expect(pexpect.EOF)


def test_text_and_finish_events_are_unchanged_by_citations():
    events = list(Response([cited_completion()]))
    assert events[0] == TextDelta(ANSWER) and isinstance(events[-2], Finish)
