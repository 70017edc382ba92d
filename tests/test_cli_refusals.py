"""Small CLI refusals: an empty --session name, and `models SEARCH` that matches nothing
(status 1, as grep), each before anything is changed."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke


@pytest.mark.parametrize("name", ["", "  "])
def test_an_empty_session_name_is_refused(cli_env, server, name):
    r = invoke(["ask", "--session", name, "hi"], cli_env, "")
    assert r.returncode == 2 and "--session needs a name" in r.stderr
    assert server.chat_bodies() == []


def test_models_with_a_search_that_matches_nothing_exits_1(cli_env, server):
    r = invoke(["models", "nosuch"], cli_env)
    assert r.returncode == 1 and "no model matches 'nosuch'" in r.stderr
    assert r.stdout == b""


def test_models_json_that_matches_nothing_prints_an_empty_list_and_exits_1(cli_env, server):
    r = invoke(["models", "--json", "nosuch"], cli_env)
    assert r.returncode == 1 and json.loads(r.stdout) == []


def test_models_with_a_search_that_matches_still_exits_0(cli_env, server):
    r = invoke(["models", "llama"], cli_env)
    assert r.returncode == 0 and b"llama" in r.stdout
