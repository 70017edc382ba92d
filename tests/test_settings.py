"""Settings: config.toml read key by key, the pure resolver, and the CLI that uses them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from aimlchat.errors import ConfigError, UsageError
from aimlchat.settings import params
from aimlchat.settings.config import FileConfig, Role, load_file
from aimlchat.settings.resolve import Flags, resolve
from tests.conftest import TEST_KEY, invoke


def config_file(tmp_path: Path, text: str) -> FileConfig:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_file(path)


def write_config(home: Path, text: str) -> Path:
    folder = home / "config" / "aimlchat"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(text)
    return path


# -- config.toml ----------------------------------------------------------------------------


def test_unknown_keys_are_warned_with_the_closest_known_one(tmp_path):
    cfg = config_file(tmp_path, 'modle = "x"\n[params]\ntemprature = 0.3\ntop_p = 0.5\n')
    assert cfg.errors == []
    assert any("'modle'" in w and "'model'" in w for w in cfg.warnings)
    assert any(
        "'temprature'" in w and "'temperature'" in w and "not sent" in w for w in cfg.warnings
    )
    assert cfg.params == {"top_p": 0.5}
    assert "model" not in cfg.settings


def test_body_table_sends_any_field_and_checks_known_ones(tmp_path):
    cfg = config_file(tmp_path, '[body]\nuser = "me"\nlogit_bias = { "1" = 2 }\ntop_k = 2.5\n')
    assert cfg.body == {"user": "me", "logit_bias": {"1": 2}}
    assert cfg.errors == ["body.top_k must be a whole number (got 2.5)"]


def test_bad_values_are_collected_and_the_rest_kept(tmp_path):
    cfg = config_file(
        tmp_path,
        'model = "m"\ntimeout = 0\nretries = 2.5\n[params]\ntemperature = 9\nseed = 3\n',
    )
    assert cfg.settings == {"model": "m"} and cfg.params == {"seed": 3}
    assert len(cfg.errors) == 3
    with pytest.raises(ConfigError, match=r"timeout must be more than 0 .*and 2 more"):
        cfg.check()


def test_broken_toml_is_one_error_naming_line_and_column(tmp_path):
    cfg = config_file(tmp_path, 'model = "x"\ntemperature = = 1\n')
    assert len(cfg.errors) == 1 and "line 2" in cfg.errors[0] and "column" in cfg.errors[0]


def test_top_logprobs_in_config_needs_logprobs(tmp_path):
    cfg = config_file(tmp_path, "[params]\ntop_logprobs = 3\n")
    assert cfg.errors == ["params.top_logprobs needs params.logprobs"]
    assert cfg.params == {}
    cfg = config_file(tmp_path, "[params]\nlogprobs = true\ntop_logprobs = 3\n")
    assert cfg.errors == [] and cfg.params == {"logprobs": True, "top_logprobs": 3}


def test_roles_may_be_a_prompt_or_a_table_with_model_and_params(tmp_path):
    cfg = config_file(
        tmp_path,
        '[roles]\nshell = "Only commands."\n'
        '[roles.poet]\nsystem = "Verse."\nmodel = "m/poet"\ncolour = 1\n'
        "[roles.poet.params]\ntemperature = 1.2\n",
    )
    assert cfg.roles["shell"] == Role(system="Only commands.")
    assert cfg.roles["poet"] == Role(system="Verse.", model="m/poet", params={"temperature": 1.2})
    assert any("'colour'" in w and "[roles.poet]" in w for w in cfg.warnings)


# -- the resolver ---------------------------------------------------------------------------


def test_flag_beats_env_beats_config_beats_default_and_says_so(tmp_path):
    cfg = config_file(tmp_path, 'model = "from/config"\ntimeout = 5\n')
    env = {"AIMLCHAT_MODEL": "from/env"}
    s = resolve(Flags(model="from/flag"), env, cfg)
    assert s.model == "from/flag" and s.sources["model"] == "flag --model"
    s = resolve(Flags(), env, cfg)
    assert s.model == "from/env" and s.sources["model"] == "env AIMLCHAT_MODEL"
    s = resolve(Flags(), {}, cfg)
    assert s.model == "from/config" and s.sources["model"] == "config.toml"
    assert s.timeout == 5 and s.sources["timeout"] == "config.toml"
    assert s.retries == 2 and s.sources["retries"] == "default"
    assert s.base_url == params.DEFAULT_BASE_URL and s.code_theme == "monokai"


def test_resolve_reads_only_what_it_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("AIMLCHAT_MODEL", "from/process")
    s = resolve(Flags(), {}, FileConfig(path=tmp_path / "none.toml"))
    assert s.model == params.DEFAULT_MODEL and s.sources["model"] == "default"


def test_settings_are_frozen(tmp_path):
    s = resolve(Flags(), {}, FileConfig(path=tmp_path / "none.toml"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.model = "x"  # type: ignore[misc]


def test_body_fields_merge_config_role_flags_then_dash_o(tmp_path):
    cfg = config_file(
        tmp_path,
        "[params]\ntemperature = 0.1\ntop_p = 0.5\nseed = 4\n"
        '[body]\nuser = "cfg"\n'
        '[roles.r]\nsystem = "S"\nmodel = "m/role"\nparams = { top_p = 0.6, seed = 5 }\n',
    )
    flags = Flags(role="r", params={"seed": 6}, extra=['user="dash-o"'])
    s = resolve(flags, {"AIMLCHAT_MODEL": "m/env"}, cfg)
    assert dict(s.params) == {"temperature": 0.1, "top_p": 0.6, "seed": 6, "user": "dash-o"}
    assert s.sources["params.temperature"] == "config.toml [params]"
    assert s.sources["params.top_p"] == "role r"
    assert s.sources["params.seed"] == "flag --seed"
    assert s.sources["params.user"] == "flag -o user"
    # The role was asked for on the command line: its model beats the environment's.
    assert s.model == "m/role" and s.sources["model"] == "role r"
    assert s.system == "S" and s.sources["system"] == "role r"


def test_resolver_refuses_what_cannot_work(tmp_path):
    cfg = FileConfig(path=tmp_path / "none.toml")
    cases = [
        (Flags(params={"top_logprobs": 3}), "--top-logprobs needs --logprobs"),
        (Flags(continue_=True, no_history=True), "--continue needs the history"),
        (Flags(session="x", no_history=True), "--session needs the history"),
        (Flags(code_theme="nosuch"), "--code-theme: unknown code theme"),
        (Flags(image_detail="max"), "--image-detail must be low, high or auto"),
        (Flags(base_url="http://api.example.com/v1"), "plain http"),
        (Flags(role="pirate"), "unknown role"),
        (Flags(retries=11), "--retries must be between 0 and 10"),
    ]
    for flags, message in cases:
        with pytest.raises(UsageError, match=message):
            resolve(flags, {}, cfg)
    ok = resolve(Flags(params={"logprobs": True, "top_logprobs": 3}), {}, cfg)
    assert ok.params == {"logprobs": True, "top_logprobs": 3}


def test_top_logprobs_from_a_flag_may_lean_on_logprobs_from_config(tmp_path):
    cfg = config_file(tmp_path, "[params]\nlogprobs = true\n")
    s = resolve(Flags(params={"top_logprobs": 2}), {}, cfg)
    assert s.params == {"logprobs": True, "top_logprobs": 2}


# -- the CLI --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--top-k", "2.5"], "'2.5' is not a valid int"),
        (["--top-logprobs", "3"], "--top-logprobs needs --logprobs"),
        (["--code-theme", "nosuch"], "unknown code theme 'nosuch'"),
        (["--code-theme", "monokia"], "did you mean monokai?"),
        (["--continue", "--no-history"], "--continue needs the history"),
        (["-o", "top_k=2.5"], "whole number"),
    ],
)
def test_bad_parameters_are_usage_errors_before_any_request(cli_env, server, args, needle):
    r = invoke(["ask", "hi", *args], cli_env)
    assert r.returncode == 2, r.stderr
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert server.requests == []


def test_integer_and_paired_parameters_are_sent_typed(cli_env, server):
    r = invoke(
        ["ask", "hi", "--top-k", "40", "--logprobs", "--top-logprobs", "2", "--seed", "0"],
        cli_env,
    )
    assert r.returncode == 0, r.stderr
    body = server.chat_bodies()[0]
    assert body["top_k"] == 40 and isinstance(body["top_k"], int)
    assert body["logprobs"] is True and body["top_logprobs"] == 2 and body["seed"] == 0


def test_config_typos_warn_and_unknown_params_are_not_sent(cli_env, server, home):
    write_config(home, 'modle = "x"\n[params]\ntemprature = 0.3\n[body]\nuser = "me"\n')
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "unknown key 'modle'" in r.stderr and "did you mean 'model'?" in r.stderr
    assert "unknown key 'temprature' in [params]" in r.stderr
    assert "did you mean 'temperature'?" in r.stderr
    body = server.chat_bodies()[0]
    assert "temprature" not in body and "temperature" not in body
    assert body["user"] == "me"


def test_key_set_warns_when_the_environment_key_wins(cli_env, home):
    r = invoke(["key", "set"], cli_env, input="sk-stored-key-987654\n")
    assert r.returncode == 0
    assert "AIML_API_KEY is set and wins" in r.stderr
    assert (home / "config" / "aimlchat" / "api_key").read_text() == "sk-stored-key-987654\n"
    quiet = invoke(["key", "set"], {**cli_env, "AIML_API_KEY": ""}, input="sk-other-key-1\n")
    assert quiet.returncode == 0 and "wins" not in quiet.stderr


def test_config_show_prints_values_and_sources_with_secrets_masked(cli_env, home):
    write_config(home, 'timeout = 9\napi_key = "sk-in-config"\n[params]\ntemperature = 0.3\n')
    env = {**cli_env, "AIMLCHAT_MODEL": "from/env"}
    r = invoke(["config", "show"], env)
    assert r.returncode == 0, r.stderr
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in r.stdout.decode().splitlines()}
    assert rows["SETTING"] == ["VALUE", "SOURCE"]
    assert rows["model"] == ["from/env", "env AIMLCHAT_MODEL"]
    assert rows["timeout"] == ["9.0", "config.toml"]
    assert rows["retries"] == ["2", "default"]
    assert rows["params.temperature"] == ["0.3", "config.toml [params]"]
    assert rows["api_key"] == ["***", "env AIML_API_KEY"]
    assert TEST_KEY.encode() not in r.stdout and b"sk-in-config" not in r.stdout
    doc = json.loads(invoke(["config", "show", "--json"], env).stdout)
    assert doc["settings"]["model"] == {"value": "from/env", "source": "env AIMLCHAT_MODEL"}
    assert doc["settings"]["params.temperature"]["value"] == 0.3
    assert doc["errors"] == [] and doc["warnings"] == []


def test_config_show_on_a_terminal_is_an_aligned_table(cli_env):
    r = invoke(["config", "show"], cli_env, stdout_tty=True)
    lines = r.stdout.decode().splitlines()
    assert lines[0].split() == ["SETTING", "VALUE", "SOURCE"] and "\t" not in r.stdout.decode()
    assert any(line.split()[:1] == ["model"] and line.endswith("default") for line in lines)


def test_config_show_still_shows_a_broken_file_with_its_errors(cli_env, home):
    write_config(home, 'model = "kept/model"\ntimeout = "soon"\n[params]\ntemprature = 1\n')
    r = invoke(["config", "show", "--json"], cli_env)
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert doc["settings"]["model"] == {"value": "kept/model", "source": "config.toml"}
    assert doc["settings"]["timeout"]["source"] == "default"
    assert doc["errors"] == ["timeout must be a number (got 'soon')"]
    assert "temprature" in doc["warnings"][0]
    assert "timeout must be a number" in r.stderr
    broken = write_config(home, "model = = 1\n")
    r = invoke(["config", "show"], cli_env)
    assert r.returncode == 3 and b"model\t" in r.stdout and "line 1" in r.stderr
    assert str(broken) in r.stderr


def test_a_broken_config_stops_ask_before_any_request(cli_env, server, home):
    write_config(home, "[params]\ntemperature = 9\n")
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 3 and "params.temperature must be between 0 and 2" in r.stderr
    assert server.requests == []


def test_set_stop_in_the_repl_takes_json_like_dash_o(cli_env, server):
    import io

    from aimlchat.commands.repl import Repl
    from aimlchat.commands.runtime import App
    from aimlchat.terminal.environment import Environment

    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, environ=cli_env)
    app = App(Flags(no_history=True), env)
    repl = Repl(app, app.open_chat(stream=True), out.write)
    repl.handle('/set stop ["a", "b"]')
    repl.handle("/set top_logprobs 3")
    repl.handle("hi")
    assert 'stop = ["a", "b"]' in err.getvalue() and "needs logprobs" in err.getvalue()
    body = server.chat_bodies()[0]
    assert body["stop"] == ["a", "b"] and "top_logprobs" not in body


def test_role_in_the_repl_brings_its_model_and_params(cli_env, server, home):
    import io

    from aimlchat.commands.repl import Repl
    from aimlchat.commands.runtime import App
    from aimlchat.terminal.environment import Environment

    write_config(home, '[roles.poet]\nsystem = "Verse."\nmodel = "m/poet"\nparams = { seed = 9 }\n')
    out = io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=io.StringIO(), environ=cli_env)
    app = App(Flags(no_history=True), env)
    repl = Repl(app, app.open_chat(stream=True), out.write)
    repl.handle("/role poet")
    repl.handle("hi")
    body = server.chat_bodies()[0]
    assert body["model"] == "m/poet" and body["seed"] == 9
    assert body["messages"][0] == {"role": "system", "content": "Verse."}
