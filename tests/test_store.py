"""The history store on real SQLite files: migrations, search, names, statuses."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from aimlchat.errors import UsageError
from aimlchat.messages import Image, Message, Text, ToolCall, assistant, tool_output, user
from aimlchat.storage import migrations
from aimlchat.storage.store import NameTaken, Store

# The schema v0.1 wrote (migration 1 of its SQL list), byte for byte.
V01_SCHEMA = """
CREATE TABLE conversations (
    id INTEGER PRIMARY KEY, name TEXT UNIQUE, title TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '', system TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL, content TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'ok',
    model TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, created_at REAL NOT NULL
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
CREATE INDEX conversations_by_update ON conversations(updated_at);
PRAGMA user_version = 1;
"""

TRICKY = [
    'he said "hello" to me',
    "line one\nline two",
    "C:\\Users\\me\\file.txt",
    "naïve café — 東京",
]


def v01_database(path: Path) -> None:
    """A history.db as aimlchat v0.1 left it: content JSON-encoded, user_version 1."""
    db = sqlite3.connect(path)
    db.executescript(V01_SCHEMA)
    db.execute("INSERT INTO conversations VALUES (1, 'old', 'he said', 'm', NULL, 100.0, 200.0)")
    contents: list[object] = [*TRICKY, [{"type": "text", "text": "a part about zebras"}]]
    for i, content in enumerate(contents):
        db.execute(
            "INSERT INTO messages(conversation_id, role, content, created_at) VALUES (1, ?, ?, ?)",
            ("user" if i % 2 == 0 else "assistant", json.dumps(content), 100.0 + i),
        )
    db.execute(  # written by hand, not JSON: kept as text
        "INSERT INTO messages(conversation_id, role, content, created_at)"
        " VALUES (1, 'user', 'plain {not json', 110.0)"
    )
    db.commit()
    db.close()


def recorded(path: Path) -> list[str]:
    db = sqlite3.connect(path)
    names = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    db.close()
    return names


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "history.db")


def texts(store: Store, query: str) -> list[str]:
    hits, _ = store.search(query)
    return [h.text for h in hits]


# -- migrations ------------------------------------------------------------------------


def test_a_v01_database_migrates_and_every_message_is_found(tmp_path):
    path = tmp_path / "history.db"
    v01_database(path)
    store = Store(path)
    assert recorded(path) == [m.__name__ for m in migrations.MIGRATIONS]
    rows = store.messages(1)
    assert [r.message.text for r in rows][:4] == TRICKY
    assert rows[4].message == Message("user", (Text("a part about zebras"),))
    assert rows[5].message == user("plain {not json")
    for text in TRICKY:
        assert texts(store, text) == [text], text
    assert texts(store, "zebra") == ["a part about zebras"]
    assert texts(store, "{not") == ["plain {not json"]
    cid = store.create(model="m", system=None)  # and it still takes new rows
    store.add(cid, user("fresh words"))
    assert texts(store, "fresh") == ["fresh words"]


def test_a_new_database_records_each_migration_by_name_once(tmp_path):
    path = tmp_path / "history.db"
    Store(path).close()
    names = recorded(path)
    assert names[:4] == [
        "m001_conversations",
        "m002_message_text",
        "m003_messages_fts",
        "m004_message_reasoning",
    ]
    assert names == [m.__name__ for m in migrations.MIGRATIONS]
    Store(path).close()
    assert recorded(path) == names
    version = sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0]
    assert version == 1  # v0.1 can still open it


def test_without_fts5_search_falls_back_and_the_index_comes_later(tmp_path, monkeypatch):
    """An SQLite without FTS5 cannot be had here: the migration is told to skip."""
    path = tmp_path / "history.db"

    def no_fts5(db: sqlite3.Connection) -> None:
        raise migrations.Skip()

    no_fts5.__name__ = "m003_messages_fts"
    later = migrations.MIGRATIONS[3:]
    monkeypatch.setattr(migrations, "MIGRATIONS", [*migrations.MIGRATIONS[:2], no_fts5, *later])
    store = Store(path)
    cid = store.create(model="m", system=None)
    for text in TRICKY:
        store.add(cid, user(text))
    hits, indexed = store.search('said "hello"')
    assert not indexed and [h.text for h in hits] == [TRICKY[0]]
    assert "m003_messages_fts" not in recorded(path)
    store.close()
    monkeypatch.undo()
    store = Store(path)  # FTS5 now available: the index is built from the rows
    hits, indexed = store.search('said "hello"')
    assert indexed and [h.text for h in hits] == [TRICKY[0]]


# -- search ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, found",
    [
        ('said "hello"', TRICKY[0]),
        ('"hello"', TRICKY[0]),
        ("one\nline", TRICKY[1]),
        ("C:\\Users\\me", TRICKY[2]),
        ("CAFÉ 東京", TRICKY[3]),
        ("zebra", "zebras AND (lions) OR tigers*"),
        ("AND (lions)", "zebras AND (lions) OR tigers*"),
        ("tigers*", "zebras AND (lions) OR tigers*"),
        ("100%_done", "it is 100%_done"),
    ],
)
def test_search_finds_text_as_typed(store, query, found):
    cid = store.create(model="m", system=None)
    for text in [*TRICKY, "zebras AND (lions) OR tigers*", "it is 100%_done", "it is 100 done"]:
        store.add(cid, user(text))
    assert texts(store, query) == [found]


@pytest.mark.parametrize(
    "query",
    ['"', "'", "AND", "OR", "NOT", "NEAR(a b)", "-", "*", "(", ")", "a:b", "^x", '"a" OR "', "\\"],
)
def test_fts_syntax_typed_by_the_user_never_raises(store, query):
    cid = store.create(model="m", system=None)
    store.add(cid, user(f"literal {query} here"))
    store.add(cid, user("zzz qqq"))
    assert texts(store, query) == [f"literal {query} here"]


def test_search_is_newest_first_limited_and_covers_every_status(store):
    cid = store.create(model="m", system=None)
    for i in range(5):
        store.add(cid, assistant(f"reply number {i}"), status="choice" if i == 2 else "ok")
    hits, _ = store.search("reply", limit=3)
    assert [h.text for h in hits] == ["reply number 4", "reply number 3", "reply number 2"]
    assert hits[2].status == "choice"


def test_search_matches_conversation_names(store):
    named = store.create(model="m", system=None, name="docker-notes")
    store.add(named, user("compose files"))
    hits, _ = store.search("docker")
    assert [(h.role, h.name, h.text) for h in hits] == [("name", "docker-notes", "compose files")]


def test_a_deleted_conversation_leaves_the_index(store):
    cid = store.create(model="m", system=None)
    store.add(cid, user("ephemeral words"))
    store.delete(cid)
    assert texts(store, "ephemeral") == []
    store._db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")


# -- names -----------------------------------------------------------------------------


def test_two_processes_opening_the_same_new_session_share_one_conversation(tmp_path):
    path = tmp_path / "history.db"
    first, second = Store(path), Store(path)
    # Both looked the name up before either created it (what open_conversation does).
    assert first.find("work") is None and second.find("work") is None
    a = first.create(model="m", system=None, name="work")
    b = second.create(model="m", system=None, name="work")
    assert a == b
    second.add(b, user("from the second"))
    assert [m.message.text for m in first.messages(a)] == ["from the second"]


def test_save_as_refuses_a_name_another_conversation_holds(store):
    owner = store.create(model="m", system=None, name="taken")
    mine = store.create(model="m", system=None)
    with pytest.raises(NameTaken) as caught:
        store.save_as(mine, "taken", model="m", system=None)
    assert isinstance(caught.value, UsageError)
    assert caught.value.message == 'name "taken" is taken by conversation 1'
    with pytest.raises(NameTaken):
        store.save_as(None, "taken", model="m", system=None)
    assert store.find("taken") == owner
    assert [c.id for c in store.conversations()] == [mine, owner]  # nothing new was made
    assert store.save_as(owner, "taken", model="m", system=None) == owner  # its own name
    new = store.save_as(None, "fresh", model="m", system="sys")
    assert store.find("fresh") == new and store.info(new).system == "sys"  # type: ignore[union-attr]


def test_choice_rows_stay_out_of_the_context(store):
    cid = store.create(model="m", system=None)
    store.add(cid, user("q"))
    store.add(cid, assistant("first choice"))
    store.add(cid, assistant("second choice"), status="choice")
    assert [m.message.text for m in store.messages(cid)] == ["q", "first choice"]
    everything = store.messages(cid, all_statuses=True)
    assert [m.status for m in everything] == ["ok", "ok", "choice"]


def test_a_new_row_holds_its_message_in_parts_and_in_0_2_0s_columns(store):
    """`parts` is what 0.3 reads; 0.2.0's columns are filled in 0.2.0's shape beside it
    (storage.legacy), so 0.2.x can still read and continue the conversation."""
    cid = store.create(model="m", system=None)
    store.add(cid, user("see this", [Image("https://x.example/a.png", "low")]))
    store.add(cid, assistant("Looking.", reasoning="hmm", calls=[ToolCall("c1", "look", "{}")]))
    store.add(cid, tool_output("c1", "a cat"))
    db = sqlite3.connect(store.path)
    rows = db.execute(
        "SELECT content, text, reasoning, tool_calls, tool_call_id, parts FROM messages"
    ).fetchall()
    image = {"type": "image_url", "image_url": {"url": "https://x.example/a.png", "detail": "low"}}
    call = {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
    assert [(json.loads(r[0]), *r[1:3], r[3] and json.loads(r[3]), r[4]) for r in rows] == [
        ([{"type": "text", "text": "see this"}, image], "see this", None, None, None),
        ("Looking.", "Looking.", "hmm", [call], None),
        ("a cat", "a cat", None, None, "c1"),
    ]
    assert json.loads(rows[1][5]) == [
        {"type": "reasoning", "text": "hmm"},
        {"type": "text", "text": "Looking."},
        {"type": "tool_call", "id": "c1", "name": "look", "arguments": "{}"},
    ]
    assert store.info(cid).title == "see this"
    assert texts(store, "cat") == ["a cat"]  # a tool's output is searched, as before
    assert texts(store, "hmm") == []  # thinking is not, as before
