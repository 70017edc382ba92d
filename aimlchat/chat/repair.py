"""What a crash left in a conversation's history, mended when it is loaded.

A process killed outright (`kill -9`, power loss) saves no "interrupted" marks: its last
rows stop wherever it was. Two shapes a strict API refuses on the next `--continue`:
- an assistant message whose tool calls lack a tool output for some id (killed while
  a tool ran): a synthetic "interrupted" output is put in for each missing id;
- a user message that got no reply (killed while waiting for it), which would make two
  user messages in a row: it is left out of the context, as a failed request's is.
And one a damaged row leaves: a tool output whose call is not among the calls of the
assistant message its round follows (a 0.2.0 row whose `tool_calls` could not be read
keeps its text but loses its calls): APIs refuse an output with no call, so it is left
out of the context.
History itself is not changed: the repair happens in memory on every load, so a process
still writing that conversation (another terminal) is never contradicted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from aimlchat.messages import ASSISTANT, TOOL, USER, Message, tool_output
from aimlchat.record import record
from aimlchat.storage.store import StoredMessage
from aimlchat.words import plural

INTERRUPTED_RESULT = "[interrupted: no result was recorded]"


@record()
class Loaded:
    """A conversation's context as loaded: messages with their row ids (None for a
    synthetic one) and statuses, and what had to be mended."""

    messages: list[Message] = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    filled_results: int = 0  # synthetic tool results put in
    unanswered: list[Message] = field(default_factory=list)  # user messages left out
    orphans: int = 0  # tool outputs left out: no call of theirs before them

    def add(self, message: Message, mid: int | None, status: str) -> None:
        self.messages.append(message)
        self.ids.append(mid)
        self.statuses.append(status)

    def pop(self) -> Message:
        self.ids.pop()
        self.statuses.pop()
        return self.messages.pop()


def load(rows: Sequence[StoredMessage]) -> Loaded:
    """The active rows of a conversation as a context the API accepts."""
    out = Loaded()
    waiting: list[str] = []  # ids of the last calls still without an output
    asked: set[str] = set()  # ids of the calls of the round the tool outputs follow

    def answer_the_rest() -> None:
        for call_id in waiting:
            out.add(tool_output(call_id, INTERRUPTED_RESULT), None, "interrupted")
            out.filled_results += 1
        waiting.clear()

    def drop_unanswered_user() -> None:
        if out.messages and out.messages[-1].role == USER:
            out.unanswered.append(out.pop())

    for row in rows:
        message = row.message
        if message.role == TOOL:
            output = message.output
            if output is None or output.call_id not in asked:
                out.orphans += 1
                continue
            if output.call_id in waiting:
                waiting.remove(output.call_id)
            out.add(message, row.id, row.status)
            continue
        answer_the_rest()
        asked = set()
        if message.role == USER:
            drop_unanswered_user()
        out.add(message, row.id, row.status)
        if message.role == ASSISTANT and message.calls:
            waiting[:] = [call.id for call in message.calls]
            asked = set(waiting)
    answer_the_rest()
    drop_unanswered_user()
    return out


def notice(loaded: Loaded) -> str | None:
    """One line for the user when loading mended something, else None."""
    mended = []
    if loaded.filled_results:
        calls = plural(loaded.filled_results, "tool call")
        mended.append(f"{calls} without a result sent as interrupted")
    if loaded.unanswered:
        n = len(loaded.unanswered)
        which = "a message" if n == 1 else f"{n} messages"
        mended.append(f"{which} that got no reply left out (history keeps it)")
    said = ["the conversation was cut off by a stopped process: " + "; ".join(mended)]
    if not mended:
        said.clear()
    if loaded.orphans:
        results = plural(loaded.orphans, "tool result")
        them = "it" if loaded.orphans == 1 else "them"
        said.append(
            f"{results} whose call is not in the conversation left out (history keeps {them})"
        )
    return "; ".join(said) or None
