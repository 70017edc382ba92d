"""Where config, data and cache live: a set XDG_*_HOME wins on any system, else platformdirs
decides (~/.config/aimlchat on Linux, ~/Library/… on macOS, %LOCALAPPDATA% on Windows)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import platformdirs
import pytest

from aimlchat.settings.config import Paths

_XDG = ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")


@pytest.fixture
def no_xdg(monkeypatch, tmp_path):
    """The process environment of a user who set no XDG variable, with HOME in tmp."""
    for var in _XDG:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _mac_like(monkeypatch, calls):
    library = "/Users/u/Library"
    monkeypatch.setattr(sys, "platform", "darwin")

    def fake(kind, where):
        def user_dir(appname, appauthor=None, **_):
            calls.append((kind, appname, appauthor))
            return f"{library}/{where}/{appname}"

        monkeypatch.setattr(platformdirs, f"user_{kind}_dir", user_dir)

    fake("config", "Application Support")
    fake("data", "Application Support")
    fake("cache", "Caches")


def test_platformdirs_decides_the_folders_when_no_xdg_variable_is_set(monkeypatch, no_xdg):
    calls = []
    _mac_like(monkeypatch, calls)
    paths = Paths.from_env({"HOME": "/Users/u"})
    assert paths.config_dir == Path("/Users/u/Library/Application Support/aimlchat")
    assert paths.data_dir == Path("/Users/u/Library/Application Support/aimlchat")
    assert paths.cache_dir == Path("/Users/u/Library/Caches/aimlchat")
    # No author folder: %LOCALAPPDATA%\aimlchat on Windows, not …\aimlchat\aimlchat.
    assert sorted(calls) == [(k, "aimlchat", False) for k in ("cache", "config", "data")]


def test_a_set_xdg_variable_wins_over_platformdirs(monkeypatch, no_xdg):
    calls = []
    _mac_like(monkeypatch, calls)
    environ = {"XDG_CONFIG_HOME": "/x/conf", "XDG_DATA_HOME": "/x/data", "XDG_CACHE_HOME": "/x/c"}
    paths = Paths.from_env(environ)
    assert (paths.config_dir, paths.data_dir, paths.cache_dir) == (
        Path("/x/conf/aimlchat"),
        Path("/x/data/aimlchat"),
        Path("/x/c/aimlchat"),
    )
    assert calls == []


def test_a_relative_xdg_variable_is_ignored_and_platformdirs_decides(monkeypatch, no_xdg):
    calls = []
    _mac_like(monkeypatch, calls)
    paths = Paths.from_env({"XDG_CONFIG_HOME": "relative/conf"})
    assert paths.config_dir == Path("/Users/u/Library/Application Support/aimlchat")


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux defaults")
def test_linux_without_xdg_variables_keeps_the_folders_it_always_used(no_xdg):
    import os

    paths = Paths.from_env(os.environ)
    assert paths.config_dir == no_xdg / ".config" / "aimlchat"
    assert paths.data_dir == no_xdg / ".local" / "share" / "aimlchat"
    assert paths.cache_dir == no_xdg / ".cache" / "aimlchat"


@pytest.mark.skipif(sys.platform != "linux", reason="the Linux defaults")
def test_an_injected_home_still_decides_the_linux_folders(no_xdg, tmp_path):
    other = tmp_path / "someone"
    paths = Paths.from_env({"HOME": str(other)})
    assert paths.config_dir == other / ".config" / "aimlchat"
    assert paths.db_file == other / ".local" / "share" / "aimlchat" / "history.db"


def test_help_does_not_import_platformdirs(cli_env):
    r = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "aimlchat", "--help"],
        env=cli_env,
        capture_output=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    loaded = {
        line.rsplit("|", 1)[1].strip()
        for line in r.stderr.decode().splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "typer" in loaded and "platformdirs" not in loaded


def test_a_folder_0_2_0_left_in_the_xdg_place_is_kept_on_macos(monkeypatch, tmp_path):
    """0.2.0 used ~/.config/aimlchat on every system: an upgrade must not lose the key,
    the config or the history by moving to ~/Library."""
    _mac_like(monkeypatch, [])
    old = tmp_path / ".config" / "aimlchat"
    old.mkdir(parents=True)
    (old / "config.toml").write_text('model = "m"\n')
    paths = Paths.from_env({"HOME": str(tmp_path)})
    assert paths.config_dir == old
    # data and cache had no folder yet: the system's own place
    assert paths.data_dir == Path("/Users/u/Library/Application Support/aimlchat")


def test_the_systems_own_folder_wins_once_it_exists(monkeypatch, tmp_path):
    library = tmp_path / "Library"
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(
        platformdirs, "user_config_dir", lambda app, appauthor=None: str(library / app)
    )
    (tmp_path / ".config" / "aimlchat").mkdir(parents=True)
    (library / "aimlchat").mkdir(parents=True)
    assert Paths.from_env({"HOME": str(tmp_path)}).config_dir == library / "aimlchat"
