"""Conversation history in SQLite (WAL): written as it happens, readable after a crash.

A message row is committed the moment it exists: the user's message when it is sent,
the reply when it completes or is cut short. Nothing is deleted by /retry or /undo;
rows are marked and left out of the context instead, so no word is ever lost.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aimlchat.errors import StoreError, UsageError
from aimlchat.messages import API, ESTIMATE, USER, Cost, Message
from aimlchat.record import record
from aimlchat.storage import connect, legacy, migrations
from aimlchat.storage.migrations import decode_parts, encode_parts, search_text
from aimlchat.storage.refs import check_name, is_id, not_found

if TYPE_CHECKING:  # searching loads only for `history search`
    from aimlchat.storage.search import Hit
    from aimlchat.storage.spend import LocalSpend

# Statuses of a message. The first three are part of the conversation sent to the model.
ACTIVE = ("ok", "interrupted", "incomplete")
# Kept out of the context, shown by `history show --all` and in exports:
# "failed": the request never produced a reply; "replaced": /retry; "undone": /undo;
# "choice": another of the replies `-n 2` asked for (the first is the "ok" one).
CHOICE = "choice"
PARTS = "m007_message_parts"  # the migration that brought the neutral form
COSTS = "m008_message_cost"  # the one that brought each reply's cost and ids
_TRACE = "cost_usd, cost_source, inference_id, client_request_id"


class NameTaken(UsageError):
    def __init__(self, name: str, owner: int) -> None:
        super().__init__(
            f'name "{name}" is taken by conversation {owner}',
            hint=f"pick another name, or see: aimlchat history show {owner}",
        )
        self.owner = owner


@record(frozen=True)
class StoredMessage:
    """A history row: the neutral message and what history keeps beside it."""

    id: int
    message: Message
    status: str
    model: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    created_at: float
    cost: Cost | None = None  # the API's charge, or an estimate (cost.source says)
    inference_id: str | None = None  # the API's id for the request (x-inference-id)
    client_request_id: str | None = None  # the X-Client-Request-Id it was sent with

    @property
    def role(self) -> str:
        return self.message.role


@record(frozen=True)
class ConversationInfo:
    id: int
    name: str | None
    title: str
    model: str
    system: str | None
    created_at: float
    updated_at: float
    messages: int
    cost: Cost | None = None  # its replies' cost: an estimate when any part is one


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.read_only: str | None = None  # why it cannot be written, when it cannot
        self._parts = "parts"  # "NULL" for a 0.2.x database read as it is (read-only)
        self._trace = _TRACE  # NULLs for an older database read as it is (read-only)
        try:
            self._db = self._connect(path)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from None
        except OSError as exc:
            raise StoreError(
                f"cannot open the history database {path}: {exc.strerror or exc}"
            ) from None

    def _connect(self, path: Path) -> sqlite3.Connection:
        """For writing; else, when only writing is refused, for reading (connect.py)."""
        try:
            return connect.open_writable(path)
        except (OSError, sqlite3.OperationalError) as exc:
            why = connect.unwritable(exc)
            if why is None or not path.is_file():
                raise
            try:
                db = connect.open_read_only(path)
            except sqlite3.Error:
                raise exc from None  # what stopped writing says more
            self.read_only = why
            return db

    def must_write(self, doing: str = "") -> None:
        """A StoreError when the database is read-only: `doing` says what cannot be done."""
        if self.read_only is not None:
            prefix = f"cannot {doing}: " if doing else ""
            raise StoreError(
                f"{prefix}the history database {self.path} is read-only ({self.read_only})"
            )

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
        self.must_write()
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
        pending = migrations.pending(self._db)
        if not pending:  # the usual open: no write lock
            return
        names = {m.__name__ for m in pending}
        if self.read_only is not None and names <= {PARTS, COSTS}:
            # An older history on a read-only medium: read as it is (0.2.x's own columns;
            # no costs), since nothing can be written to it anyway.
            if PARTS in names:
                self._parts = "NULL"
            if COSTS in names:
                self._trace = ", ".join(["NULL"] * 4)
            return
        self.must_write("read history written by an older aimlchat (it needs upgrading)")
        # Off for the migrations' transaction (the pragma cannot change inside one): a
        # rebuilt table's DROP would otherwise cascade and delete the rows pointing at it.
        self._db.execute("PRAGMA foreign_keys = OFF")
        try:
            with self._tx() as db:
                migrations.migrate(db)
        finally:
            self._db.execute("PRAGMA foreign_keys = ON")

    def close(self) -> None:
        self._db.close()

    # -- conversations ----------------------------------------------------------------

    def create(self, *, model: str, system: str | None, name: str | None = None) -> int:
        """A new conversation; or, given a name already in use, that conversation.

        Two processes opening the same new `--session NAME` at once both get here; the
        check runs inside the write lock, so they end up in one conversation.
        """
        if name is not None:
            check_name(name)
        with self._tx() as db:
            if name is not None:
                row = db.execute("SELECT id FROM conversations WHERE name = ?", (name,)).fetchone()
                if row is not None:
                    return int(row[0])
            return self._insert(db, model=model, system=system, name=name)

    @staticmethod
    def _insert(db: sqlite3.Connection, *, model: str, system: str | None, name: str | None) -> int:
        now = time.time()
        cur = db.execute(
            "INSERT INTO conversations(name, model, system, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, model, system, now, now),
        )
        return int(cur.lastrowid or 0)

    def save_as(
        self, conversation_id: int | None, name: str, *, model: str, system: str | None
    ) -> int:
        """Name a conversation (a new, empty one when None); never another's name."""
        check_name(name)
        with self._tx() as db:
            _check_free(db, name, conversation_id)
            if conversation_id is None:
                return self._insert(db, model=model, system=system, name=name)
            db.execute("UPDATE conversations SET name = ? WHERE id = ?", (name, conversation_id))
            return conversation_id

    def find(self, ref: str) -> int | None:
        """A conversation by id when `ref` is all digits (even if an older conversation
        was given that name), else by name."""
        if not is_id(ref):
            return self._one("name", ref)
        # Past SQLite's 64-bit integers no id matches (and int() refuses 5000 digits).
        return self._one("id", int(ref)) if len(ref.lstrip("0")) <= 18 else None

    def resolve(self, ref: str | None) -> int:
        """The conversation `ref` refers to (the latest when None), or a UsageError."""
        cid = self.latest() if ref is None else self.find(ref)
        if cid is None:
            raise not_found(ref, self._one("name", ref) if ref and is_id(ref) else None)
        return cid

    def _one(self, column: str, value: int | str) -> int | None:
        try:
            row = self._db.execute(
                f"SELECT id FROM conversations WHERE {column} = ?", (value,)
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

    def conversations(self, limit: int = 20) -> list[ConversationInfo]:
        return self._list("", (), limit)

    def search(self, query: str, limit: int = 20) -> tuple[list[Hit], bool]:
        """Messages and conversation names containing every word of `query`, newest
        first; and whether the full-text index was used (False: this SQLite has no FTS5)."""
        from aimlchat.storage import search

        if not search.words(query):
            return [], True
        try:
            index = search.has_index(self._db)
            hits = search.find_messages(self._db, query, limit, index=index)
            hits += search.find_names(self._db, query, limit)
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        hits.sort(key=lambda h: h.created_at, reverse=True)
        return hits[:limit], index

    def _list(self, where: str, args: tuple[Any, ...], limit: int) -> list[ConversationInfo]:
        sql = (
            "SELECT c.id, c.name, c.title, c.model, c.system, c.created_at, c.updated_at,"
            # What `history show` shows: the messages of the conversation, not the hidden.
            " (SELECT COUNT(*) FROM messages m WHERE m.conversation_id = c.id"
            f" AND m.status IN ({', '.join('?' * len(ACTIVE))})),"
            # What it cost: every reply paid for, the hidden ones (/retry's) included.
            f" {self._cost_sums('c.id')}"
            f" FROM conversations c {where} ORDER BY c.updated_at DESC, c.id DESC LIMIT ?"
        )
        try:
            rows = self._db.execute(sql, (*ACTIVE, *args, limit)).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return [_info(row) for row in rows]

    def _cost_sums(self, conversation: str) -> str:
        """SQL for a conversation's cost and whether all of it is the API's charge."""
        if self._trace != _TRACE:  # an older database, read as it is: no costs
            return "NULL, 1"
        rows = f"FROM messages m WHERE m.conversation_id = {conversation}"
        return (
            f"(SELECT SUM(m.cost_usd) {rows}),"
            f" NOT EXISTS (SELECT 1 {rows} AND m.cost_usd IS NOT NULL"
            f" AND m.cost_source IS NOT '{API}')"
        )

    def update(self, conversation_id: int, *, model: str, system: str | None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE conversations SET model = ?, system = ? WHERE id = ?",
                (model, system, conversation_id),
            )

    def delete(self, conversation_id: int) -> bool:
        self.must_write(f"delete conversation {conversation_id}")
        with self._tx() as db:
            cur = db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            return cur.rowcount > 0

    # -- messages -------------------------------------------------------------------

    def add(
        self,
        conversation_id: int,
        message: Message,
        *,
        status: str = "ok",
        model: str | None = None,
        usage: tuple[int, int] | None = None,
        cost: Cost | None = None,
        inference_id: str | None = None,
        client_request_id: str | None = None,
    ) -> int:
        """A message row, committed at once: `parts` holds the message; `text` is what
        search and titles read. 0.2.0's columns (`content`, `reasoning`, `tool_calls`,
        `tool_call_id`) are filled too, in 0.2.0's shape (`storage.legacy`): 0.2.x reads
        only those, and must still be able to continue the conversation."""
        now = time.time()
        text = search_text(message)
        old = legacy.columns(message)
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO messages(conversation_id, role, content, reasoning, tool_calls,"
                " tool_call_id, text, parts, status, model, prompt_tokens, completion_tokens,"
                f" created_at, {_TRACE}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    conversation_id,
                    message.role,
                    old.content,
                    old.reasoning,
                    old.tool_calls,
                    old.tool_call_id,
                    text,
                    encode_parts(message),
                    status,
                    model,
                    usage[0] if usage else None,
                    usage[1] if usage else None,
                    now,
                    round(cost.usd, 6) if cost else None,  # the micro-dollar budgets count in
                    cost.source if cost else None,
                    inference_id,
                    client_request_id,
                ),
            )
            title = _title(text) if message.role == USER else None
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
            "SELECT id, status, model, prompt_tokens, completion_tokens, created_at,"
            f" {self._trace}, {self._parts}, {legacy.COLUMNS}"
            " FROM messages WHERE conversation_id = ?"
        )
        if not all_statuses:
            sql += f" AND status IN ({', '.join('?' * len(ACTIVE))})"
        try:
            args = (conversation_id,) if all_statuses else (conversation_id, *ACTIVE)
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        return [_stored(row) for row in rows]

    def spent(self, since: float, until: float | None = None) -> float:
        """USD recorded for the replies created in [since, until) (Unix times; until None:
        now and on), whatever conversation they are in: the API's charges, and the
        catalogue's estimate where the server sent none (max_cost_per_day counts both);
        the sum to the micro-dollar (storage.spend.day_spent)."""
        if self._trace != _TRACE:
            return 0.0
        from aimlchat.storage.spend import day_spent

        try:
            return day_spent(self._db, since, until)
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def spend(self, since: float, until: float, by: str | None = None) -> list[LocalSpend]:
        """What history recorded of the replies in [since, until) (storage.spend)."""
        from aimlchat.storage.spend import local_spend

        try:
            return local_spend(self._db, since, until, by, costs=self._trace == _TRACE)
        except sqlite3.Error as exc:
            raise self._error(exc) from None


def _stored(r: tuple[Any, ...]) -> StoredMessage:
    mid, status, model, prompt, completion, created, usd, source, iid, rid, parts, role, *old = r
    message = decode_parts(role, parts, *old)
    cost = _cost(usd, source)
    return StoredMessage(mid, message, status, model, prompt, completion, created, cost, iid, rid)


def _info(row: tuple[Any, ...]) -> ConversationInfo:
    cid, name, title, model, system, created, updated, count, usd, exact = row
    cost = _cost(usd, API if exact else ESTIMATE)
    return ConversationInfo(cid, name, title, model, system, created, updated, count, cost)


def _cost(usd: Any, source: Any) -> Cost | None:
    if not isinstance(usd, (int, float)) or isinstance(usd, bool):
        return None
    return Cost(float(usd), API if source == API else ESTIMATE)


def _title(text: str) -> str:
    return " ".join(text.split())[:80]


def _check_free(db: sqlite3.Connection, name: str, conversation_id: int | None) -> None:
    row = db.execute("SELECT id FROM conversations WHERE name = ?", (name,)).fetchone()
    if row is not None and row[0] != conversation_id:
        raise NameTaken(name, int(row[0]))
