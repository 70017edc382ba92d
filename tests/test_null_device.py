"""Descriptors pointed at the null device (a closed stdout's, the terminal's after a
hangup, one the caller closed) leave no descriptor of their own behind."""

from __future__ import annotations

import gc
import io
import os

from aimlchat.cli import main
from aimlchat.terminal.environment import Environment


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_stdout_whose_reader_went_away_leaves_no_descriptor_open(cli_env):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader went away: writes fail with EPIPE
    with open(write_end, "w", encoding="utf-8") as stdout:
        env = Environment(
            stdin=io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8"),
            stdout=stdout,
            stderr=io.StringIO(),
            environ=cli_env,
        )
        gc.collect()  # an earlier test's garbage (a socket, a database) closes now, not inside
        before = open_fds()
        status = main(["--version"], env)
        after = open_fds()
    assert status == 141
    assert after == before
