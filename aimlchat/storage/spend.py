"""What this machine's history recorded of the replies in a window: beside the API's own
figures in `aimlchat usage`, so a user can reconcile the two.

Every reply is a row (ask, chat, batch, each step of a tool loop); a reply's `-n`
siblings (status "choice") came with the one request and are not counted again.

HOOK: history keeps tokens per reply, not yet the charge. `cost` is None until it
does; when a reply's exact charge is stored, sum it here (SUM of that column, None when
no row in the group has one) and `aimlchat usage` shows it without other changes.
"""

from __future__ import annotations

import sqlite3

from aimlchat.record import record

BY = ("model", "day")  # what a window can be split by (days are UTC, as the API's)


@record(frozen=True)
class LocalSpend:
    key: str | None  # the model or the UTC day (YYYY-MM-DD); None for the whole window
    replies: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None  # USD; None: history does not record charges (see HOOK above)


def local_spend(
    db: sqlite3.Connection, since: float, until: float, by: str | None = None
) -> list[LocalSpend]:
    """The replies created in [since, until) (Unix times): one total, or one row per
    model or UTC day (`by`), largest token count first for models, by date for days."""
    key = {
        None: "NULL",
        "model": "COALESCE(model, '')",
        "day": "strftime('%Y-%m-%d', created_at, 'unixepoch')",
    }[by]
    sql = (
        f"SELECT {key}, COUNT(*), COALESCE(SUM(prompt_tokens), 0),"
        " COALESCE(SUM(completion_tokens), 0) FROM messages"
        " WHERE role = 'assistant' AND status != 'choice' AND created_at >= ? AND created_at < ?"
    )
    if by is not None:
        sql += " GROUP BY 1"
    rows = db.execute(sql, (since, until)).fetchall()
    spent = [LocalSpend(k, int(n), int(p), int(c), None) for k, n, p, c in rows]
    if by == "day":
        return sorted(spent, key=lambda s: s.key or "")
    return sorted(spent, key=lambda s: -(s.prompt_tokens + s.completion_tokens))
