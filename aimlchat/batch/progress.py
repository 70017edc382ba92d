"""Counters of a batch, a live line on a terminal's stderr, and one summary line.

On a terminal the line is redrawn at most ten times a second with `\\r`; on a pipe or
file nothing is written until the summary, so logs stay one line per run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import field

from aimlchat.money import usd
from aimlchat.record import record
from aimlchat.terminal.environment import Environment
from aimlchat.words import plural

REDRAW_EVERY = 0.1
BAR = 16


@record()
class Stats:
    total: int | None = None  # items this run will ask; None when IN is a stream
    skipped: int = 0  # already in OUT
    skipped_errors: int = 0  # of those, the ones OUT holds as errors
    done: int = 0  # written, errors included
    errors: int = 0
    maybe_billed: int = 0  # of those, requests sent that got no answer
    at_risk: float = 0.0  # what those may have cost at worst, when known (--max-cost)
    tokens: int = 0
    cost: float = 0.0
    priced: int = 0  # replies with a cost
    unpriced: int = 0  # replies without: no usage, or no catalogue price for the model
    prices_known: bool = True  # False: no catalogue at all, so no reply can have a cost
    retries: int = 0
    paused: bool = False  # a shared rate-limit pause is on
    started: float = field(default_factory=time.monotonic)

    def rate(self, now: float) -> float:
        elapsed = now - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        if self.total is None or rate <= 0:
            return None
        return max(0, self.total - self.done) / rate


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _money(stats: Stats) -> str:
    # A request that may have been billed has no price: it makes the total uncertain.
    unknown = stats.unpriced or stats.maybe_billed
    if not stats.priced and (unknown or not stats.prices_known):
        return "cost unknown"  # not $0: nothing says what was spent
    return usd(stats.cost) + ("+?" if unknown else "")


def live_line(stats: Stats, now: float) -> str:
    parts = []
    if stats.total:
        share = min(1.0, stats.done / stats.total)
        filled = round(share * BAR)
        bar = "━" * filled + "─" * (BAR - filled)
        parts.append(f"{stats.done:,}/{stats.total:,} {bar} {share:4.0%}")
    else:
        parts.append(f"{stats.done:,} done")
    if stats.paused:  # early in the line, so a narrow terminal still shows it
        parts.append("paused (rate limit)")
    parts.append(f"{stats.rate(now):.1f}/s")
    parts.append(plural(stats.errors, "error"))
    parts.append(plural(stats.retries, "retry"))
    parts.append(f"{stats.tokens:,} tokens")
    parts.append(_money(stats))
    eta = stats.eta(now)
    if eta is not None:
        parts.append(f"ETA {_duration(eta)}")
    return " · ".join(parts)


def summary(stats: Stats, now: float) -> str:
    parts = [
        f"batch: {stats.done:,} done",
        plural(stats.errors, "error"),
        f"{_duration(now - stats.started)}",
        f"{stats.rate(now):.1f}/s",
        plural(stats.retries, "retry"),
        f"{stats.tokens:,} tokens",
        _money(stats),
    ]
    line = " · ".join(parts)
    if stats.skipped:
        errors = stats.skipped_errors
        of_them = (
            f"; {errors:,} of them {'an error' if errors == 1 else 'errors'}" if errors else ""
        )
        line += f" ({stats.skipped:,} already in OUT, skipped{of_them})"
    return line


class Progress:
    def __init__(self, env: Environment, stats: Stats, clock: Callable[[], float]) -> None:
        self._env = env
        self.stats = stats
        self._clock = clock
        self.live = env.stderr_tty and not env.dumb_terminal
        self._drawn = False
        self._last = 0.0

    def _width(self) -> int:
        try:
            return os.get_terminal_size(self._env.stderr.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return int(self._env.environ.get("COLUMNS", "80") or 80)

    def _write(self, text: str) -> None:
        try:
            self._env.stderr.write(text)
            self._env.stderr.flush()
        except (OSError, ValueError):
            self.live = False

    def update(self, *, force: bool = False) -> None:
        now = self._clock()
        if not self.live or (not force and now - self._last < REDRAW_EVERY):
            return
        self._last = now
        line = live_line(self.stats, now)[: max(10, self._width() - 1)]
        self._write(f"\r{line}\x1b[K")
        self._drawn = True

    def clear(self) -> None:
        """Take the line away (before stdout writes to the same terminal, or the end)."""
        if self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False
