"""`aimlchat usage`'s window as a new user types it: a period or dates too large for a
date to hold are usage errors (exit 2), not an OverflowError; a --since in the future
says so; a window too long is said in whole days; piped output names the dates of a
--since window; `--by day` rows are in date order, days only history knows included."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import invoke
from tests.test_usage_command import _pairs, _tsv


def _today() -> datetime:
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.mark.parametrize(
    "args",
    [
        ["--period", "9999999999d"],
        ["--period", "99999999999999h"],
        ["--since", "9999-12-31", "--until", "9999-12-31"],
        ["--since", "2026-01-01", "--until", "9999-12-31"],
    ],
)
def test_a_window_too_large_for_a_date_is_a_usage_error(cli_env, server, args):
    r = invoke(["usage", *args], cli_env)
    assert r.returncode == 2, r.stderr
    assert "OverflowError" not in r.stderr and len(r.stderr.splitlines()) == 1
    assert server.requests == []


def test_a_since_in_the_future_says_so_not_until(cli_env, server):
    later = (_today() + timedelta(days=400)).strftime("%Y-%m-%d")
    r = invoke(["usage", "--since", later], cli_env)
    assert r.returncode == 2
    assert f"--since {later} is in the future" in r.stderr
    assert "--until" not in r.stderr
    assert server.requests == []


def test_a_window_too_long_is_said_in_whole_days(cli_env, server):
    since = (datetime.now(timezone.utc) - timedelta(days=158, hours=4)).strftime("%Y-%m-%dT%H:%M")
    r = invoke(["usage", "--since", since], cli_env)
    assert r.returncode == 2
    assert "the window spans 159 days; the API measures at most 92" in r.stderr


def test_piped_output_names_the_days_of_a_since_window(cli_env, server):
    since = _today() - timedelta(days=3)
    r = invoke(["usage", "--since", since.strftime("%Y-%m-%d")], cli_env)
    assert r.returncode == 0, r.stderr
    period = _pairs(r.stdout)["period"]
    assert period == f"{since.date()}..{datetime.now(timezone.utc).date()}"


def _backdate(home: Path, days: int) -> None:
    """Move every reply history holds `days` back, as if asked then."""
    db = sqlite3.connect(home / "data" / "aimlchat" / "history.db")
    try:
        with db:
            db.execute("UPDATE messages SET created_at = created_at - ?", (days * 86400,))
    finally:
        db.close()


def test_usage_by_day_keeps_date_order_with_days_only_history_knows(cli_env, server, home):
    assert invoke(["ask", "hi"], cli_env).returncode == 0
    _backdate(home, 5)  # a day the API's answer (the last two days) does not list
    r = invoke(["usage", "--by", "day", "--period", "7d"], cli_env)
    assert r.returncode == 0, r.stderr
    days = [row["day"] for row in _tsv(r.stdout)]
    assert days == sorted(days) and len(days) == 3
    old = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 5 * 86400))
    assert days[0] == old
