"""History keeps tool rounds: `tool_calls` and `tool_call_id` columns (migration m005),
loaded back as messages the API accepts; older databases upgrade in place."""

from __future__ import annotations

import sqlite3

from aimlchat.storage import migrations
from aimlchat.storage.store import Store

CALL = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}


def test_a_tool_round_loads_back_as_api_messages(tmp_path):
    store = Store(tmp_path / "history.db")
    cid = store.create(model="m", system=None)
    store.add(cid, "user", "weather?")
    store.add(cid, "assistant", None, tool_calls=[CALL])
    store.add(cid, "assistant", "", tool_calls=[CALL])
    store.add(cid, "tool", "sunny", tool_call_id="c1")
    store.add(cid, "assistant", "Sunny.")
    loaded = [m.for_api() for m in store.messages(cid)]
    assert loaded == [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "tool_calls": [CALL]},  # no null, no empty content
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
        {"role": "assistant", "content": "Sunny."},
    ]


def test_a_database_from_before_tool_calls_upgrades_and_keeps_its_rows(tmp_path, monkeypatch):
    path = tmp_path / "history.db"
    earlier = [m for m in migrations.MIGRATIONS if m.__name__ != "m005_tool_calls"]
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
    assert [m.for_api() for m in store.messages(1)] == [{"role": "user", "content": "hello"}]
    store.add(1, "tool", "x", tool_call_id="c9")
    assert store.messages(1)[-1].tool_call_id == "c9"
