"""`[mcp.NAME]` in config.toml: each mistake one clear line, and the names the model sees.

Pure: no server runs here (tests/test_mcp_servers.py starts real ones).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from aimlchat.errors import ConfigError
from aimlchat.settings.config import Paths, load_file
from aimlchat.tools.mcp.config import DEFAULT_TIMEOUT, ServerSpec, parse_server
from aimlchat.tools.mcp.names import assign, model_name

VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def error_of(name: str, table: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_server(name, table)
    assert "\n" not in caught.value.message
    return caught.value


# Parsing


def test_a_command_server_is_parsed_with_its_env_and_cwd() -> None:
    spec = parse_server(
        "files",
        {
            "command": ["mcp-files", "."],
            "env": {"ROOT": "${HOME}/notes"},
            "cwd": "~/notes",
            "allow": ["read"],
            "deny": ["delete"],
        },
    )
    assert spec == ServerSpec(
        name="files",
        command=("mcp-files", "."),
        env={"ROOT": "${HOME}/notes"},  # kept as written: filled when the server starts
        cwd=Path("~/notes").expanduser(),
        allow=("read",),
        deny=("delete",),
    )
    assert spec.timeout == DEFAULT_TIMEOUT == 60.0 and not spec.trusted
    assert spec.transport == "stdio"


def test_an_http_server_keeps_header_variables_unexpanded() -> None:
    spec = parse_server(
        "aiml",
        {
            "url": "https://mcp.aimlapi.com/mcp?key=x",
            "headers": {"Authorization": "Bearer ${AIML_API_KEY}"},
            "timeout": 90,
            "trusted": True,
        },
    )
    assert spec.url == "https://mcp.aimlapi.com/mcp?key=x" and spec.command is None
    assert spec.headers == {"Authorization": "Bearer ${AIML_API_KEY}"}
    assert (spec.timeout, spec.trusted, spec.transport) == (90.0, True, "http")


@pytest.mark.parametrize(
    ("name", "table", "message", "hint"),
    [
        ("a.b", {"command": ["x"]}, "[mcp.a.b]: a server name may use only", "NAME.TOOL"),
        ("x" * 65, {"command": ["x"]}, "a server name may use only", None),
        ("s", "ls", "[mcp.s] must be a table", None),
        ("s", {}, "[mcp.s] has neither command nor url; it needs exactly one", "e.g. command"),
        (
            "s",
            {"command": ["x"], "url": "https://h/mcp"},
            "[mcp.s] has both command and url; it needs exactly one",
            None,
        ),
        (
            "s",
            {"command": "npx -y server-files ."},
            "[mcp.s] command must be a list of arguments, not a string",
            'e.g. command = ["npx", "-y", "server-files", "."]; aimlchat never runs',
        ),
        ("s", {"command": []}, "[mcp.s] command must be a non-empty list", None),
        ("s", {"command": ["x", 1]}, "[mcp.s] command must hold strings only, got 1", None),
        ("s", {"url": "ftp://h/mcp"}, "[mcp.s] url must be an http:// or https:// URL", None),
        ("s", {"url": "https://u:p@h/mcp"}, "[mcp.s] url must not carry credentials", None),
        ("s", {"url": 5}, "[mcp.s] url must be a string", None),
        ("s", {"command": ["x"], "comand": 1}, "[mcp.s] has an unknown key 'comand'", None),
        ("s", {"command": ["x"], "alow": ["a"]}, "unknown key 'alow'", "did you mean allow?"),
        ("s", {"command": ["x"], "headers": {}}, "[mcp.s] headers applies only to an HTTP", None),
        ("s", {"url": "https://h/", "env": {}}, "[mcp.s] env applies only to a command", None),
        ("s", {"url": "https://h/", "cwd": "/"}, "[mcp.s] cwd applies only to a command", None),
        ("s", {"url": "https://h/", "headers": "x"}, "[mcp.s] headers must be a table", None),
        ("s", {"url": "https://h/", "headers": {"A": 1}}, "[mcp.s] headers.A must be a str", None),
        ("s", {"url": "https://h/", "headers": {"A B": "x"}}, "invalid name 'A B'", None),
        ("s", {"command": ["x"], "env": {"K": True}}, "[mcp.s] env.K must be a string", None),
        ("s", {"command": ["x"], "allow": "read"}, "[mcp.s] allow must be a list of tool", None),
        ("s", {"command": ["x"], "deny": [""]}, "[mcp.s] deny must be a list of tool names", None),
        (
            "s",
            {"command": ["x"], "allow": ["rm"], "deny": ["rm"]},
            "[mcp.s] has 'rm' in both allow and deny",
            None,
        ),
        ("s", {"command": ["x"], "timeout": 0}, "[mcp.s] timeout must be a positive", None),
        ("s", {"command": ["x"], "timeout": "9"}, "[mcp.s] timeout must be a positive", None),
        ("s", {"command": ["x"], "timeout": True}, "[mcp.s] timeout must be a positive", None),
        ("s", {"command": ["x"], "trusted": "yes"}, "[mcp.s] trusted must be true or false", None),
    ],
)
def test_each_mistake_is_one_clear_line(
    name: str, table: Any, message: str, hint: str | None
) -> None:
    error = error_of(name, table)
    assert message in error.message
    if hint is not None:
        assert hint in (error.hint or "")


# In config.toml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_config_toml_servers_are_read_and_bad_ones_recorded(tmp_path: Path) -> None:
    cfg = load_file(
        write(
            tmp_path,
            '[mcp.aiml]\nurl = "https://mcp.aimlapi.com/mcp"\n'
            'headers = { Authorization = "Bearer ${AIML_API_KEY}" }\n'
            '[mcp.files]\ncommand = "mcp-files ."\n',
        )
    )
    assert list(cfg.mcp) == ["aiml"] and cfg.mcp["aiml"].url == "https://mcp.aimlapi.com/mcp"
    assert cfg.errors == [
        "[mcp.files] command must be a list of arguments, not a string; "
        'e.g. command = ["mcp-files", "."]; aimlchat never runs servers through a shell'
    ]
    assert not cfg.warnings  # "mcp" is a known top-level key


def test_a_mistyped_key_in_a_table_is_told_with_the_key_meant(tmp_path: Path) -> None:
    cfg = load_file(
        write(tmp_path, '[mcp.h]\ncommand = ["h"]\nalow = ["a"]\n[tools.w]\ncomand = ["w"]\n')
    )
    assert cfg.errors == [
        "[mcp.h] has an unknown key 'alow'; did you mean allow?",
        "[tools.w] has an unknown key 'comand'; did you mean command?",
    ]


def test_a_server_named_like_a_tool_or_a_built_in_is_ambiguous(tmp_path: Path) -> None:
    cfg = load_file(
        write(
            tmp_path,
            '[mcp.weather]\ncommand = ["w"]\n[mcp.read_file]\ncommand = ["r"]\n'
            '[mcp.ok]\ncommand = ["o"]\n[tools.weather]\ncommand = ["weather"]\n',
        )
    )
    assert list(cfg.mcp) == ["ok"]
    assert cfg.errors == [
        "[mcp.weather] has the name of [tools.weather]: -T weather would be ambiguous",
        "[mcp.read_file] has the name of a built-in tool: -T read_file would be ambiguous",
    ]


def test_mcp_must_hold_tables(tmp_path: Path) -> None:
    cfg = load_file(write(tmp_path, 'mcp = "x"\n'))
    assert cfg.mcp == {} and cfg.errors == ["mcp must be a table ([mcp])"]


def test_logs_live_in_the_state_folder(tmp_path: Path) -> None:
    paths = Paths.from_env({"HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "st")})
    assert paths.log_dir == tmp_path / "st" / "aimlchat" / "logs"
    if paths.config_dir.is_relative_to(tmp_path / ".config"):  # the XDG systems
        assert Paths.from_env({"HOME": str(tmp_path)}).log_dir == (
            tmp_path / ".local" / "state" / "aimlchat" / "logs"
        )


# Model names


def test_a_model_name_is_server_and_tool_with_odd_characters_replaced() -> None:
    assert model_name("aiml", "search") == "aiml__search"
    assert model_name("fs", "read.file/v2 beta") == "fs__read_file_v2_beta"
    assert model_name("fs", "café") == "fs__caf_"


def test_a_long_model_name_is_cut_at_64_with_a_hash_of_the_pair() -> None:
    long = model_name("server", "t" * 100)
    assert len(long) == 64 and VALID.match(long)
    assert long.startswith("server__ttt") and re.search(r"_[0-9a-f]{8}$", long)
    assert model_name("server", "t" * 100 + "x") != long  # the hash tells them apart
    assert model_name("server", "t" * 100) == long  # and is stable


def test_assigned_names_are_unique_and_avoid_the_taken_ones() -> None:
    taken = {"fs__list"}
    given = assign("fs", ["read.file", "read_file", "list", "x" * 70, "read.file"], taken)
    assert given["read.file"] == "fs__read_file"
    assert given["read_file"] != "fs__read_file" and given["read_file"].startswith("fs__read_f")
    assert given["list"] not in ("fs__list",)
    assert len(set(given.values())) == 4 and all(VALID.match(n) for n in given.values())
    assert set(given.values()) <= taken


def test_names_stay_unique_across_servers_sharing_what_is_taken() -> None:
    taken: set[str] = set()
    first = assign("a", ["_b"], taken)["_b"]
    second = assign("a_", ["b"], taken)["b"]
    assert first == "a___b" and second != first and VALID.match(second)
