"""The context window: what of a conversation fits the model, and what a request leaves out.

How the session uses it (pure: no I/O here; the session prints and sends):
- Once per conversation and model: `ContextWindow(resolve_window(model, flag=--context-length,
  config=the model's config value, catalogue=contextLength, learned=a window a server stated
  before, output_max=outputMax), max_tokens=..., tools=the offered tools' schemas,
  learned=a callback)`. The flag beats the config value, which beats the catalogue, which
  beats a remembered server error; else there is no window until a server's error states one.
- Before sending: `plan = ctx.fit(system, history, new)` (`new`: this turn's user message plus any
  tool-call rounds of it so far); send `plan.messages` with `system`; `plan.notice`, when set,
  goes to stderr. A `UsageError` (exit 2) means the new message alone cannot fit: send nothing.
- On an API error where `context_errors.is_context_error(status, text)`:
  `plan = ctx.trim_harder(plan, text)`, its notice on stderr, retry once. A limit stated in
  the error is kept for later turns, and passed to `learned` to remember for later runs.
- After each reply with usage: `ctx.estimator.observe(plan.raw_prompt, usage.prompt_tokens)`.
  A new model gets a new ContextWindow (its tokenizer differs). `/context`: chat.context_view.
History is never changed: a plan sends a suffix of it, whole turns only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING

from aimlchat.chat.tokens import (
    Estimator,
    clamp,
    fixed_tokens,
    message_tokens,
    tokens_text,
)
from aimlchat.errors import UsageError
from aimlchat.messages import ASSISTANT, TOOL, USER, Message
from aimlchat.record import record, replace
from aimlchat.words import plural

if TYPE_CHECKING:
    from aimlchat.api.adapters import ToolSchema

RESERVE_SHARE = 0.25  # of the window for the reply when max_tokens is not given


@record(frozen=True)
class Window:
    model: str
    length: int | None  # None: not known until a server's error says
    # "--context-length", "config", "catalogue", "server error" or "server error, remembered"
    source: str = ""
    output_max: int | None = None


def resolve_window(
    model: str,
    *,
    flag: int | None = None,
    config: int | None = None,
    catalogue: int | None = None,
    learned: int | None = None,
    output_max: int | None = None,
) -> Window:
    given = [
        (flag, "--context-length"),
        (config, "config"),
        (catalogue, "catalogue"),
        (learned, "server error, remembered"),
    ]
    for length, source in given:
        if length is not None and length > 0:
            return Window(model, length, source, output_max)
    return Window(model, None, "", output_max)


def turn_starts(history: Sequence[Message]) -> list[int]:
    """Where a kept history may begin, newest first: at a user message, and never between an
    assistant's tool calls and their outputs (so no tool output loses its call)."""
    starts: list[int] = []
    waiting: set[str] = set()  # call ids answered later whose call is further back
    for i in range(len(history) - 1, -1, -1):
        message = history[i]
        role = message.role
        if role == TOOL:
            output = message.output
            waiting.add(output.call_id if output is not None else "")
        elif role == ASSISTANT:
            waiting -= {call.id for call in message.calls}
        elif role == USER and not waiting:
            starts.append(i)
    return starts


SMALLER_HINT = "send a smaller part, e.g. with head -c, or pick a larger model: aimlchat models"


@record(frozen=True)
class Plan:
    """One request's share of the conversation: `history[start:]` plus the new messages."""

    window: Window
    system: str | None
    history: Sequence[Message]
    new: list[Message]
    start: int
    fixed_tokens: int
    history_tokens: int
    left_out_tokens: int
    new_tokens: int
    reserve: int
    raw_prompt: float  # for Estimator.observe once the server reports prompt_tokens

    @property
    def kept(self) -> list[Message]:
        return list(self.history[self.start :])

    @property
    def messages(self) -> list[Message]:
        return self.kept + self.new

    @property
    def left_out(self) -> int:
        return self.start

    @property
    def prompt_tokens(self) -> int:
        return self.fixed_tokens + self.history_tokens + self.new_tokens

    @property
    def notice(self) -> str | None:
        if not self.start:
            return None
        left_out = plural(self.start, "earlier message")
        return f"context: left out {left_out} (~{tokens_text(self.left_out_tokens)} tokens)"


@record()
class ContextWindow:
    window: Window
    estimator: Estimator = field(default_factory=Estimator)
    max_tokens: int | None = None  # max_tokens or max_completion_tokens, when the user set it
    tools: Sequence[ToolSchema] | None = None
    learned: Callable[[Window], None] | None = None  # told of a window a server's error states

    def reserve(self) -> int:
        return self.max_tokens or self._default_reserve()

    def _default_reserve(self) -> int:
        if self.window.length is None:
            return 0
        share = int(self.window.length * RESERVE_SHARE)
        return min(share, self.window.output_max) if self.window.output_max else share

    def room(self, system: str | None, news: Sequence[Message]) -> int | None:
        """Tokens the window has left for earlier history once the fixed part, `news` and
        the reply's reserve are in (negative: they do not fit); None when the window is
        not known. The one sum `fit` and a tool result's budget (chat.fit) both use."""
        if self.window.length is None:
            return None
        est = self.estimator
        news_tokens = est.tokens(sum(message_tokens(m) for m in news))
        fixed = est.tokens(fixed_tokens(system, self.tools))
        return self.window.length - self.reserve() - fixed - news_tokens

    def fit(
        self,
        system: str | None,
        history: Sequence[Message],
        new: Message | Sequence[Message],
        *,
        history_cap: int | None = None,
        refuse: bool = True,
    ) -> Plan:
        """Keep the newest whole turns that fit; raise UsageError if even none leave room
        (`refuse=False`, for `/context`: a plan over the window, keeping no history)."""
        news = [new] if isinstance(new, Message) else list(new)
        est, reserve = self.estimator, self.reserve()
        fixed_raw = fixed_tokens(system, self.tools)
        new_raw = sum(message_tokens(m) for m in news)
        raws = [message_tokens(m) for m in history]
        left = self.room(system, news)
        if left is not None and left < 0 and refuse:
            raise self._too_big(est.tokens(fixed_raw), est.tokens(new_raw), reserve)
        room = math.inf if left is None else left
        cap = math.inf if history_cap is None else history_cap
        start = self._first_kept(history, raws, min(room, cap))
        return Plan(
            window=self.window,
            system=system,
            history=history,
            new=news,
            start=start,
            fixed_tokens=est.tokens(fixed_raw),
            history_tokens=est.tokens(sum(raws[start:])),
            left_out_tokens=est.tokens(sum(raws[:start])),
            new_tokens=est.tokens(new_raw),
            reserve=reserve,
            raw_prompt=fixed_raw + sum(raws[start:]) + new_raw,
        )

    def _first_kept(self, history: Sequence[Message], raws: list[float], budget: float) -> int:
        if self.estimator.tokens(sum(raws)) <= budget:
            return 0
        kept, total = len(history), 0.0
        for start in turn_starts(history):
            total += sum(raws[start:kept])
            if self.estimator.tokens(total) > budget:
                break
            kept = start
        return kept

    def _too_big(self, fixed: int, new: int, reserve: int) -> UsageError:
        window = self.window
        takes = f"{window.model} takes {tokens_text(window.length or 0)}"
        if self.max_tokens and fixed + new + self._default_reserve() <= (window.length or 0):
            return UsageError(
                f"max_tokens {self.max_tokens} leaves too little room: the message is "
                f"~{tokens_text(new)} tokens; {takes}",
                hint="lower --max-tokens, or leave it out",
            )
        system = f" (plus ~{tokens_text(fixed)} for the system prompt)" if fixed > 200 else ""
        return UsageError(
            f"the message is ~{tokens_text(new)} tokens{system}; {takes} "
            f"(including {tokens_text(reserve)} reserved for the reply)",
            hint=SMALLER_HINT,
        )

    def trim_harder(self, plan: Plan, error_text: str) -> Plan:
        """The plan for the one retry after the server said the context was too long.

        A limit stated in the error becomes the window (kept for later turns) and a prompt
        count in it calibrates the estimate; without both, the history sent is halved. The
        retry always sends less history than the failed request, or raises UsageError."""
        from aimlchat.chat.context_errors import limit_from_error, prompt_tokens_from_error

        limit, counted = limit_from_error(error_text), prompt_tokens_from_error(error_text)
        if limit:
            self.window = replace(self.window, length=limit, source="server error")
            if self.learned is not None:
                self.learned(self.window)
        if plan.start == len(plan.history):  # nothing left to leave out
            raise self._refused(limit, counted)
        saved = self.estimator
        if counted:
            saved.observe(plan.raw_prompt, counted)
            # This one retry must fit: trust the server's count fully, not the smoothed ratio.
            ratio = max(saved.ratio, clamp(counted / plan.raw_prompt))
            self.estimator = replace(saved, ratio=ratio)
        try:
            halve = plan.history_tokens // 2
            exact = limit is not None and counted is not None
            harder = self.fit(
                plan.system, plan.history, plan.new, history_cap=None if exact else halve
            )
            if harder.start <= plan.start:  # our numbers said it fit: the server knows better
                harder = self.fit(plan.system, plan.history, plan.new, history_cap=halve)
        finally:
            self.estimator = saved
        return harder

    def _refused(self, limit: int | None, counted: int | None) -> UsageError:
        if limit and counted and self.max_tokens and counted < limit:
            return self._too_big(0, counted, self.max_tokens)  # the reply's share was the excess
        said = [f"{tokens_text(counted)} tokens"] if counted else []
        said += [f"it takes {tokens_text(limit)}"] if limit else []
        detail = f" ({'; '.join(said)})" if said else ""
        return UsageError(
            f"the server says the message is too long for {self.window.model}{detail}",
            hint=SMALLER_HINT,
        )
