"""Which model `/model NAME` may switch to: the cached catalogue's chat models decide.

A name the catalogue lacks would only fail later, as a 404 on the next message, so it is
refused at once with the names that come close; `/model! NAME` insists (a model newer than
the cached list). With no list cached there is nothing to check against: the switch is
made with a warning that says how to get one.
"""

from __future__ import annotations

from collections.abc import Sequence

from aimlchat.api.catalog import Model, closest, find_model
from aimlchat.errors import UsageError

NO_MODEL_LIST = "no model list cached — run: aimlchat models"


def chat_names(models: Sequence[Model]) -> list[str]:
    """What Tab offers after `/model`: each chat model's id and aliases."""
    return [name for m in models if m.is_chat for name in (m.id, *m.aliases)]


def suggestions(models: Sequence[Model], name: str, n: int = 3) -> list[str]:
    """Chat models close to `name`, one name each: those containing it (by their shortest
    such name: "gpt" finds gpt-4o, not also openai/gpt-4o), then near misses by spelling."""
    chat = [m for m in models if m.is_chat]
    low = name.lower()
    found: dict[str, str] = {}  # model id -> the name shown for it
    containing = [m for m in chat if any(low in x.lower() for x in (m.id, *m.aliases))]
    for m in sorted(containing, key=lambda m: (len(m.id), m.id)):
        found[m.id] = min((x for x in (m.id, *m.aliases) if low in x.lower()), key=len)
    for near in closest(chat, name, n):
        model = find_model(chat, near)
        if model is not None:
            found.setdefault(model.id, near)
    return list(found.values())[:n]


def refusal(models: Sequence[Model], name: str) -> UsageError | None:
    """Why `/model NAME` is refused, or None: NAME is a chat model of the catalogue, or no
    catalogue is cached to check it against."""
    if not models:
        return None
    model = find_model(list(models), name)
    if model is not None and model.is_chat:
        return None
    if model is not None:
        what = f"{name!r} is a {model.type or 'non-chat'} model, not a chat model"
    else:
        what = f"no chat model {name!r} in the cached model list"
    near = suggestions(models, name)
    if near:
        return UsageError(what, hint=f"did you mean {', '.join(near)}? (or insist: /model! {name})")
    return UsageError(what, hint=f"aimlchat models lists them (or insist: /model! {name})")


def unchecked(name: str) -> str:
    """The warning when there is no list to check `name` against."""
    return f"{name!r} not checked: {NO_MODEL_LIST}"
