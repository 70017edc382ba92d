"""Search over saved messages and conversation names: the user's text, taken literally.

The query is split on whitespace; a hit contains every word as typed (case aside), in
any order. Words reach SQLite only as FTS5 strings (`"…"`, quotes doubled) or as LIKE
patterns with `%`, `_` and `\\` escaped, so AND, NEAR, `*`, `-`, parentheses or a lone
`"` are text to find, never syntax. The trigram index needs three characters: shorter
words, and every word when this SQLite has no FTS5, are matched with LIKE.
"""

from __future__ import annotations

import sqlite3

from aimlchat.record import record
from aimlchat.storage.migrations import FTS_TABLE

TRIGRAM = 3  # the shortest word the trigram index can find


@record(frozen=True)
class Hit:
    conversation_id: int
    name: str | None
    role: str  # "name" when the conversation's name matched, not a message
    status: str
    text: str  # the message's plain text, or the conversation's title
    created_at: float


def words(query: str) -> list[str]:
    return query.split()


def has_index(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (FTS_TABLE,)).fetchone()
    return row is not None


def _fts_string(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_messages(db: sqlite3.Connection, query: str, limit: int, *, index: bool) -> list[Hit]:
    terms = words(query)
    indexed = [w for w in terms if index and len(w) >= TRIGRAM]
    where: list[str] = []
    args: list[str | int] = []
    if indexed:
        where.append(f"m.id IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?)")
        args.append(" AND ".join(_fts_string(w) for w in indexed))
    for word in terms:
        if word not in indexed:
            where.append("m.text LIKE ? ESCAPE '\\'")
            args.append(_like(word))
    sql = (
        "SELECT m.conversation_id, c.name, m.role, m.status, m.text, m.created_at"
        " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        f" WHERE {' AND '.join(where)} ORDER BY m.created_at DESC, m.id DESC LIMIT ?"
    )
    return [Hit(*row) for row in db.execute(sql, (*args, limit))]


def find_names(db: sqlite3.Connection, query: str, limit: int) -> list[Hit]:
    terms = words(query)
    where = " AND ".join("c.name LIKE ? ESCAPE '\\'" for _ in terms)
    sql = (
        "SELECT c.id, c.name, 'name', 'ok', c.title, c.updated_at FROM conversations c"
        f" WHERE {where} ORDER BY c.updated_at DESC, c.id DESC LIMIT ?"
    )
    return [Hit(*row) for row in db.execute(sql, (*(_like(w) for w in terms), limit))]


def snippet(text: str, query: str, width: int = 80) -> str:
    """One line of `text` around the first word of `query` it contains."""
    flat = " ".join(text.split())
    lower = flat.lower()
    found = [i for w in words(query) if (i := lower.find(w.lower())) >= 0]
    start = max(0, min(found, default=0) - width // 4)
    if start and len(flat) - start < width:  # near the end: show a full width anyway
        start = max(0, len(flat) - width)
    piece = flat[start : start + width]
    return ("…" if start else "") + piece + ("…" if start + width < len(flat) else "")
