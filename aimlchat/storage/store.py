"""Conversation history in SQLite (WAL): written as it happens, readable after a crash.

A message row is committed the moment it exists: the user's message when it is sent,
the reply when it completes or is cut short. Nothing is deleted by /retry or /undo;
rows are marked and left out of the context instead, so no word is ever lost.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aimlchat.errors import StoreError
from aimlchat.fsutil import private_dir, private_file

# Statuses of a message. The first three are part of the conversation sent to the model.
ACTIVE = ("ok", "interrupted", "incomplete")
# "failed": the request never produced a reply; "replaced": /retry; "undone": /undo.

MIGRATIONS: list[str] = [
    # 1: conversations and messages
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        name TEXT UNIQUE,
        title TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        system TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        content TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'ok',
        model TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX conversations_by_update ON conversations(updated_at);
    """,
]


@dataclass(frozen=True)
class StoredMessage:
    id: int
    role: str
    content: Any  # str, or a list of parts
    status: str
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: float

    def for_api(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class ConversationInfo:
    id: int
    name: str | None
    title: str
    model: str
    system: str | None
    created_at: float
    updated_at: float
    messages: int


def _decode(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content  # written by hand or by an older tool: keep it as text


def _encode(content: Any) -> str:
    # Always JSON, so a string and a list of parts come back as what they were.
    return json.dumps(content, ensure_ascii=False)


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            private_dir(path.parent)
            private_file(path)  # sqlite would create it with the umask's mode
            self._db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 10000")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None
        except OSError as exc:
            raise StoreError(
                f"cannot open the history database {path}: {exc.strerror or exc}"
            ) from None

    def _error(self, exc: Exception) -> StoreError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StoreError(f"the history database {self.path} is locked by another process")
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return StoreError(
                f"the history database {self.path} is damaged ({text})",
                hint="move it aside to start a fresh one",
            )
        return StoreError(f"history database {self.path}: {text}")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS, start=1):
            if number <= version:
                continue
            with self._tx() as db:
                # Re-check inside the write lock: another process may have migrated.
                if db.execute("PRAGMA user_version").fetchone()[0] >= number:
                    continue
                for statement in script.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    def close(self) -> None:
        self._db.close()

    # -- conversations ----------------------------------------------------------------

    def create(self, *, model: str, system: str | None, name: str | None = None) -> int:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO conversations(name, model, system, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, model, system, now, now),
            )
            return int(cur.lastrowid or 0)

    def find(self, ref: str) -> int | None:
        """A conversation by name, or by id."""
        try:
            row = self._db.execute("SELECT id FROM conversations WHERE name = ?", (ref,)).fetchone()
            if row is None and ref.isdigit():
                row = self._db.execute(
                    "SELECT id FROM conversations WHERE id = ?", (int(ref),)
                ).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return int(row[0]) if row else None

    def latest(self) -> int | None:
        try:
            row = self._db.execute(
                "SELECT id FROM conversations ORDER BY updated_at DESC, id DESC LIMIT 1"
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return int(row[0]) if row else None

    def info(self, conversation_id: int) -> ConversationInfo | None:
        rows = self._list("WHERE c.id = ?", (conversation_id,), 1)
        return rows[0] if rows else None

    def conversations(self, limit: int = 20, search: str | None = None) -> list[ConversationInfo]:
        if search:
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            return self._list(
                "WHERE c.id IN (SELECT conversation_id FROM messages WHERE content LIKE ? "
                "ESCAPE '\\') OR c.name LIKE ? ESCAPE '\\'",
                (like, like),
                limit,
            )
        return self._list("", (), limit)

    def _list(self, where: str, args: tuple[Any, ...], limit: int) -> list[ConversationInfo]:
        sql = (
            "SELECT c.id, c.name, c.title, c.model, c.system, c.created_at, c.updated_at,"
            " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id)"
            f" FROM conversations c {where} ORDER BY c.updated_at DESC, c.id DESC LIMIT ?"
        )
        try:
            rows = self._db.execute(sql, (*args, limit)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return [ConversationInfo(*row) for row in rows]

    def rename(self, conversation_id: int, name: str) -> None:
        with self._tx() as db:
            other = db.execute("SELECT id FROM conversations WHERE name = ?", (name,)).fetchone()
            if other and other[0] != conversation_id:
                db.execute("UPDATE conversations SET name = NULL WHERE id = ?", (other[0],))
            db.execute("UPDATE conversations SET name = ? WHERE id = ?", (name, conversation_id))

    def update(self, conversation_id: int, *, model: str, system: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE conversations SET model = ?, system = ? WHERE id = ?",
                (model, system, conversation_id),
            )

    def delete(self, conversation_id: int) -> bool:
        with self._tx() as db:
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cur.rowcount > 0

    # -- messages -------------------------------------------------------------------

    def add(
        self,
        conversation_id: int,
        role: str,
        content: Any,
        *,
        status: str = "ok",
        model: str | None = None,
        usage: tuple[int, int] | None = None,
    ) -> int:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO messages(conversation_id, role, content, status, model,"
                " prompt_tokens, completion_tokens, created_at) VALUES (?,?,?,?,?,?,?,?)",
                (
                    conversation_id,
                    role,
                    _encode(content),
                    status,
                    model,
                    usage[0] if usage else None,
                    usage[1] if usage else None,
                    now,
                ),
            )
            title = _title(content) if role == "user" else None
            db.execute(
                "UPDATE conversations SET updated_at = ?,"
                " title = CASE WHEN title = '' AND ? IS NOT NULL THEN ? ELSE title END"
                " WHERE id = ?",
                (now, title, title, conversation_id),
            )
            return int(cur.lastrowid or 0)

    def set_status(self, message_id: int, status: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE messages SET status = ? WHERE id = ?", (status, message_id))

    def messages(self, conversation_id: int, *, all_statuses: bool = False) -> list[StoredMessage]:
        sql = (
            "SELECT id, role, content, status, model, prompt_tokens, completion_tokens,"
            " created_at FROM messages WHERE conversation_id = ?"
        )
        if not all_statuses:
            sql += " AND status IN ('ok', 'interrupted', 'incomplete')"
        try:
            rows = self._db.execute(sql + " ORDER BY id", (conversation_id,)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return [StoredMessage(r[0], r[1], _decode(r[2]), *r[3:]) for r in rows]


def _title(content: Any) -> str:
    from aimlchat.chat.conversation import text_of

    return " ".join(text_of(content).split())[:80]
