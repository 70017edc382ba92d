"""Roles and templates: `roles list | show | edit`, the built-in `cmd` and `code`, what a
role sets (system, model, params, tools), and `{{name}}` filled with `-v name=value`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.conftest import invoke

CONFIG = """\
[roles]
shell = "Only commands."

[roles.translate]
system = "Translate into {{lang}}, {{ tone }} register."
model = "m/translator"
params = { temperature = 0.2 }
tools = ["read_file"]

[roles.cmd]
model = "m/fast"
"""


@pytest.fixture
def config(cli_env: dict[str, str]) -> Path:
    path = Path(cli_env["XDG_CONFIG_HOME"]) / "aimlchat" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG)
    return path


def _sent(server) -> dict:
    return server.chat_bodies()[-1]


def test_roles_list_has_the_built_ins_and_config_roles(cli_env, config):
    r = invoke(["roles", "list"], cli_env)
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.decode().splitlines()]
    assert rows[0] == ["NAME", "SOURCE", "MODEL", "SYSTEM"]
    table = {row[0]: row[1:] for row in rows[1:]}
    assert list(table) == ["cmd", "code", "shell", "translate"]
    assert table["cmd"][:2] == ["config.toml over the built-in", "m/fast"]
    assert table["cmd"][2].startswith("You turn the user's request into exactly one shell")
    assert table["code"][0] == "built-in"
    assert table["translate"] == ["config.toml", "m/translator", table["translate"][2]]


def test_roles_show_names_what_the_role_sets_and_the_values_it_needs(cli_env, config):
    r = invoke(["roles", "show", "translate"], cli_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == (
        "translate (config.toml)\n"
        "model:  m/translator\n"
        "params: temperature=0.2\n"
        "tools:  read_file\n"
        "needs:  -v lang=… -v tone=…\n"
        "system:\n"
        "Translate into {{lang}}, {{ tone }} register.\n"
    )
    doc = json.loads(invoke(["roles", "show", "code", "--json"], cli_env).stdout)
    assert doc["source"] == "built-in" and doc["system"].startswith("Reply with code only")


def test_an_unknown_role_is_a_usage_error_naming_the_roles(cli_env, server, config):
    for args in (["roles", "show", "translat"], ["ask", "-r", "translat", "hi"]):
        r = invoke(args, cli_env)
        assert r.returncode == 2
        assert "unknown role 'translat' (roles: cmd, code, shell, translate)" in r.stderr
    assert server.requests == []


def test_a_role_sets_system_model_params_and_tools_with_vars_filled(cli_env, server, config):
    r = invoke(
        ["-r", "translate", "-v", "lang=French", "-v", "tone=formal", "good morning"], cli_env
    )
    assert r.returncode == 0, r.stderr
    body = _sent(server)
    assert body["messages"][0] == {
        "role": "system",
        "content": "Translate into French, formal register.",
    }
    assert body["model"] == "m/translator" and body["temperature"] == 0.2
    assert [t["function"]["name"] for t in body["tools"]] == ["read_file"]


def test_a_missing_template_value_is_a_usage_error_naming_it(cli_env, server, config):
    r = invoke(["-r", "translate", "-v", "lang=French", "good morning"], cli_env)
    assert r.returncode == 2
    assert "role translate needs tone" in r.stderr and "-v tone=…" in r.stderr
    assert server.requests == []


def test_prompt_variables_are_filled_only_when_v_is_given(cli_env, server):
    invoke(["what does {{name}} do in Handlebars"], cli_env)
    assert _sent(server)["messages"][-1]["content"] == "what does {{name}} do in Handlebars"
    invoke(["-v", "city=Oslo", "weather in {{city}}"], cli_env)
    assert _sent(server)["messages"][-1]["content"] == "weather in Oslo"
    r = invoke(["-v", "city=Oslo", "weather in {{town}}"], cli_env)
    assert r.returncode == 2 and "the prompt needs town" in r.stderr
    r = invoke(["-v", "novalue", "hi"], cli_env)
    assert r.returncode == 2 and "-v expects NAME=VALUE" in r.stderr


def test_the_built_in_cmd_role_names_the_shell_and_a_config_role_tunes_it(cli_env, server, config):
    invoke(["-r", "cmd", "list big files"], {**cli_env, "SHELL": "/usr/bin/zsh"})
    body = _sent(server)
    assert "Shell: /usr/bin/zsh (zsh)" in body["messages"][0]["content"]
    assert body["model"] == "m/fast"  # [roles.cmd] changes the model, keeps the prompt
    invoke(["-r", "code", "fizzbuzz in rust"], cli_env)
    assert _sent(server)["messages"][0]["content"].startswith("Reply with code only")


def test_role_tools_must_be_a_list_of_names(cli_env, server, config):
    config.write_text('[roles.bad]\nsystem = "x"\ntools = "weather"\n')
    r = invoke(["-r", "bad", "hi"], cli_env)
    assert r.returncode == 3 and "roles.bad.tools must be a list of names" in r.stderr


def _editor(tmp_path: Path) -> str:
    """An $EDITOR that records the file it was given and changes nothing."""
    script = tmp_path / "editor.sh"
    script.write_text(f'#!/bin/sh\necho "$1" > "{tmp_path}/edited"\n')
    script.chmod(0o755)
    return str(script)


def test_roles_edit_adds_a_stub_for_a_new_role_and_opens_the_editor(cli_env, config, tmp_path):
    env = {**cli_env, "EDITOR": _editor(tmp_path), "VISUAL": ""}
    r = invoke(["roles", "edit", "review"], env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "edited").read_text().strip() == str(config)
    text = config.read_text()
    assert text.startswith(CONFIG) and '[roles.review]\nsystem = "You are' in text
    assert "is valid" in r.stderr
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    invoke(["roles", "edit", "review"], env)  # defined now: nothing added twice
    assert config.read_text() == text
    shown = invoke(["roles", "show", "review"], cli_env)
    assert b"system:\nYou are a helpful assistant." in shown.stdout


def test_roles_edit_of_a_built_in_keeps_its_prompt(cli_env, tmp_path):
    env = {**cli_env, "EDITOR": _editor(tmp_path), "VISUAL": ""}
    r = invoke(["roles", "edit", "code"], env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(invoke(["roles", "show", "code", "--json"], cli_env).stdout)
    assert doc["source"] == "config.toml over the built-in"
    assert doc["system"].startswith("Reply with code only")
