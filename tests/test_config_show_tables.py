"""config.toml read as a person writes it: a request parameter above [params] is told
where it belongs, a top-level typo gets the nearest key, and `config show` names [body]
fields as [body] and lists the declared [tools.NAME]."""

from __future__ import annotations

import json

import pytest

from tests.conftest import invoke
from tests.test_settings import write_config


def _rows(stdout: bytes) -> dict[str, list[str]]:
    return {line.split("\t")[0]: line.split("\t")[1:] for line in stdout.decode().splitlines()}


@pytest.mark.parametrize("key", ["temperature", "max_tokens", "max-tokens"])
def test_a_parameter_at_the_top_says_it_belongs_under_params(cli_env, server, home, key):
    write_config(home, f"{key} = 5\n[params]\ntop_p = 0.5\n")
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert f"{key!r} belongs under [params]" in r.stderr
    body = server.chat_bodies()[0]
    assert body["top_p"] == 0.5 and "temperature" not in body and "max_tokens" not in body


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("modle", "did you mean 'model'?"),
        ("temprature", "did you mean 'temperature' under [params]?"),
    ],
)
def test_a_top_level_typo_gets_the_nearest_key(cli_env, server, home, key, hint):
    write_config(home, f'{key} = "1"\n')
    r = invoke(["config", "show"], cli_env)
    assert r.returncode == 0 and hint in r.stderr


def test_config_show_names_body_fields_as_body_and_lists_tools(cli_env, home):
    write_config(
        home,
        '[params]\ntemperature = 0.3\n[body]\nuser = "me"\n'
        '[tools.weather]\ncommand = ["weather", "--city"]\ndescription = "the weather"\n',
    )
    r = invoke(["config", "show"], cli_env)
    assert r.returncode == 0, r.stderr
    rows = _rows(r.stdout)
    assert rows["params.temperature"] == ["0.3", "config.toml [params]"]
    assert rows["body.user"] == ['"me"', "config.toml [body]"] and "params.user" not in rows
    assert rows["tools.weather"] == ["weather --city", "config.toml"]
    doc = json.loads(invoke(["config", "show", "--json"], cli_env).stdout)
    assert doc["settings"]["tools.weather"]["value"] == ["weather", "--city"]
    assert doc["settings"]["body.user"]["value"] == "me"


def test_config_show_lists_model_entries_and_where_remembered_choices_live(cli_env, home):
    write_config(
        home,
        '[models."openai/gpt-5-5-pro"]\napi = "responses"\n'
        '[models."local/llama"]\ncontext_length = 2048\n',
    )
    r = invoke(["config", "show"], cli_env)
    assert r.returncode == 0, r.stderr
    rows = _rows(r.stdout)
    assert rows['models."openai/gpt-5-5-pro".api'] == ["responses", "config.toml"]
    assert rows['models."local/llama".context_length'] == ["2048", "config.toml"]
    assert 'models."local/llama".api' not in rows  # only what the entry sets
    cache = home / "cache" / "aimlchat"
    assert rows["remembered_apis"] == [str(cache / "apis.json"), "missing"]
    assert rows["remembered_windows"] == [str(cache / "context-windows.json"), "missing"]
    doc = json.loads(invoke(["config", "show", "--json"], cli_env).stdout)
    assert doc["settings"]['models."local/llama".context_length']["value"] == 2048
    assert doc["settings"]["remembered_apis"]["value"] == str(cache / "apis.json")


def test_config_show_lists_mcp_servers_without_their_secrets(cli_env, home):
    write_config(
        home,
        '[mcp.aiml]\nurl = "https://mcp.example.com/mcp?key=sk-secret"\n'
        'headers = { Authorization = "Bearer sk-header-secret" }\n'
        '[mcp.files]\ncommand = ["npx", "server-filesystem", "."]\n'
        'env = { TOKEN = "sk-env-secret" }\n',
    )
    r = invoke(["config", "show"], cli_env)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "mcp.aiml" in out and "https://mcp.example.com/mcp" in out
    assert "mcp.files" in out and "npx server-filesystem ." in out
    assert "secret" not in out
