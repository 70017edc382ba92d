"""A UTF-8 BOM (what Windows editors write first) never reaches the model: not from a
real stdin pipe in any locale, nor from a file met inside a `-f DIR` walk. (Named -f files
and in-process stdin are pinned in test_user_fixes.)"""

from __future__ import annotations

import pytest

from tests.conftest import invoke, run_cli

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])
def test_a_bom_on_a_real_stdin_pipe_is_dropped(cli_env, server, locale):
    env = {**cli_env, "LC_ALL": locale, "LANG": locale, "PYTHONUTF8": "0"}
    r = run_cli(["ask", "hi"], env, input=BOM + "café".encode())
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[-1]["messages"][-1]["content"] == "café\n\nhi"


def test_a_bom_in_a_file_of_a_folder_walk_is_dropped(cli_env, server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_bytes(BOM + b"hello\n")
    r = invoke(["ask", "-f", "d", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert (
        server.chat_bodies()[-1]["messages"][-1]["content"] == "d/notes.txt\n```\nhello\n```\n\nhi"
    )


def test_a_bom_before_config_toml_is_dropped(cli_env, server, home):
    cfg = home / "config" / "aimlchat"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_bytes(BOM + b'model = "from/config"\n')
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    assert server.chat_bodies()[-1]["model"] == "from/config"


def test_a_config_toml_that_is_not_utf8_names_the_byte(cli_env, server, home):
    cfg = home / "config" / "aimlchat"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "config.toml").write_bytes(b'model = "caf\xe9"\n')
    r = invoke(["ask", "hi"], cli_env)
    assert r.returncode == 3
    assert "not valid UTF-8 (byte 0xe9 at offset 12)" in r.stderr


def test_a_bom_before_a_schema_file_is_dropped(cli_env, server, tmp_path):
    schema = tmp_path / "answer.json"
    schema.write_bytes(BOM + b'{"title": "answer", "type": "object"}')
    r = invoke(["ask", "--schema", str(schema), "hi"], cli_env)
    assert r.returncode == 0, r.stderr
    sent = server.chat_bodies()[-1]["response_format"]["json_schema"]
    assert sent["name"] == "answer" and sent["schema"]["type"] == "object"
