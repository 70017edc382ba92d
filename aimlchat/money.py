"""Money as aimlchat shows and counts it: one formatter for every cost on screen, and
whole micro-dollars for every sum a budget compares.

At the bottom layer (no imports), beside `errors` and `messages`: the session, history,
batch, budgets and `aimlchat usage` all show amounts, and each must read the same.
"""

from __future__ import annotations

MICRO = 1_000_000  # USD is counted in millionths: a reply's charge has six decimals


def micro(usd: float) -> int:
    """USD as whole micro-dollars, so sums are exact: ten $0.10 make $1.00, not 0.999…"""
    return round(usd * MICRO)


def number(amount: float) -> str:
    """12.35, 1,234.50, 0.30, 0.00124, 0.000005: two decimals from 1 on; below it, to the
    micro-dollar (one reply costs a fraction of a cent), never fewer than two. No sign
    for a sum that rounds to nothing."""
    whole = micro(amount)
    sign = "-" if whole < 0 else ""
    value = abs(whole) / MICRO
    if value >= 1:
        return f"{sign}{value:,.2f}"
    text = f"{value:.6f}".rstrip("0")
    text += "0" * (2 - len(text.split(".")[1]))  # 0.10, never 0.1
    return sign + text


def usd(amount: float, *, estimate: bool = False) -> str:
    """`$0.00124`, `$12.30`, `-$0.50`; `~$0.0003` when the caller says it is an estimate."""
    text = number(amount)
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    return f"{'~' if estimate else ''}{sign}${text}"
