"""A history.db written by aimlchat 0.2.0 itself (tests/fixtures/history-0.2.0.db, made by
tests/fixtures/make_history_0_2_0.py) opens, is upgraded to the neutral form by m007,
shows as 0.2.0 showed it, is found by search, and continues with the context 0.2.0
would have sent. The upgrade is one transaction: stopped anywhere, the file is the 0.2.0
database it was."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aimlchat.messages import (
    Image,
    Message,
    Reasoning,
    Text,
    ToolCall,
    ToolOutput,
    message_from_json,
)
from aimlchat.storage import migrations
from aimlchat.storage.store import Store
from tests.conftest import invoke, spawn

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "history-0.2.0.db"
SHOWN_BY_020 = FIXTURES / "history-0.2.0.show.txt"  # 0.2.0's `history show ID --all`
REPLY = "Hello from the loopback server."
OLD_COLUMNS = "id, conversation_id, role, content, text, status, model, prompt_tokens,"
OLD_COLUMNS += " completion_tokens, created_at, reasoning, tool_calls, tool_call_id"


@pytest.fixture
def db(cli_env: dict[str, str]) -> Path:
    """The fixture where the CLI under test keeps its history (a copy: tests write it)."""
    path = Path(cli_env["XDG_DATA_HOME"]) / "aimlchat" / "history.db"
    path.parent.mkdir(parents=True)
    shutil.copyfile(FIXTURE, path)
    return path


def connect(path: Path) -> sqlite3.Connection:
    """The committed fixture is opened immutable: no -wal or -shm beside it, no write."""
    if path == FIXTURE:
        return sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    return sqlite3.connect(path)


def dump(path: Path) -> list[str]:
    """Every table, row and index, as SQL: what the database holds, not how."""
    con = connect(path)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def as_020_sent(row: tuple[Any, ...]) -> dict[str, Any]:
    """What 0.2.0's `StoredMessage.for_api` made of a row: the context it sent."""
    role, content, tool_calls, tool_call_id = row
    content = json.loads(content)
    calls = json.loads(tool_calls) if tool_calls else None
    out: dict[str, Any] = {"role": role}
    if content is not None and (content != "" or not calls):
        out["content"] = content
    if calls:
        out["tool_calls"] = calls
    if tool_call_id is not None:
        out["tool_call_id"] = tool_call_id
    return out


def context_020(path: Path, cid: int) -> list[dict[str, Any]]:
    return [
        as_020_sent(r)
        for r in rows(
            path,
            "SELECT role, content, tool_calls, tool_call_id FROM messages WHERE conversation_id"
            f" = {cid} AND status IN ('ok', 'interrupted', 'incomplete') ORDER BY id",
        )
    ]


def sent_history(server: Any) -> list[dict[str, Any]]:
    """The last request's messages, before the new user message."""
    messages = server.chat_bodies()[-1]["messages"]
    assert [m for m in messages if m["role"] == "system"] == []
    return messages[:-1]


# -- the upgrade -----------------------------------------------------------------------


def test_the_fixture_is_what_0_2_0_left(tmp_path):
    """The fixture stays a 0.2.0 database: six migrations, no `parts`, every kind of row."""
    assert [r[0] for r in rows(FIXTURE, "SELECT name FROM _migrations ORDER BY rowid")] == [
        m.__name__ for m in migrations.MIGRATIONS[:6]
    ]
    columns = [r[1] for r in rows(FIXTURE, "PRAGMA table_info(messages)")]
    assert "parts" not in columns and "tool_calls" in columns
    statuses = {r[0] for r in rows(FIXTURE, "SELECT status FROM messages")}
    assert statuses == {"ok", "replaced", "undone", "interrupted"}


def test_opening_it_applies_m007_and_keeps_every_old_column(db):
    before = rows(db, f"SELECT {OLD_COLUMNS} FROM messages ORDER BY id")
    Store(db).close()
    names = [r[0] for r in rows(db, "SELECT name FROM _migrations ORDER BY rowid")]
    assert names == [m.__name__ for m in migrations.MIGRATIONS]
    assert "m007_message_parts" in names
    assert rows(db, f"SELECT {OLD_COLUMNS} FROM messages ORDER BY id") == before  # lossless
    assert rows(db, "SELECT COUNT(*) FROM messages WHERE parts IS NULL") == [(0,)]


def test_every_0_2_0_row_becomes_its_neutral_parts(db):
    store = Store(db)
    by_id = {m.id: m for cid in range(1, 6) for m in store.messages(cid, all_statuses=True)}
    image = by_id[5].message
    assert image.text == "What is in these pictures?"
    data_url, url = image.images
    assert data_url.url.startswith("data:image/png;base64,iVBORw0KGgo")
    assert url == Image("https://example.com/cat.png")
    thought = by_id[8].message
    assert type(thought.parts[0]) is Reasoning and thought.reasoning.startswith("Okay, the user")
    assert thought.text.startswith("The sky is **blue**")
    assert by_id[10].message == Message(
        "assistant",
        (
            Text("Let me look that up."),
            ToolCall("call_0", "read_file", '{"path": "README.md"}'),
            ToolCall("call_1", "list_dir", '{"path": "."}'),
        ),
    )
    assert by_id[11].message.parts == (
        ToolOutput("call_0", "# Demo\n\nA readme the read_file tool reads.\n"),
    )
    assert by_id[12].message.output == ToolOutput("call_1", "README.md\npixel.png")
    assert [(m.role, m.status) for m in store.messages(5, all_statuses=True)] == [
        ("user", "ok"),
        ("assistant", "replaced"),
        ("assistant", "ok"),
        ("user", "undone"),
        ("assistant", "undone"),
        ("user", "ok"),
        ("assistant", "interrupted"),
    ]
    assert by_id[20].message.text == "This reply arrives slowly, one word at a time, "
    assert store.find("fixture-chat") == 5
    assert [c.title for c in store.conversations()][-1] == "Tell me about zebras"


def test_history_show_prints_every_message_as_0_2_0_did(db, cli_env):
    shown = b""
    for cid in range(1, 6):
        r = invoke(["history", "show", str(cid), "--all"], cli_env)
        assert r.returncode == 0, r.stderr
        shown += r.stdout
    assert shown.decode() == SHOWN_BY_020.read_text()


def test_search_finds_words_of_every_kind_of_row(db, cli_env):
    def hits(query: str) -> list[str]:
        r = invoke(["history", "search", query], cli_env)
        assert r.returncode == 0, r.stderr
        return r.stdout.decode().splitlines()

    assert [h.split("  ")[-1] for h in hits("zebras")] == ["user: Tell me about zebras"]
    assert any("tool" in h and "read_file tool reads" in h for h in hits("read_file tool"))
    assert any("user (fixture-chat): Third question" in h for h in hits("cut short"))
    assert any('conversation "fixture-chat"' in h for h in hits("fixture-chat"))


def test_export_json_gives_each_migrated_message_its_parts(db, cli_env):
    r = invoke(["history", "export", "4", "-f", "json"], cli_env)
    assert r.returncode == 0, r.stderr
    messages = json.loads(r.stdout)["messages"]
    assert [message_from_json(m["role"], m["parts"]) for m in messages] == [
        m.message for m in Store(db).messages(4, all_statuses=True)
    ]
    assert messages[1]["content"] == "Let me look that up."
    assert messages[1]["usage"] == {"prompt_tokens": 50, "completion_tokens": 20}
    assert messages[2]["content"].startswith("# Demo")  # a tool's output is its content


# -- continuing it ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, cid",
    [
        (["-c"], 5),  # the latest: a retried, an undone and an interrupted reply
        (["--session", "4"], 4),  # a tool round: calls and their outputs, in order
        (["--session", "3"], 3),  # a reasoning reply: its thinking is never sent
        (["--session", "2"], 2),  # an image and an image URL
        (["--session", "fixture-chat"], 5),
    ],
)
def test_ask_continues_it_with_the_context_0_2_0_sent(db, cli_env, server, args, cid):
    expected = context_020(FIXTURE, cid)  # read from the untouched 0.2.0 file
    r = invoke(["ask", "--no-stdin", *args, "and now?"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().startswith(REPLY)
    assert sent_history(server) == expected
    assert server.chat_bodies()[-1]["messages"][-1] == {"role": "user", "content": "and now?"}
    body = json.dumps(server.chat_bodies()[-1])
    assert "reasoning" not in body and "Rayleigh" not in body


def test_the_tool_round_is_sent_as_calls_then_their_outputs(db, cli_env, server):
    r = invoke(["ask", "--no-stdin", "--session", "4", "thanks"], cli_env)
    assert r.returncode == 0, r.stderr
    sent = sent_history(server)
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "assistant"]
    assert [c["id"] for c in sent[1]["tool_calls"]] == ["call_0", "call_1"]
    assert [c["function"]["name"] for c in sent[1]["tool_calls"]] == ["read_file", "list_dir"]
    assert [m["tool_call_id"] for m in sent[2:4]] == ["call_0", "call_1"]
    # and what was added since is read back in the new form
    assert [m.message.text for m in Store(db).messages(4)][-2:] == ["thanks", REPLY]


@pytest.mark.pty
def test_chat_continue_resumes_it_on_a_terminal(db, cli_env, server):
    child = spawn(["chat", "--continue"], cli_env)
    child.expect_exact("›")
    child.sendline("one more")
    child.expect_exact(REPLY)
    child.expect_exact("›")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert sent_history(server) == context_020(FIXTURE, 5)
    shown = invoke(["history", "show", "5"], cli_env).stdout.decode()
    assert shown.endswith(f"## user\n\none more\n\n## assistant\n\n{REPLY}\n")


# -- rows the upgrade meets --------------------------------------------------------------


def test_a_row_whose_old_columns_do_not_parse_keeps_its_text(db):
    con = sqlite3.connect(db)
    con.execute(
        "INSERT INTO messages(conversation_id, role, content, text, created_at, reasoning,"
        " tool_calls) VALUES (4, 'assistant', '\"half a reply\"', 'half a reply', 1, 'hmm',"
        ' \'[{"id": "c", "function": \')'
    )
    con.execute(  # a call list that is not a list
        "INSERT INTO messages(conversation_id, role, content, text, created_at, tool_calls)"
        " VALUES (4, 'assistant', '\"odd\"', 'odd', 2, '{\"id\": 1}')"
    )
    con.commit()
    con.close()
    messages = [m.message for m in Store(db).messages(4)][-2:]
    assert messages == [
        Message("assistant", (Reasoning("hmm"), Text("half a reply"))),
        Message("assistant", (Text("odd"),)),
    ]
    assert rows(db, "SELECT tool_calls FROM messages WHERE content = '\"odd\"'") == [('{"id": 1}',)]


def test_a_row_an_older_aimlchat_adds_after_the_upgrade_is_read_from_its_columns(db):
    """0.2.x opens an upgraded database (every migration it knows is recorded) and
    writes rows its way, `parts` empty: they read as what they say."""
    Store(db).close()
    con = sqlite3.connect(db)
    call = [{"id": "k1", "type": "function", "function": {"name": "clock", "arguments": "{}"}}]
    con.executemany(  # 0.2.0's own INSERT (aimlchat/storage/store.py, Store.add)
        "INSERT INTO messages(conversation_id, role, content, text, status, model,"
        " prompt_tokens, completion_tokens, created_at, reasoning, tool_calls,"
        " tool_call_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (4, "assistant", '""', "", "ok", "m", 1, 2, 3.0, "think", json.dumps(call), None),
            (4, "tool", '"12:00"', "12:00", "ok", None, None, None, 4.0, None, None, "k1"),
        ],
    )
    con.commit()
    con.close()
    messages = [m.message for m in Store(db).messages(4)][-2:]
    assert messages == [
        Message("assistant", (Reasoning("think"), Text(""), ToolCall("k1", "clock", "{}"))),
        Message("tool", (ToolOutput("k1", "12:00"),)),
    ]


def test_on_a_read_only_medium_it_is_shown_searched_and_continued_without_upgrading(
    db, cli_env, server
):
    """A 0.2.0 history that cannot be written (a read-only mount) cannot be upgraded:
    it is read through its own columns, as 0.2.0 read it."""
    from tests.test_read_only_history import _can_mount, read_only

    data = Path(cli_env["XDG_DATA_HOME"])
    if not _can_mount(data):
        pytest.skip("cannot bind-mount read-only here (needs root or a user namespace)")
    shown = "".join(
        read_only(["history", "show", str(cid), "--all"], cli_env, data).stdout
        for cid in range(1, 6)
    )
    assert shown == SHOWN_BY_020.read_text()
    found = read_only(["history", "search", "zebras"], cli_env, data)
    assert found.returncode == 0 and "Tell me about zebras" in found.stdout, found.stderr
    asked = read_only(["ask", "--session", "4", "and now?"], cli_env, data)
    assert asked.returncode == 0, asked.stderr
    assert sent_history(server) == context_020(FIXTURE, 4)
    assert dump(db) == dump(FIXTURE)  # not upgraded


# -- stopped half way ------------------------------------------------------------------


def test_a_failure_inside_the_upgrade_leaves_the_0_2_0_database_as_it_was(db, monkeypatch):
    before = dump(db)
    converted = 0
    real = migrations.encode_parts

    def fail_half_way(message: Message) -> str:
        nonlocal converted
        converted += 1
        if converted == 10:
            raise RuntimeError("stopped half way")
        return real(message)

    monkeypatch.setattr(migrations, "encode_parts", fail_half_way)
    with pytest.raises(RuntimeError, match="half way"):
        Store(db)
    assert converted == 10
    assert dump(db) == before
    monkeypatch.undo()
    assert Store(db).messages(1)[0].message.text == "Tell me about zebras"  # then it upgrades


def test_a_process_killed_inside_the_upgrade_leaves_the_0_2_0_database_as_it_was(db):
    """A real crash (os._exit: no rollback, no close) at the 10th row: the next open
    finds the 0.2.0 database, and upgrades it."""
    before = dump(db)
    script = (
        "import os, sys\n"
        "from aimlchat.storage import migrations\n"
        "from aimlchat.storage.store import Store\n"
        "real, seen = migrations.encode_parts, []\n"
        "def crash(message):\n"
        "    seen.append(1)\n"
        "    if len(seen) == 10:\n"
        "        os._exit(9)\n"
        "    return real(message)\n"
        "migrations.encode_parts = crash\n"
        "Store(__import__('pathlib').Path(sys.argv[1]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(db)], timeout=60)
    assert done.returncode == 9
    assert dump(db) == before
    store = Store(db)
    assert [m.message.images[1] for m in store.messages(2)[:1]] == [
        Image("https://example.com/cat.png")
    ]


# -- 0.2.x reading what 0.3 wrote --------------------------------------------------------


def test_0_2_x_continues_a_conversation_0_3_wrote(tmp_path):
    """0.2.x reads only its own columns: every row 0.3 adds fills them in 0.2.0's shape,
    so 0.2.x's `for_api` (`as_020_sent`) sends a context the API accepts — calls before
    their outputs with ids, images kept, thinking stored and never sent."""
    from aimlchat.messages import Citation, ToolOutput, assistant, tool_output, user

    path = tmp_path / "history.db"
    store = Store(path)
    cid = store.create(model="m", system=None)
    pixel = "data:image/png;base64,iVBORw0KGgo="
    store.add(cid, user("What is this?", [Image(pixel), Image("https://x.test/a.png", "low")]))
    calls = [
        ToolCall("c1", "read_file", '{"path": "a"}'),
        ToolCall("c2", "clock", ""),  # no arguments: sent as {}
        ToolCall("c3", "broken", "{not json"),  # what the model sent: sent as {}
    ]
    store.add(cid, assistant("", calls=calls, reasoning="Let me think."), model="m")
    for call in calls:
        store.add(cid, tool_output(call.id, f"out {call.id}"))
    store.add(
        cid,
        Message(
            "assistant",
            (
                Reasoning("", {"api": "responses", "encrypted_content": "x"}),
                Text("Done."),
                Citation("https://src.test", "Src"),
            ),
        ),
    )
    store.close()
    sent = [
        as_020_sent(r)
        for r in rows(path, "SELECT role, content, tool_calls, tool_call_id FROM messages")
    ]
    assert sent == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": pixel}},
                {
                    "type": "image_url",
                    "image_url": {"url": "https://x.test/a.png", "detail": "low"},
                },
            ],
        },
        {
            "role": "assistant",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "a"}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
                {"id": "c3", "type": "function", "function": {"name": "broken", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "content": "out c1", "tool_call_id": "c1"},
        {"role": "tool", "content": "out c2", "tool_call_id": "c2"},
        {"role": "tool", "content": "out c3", "tool_call_id": "c3"},
        {"role": "assistant", "content": "Done."},
    ]
    assert rows(path, "SELECT reasoning FROM messages ORDER BY id") == [
        (None,),
        ("Let me think.",),
        (None,),
        (None,),
        (None,),
        (None,),  # a Responses item with no summary: nothing 0.2.x could show
    ]
    # 0.2.0's `text` column, which its search and titles read
    assert rows(path, "SELECT text FROM messages ORDER BY id LIMIT 3") == [
        ("What is this?",),
        ("",),
        ("out c1",),
    ]
    # and 0.3 itself still reads the parts, with what 0.2.x's columns cannot hold
    again = [m.message for m in Store(path).messages(cid)]
    assert again[1].calls[2].arguments_text == "{not json"
    assert again[-1].citations == (Citation("https://src.test", "Src"),)
    assert again[2].parts == (ToolOutput("c1", "out c1"),)


def test_a_0_2_0_row_reads_back_as_the_message_it_was_written_from():
    """storage.legacy both ways: what a new row puts in 0.2.0's columns is read back
    (by m007's reader) as the message, bar what 0.2.0 had no column for."""
    from aimlchat.messages import assistant, tool_output, user
    from aimlchat.storage import legacy

    clock = ToolCall("k", "clock", "{}")
    cases: list[tuple[Message, Message | None]] = [
        (
            user("hi", [Image("https://x.test/a.png", "high"), Image("data:image/png;base64,AA")]),
            None,
        ),
        (user("plain"), None),
        (
            assistant("Sure.", reasoning="hmm", calls=[ToolCall("k", "clock", '{"tz": "UTC"}')]),
            None,
        ),
        # 0.2.0 stored an empty reply beside calls as "", and reads it back so
        (assistant("", calls=[clock]), Message("assistant", (Text(""), clock))),
        (tool_output("k", "12:00"), None),
        (assistant("just text"), None),
    ]
    for message, expected in cases:
        row = legacy.columns(message)
        again = legacy.read(
            message.role, row.content, row.reasoning, row.tool_calls, row.tool_call_id, None
        )
        assert again == (expected or message)


def test_the_0_2_0_reader_reads_the_chat_completions_message_shape():
    """`legacy.from_020`: a 0.2.0 message as its `for_api` made it (the Chat Completions
    shape), as a neutral one; what m007 uses, frozen."""
    from aimlchat.storage import legacy

    assert legacy.from_020(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"type": "function", "function": {"name": "f", "arguments": {"a": 1}}},
                "junk",
            ],
        },
        reasoning="r",
    ) == Message("assistant", (Reasoning("r"), ToolCall("call_0", "f", '{"a": 1}')))
    assert legacy.from_020({"role": "tool", "content": None}) == Message(
        "tool", (ToolOutput("", ""),)
    )
    assert legacy.from_020({"role": "user", "content": 42}).text == "42"


# -- the upgrade's memory ----------------------------------------------------------------


def test_the_upgrade_holds_a_bounded_amount_of_history_in_memory(db, monkeypatch):
    """m007 reads by bytes, not by rows: a history of big images is converted in batches
    bounded by BATCH_BYTES (32 MB; 1 MB here), so one page can never reach gigabytes."""
    import tracemalloc

    big = "data:image/png;base64," + "A" * 500_000
    content = json.dumps(
        [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": big}}]
    )
    con = sqlite3.connect(db)
    con.executemany(
        "INSERT INTO messages(conversation_id, role, content, text, created_at)"
        " VALUES (2, 'user', ?, 'look', ?)",
        [(content, 100.0 + i) for i in range(40)],  # 20 MB of images
    )
    con.commit()
    con.close()
    monkeypatch.setattr(migrations, "BATCH_BYTES", 1_000_000, raising=False)
    tracemalloc.start()
    try:
        Store(db).close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 6_000_000, f"peak {peak:,} bytes"
    assert rows(db, "SELECT COUNT(*) FROM messages WHERE parts IS NULL") == [(0,)]
    last = Store(db).messages(2)[-1].message
    assert last.text == "look" and last.images == (Image(big),)


# -- damaged 0.2.0 rows ------------------------------------------------------------------


def _damage(db: Path, sql: str, *args: Any) -> None:
    con = sqlite3.connect(db)
    con.execute(sql, args)
    con.commit()
    con.close()


def test_an_image_part_without_a_url_is_left_out_and_its_text_kept(db, cli_env, server):
    """A 0.2.0 row whose image part has `image_url: null` (or a number) upgrades to its text
    and its good images, never to an image whose URL is "None"."""
    cat = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    content = [
        {"type": "text", "text": "What is in these pictures?"},
        {"type": "image_url", "image_url": None},
        {"type": "image_url", "image_url": 7},
        {"type": "image_url", "image_url": {"url": None}},
        cat,
    ]
    _damage(db, "UPDATE messages SET content = ? WHERE id = 5", json.dumps(content))
    message = Store(db).messages(2)[0].message
    assert message.text == "What is in these pictures?"
    assert message.images == (Image("https://example.com/cat.png"),)
    r = invoke(["ask", "--no-stdin", "--session", "2", "and now?"], cli_env)
    assert r.returncode == 0, r.stderr
    assert sent_history(server)[0]["content"] == [content[0], cat]


def test_tool_results_whose_calls_cannot_be_read_are_left_out_of_the_context(db, cli_env, server):
    """A 0.2.0 row with unreadable `tool_calls` loses its calls (its text is kept); their
    outputs, with no call before them, are left out of what is sent (an API refuses them),
    kept in history, and the load says so."""
    _damage(db, "UPDATE messages SET tool_calls = ? WHERE id = 10", '[{"id": "call_0", "func')
    r = invoke(["ask", "--no-stdin", "--session", "4", "and now?"], cli_env)
    assert r.returncode == 0, r.stderr
    assert [(m["role"], m.get("content", "")[:20]) for m in sent_history(server)] == [
        ("user", "Look at the readme"),
        ("assistant", "Let me look that up."),
        ("assistant", "The tools said:\n\n> #"),
    ]
    assert all("tool_calls" not in m for m in sent_history(server))
    assert "2 tool results whose call is not in the conversation left out" in r.stderr
    assert [m.role for m in Store(db).messages(4)][:5] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
    ]
