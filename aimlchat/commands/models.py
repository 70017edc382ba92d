"""`aimlchat models`: the catalogue as a table or JSON."""

from __future__ import annotations

import json
from typing import Any

from aimlchat.api.catalog import Model, load_catalogue
from aimlchat.chat.tokens import tokens_text
from aimlchat.commands.runtime import App
from aimlchat.errors import AimlchatError
from aimlchat.terminal.sanitize import one_line


def _tsv(rows: list[list[str]]) -> str:
    """Tab-separated lines for a pipe; a server's string stays on its line and in its
    column: a tab, line break or other control character in it becomes a space."""
    return "".join("\t".join(one_line(cell) for cell in row) + "\n" for row in rows)


def _tokens(n: int | None) -> str:
    return "" if n is None else tokens_text(n)  # as /context says it


def _price(per_token: float | None) -> str:
    return "" if per_token is None else f"${per_token * 1_000_000:,.2f}"


def _as_json(model: Model) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "type": model.type,
        "aliases": list(model.aliases),
        "context": model.context,
        "output_max": model.output_max,
        "vision": model.vision,
        "input_per_1m": None if model.input_price is None else model.input_price * 1e6,
        "output_per_1m": None if model.output_price is None else model.output_price * 1e6,
    }


def show_models(
    app: App, *, search: str | None, pricing: bool, vision: bool, all_types: bool, as_json: bool
) -> None:
    client = app.client(need_key=False)
    listing = load_catalogue(client.get_models, app.models_cache(), app.notifier.warn)
    if not listing.from_cache:  # the server answered: its retirement feed too, once a day
        app.lifecycle().refresh(client.get_deprecations)
    models = [
        m
        for m in listing.models
        if (all_types or m.is_chat)
        and (not vision or m.vision)
        and (not search or m.matches(search))
    ]
    models.sort(key=lambda m: m.id.lower())
    env = app.env
    if as_json:
        app.out.data(json.dumps([_as_json(m) for m in models], indent=2) + "\n")
    if not models:  # as grep: no match is status 1, so a script can tell
        raise AimlchatError("no model matches" + (f" {search!r}" if search else ""))
    if as_json:
        return
    headers = ["ID", "NAME", "CONTEXT", "OUTPUT"]
    right = [2, 3]
    if pricing:
        headers += ["IN $/1M", "OUT $/1M"]
        right += [4, 5]
    if all_types:
        headers.append("TYPE")
    rows = []
    for m in models:
        row = [m.id, m.name, _tokens(m.context), _tokens(m.output_max)]
        if pricing:
            row += [_price(m.input_price), _price(m.output_price)]
        if all_types:
            row.append(m.type)
        rows.append(row)
    if not app.out.is_terminal:
        # A pipe gets tab-separated columns: easy to cut, sort and grep.
        app.out.data(_tsv([headers, *rows]))
        return
    from aimlchat.terminal.table import print_table

    print_table(
        env.stdout,
        headers,
        rows,
        color=env.stdout_color,
        terminal=True,
        justify_right=right,
        whole=[0, *right],  # the ID is what people copy; the name and type give way
        optional=[1],
    )


def show_deprecated(app: App, *, search: str | None, as_json: bool) -> None:
    """`aimlchat models --deprecated`: the server's retirement feed, asked again now
    (If-None-Match), else the cached copy."""
    from aimlchat.api.deprecations import Entry

    feed = app.lifecycle().refresh(app.client(need_key=False).get_deprecations, asked=True)
    if feed is None:
        raise AimlchatError("cannot read the model deprecation feed, and none is cached")
    if not feed.offered:
        raise AimlchatError(
            f"{app.settings.base_url} offers no model deprecation feed (/models/deprecations)"
        )

    def wanted(e: Entry) -> bool:
        return not search or any(search.lower() in n.lower() for n in (e.id, *e.aliases))

    entries = sorted(filter(wanted, feed.entries), key=lambda e: (e.shutdown_at or "~", e.id))
    if as_json:
        app.out.data(json.dumps([e.as_json() for e in entries], indent=2) + "\n")
    if not entries:
        if search:  # as grep: no match is status 1
            raise AimlchatError(f"no deprecated model matches {search!r}")
        if not as_json:
            app.notifier.info("the server lists no deprecated models")
        return
    if as_json:
        return
    headers = ["ID", "STATUS", "SHUTDOWN", "REPLACED BY", "ALIASES"]
    rows = [
        [e.id, e.status, e.shutdown_at or "", e.replaced_by or "", ", ".join(e.aliases)]
        for e in entries
    ]
    if not app.out.is_terminal:
        app.out.data(_tsv([headers, *rows]))
        return
    from aimlchat.terminal.table import print_table

    env = app.env
    print_table(
        env.stdout,
        headers,
        rows,
        color=env.stdout_color,
        terminal=True,
        whole=[0, 3],  # the names people copy
        optional=[4],
    )
