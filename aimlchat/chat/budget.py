"""Budgets that stop: `--max-cost` (an ask with its tool steps and retries, or a chat
session) and `max_cost_per_day` (config.toml or `--max-cost-per-day`: every process,
counted from the charges history recorded since local midnight).

Checked before a request is sent, never while one runs: a reply in flight is not cut,
so what was paid for is shown and saved, and a budget is passed by one reply at most.
What is spent is the API's exact charge of each reply (whole, cut short or failed),
else the catalogue's estimate (`Totals`). Once any reply's cost is not known at all (no
charge sent, no price), `--max-cost` cannot be kept: the next request is refused. The
daily limit counts only what history recorded, so replies of unknown cost pass it (a
local server has no prices). Sums are compared in whole micro-dollars (aimlchat.money).

The day's spend is read from history whether or not this run writes it (--no-history,
a history that would not open for writing: it is read read-only), plus what this run
spent that history does not hold (each conversation says whether it is saving; what it
spent since it stopped saving, or all of it, is added); only with no history database at
all does this run's own spend stand in alone. Processes do not lock each other
out: N of them checking at once may each pass, so the day is passed by N replies at
most.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from aimlchat.errors import AimlchatError
from aimlchat.money import MICRO, micro, usd

# Where each limit came from, for the hint that says how to change it.
FLAG_SOURCE = "flag"


class Spend(Protocol):
    """What a budget reads of a conversation's running totals (chat.session.Totals)."""

    @property
    def micro_usd(self) -> int | None: ...

    @property
    def unknown(self) -> int: ...

    @property
    def estimated(self) -> bool: ...


class BudgetReached(AimlchatError):
    """A limit is reached: nothing more is sent (exit 1). What came is kept."""


def daily_hint(source: str) -> str:
    """How to change max_cost_per_day, by where it came from (`source`)."""
    if source.startswith(FLAG_SOURCE):
        return "a higher --max-cost-per-day allows more today"
    return f"--max-cost-per-day USD overrides {source} for one run"


def local_midnight(now: float) -> float:
    """The Unix time at which today began, in local time."""
    day = time.localtime(now)
    return time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))


class Budget:
    """The limits of one command and what counts against them.

    `limit` (--max-cost) is held against the conversations `watch`ed (a chat's `/clear`
    and `/load` bring new totals; they all count). `daily` is held against `recorded`
    (history's charges since a time: Store.spent), or with no history against this
    run's own spend.
    """

    def __init__(
        self,
        *,
        limit: float | None = None,
        daily: float | None = None,
        daily_source: str = "config.toml",
        recorded: Callable[[float], float] | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.limit = limit
        self.daily = daily
        self._daily_source = daily_source
        self._recorded = recorded
        self._now = now
        self._watched: list[Spend] = []
        # Per watched conversation: whether it is saving to history now, and its spend when
        # it last was (what history holds of it); None: it never was.
        self._saving: list[Callable[[], bool]] = []
        self._saved: list[int | None] = []
        self.limit_hint = "everything so far is saved"  # the REPL says how to go on

    def watch(self, totals: Spend, saving: Callable[[], bool] = lambda: False) -> None:
        """Count `totals`; `saving` says whether its replies are going into history now."""
        if not any(t is totals for t in self._watched):
            self._watched.append(totals)
            self._saving.append(saving)
            self._saved.append(None)

    def _unsaved_micro(self) -> int:
        """This run's spend that history does not hold: all of a conversation that never
        saved, and what one spent since it stopped (its store failed mid-session)."""
        total = 0
        for i, totals in enumerate(self._watched):
            now = totals.micro_usd or 0
            if self._saving[i]():
                self._saved[i] = now  # every reply so far is in history
            else:
                total += now - (self._saved[i] or 0)
        return total

    @property
    def spent(self) -> float:
        """This run's spend: every watched conversation's cost so far."""
        return self._spent_micro() / MICRO

    def _spent_micro(self) -> int:
        return sum(t.micro_usd or 0 for t in self._watched)

    @property
    def estimated(self) -> bool:
        """Whether some of `spent` is the catalogue's estimate, not the API's charge."""
        return any(t.estimated for t in self._watched)

    def unknown(self) -> bool:
        """Some reply since the budget began has a cost not known at all."""
        return any(t.unknown for t in self._watched)

    def spent_today(self) -> float:
        if self._recorded is None:
            return self.spent
        recorded = self._recorded(local_midnight(self._now()))
        return (micro(recorded) + self._unsaved_micro()) / MICRO

    def check(self) -> None:
        """Before a request: BudgetReached when a limit is reached (or cannot be kept)."""
        if self.limit is not None:
            self._check_limit(self.limit)
        if self.daily is not None:
            today = self.spent_today()
            if micro(today) >= micro(self.daily):
                where = "this run"
                if self._recorded is not None:
                    unsaved = self._unsaved_micro() > 0
                    where = "as history recorded" + (", and this run" if unsaved else "")
                raise BudgetReached(
                    f"max_cost_per_day {usd(self.daily)} reached ({usd(today)} spent today, "
                    f"{where}); nothing more is sent",
                    hint=daily_hint(self._daily_source),
                )

    def _check_limit(self, limit: float) -> None:
        if self.unknown():
            raise BudgetReached(
                "--max-cost cannot be kept: the cost of the last reply is unknown (the server "
                "sent no charge, and the catalogue has no price for the model); nothing more "
                "is sent",
                hint="load prices with `aimlchat models --pricing`, or drop --max-cost",
            )
        if self._spent_micro() >= micro(limit):
            raise BudgetReached(
                f"--max-cost {usd(limit)} reached ({usd(self.spent, estimate=self.estimated)}"
                " spent); "
                "nothing more is sent",
                hint=self.limit_hint,
            )
