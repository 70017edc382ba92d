"""The history schema as code: named migrations, applied in order, recorded by name.

llm's pattern (`llm/migrations.py`): each migration is a function, applied once inside
the write lock and recorded in `_migrations`, so a database of any age is brought up to
date by the same code, and two processes opening it at once do not both migrate.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

from aimlchat.messages import Message, Text, ToolOutput, message_from_json, parts_json
from aimlchat.storage import legacy
from aimlchat.storage.legacy import decode, plain_text

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []

# v0.1 kept its version in PRAGMA user_version; these are the migrations it stands for.
LEGACY_VERSIONS = {1: ["m001_conversations"]}

FTS_TABLE = "messages_fts"


class Skip(Exception):
    """This SQLite cannot apply the migration (no FTS5): left unrecorded, tried next time."""


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def pending(db: sqlite3.Connection) -> list[Migration]:
    """The migrations not yet recorded; read without a lock (the fast path)."""
    try:
        done = {row[0] for row in db.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError:  # no _migrations table: new, or written by v0.1
        done = set()
    return [m for m in MIGRATIONS if m.__name__ not in done]


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply what is pending; the caller holds the write lock, with foreign keys off (a
    pragma that cannot change inside a transaction). Returns the names applied."""
    if db.execute("PRAGMA foreign_keys").fetchone()[0]:
        raise RuntimeError("migrate with PRAGMA foreign_keys = OFF: a rebuild would cascade")
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    _adopt_legacy(db)
    applied = []
    for step in pending(db):  # re-read inside the lock: another process may have migrated
        try:
            step(db)
        except Skip:
            continue
        db.execute(
            "INSERT INTO _migrations(name, applied_at) VALUES (?, ?)", (step.__name__, time.time())
        )
        applied.append(step.__name__)
    return applied


def _adopt_legacy(db: sqlite3.Connection) -> None:
    if db.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0]:
        return
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for number, names in LEGACY_VERSIONS.items():
        if version >= number:
            db.executemany(
                "INSERT INTO _migrations(name, applied_at) VALUES (?, 0)", [(n,) for n in names]
            )


@migration
def m001_conversations(db: sqlite3.Connection) -> None:
    db.execute(
        """CREATE TABLE conversations (
            id INTEGER PRIMARY KEY,
            name TEXT UNIQUE,
            title TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            system TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL,
            content TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'ok',
            model TEXT,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            created_at REAL NOT NULL
        )"""
    )
    db.execute("CREATE INDEX messages_by_conversation ON messages(conversation_id, id)")
    db.execute("CREATE INDEX conversations_by_update ON conversations(updated_at)")
    # v0.1 reads user_version: at 1 it finds its schema and opens the file as before.
    db.execute("PRAGMA user_version = 1")


@migration
def m002_message_text(db: sqlite3.Connection) -> None:
    """A plain-text copy of each message to search: `content` is JSON (quotes escaped)."""
    db.execute("ALTER TABLE messages ADD COLUMN text TEXT NOT NULL DEFAULT ''")
    rows = db.execute("SELECT id, content FROM messages").fetchall()
    db.executemany(
        "UPDATE messages SET text = ? WHERE id = ?",
        [(plain_text(decode(content)), mid) for mid, content in rows],
    )


@migration
def m003_messages_fts(db: sqlite3.Connection) -> None:
    """Full-text index over `messages.text`, kept in step by triggers.

    The trigram tokenizer matches any substring of three or more characters, case
    aside: `said "hello"`, `C:\\path` and `zebra` (in "zebras") are found as typed.
    """
    try:
        db.execute(
            f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
            "text, content='messages', content_rowid='id', tokenize='trigram')"
        )
    except sqlite3.OperationalError as exc:  # no fts5 module, or no trigram (< 3.34)
        if "no such" in str(exc) or "tokenizer" in str(exc):
            raise Skip() from None
        raise
    db.execute(
        f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);
        END"""
    )
    db.execute(
        f"""CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
        END"""
    )
    db.execute(
        f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text);
        END"""
    )
    db.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")


@migration
def m004_message_reasoning(db: sqlite3.Connection) -> None:
    """The model's thinking beside its reply: kept and shown, never sent back."""
    db.execute("ALTER TABLE messages ADD COLUMN reasoning TEXT")


@migration
def m005_tool_calls(db: sqlite3.Connection) -> None:
    """An assistant message's `tool_calls` (JSON) and a tool message's `tool_call_id`,
    so a conversation that used tools loads back as a context the API accepts."""
    db.execute("ALTER TABLE messages ADD COLUMN tool_calls TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN tool_call_id TEXT")


CONVERSATION_COLUMNS = "id, name, title, model, system, created_at, updated_at"


@migration
def m006_conversation_ids_never_reused(db: sqlite3.Connection) -> None:
    """AUTOINCREMENT on conversations: a deleted conversation's id is never handed out
    again, so an old "Resume with: aimlchat chat --session 61" cannot open another one.

    SQLite cannot add it in place, so the table is rebuilt (SQLite's "12 steps" for an
    ALTER TABLE it lacks) inside the migration's transaction, with foreign keys off: on,
    the DROP would cascade and delete every message. The messages' REFERENCES
    conversations(id) ON DELETE CASCADE names the table, so it holds for the new one;
    the FTS triggers are on messages, which is not touched.
    """
    broken = len(db.execute("PRAGMA foreign_key_check").fetchall())
    db.execute(
        """CREATE TABLE conversations_new (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT UNIQUE,
            title TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            system TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        )"""
    )
    db.execute(
        f"INSERT INTO conversations_new({CONVERSATION_COLUMNS})"
        f" SELECT {CONVERSATION_COLUMNS} FROM conversations"
    )
    db.execute("DROP TABLE conversations")
    db.execute("ALTER TABLE conversations_new RENAME TO conversations")
    db.execute("CREATE INDEX conversations_by_update ON conversations(updated_at)")
    # Every message must still have its conversation (bar any orphans it already had).
    if len(db.execute("PRAGMA foreign_key_check").fetchall()) > broken:
        raise sqlite3.IntegrityError("rebuilding conversations lost a message's conversation")


@migration
def m007_message_parts(db: sqlite3.Connection) -> None:
    """Each message in the neutral form (`aimlchat.messages`), as JSON in `parts`: what
    history reads from now on, in no API's wire shape.

    Filled for every row from 0.2.0's columns by the frozen reader in `storage.legacy`
    (never an API adapter: a migration reads the same rows the same way forever). The
    columns stay as they were: nothing is dropped, and 0.2.x still reads them. A row
    they do not parse as keeps its text (never a failed upgrade). Runs in the one
    transaction of the upgrade: stopped half way, the database is the 0.2.0 one it was.

    Converted in batches of at most BATCH_BYTES of new `parts` (one row at a time
    past that), never a fixed number of rows: with images of up to 20 MB each, 500 rows
    could be gigabytes. The SELECT is finished before each batch is written, since
    SQLite leaves undefined what a pending read sees of the same connection's writes.
    """
    db.execute("ALTER TABLE messages ADD COLUMN parts TEXT")
    last = 0
    while True:
        batch: list[tuple[str, int]] = []
        size = 0
        cursor = db.execute(
            f"SELECT id, {legacy.COLUMNS} FROM messages WHERE id > ? ORDER BY id", (last,)
        )
        try:
            for mid, *row in cursor:
                parts = encode_parts(legacy.read(*row))
                batch.append((parts, mid))
                last = mid
                size += len(parts)
                if size >= BATCH_BYTES:
                    break
        finally:
            cursor.close()
        if not batch:
            return
        db.executemany("UPDATE messages SET parts = ? WHERE id = ?", batch)


# About this much converted `parts` (characters) is held before it is written.
BATCH_BYTES = 32 * 1024 * 1024


@migration
def m008_message_cost(db: sqlite3.Connection) -> None:
    """What each reply cost and the ids that trace it: `cost_usd` with `cost_source`
    ("api": the charge the API reported; "estimate": catalogue prices times tokens),
    the API's `inference_id` (x-inference-id, the id its charge is filed under) and the
    `client_request_id` the request was sent with. Rows from before stay NULL: unknown."""
    for column in ("cost_usd REAL", "cost_source TEXT", "inference_id TEXT"):
        db.execute(f"ALTER TABLE messages ADD COLUMN {column}")
    db.execute("ALTER TABLE messages ADD COLUMN client_request_id TEXT")
    # `aimlchat usage` and max_cost_per_day sum a window of replies by time.
    db.execute("CREATE INDEX IF NOT EXISTS messages_by_time ON messages(created_at)")


# -- content ------------------------------------------------------------------------------


def encode_parts(message: Message) -> str:
    return json.dumps(parts_json(message), ensure_ascii=False)


def decode_parts(
    role: str,
    parts: str | None,
    content: str,
    reasoning: str | None = None,
    tool_calls: str | None = None,
    tool_call_id: str | None = None,
    text: str | None = None,
) -> Message:
    """A row's message: from `parts`; from 0.2.0's columns when `parts` is empty (a row
    0.2.x added to an upgraded database, or a read-only 0.2.x file) or unreadable."""
    if parts is not None:
        try:
            return message_from_json(role, json.loads(parts))
        except ValueError:
            pass
    return legacy.read(role, content, reasoning, tool_calls, tool_call_id, text)


def search_text(message: Message) -> str:
    """What a message says, for search and titles: its text and a tool's output (as
    0.2.0's `text` column held them); images, calls and thinking left out."""
    return "\n".join(p.text for p in message.parts if isinstance(p, (Text, ToolOutput)))
