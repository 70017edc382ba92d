"""The per-reply sink of a turn keeps the thinking view on every Python.

From 3.12, `isinstance` against a runtime-checkable Protocol looks members up statically,
so a wrapper that supplied `reason` through `__getattr__` stopped counting as a thinking
sink and a reasoning model's thinking vanished from the terminal.
"""

from __future__ import annotations

import inspect

from aimlchat.terminal.output import ReasoningSink, per_reply


class Plain:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def feed(self, text: str) -> None:
        self.log.append(f"feed {text}")

    def finish(self, *, status: str | None = None) -> None:
        self.log.append("finish")


class Thinking(Plain):
    def reason(self, text: str) -> None:
        self.log.append(f"reason {text}")

    def reasoning_tokens(self, count: int) -> None:
        self.log.append(f"tokens {count}")


def test_a_terminal_turn_sink_is_a_thinking_sink_by_its_own_methods():
    log: list[str] = []
    sink = per_reply(lambda: Thinking(log))
    assert isinstance(sink, ReasoningSink)
    assert inspect.getattr_static(sink, "reason") is not None  # not via __getattr__


def test_thinking_reaches_each_replys_own_sink():
    sinks: list[Thinking] = []

    def make() -> Thinking:
        sinks.append(Thinking([]))
        return sinks[-1]

    sink = per_reply(make)
    assert isinstance(sink, ReasoningSink)
    sink.reason("hmm")
    sink.reasoning_tokens(7)
    sink.feed("answer")
    sink.finish()
    sink.reason("again")  # the tool step's next reply gets a fresh sink
    assert sinks[0].log == ["reason hmm", "tokens 7", "feed answer", "finish"]
    assert sinks[1].log == ["reason again"]


def test_a_pipe_turn_sink_drops_thinking():
    sink = per_reply(lambda: Plain([]))
    assert not isinstance(sink, ReasoningSink)
    assert not hasattr(sink, "reason")
