"""The sources a reply cites (a web search's), numbered under it on a terminal.

Titles and URLs come from the server, so they are data like the reply: a control
character, an escape sequence or a bidi override never reaches the terminal. A URL keeps
its shape by percent-encoding such characters (still one word to copy); a title has its
whitespace folded into spaces and is otherwise made visible (ESC becomes `^[`).

Only a terminal sees this block: a piped stdout carries the model's text alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aimlchat.messages import Citation
from aimlchat.terminal.output import Output
from aimlchat.terminal.sanitize import terminal_safe

MAX_TITLE = 100  # characters of a title shown; a page title can be a paragraph

# Anything that is not a printable, non-space character in a URL (C0, DEL, C1, Unicode
# spaces and line separators, bidi controls).
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f-\xa0\u2028\u2029\u202a-\u202e\u2066-\u2069\s]")
_SPACES = re.compile(r"\s+")


def safe_url(url: str) -> str:
    """`url` with every control, space or bidi character percent-encoded (UTF-8)."""
    return _URL_UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), url)


def safe_title(title: str) -> str:
    text = terminal_safe(_SPACES.sub(" ", title).strip())
    return text if len(text) <= MAX_TITLE else text[: MAX_TITLE - 1].rstrip() + "…"


def distinct(citations: Iterable[Citation]) -> list[Citation]:
    """One entry per URL (a page cited at several places of the reply is one source),
    keeping the first title that is not empty."""
    seen: dict[str, Citation] = {}
    for c in citations:
        kept = seen.get(c.url)
        if kept is None or (not kept.title and c.title):
            seen[c.url] = c if kept is None else Citation(c.url, c.title, kept.start, kept.end)
    return list(seen.values())


def sources_lines(citations: Iterable[Citation]) -> list[str]:
    """`Sources:` and a numbered line per distinct URL, terminal-safe; [] when none."""
    rows = distinct(citations)
    if not rows:
        return []
    lines = ["Sources:"]
    for n, c in enumerate(rows, 1):
        title = safe_title(c.title)
        url = safe_url(c.url)
        lines.append(f"[{n}] {title} — {url}" if title and title != url else f"[{n}] {url}")
    return lines


def show_sources(out: Output, citations: Iterable[Citation]) -> None:
    """The numbered sources under a reply, dim; nothing unless stdout is a terminal."""
    if not out.is_terminal:
        return
    lines = sources_lines(citations)
    if not lines:
        return
    text = "\n" + "\n".join(lines) + "\n"
    if out.color:
        out.control("\x1b[2m")
        out.data(text)
        out.control("\x1b[0m")
    else:
        out.data(text)


def sources_count(citations: Iterable[Citation]) -> int:
    return len(distinct(citations))
