"""Conversation references: an all-digit reference is always an id, a name is never all
digits, ids are never handed out twice, and `history rm` asks first on a terminal."""

from __future__ import annotations

import io
import sqlite3
from pathlib import Path

import pexpect
import pytest

from aimlchat.errors import UsageError
from aimlchat.messages import assistant, user
from aimlchat.storage import migrations
from aimlchat.storage.store import Store
from tests.conftest import invoke, spawn

REPLY = "Hello from the loopback server."


def db_path(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "aimlchat" / "history.db"


def conversations(env: dict[str, str], count: int) -> Store:
    """`count` conversations, ids 1..count, each a message "m<id>" and its reply "r<id>"."""
    store = Store(db_path(env))
    for _ in range(count):
        cid = store.create(model="m", system=None)
        store.add(cid, user(f"m{cid}"))
        store.add(cid, assistant(f"r{cid}"))
    return store


def legacy_name(env: dict[str, str], cid: int, name: str) -> None:
    """A numeric name, as an earlier release let a user give one."""
    db = sqlite3.connect(db_path(env))
    db.execute("UPDATE conversations SET name = ? WHERE id = ?", (name, cid))
    db.commit()
    db.close()


def ids(env: dict[str, str]) -> list[int]:
    return sorted(c.id for c in Store(db_path(env)).conversations(limit=100))


def repl_lines(env: dict[str, str], text: str) -> tuple[object, str]:
    """Type `text` into the real REPL loop in this process; the REPL and what stderr got."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from aimlchat.commands.repl import Repl, loop, make_prompt_session
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    out, err = io.StringIO(), io.StringIO()
    streams = Environment(stdin=io.StringIO(), stdout=out, stderr=err, environ=env)
    app = App(Flags(), streams)
    repl = Repl(app, app.open_chat(stream=True), out.write)
    with create_pipe_input() as pipe:
        pipe.send_text(text)
        loop(repl, make_prompt_session(app, input=pipe, output=DummyOutput()))
    return repl, err.getvalue()


# -- an all-digit reference is an id -------------------------------------------------------


def test_session_with_an_id_resumes_that_conversation(cli_env, server):
    conversations(cli_env, 3)
    r = invoke(["ask", "--no-stdin", "--session", "2", "more"], cli_env)
    assert r.returncode == 0, r.stderr
    sent = [m["content"] for m in server.chat_bodies()[0]["messages"] if m["role"] == "user"]
    assert sent == ["m2", "more"]
    assert [m.message.text for m in Store(db_path(cli_env)).messages(2)] == [
        "m2",
        "r2",
        "more",
        REPLY,
    ]


def test_session_with_an_unknown_id_is_a_usage_error_and_creates_nothing(cli_env, server):
    conversations(cli_env, 1)
    r = invoke(["ask", "--no-stdin", "--session", "99999", "hi"], cli_env)
    assert r.returncode == 2
    assert "no conversation 99999" in r.stderr
    assert server.chat_bodies() == [] and ids(cli_env) == [1]
    for huge in ("9" * 20, "9" * 5000):  # past SQLite's integers, past int()'s digit limit
        r = invoke(["history", "show", huge], cli_env)
        assert r.returncode == 2 and "no conversation 9999" in r.stderr


def test_an_explicit_id_wins_over_an_older_numeric_name(cli_env):
    """The reported case: conversation 3 was named "4" before 4 existed."""
    conversations(cli_env, 4)
    legacy_name(cli_env, 3, "4")
    r = invoke(["history", "show", "4"], cli_env)
    assert r.returncode == 0 and r.stdout.decode().startswith("# Conversation 4\n"), r.stderr
    r = invoke(["history", "export", "4", "-f", "json"], cli_env)
    assert '"id": 4' in r.stdout.decode()
    r = invoke(["history", "rm", "4"], cli_env)
    assert r.returncode == 0 and "deleted conversation 4" in r.stderr
    assert ids(cli_env) == [1, 2, 3]


def test_a_missing_id_names_the_conversation_that_holds_it_as_a_name(cli_env):
    conversations(cli_env, 3)
    legacy_name(cli_env, 3, "7")
    r = invoke(["history", "rm", "7"], cli_env)
    assert r.returncode == 2 and "no conversation 7" in r.stderr
    assert "conversation 3 is named" in r.stderr
    assert ids(cli_env) == [1, 2, 3]


def test_history_list_shows_a_numeric_name_and_how_to_rename_it(cli_env):
    conversations(cli_env, 2)
    legacy_name(cli_env, 1, "2")
    r = invoke(["history", "list"], cli_env)
    assert r.returncode == 0
    (first,) = [line for line in r.stdout.decode().splitlines() if line.split()[0] == "1"]
    assert first.endswith("m1 (2)")
    assert 'conversation 1 is named "2"' in r.stderr and "/save" in r.stderr


def test_the_store_refuses_an_all_digit_name(tmp_path):
    store = Store(tmp_path / "history.db")
    cid = store.create(model="m", system=None)
    for name in ("5", "0042"):
        with pytest.raises(UsageError, match="would be read as"):
            store.save_as(cid, name, model="m", system=None)
        with pytest.raises(UsageError, match="would be read as"):
            store.create(model="m", system=None, name=name)
    # Other scripts' digits are not ids: int() aside, nobody types them as one.
    assert store.save_as(cid, "v2", model="m", system=None) == cid
    assert store.info(cid).name == "v2"  # type: ignore[union-attr]


def test_save_with_a_number_is_refused_and_load_takes_an_id(cli_env, server):
    conversations(cli_env, 5)
    legacy_name(cli_env, 1, "2")
    repl, err = repl_lines(cli_env, "/save 5\r/load 2\r/exit\r")
    assert '"5" would be read as conversation 5' in err
    assert "loaded conversation 2" in err
    assert repl.chat.conversation_id == 2  # type: ignore[attr-defined]
    assert Store(db_path(cli_env)).info(5).name is None  # type: ignore[union-attr]


def test_goodbye_line_names_the_id_when_the_name_is_numeric(cli_env, server):
    conversations(cli_env, 2)
    legacy_name(cli_env, 1, "2")
    child = spawn(["chat", "--session", "1"], cli_env)
    child.expect_exact("›")
    child.sendline("/exit")
    child.expect_exact("Bye. Resume with: aimlchat chat --session 1")
    child.expect(pexpect.EOF)


# -- ids are never reused ----------------------------------------------------------------


def test_after_deleting_the_newest_the_next_conversation_gets_a_new_id(cli_env, server):
    for prompt in ("one", "two"):
        assert invoke(["ask", "--no-stdin", prompt], cli_env).returncode == 0
    assert invoke(["history", "rm", "2"], cli_env).returncode == 0
    assert invoke(["ask", "--no-stdin", "three"], cli_env).returncode == 0
    assert ids(cli_env) == [1, 3]


def earlier_database(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """history.db as the release before AUTOINCREMENT left it: 4 conversations, the newest
    deleted already (its id was free to be handed out again), messages in the index."""
    new = "m006_conversation_ids_never_reused"
    before = [m for m in migrations.MIGRATIONS if m.__name__ != new]
    monkeypatch.setattr(migrations, "MIGRATIONS", before)
    store = Store(path)
    for n in range(1, 5):
        cid = store.create(model="m", system=None, name=f"c{n}")
        store.add(cid, user(f"zebra {n}"))
        store.add(cid, assistant(f"reply {n}"))
    store.delete(4)
    store.close()
    monkeypatch.undo()


def test_a_database_from_before_keeps_every_conversation_and_message(tmp_path, monkeypatch):
    path = tmp_path / "history.db"
    earlier_database(path, monkeypatch)
    store = Store(path)
    assert [(c.id, c.name, c.messages) for c in store.conversations()] == [
        (3, "c3", 2),
        (2, "c2", 2),
        (1, "c1", 2),
    ]
    assert [m.message.text for m in store.messages(2)] == ["zebra 2", "reply 2"]
    assert len(store.search("zebra")[0]) == 3
    db = sqlite3.connect(path)
    (schema,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'conversations'").fetchone()
    assert "AUTOINCREMENT" in schema
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.close()
    # Deleting still takes the messages with it, and their index entries.
    store.delete(3)
    assert store.messages(3, all_statuses=True) == []
    assert len(store.search("zebra")[0]) == 2
    # 4 was deleted before the upgrade, when nothing kept a record of it: the one id that
    # can come back. From here on none does.
    assert store.create(model="m", system=None) == 4
    store.delete(4)
    assert store.create(model="m", system=None) == 5


def test_the_upgrade_leaves_foreign_keys_on(tmp_path, monkeypatch):
    path = tmp_path / "history.db"
    earlier_database(path, monkeypatch)
    store = Store(path)
    with pytest.raises(Exception, match="FOREIGN KEY"):
        store.add(99, user("nobody's"))


# -- history rm asks on a terminal -------------------------------------------------------


def test_rm_on_a_terminal_asks_and_no_keeps_it(cli_env):
    conversations(cli_env, 2)
    r = invoke(["history", "rm", "2"], cli_env, input="n\n", stdin_tty=True, stdout_tty=True)
    assert r.returncode == 0
    assert 'delete conversation 2 "m2" (2 messages)? [y/N]' in r.stderr
    assert "kept conversation 2" in r.stderr
    assert ids(cli_env) == [1, 2]


@pytest.mark.parametrize("answer", ["", "\n", "no\n", "Y es\n"])
def test_rm_on_a_terminal_deletes_only_on_yes(cli_env, answer):
    conversations(cli_env, 1)
    r = invoke(["history", "rm", "1"], cli_env, input=answer, stdin_tty=True, stdout_tty=True)
    assert r.returncode == 0 and ids(cli_env) == [1]


@pytest.mark.parametrize("answer", ["y\n", "YES\n"])
def test_rm_on_a_terminal_deletes_on_yes(cli_env, answer):
    conversations(cli_env, 1)
    r = invoke(["history", "rm", "1"], cli_env, input=answer, stdin_tty=True, stdout_tty=True)
    assert r.returncode == 0 and "deleted conversation 1" in r.stderr
    assert ids(cli_env) == []


def test_rm_with_yes_or_without_a_terminal_does_not_ask(cli_env, capsys):
    conversations(cli_env, 2)
    r = invoke(["history", "rm", "-y", "1"], cli_env, stdin_tty=True, stdout_tty=True)
    assert r.returncode == 0 and "[y/N]" not in r.stderr
    r = invoke(["history", "rm", "2"], cli_env)  # a script: stdin is not a terminal
    assert r.returncode == 0 and "[y/N]" not in r.stderr
    assert ids(cli_env) == []
    helped = invoke(["history", "rm", "--help"], cli_env).stdout.decode()
    helped = " ".join((helped + capsys.readouterr().out).split())  # click prints help itself
    assert "--yes" in helped and "stdin is not a terminal (a script) it deletes at once" in helped


# -- export defaults to the latest; arguments are named for the user ---------------------


def test_export_without_a_reference_exports_the_latest(cli_env):
    store = conversations(cli_env, 2)
    store.add(1, user("newest words"))
    r = invoke(["history", "export"], cli_env)
    assert r.returncode == 0 and "newest words" in r.stdout.decode()


@pytest.mark.parametrize(
    ("args", "metavar"),
    [
        (["history", "rm"], "ID|NAME"),
        (["history", "search"], "TEXT"),
        (["roles", "show"], "ROLE"),
    ],
)
def test_a_missing_argument_is_named_as_the_help_shows_it(cli_env, args, metavar):
    r = invoke(args, cli_env)
    assert r.returncode == 2
    assert f"Missing argument '{metavar}'" in r.stderr, r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["history", "show"],
        ["history", "export"],
        ["history", "rm"],
        ["history", "search"],
        ["models"],
        ["roles", "show"],
        ["roles", "edit"],
    ],
)
def test_usage_lines_show_no_internal_parameter_names(cli_env, capsys, args):
    shown = invoke([*args, "--help"], cli_env).stdout.decode() + capsys.readouterr().out
    usage = shown.splitlines()[0]
    assert usage.startswith("Usage:")
    for internal in ("ref", "text", "search", "name"):
        assert f"[{internal}]" not in usage and f"{{{internal}}}" not in usage, usage
