"""How a conversation is referred to: an all-digit reference is its id, anything else a name.

One rule everywhere (`--session`, `/save`, `/load`, `history show|export|rm`): so a name
may not be all digits, or `104` could mean conversation 104 or the one named "104".
Databases from before the rule may hold such names; an explicit id wins over them.
"""

from __future__ import annotations

from aimlchat.errors import UsageError


def is_id(ref: str) -> bool:
    """ASCII digits only: what a user types for an id (int() would also take "١٠٤")."""
    return ref.isascii() and ref.isdigit()


def check_name(name: str) -> None:
    if is_id(name):
        raise UsageError(
            f'a conversation name cannot be all digits: "{name}" would be read as'
            f" conversation {name.lstrip('0') or '0'}",
            hint=f"add a letter, e.g. {name}a or v{name}",
        )


def not_found(ref: str | None, named: int | None = None) -> UsageError:
    """The error for a reference that finds nothing; `named`: the conversation an older
    release let take `ref` as its name (now only reachable by its own id)."""
    if ref is None:
        return UsageError("no saved conversations yet", hint="see: aimlchat history list")
    if named is not None:
        return UsageError(
            f"no conversation {ref}",
            hint=f'conversation {named} is named "{ref}": use its id, {named}',
        )
    shown = ref if is_id(ref) else repr(ref)
    return UsageError(f"no conversation {shown}", hint="see: aimlchat history list")
