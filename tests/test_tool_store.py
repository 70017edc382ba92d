"""History keeps tool rounds: an assistant's calls and each tool output, in order, loaded
back as the neutral messages they were; older databases upgrade in place."""

from __future__ import annotations

import sqlite3

from aimlchat.messages import ToolCall, assistant, tool_output, user
from aimlchat.storage import migrations
from aimlchat.storage.store import Store

CALL = ToolCall("c1", "weather", '{"city": "Paris"}')


def test_a_tool_round_loads_back_as_the_messages_it_was(tmp_path):
    store = Store(tmp_path / "history.db")
    cid = store.create(model="m", system=None)
    sent = [
        user("weather?"),
        assistant(calls=[CALL]),
        assistant("Let me look.", calls=[CALL, ToolCall("c2", "clock", "")]),
        tool_output("c1", "sunny"),
        assistant("Sunny.", reasoning="it said sunny"),
    ]
    for message in sent:
        store.add(cid, message)
    assert [m.message for m in store.messages(cid)] == sent
    assert [m.role for m in store.messages(cid)] == [
        "user",
        *["assistant"] * 2,
        "tool",
        "assistant",
    ]


def test_a_database_from_before_tool_calls_upgrades_and_keeps_its_rows(tmp_path, monkeypatch):
    path = tmp_path / "history.db"
    earlier = [
        m
        for m in migrations.MIGRATIONS
        if m.__name__ not in ("m005_tool_calls", "m007_message_parts")
    ]
    monkeypatch.setattr(migrations, "MIGRATIONS", earlier)
    db = sqlite3.connect(path, isolation_level=None)
    migrations.migrate(db)
    db.execute("INSERT INTO conversations(id, model, created_at, updated_at) VALUES (1, 'm', 0, 0)")
    db.execute(
        "INSERT INTO messages(conversation_id, role, content, created_at)"
        " VALUES (1, 'user', '\"hello\"', 0)"
    )
    db.close()
    monkeypatch.undo()
    store = Store(path)
    assert [m.message for m in store.messages(1)] == [user("hello")]
    store.add(1, tool_output("c9", "x"))
    assert store.messages(1)[-1].message.output == tool_output("c9", "x").output
