"""`history list` counts the messages `history show` shows, and `history export --all`
writes every conversation (JSON: one array; Markdown: one document after another)."""

from __future__ import annotations

import json
import re

from aimlchat.messages import assistant, user
from aimlchat.storage.store import Store
from tests.conftest import invoke
from tests.test_history import db_path


def test_list_counts_what_show_shows(cli_env):
    store = Store(db_path(cli_env))
    cid = store.create(model="m", system=None)
    store.add(cid, user("pick one"))
    store.add(cid, assistant("choice A"))
    store.add(cid, assistant("choice B"), status="choice")
    store.add(cid, user("lost"), status="failed")
    store.add(cid, assistant("old"), status="replaced")
    shown = invoke(["history", "show", str(cid)], cli_env).stdout.decode()
    headings = re.findall(r"^## ", shown, re.MULTILINE)
    listing = invoke(["history", "list"], cli_env).stdout.decode()
    assert len(headings) == 2
    assert re.search(rf"^\s+{cid}  \S+ \S+    2 msgs  pick one", listing, re.MULTILINE), listing


def conversations(cli_env) -> Store:
    store = Store(db_path(cli_env))
    for title in ("first talk", "second talk"):
        cid = store.create(model="m", system=None)
        store.add(cid, user(title))
        store.add(cid, assistant(f"reply to {title}"))
    return store


def test_export_all_as_json_is_one_array_of_every_conversation(cli_env):
    conversations(cli_env)
    r = invoke(["history", "export", "--all", "-f", "json"], cli_env)
    assert r.returncode == 0, r.stderr
    docs = json.loads(r.stdout)
    assert [d["id"] for d in docs] == [1, 2]
    assert [d["messages"][1]["content"] for d in docs] == [
        "reply to first talk",
        "reply to second talk",
    ]


def test_export_all_as_markdown_heads_each_conversation(cli_env):
    conversations(cli_env)
    r = invoke(["history", "export", "--all"], cli_env)
    assert r.returncode == 0, r.stderr
    md = r.stdout.decode()
    assert md.index("# first talk") < md.index("reply to first talk") < md.index("# second talk")
    assert "- conversation: 1" in md and "- conversation: 2" in md


def test_export_all_with_a_conversation_named_is_a_usage_error(cli_env):
    conversations(cli_env)
    r = invoke(["history", "export", "--all", "1"], cli_env)
    assert r.returncode == 2
    assert "--all" in r.stderr


def test_export_all_with_nothing_saved_is_an_empty_array(cli_env):
    r = invoke(["history", "export", "--all", "-f", "json"], cli_env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []
