"""`-x/--extract`: the content of a fenced code block in a reply, and nothing else."""

from __future__ import annotations

import re

from aimlchat.record import record

_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")


@record(frozen=True)
class CodeBlock:
    lang: str
    content: str
    closed: bool = True  # False: its fence never closes (a cut-off reply)


def code_blocks(text: str) -> list[CodeBlock]:
    """Every fenced block, in order; a fence left open runs to the end (a cut-off reply)
    and is kept with closed=False: /copy may take it, -x and cmd never do."""
    blocks: list[CodeBlock] = []
    fence: str | None = None
    lang = ""
    body: list[str] = []
    indent = 0
    for line in text.split("\n"):
        if fence is None:
            opened = _OPEN.match(line)
            if opened:
                fence, lang, body = opened.group(1), opened.group(2), []
                indent = len(line) - len(line.lstrip(" "))
            continue
        stripped = line.strip()
        if stripped.startswith(fence[0] * len(fence)) and set(stripped) == {fence[0]}:
            blocks.append(CodeBlock(lang, _join(body)))
            fence = None
            continue
        # Content is de-indented by the fence's own indent, as CommonMark says.
        body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])
    if fence is not None and body:
        blocks.append(CodeBlock(lang, _join(body), closed=False))
    return blocks


def _join(lines: list[str]) -> str:
    return "\n".join(lines) + "\n" if lines else ""
