"""`aimlchat history …`, `/save` and `--no-history`, through the real CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pexpect
import pytest

from aimlchat.messages import Citation, ToolCall, assistant, tool_output, user
from aimlchat.storage.store import Store
from tests.conftest import invoke, run_cli, spawn

REPLY = "Hello from the loopback server."


def db_path(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "aimlchat" / "history.db"


def saved(env: dict[str, str], *texts: str, status: str = "ok") -> Store:
    """A conversation holding `texts` as user messages, written by the real store."""
    store = Store(db_path(env))
    cid = store.create(model="m", system=None)
    for text in texts:
        store.add(cid, user(text), status=status)
    return store


def stdout_lines(r) -> list[str]:
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().splitlines()


# -- search ----------------------------------------------------------------------------


def test_search_finds_a_message_with_quotes(cli_env, server):
    r = invoke(["ask", "--no-stdin", 'then he said "hello" and left'], cli_env)
    assert r.returncode == 0, r.stderr
    lines = stdout_lines(invoke(["history", "search", 'said "hello"'], cli_env))
    assert len(lines) == 1
    assert lines[0].endswith('user: then he said "hello" and left')


@pytest.mark.parametrize(
    "query", ["line one\nline two", "C:\\temp\\x", "naïve 東京", "AND OR NEAR(x y)", "tigers*"]
)
def test_search_finds_newlines_backslashes_non_ascii_and_operators(cli_env, query):
    saved(cli_env, f"before {query} after", "unrelated words")
    lines = stdout_lines(invoke(["history", "search", query], cli_env))
    assert len(lines) == 1 and " ".join(query.split()) in lines[0]


@pytest.mark.parametrize("query", ['"', "(", "-", "*", "AND", 'NEAR("', "a:b OR ("])
def test_query_syntax_typed_by_the_user_never_raises(cli_env, query):
    saved(cli_env, f"x {query} y")
    r = invoke(["history", "search", "--", query], cli_env)
    assert r.returncode == 0 and "error" not in r.stderr, r.stderr
    assert len(stdout_lines(r)) == 1


def test_hits_are_one_line_each_newest_first_and_limited(cli_env):
    saved(cli_env, *(f"note {i}\nsecond line of {i}" for i in range(30)))
    lines = stdout_lines(invoke(["history", "search", "note"], cli_env))
    assert len(lines) == 20  # the default limit
    assert lines[0].endswith("user: note 29 second line of 29")
    lines = stdout_lines(invoke(["history", "search", "note", "-l", "3"], cli_env))
    assert [line.rsplit(":", 1)[1] for line in lines] == [
        f" note {i} second line of {i}" for i in (29, 28, 27)
    ]


def test_a_long_message_shows_a_snippet_around_the_match(cli_env):
    saved(cli_env, "filler " * 100 + "the needle is here " + "tail " * 100)
    (line,) = stdout_lines(invoke(["history", "search", "needle"], cli_env))
    assert "…" in line and "the needle is here" in line and len(line) < 150


def test_search_matches_names_and_marks_statuses(cli_env):
    store = Store(db_path(cli_env))
    cid = store.create(model="m", system=None, name="docker-notes")
    store.add(cid, user("compose"))
    store.add(cid, assistant("about docker"), status="choice")
    lines = stdout_lines(invoke(["history", "search", "docker"], cli_env))
    assert any(line.endswith("assistant [choice] (docker-notes): about docker") for line in lines)
    assert any(line.endswith('conversation "docker-notes": compose') for line in lines)


def test_escape_sequences_in_a_hit_never_reach_the_terminal(cli_env):
    saved(cli_env, "evil \x1b]0;pwned\x07 title \x1b[2J here")
    r = invoke(["history", "search", "evil"], cli_env, stdout_tty=True)
    assert r.returncode == 0 and b"evil" in r.stdout and b"\x1b" not in r.stdout


def test_no_hits_is_a_notice_not_an_error(cli_env):
    saved(cli_env, "something")
    r = invoke(["history", "search", "absent"], cli_env)
    assert r.returncode == 0 and r.stdout == b"" and "no matches" in r.stderr


@pytest.mark.parametrize("command", [["list"], ["search", "x"]])
@pytest.mark.parametrize("limit", ["0", "-3"])
def test_a_limit_below_one_is_a_usage_error(cli_env, command, limit):
    r = invoke(["history", *command, "-l", limit], cli_env)
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and "--limit" in r.stderr
    assert not db_path(cli_env).exists()


# -- statuses --------------------------------------------------------------------------


def test_choices_are_hidden_by_show_shown_with_all_and_exported_marked(cli_env):
    store = Store(db_path(cli_env))
    cid = store.create(model="m", system=None)
    store.add(cid, user("pick one"))
    store.add(cid, assistant("choice A"))
    store.add(cid, assistant("choice B"), status="choice")
    shown = invoke(["history", "show"], cli_env)
    assert "choice A" in shown.stdout.decode() and b"choice B" not in shown.stdout
    assert "1 more not in the conversation (choice): see --all" in shown.stderr
    every = invoke(["history", "show", "--all"], cli_env).stdout.decode()
    assert "## assistant [choice]\n\nchoice B" in every
    md = invoke(["history", "export", "1"], cli_env).stdout.decode()
    assert "## assistant [choice]\n\nchoice B" in md
    doc = json.loads(invoke(["history", "export", "1", "-f", "json"], cli_env).stdout)
    assert [m["status"] for m in doc["messages"]] == ["ok", "ok", "choice"]


def test_export_md_puts_tool_calls_on_their_own_lines_after_the_text(cli_env):
    def call(name: str) -> ToolCall:
        return ToolCall(name, name, "{}")

    store = Store(db_path(cli_env))
    cid = store.create(model="m", system=None)
    store.add(cid, user("weather?"))
    store.add(cid, assistant("Let me look.", calls=[call("weather")]))
    store.add(cid, tool_output("weather", "sunny"))
    store.add(cid, assistant(calls=[call("clock"), call("map")]))
    store.add(cid, assistant("Sunny."))
    md = invoke(["history", "export", "1", "-f", "md"], cli_env).stdout.decode()
    assert "## assistant\n\nLet me look.\n\n→ weather {}\n\n## tool\n\nsunny\n" in md
    assert "## assistant\n\n→ clock {}\n→ map {}\n\n## assistant\n\nSunny.\n" in md


def cited(env: dict[str, str]) -> None:
    store = Store(db_path(env))
    cid = store.create(model="m", system=None)
    store.add(cid, user("news?"))
    sources = [
        Citation("https://a.example/one", "First page", 0, 4),
        Citation("https://b.example/two"),
        Citation("https://a.example/one", "First page", 9, 12),  # the same page again
    ]
    store.add(cid, assistant("Rain today.", citations=sources, calls=[ToolCall("c", "map", "{}")]))


def test_history_show_numbers_a_replys_sources_under_it(cli_env):
    cited(cli_env)
    shown = invoke(["history", "show"], cli_env).stdout.decode()
    assert shown.endswith(
        "## assistant\n\nRain today.\n→ map {}\n"
        "\nSources:\n[1] First page — https://a.example/one\n[2] https://b.example/two\n"
    )


def test_export_md_puts_sources_after_the_text_and_calls(cli_env):
    cited(cli_env)
    md = invoke(["history", "export", "-f", "md"], cli_env).stdout.decode()
    assert md.endswith(  # a list: consecutive lines would be one Markdown paragraph
        "## assistant\n\nRain today.\n\n→ map {}\n\n"
        "Sources:\n\n- [1] First page — https://a.example/one\n- [2] https://b.example/two\n"
    )


def test_export_json_gives_each_message_its_neutral_parts(cli_env):
    cited(cli_env)
    Store(db_path(cli_env)).add(1, tool_output("c", "a map"), status="interrupted")
    doc = json.loads(invoke(["history", "export", "-f", "json"], cli_env).stdout)
    reply, result = doc["messages"][1:]
    assert reply["role"] == "assistant" and reply["content"] == "Rain today."
    assert reply["parts"] == [
        {"type": "text", "text": "Rain today."},
        {
            "type": "citation",
            "url": "https://a.example/one",
            "title": "First page",
            "start": 0,
            "end": 4,
        },
        {"type": "citation", "url": "https://b.example/two"},
        {
            "type": "citation",
            "url": "https://a.example/one",
            "title": "First page",
            "start": 9,
            "end": 12,
        },
        {"type": "tool_call", "id": "c", "name": "map", "arguments": "{}"},
    ]
    assert result["parts"] == [{"type": "tool_output", "call_id": "c", "text": "a map"}]
    assert result["content"] == "a map" and result["status"] == "interrupted"
    # the wire's field names are gone from the export
    assert not {"tool_calls", "tool_call_id"} & {key for m in doc["messages"] for key in m}


# -- --no-history ----------------------------------------------------------------------


def test_no_history_chat_writes_nothing_to_disk(cli_env, server):
    """Typed input, messages and /save: none of it reaches the data folder."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from aimlchat.commands.repl import Repl, loop, make_prompt_session
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    data = Path(cli_env["XDG_DATA_HOME"]) / "aimlchat"
    data.mkdir(mode=0o700)
    earlier = data / "input_history"
    earlier.write_text("\n# 2024-01-01 00:00:00\n+an earlier line\n")
    before = earlier.read_bytes()
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, environ=cli_env)
    app = App(Flags(no_history=True), env)
    repl = Repl(app, app.open_chat(stream=True), out.write)
    with create_pipe_input() as pipe:
        session = make_prompt_session(app, input=pipe, output=DummyOutput())
        pipe.send_text("a secret line\r/save mine\r/exit\r")
        loop(repl, session)
    assert server.chat_bodies()[0]["messages"][-1]["content"] == "a secret line"
    # Earlier input is still offered (Up, Ctrl-R); this session's only in memory.
    assert list(session.history.load_history_strings()) == ["an earlier line"]
    assert "history is off" in err.getvalue()
    assert sorted(p.name for p in data.iterdir()) == ["input_history"]
    assert earlier.read_bytes() == before


# -- /save in the real REPL ------------------------------------------------------------


def test_save_onto_a_taken_name_is_refused_and_history_stays_on(cli_env, server):
    assert invoke(["ask", "--no-stdin", "--session", "taken", "older"], cli_env).returncode == 0
    child = spawn(["chat"], cli_env)
    child.logfile_read = shown = io.StringIO()
    child.expect_exact("›")
    for line, expect in [
        ("/save taken", 'name "taken" is taken by conversation 1'),  # before the first message
        ("newer", REPLY),
        ("/save taken", 'name "taken" is taken by conversation 1'),
        ("again", REPLY),
        ("/save mine", "saved as 'mine'"),
    ]:
        child.sendline(line)
        child.expect_exact(expect)
        child.expect_exact("›")
    child.sendeof()
    child.expect(pexpect.EOF)
    assert "not being saved" not in shown.getvalue()
    store = Store(db_path(cli_env))
    assert store.find("taken") == 1 and store.find("mine") == 2
    assert [m.message.text for m in store.messages(1)] == ["older", REPLY]
    assert [m.message.text for m in store.messages(2)] == ["newer", REPLY, "again", REPLY]


def test_history_is_whole_in_history_db_once_a_command_ends(cli_env, server, home):
    """The console script skips the interpreter's last garbage collections; the database is
    still closed on the way out, so its WAL is folded in and a copy of history.db alone
    holds every message."""
    r = run_cli(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    folder = home / "data" / "aimlchat"
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith("history")) == [
        "history.db"
    ]


def test_list_marks_a_conversation_with_a_reply_of_unknown_cost_and_show_ids_says_so(cli_env):
    from aimlchat.messages import ESTIMATE, Cost

    store = saved(cli_env)
    cid = store.create(model="m", system=None)
    store.add(cid, user("one"))
    store.add(cid, assistant("priced"), cost=Cost(0.001245, ESTIMATE))
    store.add(cid, user("two"))
    store.add(cid, assistant("no price, no charge"))  # a model the catalogue lacked
    store.close()
    [line] = [x for x in stdout_lines(invoke(["history", "list"], cli_env)) if "one" in x]
    assert "~$0.001245+?" in line  # as batch marks a sum missing some costs
    shown = invoke(["history", "show", "--ids", str(cid)], cli_env).stdout.decode()
    priced, unpriced = shown.split("## assistant")[1:]
    assert "cost ~$0.001245" in priced and "unknown" not in priced
    assert "cost unknown" in unpriced


def test_list_says_a_conversation_whose_every_cost_is_unknown_is_unknown(cli_env):
    from aimlchat.messages import API, Cost

    store = saved(cli_env)
    paid = store.create(model="m", system=None)
    store.add(paid, user("paid for"))
    store.add(paid, assistant("charged"), cost=Cost(0.00124, API))
    unknown = store.create(model="m", system=None)
    store.add(unknown, user("nobody knows"))
    store.add(unknown, assistant("no price, no charge"))
    store.close()
    lines = stdout_lines(invoke(["history", "list"], cli_env))
    [line] = [x for x in lines if "nobody knows" in x]
    assert " ?  nobody knows" in line
    [line] = [x for x in lines if "paid for" in x]
    assert "$0.00124  paid for" in line


def test_a_cost_is_kept_to_the_micro_dollar_budgets_count_in(cli_env):
    """History's sums and a session's agree: each cost is stored rounded as it is counted."""
    from aimlchat.messages import ESTIMATE, Cost

    store = saved(cli_env)
    cid = store.create(model="m", system=None)
    store.add(cid, user("one"))
    store.add(cid, assistant("estimated"), cost=Cost(2.2176e-05, ESTIMATE))
    [reply] = [m for m in store.messages(cid) if m.role == "assistant"]
    assert reply.cost is not None and reply.cost.usd == 2.2e-05
    store.close()
