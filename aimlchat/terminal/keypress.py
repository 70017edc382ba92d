"""One key from the terminal, without Enter (the menu of `aimlchat cmd`), and what to do
with keys typed before a question appeared.

The terminal is put in cbreak mode for the one read (Ctrl-C still raises
KeyboardInterrupt) and restored at once. Before every question (`cmd`'s menu, a tool's
consent in `ask` and `chat`) the keys typed while the model was answering are dropped
(`drop_typeahead`) or, in the chat REPL, taken to give back to its next prompt
(`take_typeahead`): none of them can answer for the user.
"""

from __future__ import annotations

from aimlchat.osplatform import flush_input, read_key_bytes, take_input

CTRL_D = "\x04"
ESC = "\x1b"


def drop_typeahead(fd: int) -> None:
    """Forget keys typed so far. Called before the menu is drawn, never after: the kernel
    may not have seen a Ctrl-C that has just arrived, and the flush would eat it."""
    flush_input(fd)


def take_typeahead(fd: int) -> str:
    """The keys typed so far, taken off the terminal rather than forgotten. Called before
    the question is shown, like `drop_typeahead`."""
    return take_input(fd).decode("utf-8", "replace")


def read_key(fd: int) -> str:
    """The next key pressed: one character, or a whole escape sequence (an arrow key)."""
    data = read_key_bytes(fd)
    return data.decode("utf-8", "replace") if data else CTRL_D
