"""The user's message text: stdin and the prompt put together.

The messages themselves are aimlchat.messages; the request bodies, api.adapters.
"""

from __future__ import annotations

from aimlchat.errors import UsageError

STDIN_PLACEHOLDER = "{stdin}"


def compose_prompt(prompt: str, stdin_text: str | None) -> str:
    """The user message: stdin, a blank line, then the prompt; or stdin at `{stdin}`.

    `stdin_text` is None when there is no stdin to read (a terminal, `--no-stdin`) or
    it was empty; a `{stdin}` with nothing to put there is a mistake, not a literal.
    """
    if stdin_text is None:
        if STDIN_PLACEHOLDER in prompt:
            raise UsageError(
                "the prompt has {stdin} but there is no stdin",
                hint='pipe something in, e.g. aimlchat ask "fix {stdin}" < file.txt',
            )
        text = prompt
    elif STDIN_PLACEHOLDER in prompt:
        # One trailing newline ends the piped file; inside a sentence it is noise.
        spliced = stdin_text[:-1] if stdin_text.endswith("\n") else stdin_text
        text = prompt.replace(STDIN_PLACEHOLDER, spliced)
    elif prompt:
        text = f"{stdin_text.rstrip(chr(10))}\n\n{prompt}"
    else:
        text = stdin_text
    if not text.strip():
        raise UsageError("empty message", hint='give a prompt, e.g. aimlchat ask "Hello"')
    return text
