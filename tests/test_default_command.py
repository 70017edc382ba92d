"""`aimlchat WORD`: one-word prompts go to the model, clear command typos are refused
before anything is sent, and `aimlchat help` shows help."""

from __future__ import annotations

import pytest

from aimlchat.cli.typos import edit_distance
from tests.conftest import invoke


@pytest.mark.parametrize("word", ["what", "that", "cats", "cat", "hat", "keys", "help me"])
def test_a_one_word_prompt_goes_to_the_model(cli_env, server, word):
    r = invoke([word], cli_env, "")
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[-1]["messages"][-1]["content"] == word


@pytest.mark.parametrize(
    ("args", "meant"),
    [
        (["hsitory"], "history"),
        (["histroy", "list"], "history"),
        (["rolse"], "roles"),
        (["modles"], "models"),
        (["conifg"], "config"),
        (["bach"], "batch"),
        (["chta"], "chat"),
    ],
)
def test_a_command_typo_is_refused_before_anything_is_sent(cli_env, server, args, meant):
    r = invoke(args, cli_env, "")
    assert r.returncode == 2 and f"did you mean {meant}?" in r.stderr
    assert server.chat_bodies() == []


def test_help_alone_prints_the_top_level_help(cli_env, server, capsys):
    r = invoke(["help"], cli_env, "")
    assert r.returncode == 0, r.stderr
    shown = r.stdout.decode() + capsys.readouterr().out  # Typer's help writes to sys.stdout
    assert "Usage: aimlchat [OPTIONS] COMMAND" in shown and server.chat_bodies() == []


def test_help_before_a_command_prints_that_commands_help(cli_env, server, capsys):
    r = invoke(["help", "history"], cli_env, "")
    assert r.returncode == 0, r.stderr
    shown = r.stdout.decode() + capsys.readouterr().out
    assert "Usage: aimlchat history" in shown and server.chat_bodies() == []


def test_edit_distance_counts_a_swap_of_neighbours_as_one():
    assert edit_distance("hsitory", "history") == 1
    assert edit_distance("cats", "chat") == 2
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "abc") == 0


def test_help_before_a_mistyped_command_is_refused_not_asked(cli_env, server):
    r = invoke(["help", "histroy"], cli_env, "")
    assert r.returncode == 2 and server.chat_bodies() == []
    assert "did you mean history?" in r.stderr and "aimlchat ask help histroy" in r.stderr
