"""`-f` files on `aimlchat batch`: shared by every item (read once, before any request)
and a record's own `"files"` (read when the item is sent; a problem is that item's error)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.batch_helpers import results
from tests.conftest import TEST_KEY, invoke
from tests.loopback import LoopbackServer, Reply

SPEC = "spec.md\n```markdown\nThe spec.\n```"
NOTES = "notes.txt\n```\nMy notes.\n```"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The cwd, holding two small text files the tests name."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spec.md").write_text("The spec.\n")
    (tmp_path / "notes.txt").write_text("My notes.\n")
    return tmp_path


@pytest.fixture
def web() -> Iterator[LoopbackServer]:
    """Another host, serving pages: not the API, so it must never see the key."""
    srv = LoopbackServer().start()
    yield srv
    srv.stop()


def _jsonl(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _sent(server: LoopbackServer) -> list[Any]:
    """The user message of every chat request, in prompt order."""
    contents = [b["messages"][-1]["content"] for b in server.chat_bodies()]
    return sorted(contents, key=lambda c: c if isinstance(c, str) else c[0]["text"])


def test_shared_file_text_reaches_every_item_once_before_its_prompt(
    here: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    src = _jsonl(here / "in.jsonl", {"id": "a", "prompt": "first"}, {"id": "b", "prompt": "second"})
    result = invoke(["batch", str(src), "-o", "out.jsonl", "-f", "spec.md"], cli_env)
    assert result.returncode == 0, result.stderr
    assert _sent(server) == [f"{SPEC}\n\nfirst", f"{SPEC}\n\nsecond"]
    assert all(r["error"] is None for r in results(here / "out.jsonl"))


def test_plain_lines_from_stdin_get_the_shared_files_too(
    here: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    result = invoke(["batch", "-", "-f", "spec.md", "-f", "notes.txt"], cli_env, input="why\n")
    assert result.returncode == 0, result.stderr
    assert _sent(server) == [f"{SPEC}\n\n{NOTES}\n\nwhy"]


def test_a_records_files_come_after_the_shared_ones(
    here: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    src = _jsonl(
        here / "in.jsonl",
        {"id": "a", "prompt": "with notes", "files": ["notes.txt"]},
        {"id": "b", "prompt": "without"},
    )
    result = invoke(["batch", str(src), "-o", "out.jsonl", "-f", "spec.md"], cli_env)
    assert result.returncode == 0, result.stderr
    assert _sent(server) == [f"{SPEC}\n\n{NOTES}\n\nwith notes", f"{SPEC}\n\nwithout"]


def test_a_record_with_a_missing_file_is_its_own_error_and_the_rest_succeed(
    here: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    src = _jsonl(
        here / "in.jsonl",
        {"id": "a", "prompt": "fine"},
        {"id": "b", "prompt": "broken", "files": ["notes.txt", "gone.txt"]},
        {"id": "c", "prompt": "also fine", "files": ["notes.txt"]},
    )
    result = invoke(["batch", str(src), "-o", "out.jsonl"], cli_env)
    assert result.returncode == 1
    assert "1 of 3 items failed" in result.stderr
    by_id = {r["id"]: r for r in results(here / "out.jsonl")}
    assert by_id["b"]["error"]["exit_code"] == 2
    assert by_id["b"]["error"]["status"] is None
    assert "gone.txt" in by_id["b"]["error"]["message"]
    assert by_id["b"]["text"] is None
    assert by_id["a"]["error"] is None and by_id["c"]["error"] is None
    assert _sent(server) == ["fine", f"{NOTES}\n\nalso fine"]  # b was never sent


def test_a_records_binary_file_is_its_own_error(
    here: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    (here / "blob.bin").write_bytes(b"\x00\x01\x02" * 10)
    src = _jsonl(here / "in.jsonl", {"id": "a", "prompt": "x", "files": ["blob.bin"]})
    result = invoke(["batch", str(src), "-o", "out.jsonl"], cli_env)
    assert result.returncode == 1
    [record] = results(here / "out.jsonl")
    assert "blob.bin is a binary file" in record["error"]["message"]
    assert server.chat_bodies() == []


def test_a_records_url_is_fetched_by_the_worker_without_the_key(
    here: Path, server: LoopbackServer, web: LoopbackServer, cli_env: dict[str, str]
) -> None:
    web.pages["/doc"] = Reply(body="page text\n", content_type="text/plain")
    url = web.base_url.removesuffix("/v1") + "/doc"
    src = _jsonl(here / "in.jsonl", {"id": "a", "prompt": "sum up", "files": [url]})
    result = invoke(["batch", str(src), "-o", "out.jsonl"], cli_env)
    assert result.returncode == 0, result.stderr
    assert _sent(server) == [f"{url}\n```\npage text\n```\n\nsum up"]
    assert "Authorization" not in web.requests[0]["headers"]
    assert TEST_KEY not in str(web.requests[0]["headers"])


@pytest.mark.parametrize(
    "files",
    ["notes.txt", ["notes.txt", 3], [""], {"a": 1}, ["-"]],
    ids=["a string", "a number inside", "an empty string", "an object", "stdin"],
)
def test_bad_files_in_a_record_is_exit_2_naming_the_line_before_any_request(
    here: Path, server: LoopbackServer, cli_env: dict[str, str], files: Any
) -> None:
    src = _jsonl(
        here / "in.jsonl", {"id": "a", "prompt": "ok"}, {"id": "b", "prompt": "x", "files": files}
    )
    result = invoke(["batch", str(src), "-o", "out.jsonl"], cli_env)
    assert result.returncode == 2
    assert 'input line 2: "files"' in result.stderr
    assert server.chat_bodies() == []


def test_a_shared_file_that_does_not_exist_is_exit_2_before_any_request(
    here: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    src = _jsonl(here / "in.jsonl", {"id": "a", "prompt": "ok"})
    result = invoke(["batch", str(src), "-o", "out.jsonl", "-f", "missing.md"], cli_env)
    assert result.returncode == 2
    assert "missing.md" in result.stderr
    assert server.chat_bodies() == []
    assert not (here / "out.jsonl").exists()


def test_shared_stdin_file_is_refused_since_stdin_may_be_in(
    here: Path, server: LoopbackServer, cli_env: dict[str, str]
) -> None:
    result = invoke(["batch", "-", "-f", "-"], cli_env, input="a prompt\n")
    assert result.returncode == 2
    assert "-f -" in result.stderr
    assert server.chat_bodies() == []
