"""Tab completion in the chat REPL: slash commands, then each command's own arguments.

`/model` completes ids and aliases from the cached catalogue, `/set` parameter names
and then enum values, `/load` conversation names and ids, `/role` role names, and
`/image` `/file` paths. Sources are callables, read when Tab is pressed, so a `/save`
or a refreshed catalogue shows at once and nothing is loaded before it is needed.
Where Tab has nothing to offer for a reason the user can fix (no model list cached),
`hint` says so, for a line under the prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from aimlchat.commands.model_choice import NO_MODEL_LIST
from aimlchat.record import record

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document

Names = Callable[[], Sequence[str]]


def _none() -> Sequence[str]:
    return ()


@record()
class Sources:
    commands: Sequence[tuple[str, str]] = ()  # (name, help)
    models: Names = _none
    params: Callable[[], dict[str, Sequence[str]]] = dict  # name -> enum values (or ())
    conversations: Names = _none
    roles: Names = _none
    path_commands: tuple[str, ...] = ("/image", "/file")
    extra: dict[str, Names] = field(default_factory=dict)


def _matches(
    candidates: Sequence[str], word: str, *, substring: bool = False
) -> Iterable[tuple[str, str | None]]:
    low = word.lower()
    seen: set[str] = set()
    for name in candidates:
        if name not in seen and name.lower().startswith(low):
            seen.add(name)
            yield name, None
    if not substring:
        return
    for name in candidates:  # then substring matches: "scout" finds meta-llama/llama-4-scout
        if name not in seen and low and low in name.lower():
            seen.add(name)
            yield name, None


def _model_argument(text: str) -> bool:
    """`/model WORD` or `/model! WORD`, the cursor still in WORD."""
    command, space, rest = text.partition(" ")
    in_word = " " not in rest and "\n" not in rest
    return bool(space) and in_word and command.lower() in ("/model", "/model!")


def hint(sources: Sources, text: str) -> str | None:
    """The line under the prompt while `text` is typed: why Tab offers nothing, if it
    is something the user can fix. Asked on every redraw, so cheap when not /model."""
    if _model_argument(text) and not sources.models():
        return NO_MODEL_LIST
    return None


def make_completer(sources: Sources) -> Any:
    from prompt_toolkit.completion import Completer, Completion, PathCompleter
    from prompt_toolkit.document import Document

    paths = PathCompleter(expanduser=True)

    class SlashCompleter(Completer):
        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterable[Completion]:
            text = document.text_before_cursor
            if not text.startswith("/") or "\n" in text:
                return
            command, space, rest = text.partition(" ")
            if not space:
                for name, help_ in sources.commands:
                    if name.startswith(command):
                        yield Completion(name, start_position=-len(text), display_meta=help_)
                return
            command = command.lower()
            if command in sources.path_commands:
                sub = Document(rest, len(rest))
                yield from paths.get_completions(sub, complete_event)
                return
            for value, meta in self._arguments(command, rest):
                word = rest.rsplit(" ", 1)[-1]
                yield Completion(value, start_position=-len(word), display_meta=meta)

        def _arguments(self, command: str, rest: str) -> Iterable[tuple[str, str | None]]:
            words = rest.split(" ")
            if command in ("/model", "/model!") and len(words) == 1:
                return _matches(sources.models(), words[0], substring=True)
            if command == "/load" and len(words) == 1:
                return _matches(sources.conversations(), words[0])
            if command == "/role" and len(words) == 1:
                return _matches(sources.roles(), words[0])
            if command == "/set":
                table = sources.params()
                if len(words) == 1:
                    return _matches(sorted(table), words[0])
                if len(words) == 2:
                    return _matches(table.get(words[0].replace("-", "_"), ()), words[1])
            if command in sources.extra and len(words) == 1:
                return _matches(sources.extra[command](), words[0])
            return ()

    return SlashCompleter()
