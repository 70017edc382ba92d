"""`aimlchat history …`: list, show, search, export and remove saved conversations."""

from __future__ import annotations

import json
import time
from typing import Any

from aimlchat.commands.runtime import App
from aimlchat.errors import UsageError
from aimlchat.messages import ASSISTANT, Message, parts_json
from aimlchat.storage.migrations import search_text
from aimlchat.storage.refs import is_id
from aimlchat.storage.search import Hit, snippet
from aimlchat.storage.store import ACTIVE, ConversationInfo, Store, StoredMessage
from aimlchat.terminal.sources import sources_lines
from aimlchat.tools.messages import calls_text
from aimlchat.words import noun, plural


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _mark(status: str) -> str:
    return "" if status == "ok" else f" [{status}]"


class HistoryView:
    def __init__(self, app: App) -> None:
        self.app = app
        self.env = app.env
        self.store = Store(app.paths.db_file)

    def _resolve(self, ref: str | None) -> int:
        return self.store.resolve(ref)

    def _out(self, text: str) -> None:
        self.app.out.data(text)

    def _dim(self, text: str) -> None:
        """Text set apart on a colour terminal (the model's thinking); plain elsewhere."""
        dim = self.app.out.is_terminal and self.app.out.color
        if dim:
            self.app.out.control("\x1b[2m")
        self._out(text)
        if dim:
            self.app.out.control("\x1b[0m")

    def list(self, *, limit: int) -> None:
        rows = self.store.conversations(limit=limit)
        if not rows:
            self.app.notifier.info("no saved conversations yet")
            return
        # A cost column once any conversation has one (~: partly an estimate; +?: some
        # reply's cost is not known, as batch says).
        costs = [self._cost_text(c) for c in rows]
        if any(costs):  # the column is shown: a conversation whose every cost is unknown says so
            costs = [cost or self._unknown_text(c) for c, cost in zip(rows, costs, strict=True)]
        width = max(map(len, costs))
        for c, cost in zip(rows, costs, strict=True):
            name = f" ({c.name})" if c.name else ""
            spent = f"{cost:>{width}}  " if width else ""
            self._out(
                f"{c.id:>5}  {_when(c.updated_at)}  {c.messages:>3} {noun(c.messages, 'msg'):<4}  "
                f"{spent}{c.title or '(empty)'}{name}\n"
            )
        for c in rows:
            if c.name and is_id(c.name):  # given before names could not be all digits
                self.app.notifier.info(
                    f'conversation {c.id} is named "{c.name}", which now reads as an id:'
                    f" rename it with /save NAME in: aimlchat chat --session {c.id}"
                )

    def _cost_text(self, info: ConversationInfo) -> str:
        if info.cost is None:
            return ""
        replies = self.store.messages(info.id, all_statuses=True)
        return info.cost.text() + ("+?" if any(map(_cost_unknown, replies)) else "")

    def _unknown_text(self, info: ConversationInfo) -> str:
        replies = self.store.messages(info.id, all_statuses=True)
        return "?" if any(map(_cost_unknown, replies)) else ""

    def search(self, query: str, *, limit: int) -> None:
        """One line per message (or conversation name) containing every word, newest first."""
        if not query.split():
            raise UsageError("search needs some text to look for")
        hits, indexed = self.store.search(query, limit)
        if not indexed:
            self.app.notifier.info("this SQLite has no FTS5: searching without the index")
        if not hits:
            self.app.notifier.info("no matches")
        for hit in hits:
            self._out(_hit_line(hit, query))

    def show(self, ref: str | None, *, all_statuses: bool = False, ids: bool = False) -> None:
        """The conversation's active messages (`all_statuses`: every row); `ids`: each
        reply's cost and the ids that find it in the API's usage logs."""
        cid = self._resolve(ref)
        info = self.store.info(cid)
        assert info is not None
        header = f"# Conversation {cid}" + (f" ({info.name})" if info.name else "")
        self._out(f"{header}\nmodel: {info.model}\n")
        if info.system:
            self._out(f"system: {info.system}\n")
        rows = self.store.messages(cid, all_statuses=True)
        for m in rows:
            if all_statuses or m.status in ACTIVE:
                message = m.message
                self._out(f"\n## {m.role}{_mark(m.status)}\n\n")
                if ids and (_traced(m) or _cost_unknown(m)):
                    self._dim(_trace_line(m) + "\n\n")
                if message.reasoning.strip():
                    self._dim(_quoted_thinking(message.reasoning) + "\n")
                self._out(f"{message.readable()}\n{calls_text(message.calls)}")
                sources = _sources(message)
                if sources:
                    self._dim(sources)
        hidden = sorted({m.status for m in rows if m.status not in ACTIVE})
        if hidden and not all_statuses:
            count = sum(m.status not in ACTIVE for m in rows)
            self.app.notifier.info(
                f"{count} more not in the conversation ({', '.join(hidden)}): see --all"
            )

    def export(self, ref: str | None, fmt: str, *, every: bool = False) -> None:
        """One conversation; or with `every`, all of them, oldest first: a JSON array of
        the documents one export prints, or the Markdown documents one after another."""
        if fmt not in ("md", "json"):
            raise UsageError(f"--format must be md or json (got {fmt!r})")
        if every and ref is not None:
            raise UsageError(f"--all exports every conversation; leave out {ref!r}")
        if not every:
            cid = self._resolve(ref)
            doc = self._json(cid) if fmt == "json" else None
            self._out(_dumps(doc) if doc is not None else self._markdown(cid))
            return
        ids = sorted(c.id for c in self.store.conversations(limit=-1))
        if fmt == "json":
            self._out(_dumps([self._json(cid) for cid in ids]))
            return
        if not ids:
            self.app.notifier.info("no saved conversations yet")
        self._out("\n".join(self._markdown(cid, headed=True) for cid in ids))

    def _json(self, cid: int) -> dict[str, Any]:
        info = self.store.info(cid)
        assert info is not None
        return {
            "id": cid,
            "name": info.name,
            "title": info.title,
            "model": info.model,
            "system": info.system,
            "created_at": info.created_at,
            "messages": [_message_json(m) for m in self.store.messages(cid, all_statuses=True)],
        }

    def _markdown(self, cid: int, *, headed: bool = False) -> str:
        info = self.store.info(cid)
        assert info is not None
        lines = [f"# {info.title or 'Conversation'}", ""]
        if headed:  # among others: which one it is
            lines.append(f"- conversation: {cid}" + (f" ({info.name})" if info.name else ""))
        lines += [f"- model: `{info.model}`", f"- started: {_when(info.created_at)}"]
        if info.system:
            lines += ["", "## system", "", info.system]
        for m in self.store.messages(cid, all_statuses=True):
            message = m.message
            lines += ["", f"## {m.role}{_mark(m.status)}", ""]
            if _traced(m):
                lines += [f"`{_trace_line(m, sourced=True)}`", ""]
            thinking = message.reasoning.strip()
            if thinking:  # collapsed where Markdown is rendered (GitHub, most viewers)
                lines += ["<details>", "<summary>reasoning</summary>", "", thinking]
                lines += ["", "</details>", ""]
            calls = calls_text(message.calls).rstrip("\n")
            # The calls, then the sources, are paragraphs of their own after the text.
            paragraphs = (message.readable(), calls, _md_sources(message))
            lines.append("\n\n".join(part for part in paragraphs if part))
        return "\n".join(lines) + "\n"

    def remove(self, ref: str, *, yes: bool = False) -> None:
        """Delete one conversation; on a terminal only once the user says yes (a script,
        whose stdin is not a terminal, has no one to ask)."""
        cid = self._resolve(ref)
        info = self.store.info(cid)
        assert info is not None
        self.store.must_write(f"delete conversation {cid}")  # before asking to confirm
        if self.env.stdin_tty and not yes and not self._confirm(info):
            self.app.notifier.info(f"kept conversation {cid}")
            return
        self.store.delete(cid)
        self.app.notifier.info(f"deleted conversation {cid}")

    def _confirm(self, info: ConversationInfo) -> bool:
        """`delete conversation 60 "title" (12 messages)? [y/N]` on stderr; EOF is no."""
        title = info.title or info.name or "(empty)"
        count = plural(info.messages, "message")
        question = f'delete conversation {info.id} "{title}" ({count})? [y/N] '
        self.env.stderr.write(self.app.notifier.clean(question))
        self.env.stderr.flush()
        return self.env.stdin.readline().strip().lower() in ("y", "yes")


def _dumps(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _hit_line(hit: Hit, query: str) -> str:
    where = f"{hit.conversation_id:>5}  {_when(hit.created_at)}"
    if hit.role == "name":
        return f'{where}  conversation "{hit.name}": {snippet(hit.text, "") or "(empty)"}\n'
    name = f" ({hit.name})" if hit.name else ""
    return f"{where}  {hit.role}{_mark(hit.status)}{name}: {snippet(hit.text, query)}\n"


def _quoted_thinking(reasoning: str) -> str:
    """The thinking as a quote under its own label, set apart from the answer."""
    lines = reasoning.strip().splitlines()
    return "".join(f"> {line}".rstrip() + "\n" for line in ["thinking", "", *lines])


def _sources(message: Message) -> str:
    """The numbered sources a reply cites, after a blank line; "" when none."""
    lines = sources_lines(message.citations)
    return "\n" + "\n".join(lines) + "\n" if lines else ""


def _md_sources(message: Message) -> str:
    """The sources as a Markdown list under their label (consecutive lines would run
    together into one paragraph); "" when none."""
    label, *rows = sources_lines(message.citations) or [""]
    return "\n\n".join([label, "\n".join(f"- {row}" for row in rows)]) if rows else ""


def _message_json(m: StoredMessage) -> dict[str, Any]:
    """One message of `export -f json`: the neutral parts, with `content` (its text, a
    tool's output included) and `reasoning` kept as plain strings for scripts."""
    message = m.message
    out: dict[str, Any] = {
        "role": m.role,
        "content": search_text(message),
        "parts": parts_json(message),
        "status": m.status,
        "created_at": m.created_at,
    }
    if m.model:
        out["model"] = m.model
    if message.reasoning:
        out["reasoning"] = message.reasoning
    if m.prompt_tokens is not None:
        out["usage"] = {"prompt_tokens": m.prompt_tokens, "completion_tokens": m.completion_tokens}
    if _traced(m):
        out["cost"] = m.cost.usd if m.cost else None
        out["cost_source"] = m.cost.source if m.cost else None
        out["inference_id"] = m.inference_id
        out["client_request_id"] = m.client_request_id
    return out


def _traced(m: StoredMessage) -> bool:
    return m.cost is not None or m.inference_id is not None or m.client_request_id is not None


def _cost_unknown(m: StoredMessage) -> bool:
    """A reply paid for whose cost history does not know (no charge came, no price was
    cached, or an older release saved it); -n's other choices cost nothing of their own."""
    return m.role == ASSISTANT and m.cost is None and m.status != "choice"


def _trace_line(m: StoredMessage, *, sourced: bool = False) -> str:
    """`cost $0.00124 · inference id V1St… · client request id aimlchat:c4:m9` (what
    is known; the ids are the server's text, shown safely); `sourced`: the cost says
    where it came from in words too (an export read without knowing what `~` means)."""
    said = [f"cost {m.cost.text()}"] if m.cost else ["cost unknown"] if _cost_unknown(m) else []
    if m.cost and sourced:
        said[0] += " (estimate)" if m.cost.estimated else " (charged)"
    if m.inference_id:
        said.append(f"inference id {_safe(m.inference_id)}")
    if m.client_request_id:
        said.append(f"client request id {_safe(m.client_request_id)}")
    return " · ".join(said)


def _safe(text: str) -> str:
    return "".join(c if c.isprintable() and c not in "<>`" else "?" for c in text)
