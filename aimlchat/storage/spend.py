"""What this machine's history recorded of the replies in a window: beside the API's own
figures in `aimlchat usage`, so a user can reconcile the two.

Every reply is a row (ask, chat, batch, each step of a tool loop); a reply's `-n`
siblings (status "choice") came with the one request and are not counted again, and a
"failed" row (kept only for a failed reply's thinking or charge) is no reply, though
its charge counts.

`cost` sums the charges the API reported (`cost_source` "api"): what reconciles with
its own figures. A catalogue estimate is left out (None when no reply in the group has
a charge: a server that sends none, or replies from before charges were kept).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aimlchat.errors import StoreError
from aimlchat.money import MICRO
from aimlchat.record import record
from aimlchat.storage import connect


@record(frozen=True)
class LocalSpend:
    key: str | None  # the model or the UTC day (YYYY-MM-DD); None for the whole window
    replies: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # USD the API charged; None: no reply in it has a charge recorded


def local_spend(
    db: sqlite3.Connection, since: float, until: float, by: str | None = None, *, costs: bool = True
) -> list[LocalSpend]:
    """The replies created in [since, until) (Unix times): one total, or one row per
    model or UTC day (`by`: days are UTC, as the API's), largest token count first for
    models, by date for days.
    `costs`: the database has the cost columns (an older one read as it is has not)."""
    key = {
        None: "NULL",
        "model": "COALESCE(model, '')",
        "day": "strftime('%Y-%m-%d', created_at, 'unixepoch')",
    }[by]
    charged = "SUM(CASE WHEN cost_source = 'api' THEN cost_usd END)" if costs else "NULL"
    sql = (
        f"SELECT {key}, COUNT(CASE WHEN status != 'failed' THEN 1 END),"
        f" COALESCE(SUM(prompt_tokens), 0), COALESCE(SUM(completion_tokens), 0), {charged}"
        " FROM messages"
        " WHERE role = 'assistant' AND status != 'choice' AND created_at >= ? AND created_at < ?"
    )
    if by is not None:
        sql += " GROUP BY 1"
    rows = db.execute(sql, (since, until)).fetchall()
    spent = [
        LocalSpend(k, int(n), int(p), int(c), None if usd is None else _rounded(usd))
        for k, n, p, c, usd in rows
    ]
    if by == "day":
        return sorted(spent, key=lambda s: s.key or "")
    return sorted(spent, key=lambda s: -(s.prompt_tokens + s.completion_tokens))


def day_spent(db: sqlite3.Connection, since: float, until: float | None = None) -> float:
    """USD recorded for the replies (and failed requests charged all the same) created in
    [since, until) (until None: now and on): the API's charges, and the catalogue's
    estimate where the server sent none (max_cost_per_day counts both)."""
    sql = "SELECT COALESCE(SUM(cost_usd), 0) FROM messages WHERE created_at >= ?"
    args: tuple[float, ...] = (since,) if until is None else (since, until)
    if until is not None:
        sql += " AND created_at < ?"
    return _rounded(db.execute(sql, args).fetchone()[0])


def _rounded(usd: float) -> float:
    """A SQL sum of floats, to the micro-dollar (ten $0.10 are $1.0, not 0.999…)."""
    return round(float(usd) * MICRO) / MICRO


class HistorySpend:
    """What history recorded since a time, read-only: the day's spend for max_cost_per_day
    when this run does not write history (--no-history, a history that did not open for
    writing), and for a batch's workers. A connection of its own each time (cheap), so
    any thread may ask, and each answer sees every process's latest replies.

    Opened `mode=ro` only: a database that opens only `immutable=1` (a read-only folder
    without its -shm file) would be read without its WAL, so without the latest
    replies: it counts as unreadable, and the caller counts this run's spend instead."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()  # one read at a time: each opens the file
        with self._lock:  # unreadable: StoreError now, not at the first request
            self._read(lambda db: db.execute("SELECT 1 FROM messages LIMIT 0").fetchall())

    def __call__(self, since: float) -> float:
        """USD recorded since `since`; StoreError (one line) when the file cannot be read."""
        with self._lock:
            return float(self._read(lambda db: day_spent(db, since)))

    def _read(self, query: Callable[[sqlite3.Connection], Any]) -> Any:
        try:
            db = connect.open_read_only(self.path, latest=True)
            try:
                return query(db)
            finally:
                db.close()
        except sqlite3.OperationalError as exc:
            if "no such" in str(exc):  # from before costs were kept: none recorded
                return 0.0
            raise _unreadable(self.path, exc) from None
        except sqlite3.Error as exc:
            raise _unreadable(self.path, exc) from None


def _unreadable(path: Path, exc: Exception) -> StoreError:
    return StoreError(f"cannot read the history database {path} ({exc})")


def history_spend(path: Path) -> HistorySpend | str | None:
    """A reader of the day's spend in the history database at `path`; None when there
    is none yet (nothing recorded); why, when it cannot be read."""
    if not path.is_file():
        return None
    try:
        return HistorySpend(path)
    except StoreError as exc:
        return exc.message
