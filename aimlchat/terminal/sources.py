"""The sources a reply cites (a web search's), numbered under it on a terminal.

Titles and URLs come from the server, so they are data like the reply: a control
character, an escape sequence, a bidi control or an invisible character never reaches the
terminal. A URL is shown in printable ASCII, everything else percent-encoded (UTF-8), so
it stays one word to copy and a hidden character or a look-alike letter in a host shows
(`exa%E2%80%8Bmple.com` is not example.com). A title has its whitespace folded into spaces
and is otherwise made visible (ESC becomes `^[`, a right-to-left mark `<U+200F>`). The
same lines serve the terminal, `history show` and `history export -f md`.

Only a terminal sees this block: a piped stdout carries the model's text alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aimlchat.messages import Citation
from aimlchat.terminal.output import Output
from aimlchat.terminal.sanitize import terminal_safe

MAX_TITLE = 100  # characters of a title shown; a page title can be a paragraph

# Anything in a URL but printable ASCII: controls, spaces, and every non-ASCII letter or
# mark (an IDN host is shown encoded: its look-alike letters cannot pass for ASCII ones).
_URL_UNSAFE = re.compile(r"[^\x21-\x7e]")
_SPACES = re.compile(r"\s+")
# What reorders or hides part of a title without being seen: bidi marks (LRM, RLM, ALM),
# embeddings and overrides, isolates, zero-width spaces and joiners, the word joiner and
# invisible operators, the BOM; and lone surrogates, which no terminal can show. Shown as
# the sanitizer shows a bidi override: <U+200F>.
_TITLE_HIDDEN = re.compile(
    "[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff]"
)


def safe_url(url: str) -> str:
    """`url` in printable ASCII: every other character percent-encoded (UTF-8)."""

    def encoded(m: re.Match[str]) -> str:
        return "".join(f"%{b:02X}" for b in m.group().encode("utf-8", "surrogatepass"))

    return _URL_UNSAFE.sub(encoded, url)


def safe_title(title: str) -> str:
    """`title` on one line, its controls and invisible characters shown visibly."""
    text = _SPACES.sub(" ", title).strip()
    if len(text) > MAX_TITLE:  # cut before the escapes are spelt out, so none is cut in two
        text = text[: MAX_TITLE - 1].rstrip() + "…"
    return terminal_safe(_TITLE_HIDDEN.sub(lambda m: f"<U+{ord(m.group()):04X}>", text))


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
