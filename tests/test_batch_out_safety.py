"""`aimlchat batch -o OUT` never harms a file that is not batch output, locks the file the
path names now, and says so when the disk cannot keep what was written."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from aimlchat.batch import outfile
from tests.batch_helpers import ids, write_prompts
from tests.conftest import invoke
from tests.loopback import BatchScript, LoopbackServer


@pytest.fixture
def script(server: LoopbackServer) -> BatchScript:
    s = BatchScript(delay=0.0)
    server.script = s
    return s


def _record(rid: str) -> str:
    return json.dumps({"id": rid, "text": "old", "error": None})


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- 1. a file that is not batch output is refused and left byte-identical ------------------

FOREIGN = {
    "json.dump one-liner": json.dumps({"name": "x", "values": [1, 2]}),
    "json.dump one-liner with an id": json.dumps({"id": 7, "name": "x"}),
    "json.dump of a list": json.dumps([{"id": 1, "text": "x", "error": None}]),
    "pretty JSON": json.dumps({"id": 1, "name": "x"}, indent=2),
    "pretty JSON, newline at the end": json.dumps({"rows": [1, 2]}, indent=2) + "\n",
    "a CSV": "name,age\nann,31\nbob,42\n",
    "a one-line CSV": "name,age",
    "records of some other tool": '{"id": 1, "label": "cat"}\n{"id": 2, "label": "dog"}\n',
    "batch records, then a whole foreign line": _record("q1") + "\n" + '{"total": 3}',
    "batch records, then a note": _record("q1") + "\n" + "checked by ann",
    "only a torn batch record": _record("q1")[:20],
}


@pytest.mark.parametrize("content", FOREIGN.values(), ids=FOREIGN.keys())
def test_out_that_is_not_batch_output_is_refused_and_left_byte_identical(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], content: str
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 3)
    out = tmp_path / "r.json"
    out.write_text(content)
    before = _digest(out)
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 2, result.stderr
    assert _digest(out) == before
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and str(out) in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert server.chat_bodies() == []


def test_a_torn_line_alone_is_refused_with_a_hint_to_delete_it(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    # With no whole record before it, nothing proves the file is ours: left alone.
    src = write_prompts(tmp_path / "in.jsonl", 1)
    out = tmp_path / "out.jsonl"
    out.write_text(_record("q1")[:20])
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 2
    assert "no whole batch record" in result.stderr and "delete it" in result.stderr


@pytest.mark.parametrize("content", ["", "\n\n"], ids=["empty", "blank lines"])
def test_an_empty_out_is_used(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str],
    content: str,
) -> None:  # fmt: skip
    src = write_prompts(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    out.write_text(content)
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 0, result.stderr
    assert sorted(ids(out)) == ["q1", "q2", "q3"]


@pytest.mark.parametrize(
    "torn", [_record("q2")[:25], "\0" * 40], ids=["cut short", "zeros after a power cut"]
)
def test_a_torn_line_after_whole_records_is_still_repaired(
    tmp_path: Path, server: LoopbackServer, script: BatchScript, cli_env: dict[str, str],
    torn: str,
) -> None:  # fmt: skip
    src = write_prompts(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    out.write_text(_record("q1") + "\n" + torn)
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 0, result.stderr
    assert "torn last line" in result.stderr
    assert sorted(ids(out)) == ["q1", "q2", "q3"]
    assert len(server.chat_bodies()) == 2


# -- 2. the lock is on the file the path names, and fsync failures are reported -------------


def test_out_replaced_between_open_and_lock_is_opened_again(
    tmp_path: Path,
    server: LoopbackServer,
    script: BatchScript,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another run's --retry-errors renames a rewritten OUT over the name just after this
    # run opened the old file: a lock on the old file would append to a file with no name.
    src = write_prompts(tmp_path / "in.jsonl", 5)
    out = tmp_path / "out.jsonl"
    out.write_text(_record("q1") + "\n")
    real_lock = outfile._lock
    calls: list[int] = []

    def replaced_first(fd: int, path: Path) -> None:
        if not calls:
            new = tmp_path / "rewritten.tmp"
            new.write_text(_record("q1") + "\n" + _record("q2") + "\n")
            os.replace(new, out)
        calls.append(fd)
        real_lock(fd, path)

    monkeypatch.setattr(outfile, "_lock", replaced_first)
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 0, result.stderr
    assert len(calls) == 2  # the replaced file was let go and the new one locked
    assert sorted(ids(out)) == ["q1", "q2", "q3", "q4", "q5"]
    assert len(server.chat_bodies()) == 3


def test_out_that_keeps_being_replaced_is_a_clear_error(
    tmp_path: Path, server: LoopbackServer, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 2)
    out = tmp_path / "out.jsonl"
    out.write_text(_record("q1") + "\n")
    real_lock = outfile._lock

    def always_replaced(fd: int, path: Path) -> None:
        new = tmp_path / "rewritten.tmp"
        new.write_text(_record("q1") + "\n")
        os.replace(new, out)
        real_lock(fd, path)

    monkeypatch.setattr(outfile, "_lock", always_replaced)
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 2
    assert f"{out} keeps being replaced" in result.stderr and "Traceback" not in result.stderr
    assert server.chat_bodies() == []


def _fsync_watch(
    monkeypatch: pytest.MonkeyPatch, fail: Callable[[os.stat_result], bool]
) -> list[os.stat_result]:
    """os.fsync, recording what each call syncs; `fail` picks the calls that get EIO
    (what a failing disk or a full NFS server answers: it cannot be had for real here)."""
    real = os.fsync
    seen: list[os.stat_result] = []

    def fsync(fd: int) -> None:
        st = os.fstat(fd)
        seen.append(st)
        if fail(st):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return seen


def _same(st: os.stat_result, path: Path) -> bool:
    other = os.stat(path)
    return (st.st_dev, st.st_ino) == (other.st_dev, other.st_ino)


def test_a_new_outs_folder_is_fsynced_after_creating_it(
    tmp_path: Path,
    server: LoopbackServer,
    script: BatchScript,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 2)
    folder = tmp_path / "results"
    folder.mkdir()
    synced = _fsync_watch(monkeypatch, lambda st: False)
    result = invoke(["batch", str(src), "-o", str(folder / "out.jsonl")], cli_env)
    assert result.returncode == 0, result.stderr
    assert any(_same(st, folder) for st in synced)


def test_an_fsync_failure_on_out_is_a_clear_error(
    tmp_path: Path,
    server: LoopbackServer,
    script: BatchScript,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 3)
    out = tmp_path / "out.jsonl"
    out.write_text("")
    _fsync_watch(monkeypatch, lambda st: out.exists() and _same(st, out))
    result = invoke(["batch", str(src), "-o", str(out)], cli_env)
    assert result.returncode == 1, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "error:" in x]
    assert f"cannot save {out} to disk" in line and "Input/output error" in line
    assert "Traceback" not in result.stderr


def test_an_fsync_failure_on_outs_folder_is_a_clear_error(
    tmp_path: Path,
    server: LoopbackServer,
    script: BatchScript,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = write_prompts(tmp_path / "in.jsonl", 2)
    folder = tmp_path / "results"
    folder.mkdir()
    _fsync_watch(monkeypatch, lambda st: _same(st, folder))
    result = invoke(["batch", str(src), "-o", str(folder / "out.jsonl")], cli_env)
    assert result.returncode == 1, result.stderr
    assert f"cannot save {folder}" in result.stderr and "Input/output error" in result.stderr
    assert server.chat_bodies() == []


def test_an_fsync_failure_mid_run_stops_the_batch_with_a_clear_error(
    tmp_path: Path,
    server: LoopbackServer,
    script: BatchScript,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script.delay = 0.6  # OUT is fsynced a second after a write: while the batch runs
    src = write_prompts(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    out.write_text("")
    _fsync_watch(monkeypatch, lambda st: out.exists() and _same(st, out))
    result = invoke(["batch", str(src), "-o", str(out), "-j", "1"], cli_env)
    assert result.returncode == 1, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "error:" in x]
    assert f"cannot save {out} to disk" in line and "Traceback" not in result.stderr
    assert len(server.chat_bodies()) < 6  # no more items asked once OUT fails
