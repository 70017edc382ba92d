"""`-f` context collection and `-x` code extraction, as pure functions over real files."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path

import pytest

from aimlchat.chat.extract import code_blocks
from aimlchat.chat.files import MAX_FILE_BYTES, collect, fenced, walk
from aimlchat.chat.html_text import html_to_text
from aimlchat.errors import UsageError

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def test_fence_is_longer_than_any_backtick_run_inside():
    block = fenced("notes.md", "text\n````\ninner\n````\n")
    assert block.startswith("notes.md\n`````\n") and block.endswith("\n`````")


def test_a_file_becomes_a_block_headed_by_its_path(tmp_path):
    (tmp_path / "app.py").write_text("print('hi')\n")
    ctx = collect(["app.py"], cwd=tmp_path)
    assert ctx.text() == "app.py\n```python\nprint('hi')\n```"


def test_a_folder_walk_skips_hidden_git_and_gitignored(tmp_path):
    (tmp_path / ".gitignore").write_text("build/\n*.log\n!keep.log\n/top.txt\n")
    for rel in [
        "src/a.py",
        "src/b.log",
        "src/keep.log",
        "build/out.txt",
        ".git/config",
        ".env",
        "src/.secret",
        "top.txt",
        "src/top.txt",
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    (tmp_path / "src" / "sub").mkdir()
    (tmp_path / "src" / "sub" / ".gitignore").write_text("*.tmp\n")
    (tmp_path / "src" / "sub" / "x.tmp").write_text("x")
    (tmp_path / "src" / "sub" / "y.py").write_text("y")
    names = [p.relative_to(tmp_path).as_posix() for p in walk(tmp_path)]
    assert names == ["src/a.py", "src/keep.log", "src/top.txt", "src/sub/y.py"]


def test_a_glob_expands_and_an_image_goes_the_attach_way(tmp_path):
    (tmp_path / "a.txt").write_text("A")
    (tmp_path / "b.txt").write_text("B")
    (tmp_path / "pic.bin").write_bytes(PNG)
    ctx = collect(["*.txt", "pic.bin"], cwd=tmp_path)
    assert [b.split("\n")[0] for b in ctx.blocks] == ["a.txt", "b.txt"]
    assert ctx.images[0].url.startswith("data:image/png;base64,")


def test_a_named_binary_file_is_a_usage_error_naming_it(tmp_path):
    (tmp_path / "blob.dat").write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(UsageError, match=r"blob\.dat is a binary file"):
        collect(["blob.dat"], cwd=tmp_path)


def test_binary_files_inside_a_folder_are_skipped_and_listed(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "ok.txt").write_text("fine")
    (tmp_path / "d" / "blob.dat").write_bytes(b"\x00\x01")
    ctx = collect(["d"], cwd=tmp_path)
    assert len(ctx.blocks) == 1 and ctx.skipped == ["d/blob.dat"]


def test_limits_and_bad_paths_are_clear_errors(tmp_path):
    (tmp_path / "big.txt").write_bytes(b"a" * (MAX_FILE_BYTES + 1))
    with pytest.raises(UsageError, match="limited to 1 MB"):
        collect(["big.txt"], cwd=tmp_path)
    with pytest.raises(UsageError, match=r"no such file: missing\.txt"):
        collect(["missing.txt"], cwd=tmp_path)
    with pytest.raises(UsageError, match="no file matches"):
        collect(["*.nothing"], cwd=tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    secret.chmod(0)
    try:
        if not _can_read(secret):
            with pytest.raises(UsageError, match="permission denied"):
                collect(["secret.txt"], cwd=tmp_path)
    finally:
        secret.chmod(0o600)


def _can_read(path: Path) -> bool:
    try:
        path.read_bytes()
    except PermissionError:
        return False
    return True


def test_stdin_dash_and_a_fetched_html_page(tmp_path):
    pages = {"https://example.test/doc": (b"<html><head><style>x{}</style></head>"
             b"<body><h1>Title</h1><p>Some <b>bold</b> text.</p><script>evil()</script>"
             b"</body></html>", "text/html; charset=utf-8")}  # fmt: skip
    ctx = collect(
        ["-", "https://example.test/doc"],
        cwd=tmp_path,
        read_stdin=lambda: b"piped\n",
        fetch=lambda url: pages[url],
    )
    assert ctx.blocks[0] == "stdin\n```\npiped\n```"
    assert ctx.blocks[1] == "https://example.test/doc\n```\nTitle\n\nSome bold text.\n```"


def test_html_to_text_keeps_pre_blocks_verbatim():
    assert html_to_text("<p>a</p><pre>  x = 1\n  y</pre>") == "a\n\n  x = 1\n  y\n"


def test_code_blocks_first_last_nested_and_unterminated():
    reply = (
        "Try this:\n\n```jq\n.items[] | .name\n```\n\nor\n\n"
        "~~~python\nprint('```')\n~~~\n\n  ```sh\n  ls -l\n  ```\n\n```\ncut off"
    )
    blocks = code_blocks(reply)
    assert [b.lang for b in blocks] == ["jq", "python", "sh", ""]
    assert blocks[0].content == ".items[] | .name\n"
    assert blocks[1].content == "print('```')\n"
    assert blocks[2].content == "ls -l\n"
    assert blocks[3].content == "cut off\n"
    assert code_blocks("no code here") == []


def _bind_socket(folder: Path, name: str) -> socket.socket:
    """A bound unix socket at folder/name (bound by a relative name: a socket path is
    limited to ~100 bytes, and tmp_path can be longer)."""
    sock = socket.socket(socket.AF_UNIX)
    here = os.getcwd()
    os.chdir(folder)
    try:
        sock.bind(name)
    finally:
        os.chdir(here)
    return sock


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and unix sockets need POSIX")
@pytest.mark.parametrize("spec", ["d", "d/*"], ids=["folder", "glob"])
def test_a_fifo_or_socket_met_in_a_folder_or_glob_is_skipped_unopened(tmp_path, monkeypatch, spec):
    monkeypatch.setenv("PATH", "")  # the pathspec walk: it meets the FIFO (git lists none)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "ok.txt").write_text("fine")
    os.mkfifo(tmp_path / "d" / "fifo")  # opened, it would block: the test would hang
    with _bind_socket(tmp_path / "d", "sock"):
        ctx = collect([spec], cwd=tmp_path)
    assert ctx.blocks == ["d/ok.txt\n```\nfine\n```"]
    assert ctx.special == ["d/fifo", "d/sock"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and unix sockets need POSIX")
def test_a_fifo_or_socket_named_directly_is_a_usage_error_without_opening_it(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UsageError, match=r"^fifo is a named pipe \(FIFO\), not a regular file"):
        collect(["fifo"], cwd=tmp_path)
    with _bind_socket(tmp_path, "sock"), pytest.raises(UsageError, match=r"^sock is a socket"):
        collect(["sock"], cwd=tmp_path)


def test_a_glob_leaves_out_hidden_folders_below_its_fixed_part_wherever_run(tmp_path):
    """The hidden rule is counted from the glob's own folder, not the working folder: run
    from elsewhere, `.../src/*/.cache/*` still sends nothing from a hidden folder."""
    for rel in ["src/a/.cache/hidden.txt", "src/a/seen.txt"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ctx = collect([f"{tmp_path}/src/*/*.txt"], cwd=elsewhere)
    assert [b.split("\n")[0] for b in ctx.blocks] == [f"{tmp_path}/src/a/seen.txt"]
    with pytest.raises(UsageError, match="matched only ignored files"):
        collect([f"{tmp_path}/src/*/.cache/*"], cwd=elsewhere)


def test_a_glob_works_in_a_folder_whose_name_holds_wildcards(tmp_path):
    """Only the part of `-f` the user typed is a pattern: `proj[1]` is a folder name."""
    folder = tmp_path / "proj[1]"
    folder.mkdir()
    (folder / "a.txt").write_text("A")
    assert [b.split("\n")[0] for b in collect(["*.txt"], cwd=folder).blocks] == ["a.txt"]
