"""One key from the terminal, without Enter: the menu of `aimlchat cmd`.

The terminal is put in cbreak mode for the one read (Ctrl-C still raises
KeyboardInterrupt) and restored at once. `drop_typeahead` is called just before the menu
appears, so a key pressed while the model was answering cannot choose for the user.
"""

from __future__ import annotations

import os

CTRL_D = "\x04"
ESC = "\x1b"


def drop_typeahead(fd: int) -> None:
    """Forget keys typed so far. Called before the menu is drawn, never after: the kernel
    may not have seen a Ctrl-C that has just arrived, and the flush would eat it."""
    import termios

    termios.tcflush(fd, termios.TCIFLUSH)


def read_key(fd: int) -> str:
    """The next key pressed: one character, or a whole escape sequence (an arrow key)."""
    import termios
    import tty

    old = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)
        data = os.read(fd, 16)
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)
    return data.decode("utf-8", "replace") if data else CTRL_D
