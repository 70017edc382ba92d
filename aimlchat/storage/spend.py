"""What this machine's history recorded of the replies in a window: beside the API's own
figures in `aimlchat usage`, so a user can reconcile the two.

Every reply is a row (ask, chat, batch, each step of a tool loop); a reply's `-n`
siblings (status "choice") came with the one request and are not counted again.

`cost` sums the charges the API reported (`cost_source` "api"): what reconciles with
its own figures. A catalogue estimate is left out (None when no reply in the group has
a charge: a server that sends none, or replies from before charges were kept).
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
    cost: float | None  # USD the API charged; None: no reply in it has a charge recorded


def local_spend(
    db: sqlite3.Connection, since: float, until: float, by: str | None = None, *, costs: bool = True
) -> list[LocalSpend]:
    """The replies created in [since, until) (Unix times): one total, or one row per
    model or UTC day (`by`), largest token count first for models, by date for days.
    `costs`: the database has the cost columns (an older one read as it is has not)."""
    key = {
        None: "NULL",
        "model": "COALESCE(model, '')",
        "day": "strftime('%Y-%m-%d', created_at, 'unixepoch')",
    }[by]
    charged = "SUM(CASE WHEN cost_source = 'api' THEN cost_usd END)" if costs else "NULL"
    sql = (
        f"SELECT {key}, COUNT(*), COALESCE(SUM(prompt_tokens), 0),"
        f" COALESCE(SUM(completion_tokens), 0), {charged} FROM messages"
        " WHERE role = 'assistant' AND status != 'choice' AND created_at >= ? AND created_at < ?"
    )
    if by is not None:
        sql += " GROUP BY 1"
    rows = db.execute(sql, (since, until)).fetchall()
    spent = [
        LocalSpend(k, int(n), int(p), int(c), None if usd is None else float(usd))
        for k, n, p, c, usd in rows
    ]
    if by == "day":
        return sorted(spent, key=lambda s: s.key or "")
    return sorted(spent, key=lambda s: -(s.prompt_tokens + s.completion_tokens))
