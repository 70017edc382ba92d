"""`/model` in chat: Tab reads the cached model list when pressed (and says how to get one
when there is none), and a name the list has no chat model for is refused with the close
ones, unless `/model! NAME` insists."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from aimlchat.api.catalog import parse_models
from aimlchat.commands.model_choice import NO_MODEL_LIST, suggestions
from aimlchat.commands.repl_complete import Sources, hint
from tests.conftest import invoke, spawn
from tests.loopback import MODELS

PROMPT = "›"
CATALOGUE = parse_models(MODELS)


def quit_(child: Any) -> None:
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def fill_cache(cli_env: dict[str, str]) -> None:
    assert invoke(["models"], cli_env).returncode == 0


# -- in a real terminal ----------------------------------------------------------------------


def test_tab_on_model_without_a_list_says_how_to_get_one_then_sees_it_without_restart(
    cli_env, server
):
    child = spawn(["chat"], cli_env)
    child.expect_exact(PROMPT)
    child.send("/model ")
    child.send("\t")
    # At the right of the line, in grey (its last column is drawn apart, so not matched).
    child.expect_exact(NO_MODEL_LIST[:-1])
    fill_cache(cli_env)  # `aimlchat models` in another shell
    child.send("70")
    child.expect_exact("llama-3.3-70b")  # the menu, from the list fetched meanwhile
    child.send("\t")  # takes the first: the id
    child.send("\r")
    child.expect_exact("model is now meta-llama/Llama-3.3-70B-Instruct-Turbo")
    child.expect_exact(PROMPT)
    quit_(child)


def test_model_name_the_list_lacks_is_refused_with_the_close_ones(cli_env, server):
    fill_cache(cli_env)
    child = spawn(["chat"], cli_env)
    child.expect_exact(PROMPT)
    child.send("/model gpt")  # the menu opens, nothing chosen: Enter sends "gpt" as typed
    child.send("\r")
    child.expect_exact("no chat model 'gpt' in the cached model list")
    child.expect_exact("did you mean gpt-4o? (or insist: /model! gpt)")
    child.sendline("/model")
    child.expect_exact("model: meta-llama/llama-4-scout")
    child.sendline("/model! gpt")
    child.expect_exact("model is now gpt")
    child.sendline("hi")
    child.expect_exact("Hello from the loopback server.")
    child.expect_exact(PROMPT)
    assert server.chat_bodies()[-1]["model"] == "gpt"
    quit_(child)


# -- the commands, in-process -----------------------------------------------------------------


@pytest.fixture
def repl(cli_env: dict[str, str]) -> Iterator[Any]:
    from aimlchat.commands.repl import Repl
    from aimlchat.commands.runtime import App
    from aimlchat.settings.resolve import Flags
    from aimlchat.terminal.environment import Environment

    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, environ=cli_env)
    app = App(Flags(no_history=True), env)
    repl = Repl(app, app.open_chat(stream=True), out.write)
    repl.err = err  # type: ignore[attr-defined]
    yield repl


def test_model_nosuch_is_refused_and_the_model_kept(cli_env, repl):
    fill_cache(cli_env)
    repl.handle("/model nosuch")
    assert "error: no chat model 'nosuch' in the cached model list" in repl.err.getvalue()
    assert "aimlchat models lists them (or insist: /model! nosuch)" in repl.err.getvalue()
    assert repl.chat.settings.model == "meta-llama/llama-4-scout"


def test_model_misspelt_is_refused_with_suggestions(cli_env, repl):
    fill_cache(cli_env)
    repl.handle("/model llama-4-scot")
    assert "did you mean llama-4-scout" in repl.err.getvalue()  # the closest first
    assert repl.chat.settings.model == "meta-llama/llama-4-scout"


def test_an_image_model_is_not_a_chat_model(cli_env, repl):
    fill_cache(cli_env)
    repl.handle("/model flux/schnell")
    assert "'flux/schnell' is a bfl/image-generation model, not a chat model" in (
        repl.err.getvalue()
    )
    assert repl.chat.settings.model == "meta-llama/llama-4-scout"


def test_listed_models_and_aliases_switch(cli_env, repl):
    fill_cache(cli_env)
    repl.handle("/model gpt-4o")
    repl.handle("/model meta-llama/Llama-3.3-70B-Instruct-Turbo")
    assert "model is now gpt-4o" in repl.err.getvalue() and "error" not in repl.err.getvalue()
    assert repl.chat.settings.model == "meta-llama/Llama-3.3-70B-Instruct-Turbo"


def test_model_bang_insists_on_a_name_the_list_lacks(cli_env, repl):
    fill_cache(cli_env)
    repl.handle("/model! brand-new/model")
    assert repl.chat.settings.model == "brand-new/model"
    repl.handle("/model!")
    assert "/model! needs a NAME" in repl.err.getvalue()


def test_without_a_list_the_model_switches_with_a_warning(repl):
    repl.handle("/model other/model")
    assert f"warning: 'other/model' not checked: {NO_MODEL_LIST}" in repl.err.getvalue()
    assert repl.chat.settings.model == "other/model"


def test_the_cached_list_is_read_again_only_when_its_file_changes(cli_env, repl):
    prices = repl.app.prices
    assert prices.models == []
    fill_cache(cli_env)
    models = prices.models
    assert [m.id for m in models][:1] == ["meta-llama/llama-4-scout"]
    assert prices.models is models  # unchanged file: not parsed again
    path: Path = prices.cache_file
    path.write_text(path.read_text().replace("openai/gpt-4o", "openai/gpt-5"))
    os.utime(path, ns=(1, 1))  # a new mtime even on a coarse clock
    assert "openai/gpt-5" in [m.id for m in prices.models]
    path.unlink()
    assert prices.models == []


# -- pure -------------------------------------------------------------------------------------


def test_suggestions_name_each_chat_model_once_by_its_shortest_match():
    assert suggestions(CATALOGUE, "gpt") == ["gpt-4o"]
    assert suggestions(CATALOGUE, "llama") == ["llama-4-scout", "llama-3.3-70b"]
    assert suggestions(CATALOGUE, "flux") == []  # an image model is not offered


def test_the_hint_shows_only_for_a_model_argument_with_no_list():
    empty, full = Sources(), Sources(models=lambda: ["gpt-4o"])
    assert hint(empty, "/model ") == NO_MODEL_LIST
    assert hint(empty, "/model! gp") == NO_MODEL_LIST
    assert hint(full, "/model ") is None
    assert hint(empty, "/model") is None  # still typing the command
    assert hint(empty, "/set ") is None
    assert hint(empty, "hello /model ") is None
