"""`aimlchat usage`: the account's balance and spend for a window, as the AI/ML API
measures them (/v2/billing, /v2/usage, /v2/usage/detail), beside what this machine's
history recorded for the same window, so the two can be reconciled."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from aimlchat.api import aimlapi
from aimlchat.api.aimlapi import MAX_WINDOW_DAYS, Balance, Usage, UsageGroup
from aimlchat.commands.runtime import App
from aimlchat.errors import ApiError, AuthError, ConfigError, StoreError, UsageError
from aimlchat.money import number, usd
from aimlchat.record import record
from aimlchat.terminal.sanitize import one_line
from aimlchat.words import plural

if TYPE_CHECKING:
    from aimlchat.api.client import Client
    from aimlchat.storage.spend import LocalSpend

T = TypeVar("T")
PERIODS = ("24h", "7d", "30d")  # the ones offered; the API takes any N h or N d
DEFAULT_PERIOD = "7d"
BY = ("model", "day")
_PERIOD = re.compile(r"(\d+)([hd])")
# A server without the account endpoints answers these (or 200 with a page that is not
# JSON): LiteLLM, llama.cpp, vLLM, Ollama.
_NOT_OFFERED = (404, 405, 501)


# -- the window -------------------------------------------------------------------------


@record(frozen=True)
class Window:
    """A relative `period` (24h, 7d) or an absolute [start, end) in UTC."""

    period: str | None
    start: datetime | None
    end: datetime | None

    def params(self) -> dict[str, str]:
        if self.period is not None:
            return {"period": self.period}
        assert self.start is not None and self.end is not None
        return {"start": _iso(self.start), "end": _iso(self.end)}

    def bounds(self, now: float) -> tuple[float, float]:
        """As Unix times, a period counted back from `now`."""
        if self.start is not None and self.end is not None:
            return self.start.timestamp(), self.end.timestamp()
        return now - _period_delta(self.period or DEFAULT_PERIOD).total_seconds(), now


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _period_delta(period: str) -> timedelta:
    match = _PERIOD.fullmatch(period)
    if match is None or int(match[1]) == 0:
        raise UsageError(
            f"--period {period!r} is not a period",
            hint=f"use one of {', '.join(PERIODS)} (any number of h or d)",
        )
    n = int(match[1])
    hours = n if match[2] == "h" else n * 24
    # Compared as a count: 9999999999d is no timedelta at all (an OverflowError).
    if hours > MAX_WINDOW_DAYS * 24:
        raise UsageError(f"--period {period} is longer than {MAX_WINDOW_DAYS} days")
    return timedelta(hours=hours)


def _moment(flag: str, text: str, *, end: bool) -> datetime:
    """An ISO date (a UTC day: --until's whole day counts) or date and time (UTC unless
    it carries an offset, as the API reads it)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{flag} {text!r} is not an ISO date", hint="e.g. 2026-07-01 or 2026-07-01T09:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        if end and len(text.strip()) == len("YYYY-MM-DD"):
            moment += timedelta(days=1)  # --until 2026-07-31 means to the end of that day
        moment.timestamp()  # 9999-12-31 at a negative offset: past the last datetime
    except OverflowError:
        raise UsageError(f"{flag} {text!r} is past the last date that can be counted") from None
    return moment


def parse_window(period: str | None, since: str | None, until: str | None, now: datetime) -> Window:
    """The window the flags name; a usage error (exit 2) for one the API would refuse."""
    if period is not None and (since is not None or until is not None):
        raise UsageError("use --period or --since/--until, not both")
    if since is None:
        if until is not None:
            raise UsageError("--until needs --since")
        period = period or DEFAULT_PERIOD
        _period_delta(period)  # a usage error for one the API would refuse
        return Window(period, None, None)
    start = _moment("--since", since, end=False)
    if start >= now:  # nothing has been spent there yet, whatever --until says
        raise UsageError(f"--since {since} is in the future")
    end = _moment("--until", until, end=True) if until is not None else now
    if end <= start:
        raise UsageError("--until must be later than --since")
    if end - start > timedelta(days=MAX_WINDOW_DAYS):
        days = math.ceil((end - start) / timedelta(days=1))  # part of a day is one more
        raise UsageError(
            f"the window spans {days} days; the API measures at most {MAX_WINDOW_DAYS}",
            hint="ask for it in parts",
        )
    return Window(None, start, end)


def days_text(start: str, end: str) -> str | None:
    """`2026-07-01..2026-07-31`: the UTC days a window of ISO times touches (its end not
    included); None for times that do not read as dates."""
    try:
        first = _moment("", start, end=False).astimezone(timezone.utc)
        last = _moment("", end, end=False).astimezone(timezone.utc) - timedelta(microseconds=1)
    except UsageError:
        return None
    return f"{first.date()}..{max(first, last).date()}"


# -- asking the API ---------------------------------------------------------------------


def _ask(
    client: Client,
    path: str,
    params: dict[str, str] | None,
    read: Callable[[Any], T | None],
    *,
    keyless: bool = False,
) -> T:
    """`read` of the endpoint's body; a server without it is said to be one (exit 1).
    `keyless`: asked with no key (a local server may want none); one that wants a key
    is told to be missing it (exit 3)."""
    not_offered = ApiError(f"this server does not offer usage ({path})")
    try:
        body = client.get_account(path, params)
    except AuthError as exc:
        if aimlapi.out_of_credits(exc.message):
            raise AuthError(exc.message, hint=f"top up at {aimlapi.BILLING_DASHBOARD}") from None
        if keyless:
            raise _no_key() from None
        raise
    except ApiError as exc:
        if exc.status in _NOT_OFFERED or (exc.status is not None and exc.status < 300):
            raise not_offered from None
        raise
    found = read(body)
    if found is None:  # JSON, but not this API's shape
        raise not_offered
    return found


def _no_key() -> ConfigError:
    from aimlchat.settings.config import ENV_KEY

    return ConfigError(
        "no API key, and this server wants one for usage",
        hint=f"export {ENV_KEY}=… or run `aimlchat key set`",
    )


def _client(app: App) -> tuple[Client, bool]:
    """The client, with the key when there is one (a broken one is refused: exit 3); and
    whether there is none. The key is looked up once: api_key_command runs once."""
    from aimlchat.commands.runtime import make_client
    from aimlchat.settings.keys import resolve_key

    key = resolve_key(app.env.environ, app.paths, app.cfg)
    return make_client(app.settings, key, app.notifier, debug=app.opts.debug), key is None


# -- this machine's history ---------------------------------------------------------------


def local_spend(
    app: App, since: float, until: float, by: str | None
) -> tuple[LocalSpend, list[LocalSpend]] | None:
    """What history recorded in [since, until): the total and the rows by `by`. None when
    history is off, or there is none (nothing is created here), or it cannot be read."""
    if not app.settings.history or not app.paths.db_file.exists():
        return None
    from aimlchat.storage.store import Store

    try:
        store = Store(app.paths.db_file)
        try:
            total = store.spend(since, until)[0]
            rows = store.spend(since, until, by) if by else []
        finally:
            store.close()
    except StoreError as exc:
        app.notifier.warn(f"{exc.message}; history's spend is not shown")
        return None
    return total, rows


# -- the command --------------------------------------------------------------------------


def show_usage(
    app: App,
    *,
    period: str | None,
    since: str | None,
    until: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    if by is not None and by not in BY:
        raise UsageError(f"--by {by!r}: use model or day")
    window = parse_window(period, since, until, datetime.now(timezone.utc))
    # No key: asked all the same (llama.cpp wants none), so a server without usage says
    # so (exit 1) rather than the key being blamed; one that wants it: exit 3.
    client, keyless = _client(app)
    balance = _ask(client, aimlapi.BILLING_PATH, None, aimlapi.balance, keyless=keyless)
    params = window.params()
    if by:
        params["group_by"] = by
    path = aimlapi.USAGE_DETAIL_PATH if by else aimlapi.USAGE_PATH
    used = _ask(client, path, params, aimlapi.usage, keyless=keyless)
    since_ts, until_ts = _measured(used, window, time.time())
    local = local_spend(app, since_ts, until_ts, by)
    report = _report(window, balance, used, local, by, since_ts, until_ts)
    if as_json:
        app.out.data(json.dumps(report, indent=2) + "\n")
    elif app.out.is_terminal:
        _terminal(app, report)
    else:
        app.out.data(_lines(report))


def _measured(used: Usage, window: Window, now: float) -> tuple[float, float]:
    """The window the API says it measured (its echoed start and end), else the asked
    one. A period runs to `now` here: a reply just made is history's, whatever the skew
    between this clock and the server's."""
    since, until = window.bounds(now)
    try:
        if used.start:
            since = _moment("", used.start, end=False).timestamp()
        if used.end and window.period is None:
            until = _moment("", used.end, end=False).timestamp()
    except UsageError:
        pass  # an echo that is not a date: the window asked for
    return since, until


def _groups(used: Usage, by: str) -> list[UsageGroup]:
    if used.groups:
        return list(used.groups)
    return list(used.models) if by == "model" else []  # a /detail without `groups`


def _report(
    window: Window,
    balance: Balance,
    used: Usage,
    local: tuple[LocalSpend, list[LocalSpend]] | None,
    by: str | None,
    since: float,
    until: float,
) -> dict[str, Any]:
    """Everything shown, as --json prints it."""
    report: dict[str, Any] = {
        "balance": balance.amount,
        "currency": balance.currency or used.currency,
        "window": {
            "start": used.start or _iso(datetime.fromtimestamp(since, timezone.utc)),
            "end": used.end or _iso(datetime.fromtimestamp(until, timezone.utc)),
            "period": window.period,
        },
        "api": {"spend": used.spend, "currency": used.currency, "requests": used.requests},
        "history": _local_json(local[0]) if local else None,
    }
    if by:
        mine = {s.key: s for s in local[1]} if local else {}
        rows: list[dict[str, Any]] = []
        for group in _groups(used, by):
            key = group.model if by == "model" else group.day
            rows.append({by: key, "api": _group_json(group), "history": _pop_json(mine, key)})
        rows += [{by: key, "api": None, "history": _local_json(s)} for key, s in mine.items()]
        if by == "day":  # a day only history knows goes in its place, not at the end
            rows.sort(key=lambda row: row["day"] or "")
        report["by"] = by
        report["rows"] = rows
    return report


def _pop_json(mine: dict[str | None, LocalSpend], key: str | None) -> dict[str, Any] | None:
    found = mine.pop(key, None)
    return _local_json(found) if found else None


def _local_json(spent: LocalSpend) -> dict[str, Any]:
    return {
        "replies": spent.replies,
        "prompt_tokens": spent.prompt_tokens,
        "completion_tokens": spent.completion_tokens,
        "cost": spent.cost,
    }


def _group_json(group: UsageGroup) -> dict[str, Any]:
    tokens = group.tokens
    return {
        "spend": group.spend,
        "requests": group.requests,
        "failed": group.failed,
        "tokens": None
        if tokens is None
        else {"input": tokens.input, "output": tokens.output, "total": tokens.total},
    }


# -- showing it ---------------------------------------------------------------------------


def _money(amount: float | None, currency: str | None = "USD") -> str:
    """$12.35, and small sums to the micro-dollar ($0.00124): one reply costs that
    (aimlchat.money, as every cost is shown)."""
    if amount is None:
        return ""
    return usd(amount) if currency in (None, "USD") else f"{number(amount)} {currency}"


def _count(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def _when(iso: str) -> str:
    return iso.replace("T", " ")[:16] if len(iso) >= 16 else iso


def _summary(report: dict[str, Any]) -> list[tuple[str, str]]:
    api, local, win = report["api"], report["history"], report["window"]
    currency = report["currency"]
    span = f"{_when(win['start'])} → {_when(win['end'])} UTC"
    requests = api["requests"]
    spent = _money(api["spend"], api["currency"] or currency)
    if requests is not None:
        spent += f" · {plural(requests, 'request')}"
    lines = [
        ("balance", _money(report["balance"], currency)),
        ("window", span + (f" ({win['period']})" if win["period"] else "")),
        ("API spend", spent),
    ]
    if local is None:
        lines.append(("history", "none recorded (history is off or empty)"))
    else:
        # Only the charges the API sent, to reconcile with its figures: estimates and
        # unknown costs are left out, and the line says so.
        cost = (
            f"{_money(local['cost'])} charged (estimates left out)"
            if local["cost"] is not None
            else "no charge recorded"
        )
        lines.append(
            (
                "history",
                f"{plural(local['replies'], 'reply')} · {local['prompt_tokens']:,} tokens in,"
                f" {local['completion_tokens']:,} out · {cost}",
            )
        )
    return lines


def _api_tokens(api: dict[str, Any]) -> tuple[int | None, int | None]:
    tokens = api.get("tokens") or {}
    return tokens.get("input"), tokens.get("output")


def _sum(*counts: int | None) -> int | None:
    known = [n for n in counts if n is not None]
    return sum(known) if known else None


def _table(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The API's figures and history's side by side, one row per model or day."""
    by = report["by"]
    costs = any(r["history"] and r["history"]["cost"] is not None for r in report["rows"])
    headers = [by.upper(), "API $", "API REQUESTS", "API TOKENS", "REPLIES HERE", "TOKENS HERE"]
    headers += ["COST HERE"] if costs else []
    rows = []
    for row in report["rows"]:
        api, local = row["api"] or {}, row["history"] or {}
        cells = [
            one_line(row[by] or "?"),
            _money(api.get("spend"), report["currency"]),
            _count(api.get("requests")),
            _count(_sum(*_api_tokens(api))),
            _count(local.get("replies")),
            _count(_sum(local.get("prompt_tokens"), local.get("completion_tokens"))),
        ]
        rows.append(cells + ([_money(local.get("cost"))] if costs else []))
    return headers, rows


def _terminal(app: App, report: dict[str, Any]) -> None:
    summary = _summary(report)
    width = max(len(label) for label, _ in summary)
    app.out.data("".join(f"{label:<{width}}  {value}\n" for label, value in summary))
    if "rows" not in report:
        return
    app.out.data("\n")
    if not report["rows"]:
        app.out.data(f"nothing spent in this window, by {report['by']}\n")
        return
    from aimlchat.terminal.table import print_table

    headers, rows = _table(report)
    env = app.env
    print_table(
        env.stdout,
        headers,
        rows,
        color=env.stdout_color,
        terminal=True,
        justify_right=list(range(1, len(headers))),
        whole=[0],  # the model id is what people copy
        optional=[3],  # the API's tokens give way first
    )


def _lines(report: dict[str, Any]) -> str:
    """A pipe: `name<TAB>value` lines, then with --by a blank line and a TSV table with
    its header (raw numbers: easy to cut, sort and add up)."""
    api, local, win = report["api"], report["history"] or {}, report["window"]
    pairs = [
        ("balance", report["balance"]),
        ("currency", report["currency"]),
        ("start", win["start"]),
        ("end", win["end"]),
        ("period", win["period"] or days_text(win["start"], win["end"])),
        ("api_spend", api["spend"]),
        ("api_requests", api["requests"]),
        ("history_replies", local.get("replies")),
        ("history_prompt_tokens", local.get("prompt_tokens")),
        ("history_completion_tokens", local.get("completion_tokens")),
        ("history_cost", local.get("cost")),
    ]
    text = "".join(f"{k}\t{one_line('' if v is None else v)}\n" for k, v in pairs)
    if "rows" not in report:
        return text
    by = report["by"]
    header = [by, "api_spend", "api_requests", "api_input_tokens", "api_output_tokens",
              "history_replies", "history_prompt_tokens", "history_completion_tokens",
              "history_cost"]  # fmt: skip
    lines = ["\t".join(header)]
    for row in report["rows"]:
        api, local = row["api"] or {}, row["history"] or {}
        values = [row[by], api.get("spend"), api.get("requests"), *_api_tokens(api)] + [
            local.get(k) for k in ("replies", "prompt_tokens", "completion_tokens", "cost")
        ]
        lines.append("\t".join(one_line("" if v is None else v) for v in values))
    return text + "\n" + "".join(line + "\n" for line in lines)
