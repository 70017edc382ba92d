"""Words for people: a line cut to the columns it takes on a terminal (a CJK character or
an emoji takes two), padding that keeps columns straight, and "did you mean"."""

from __future__ import annotations

from types import SimpleNamespace

from aimlchat.commands.tooling import describe_tools
from aimlchat.terminal.sanitize import terminal_safe
from aimlchat.words import cells, did_you_mean, elide, one_of, pad


def test_a_wide_text_is_cut_to_its_columns_not_its_characters() -> None:
    cut = elide("日本語のツール名です", 10)
    assert cut == "日本語の…" and cells(cut) == 9  # a fifth wide character would be 11
    assert elide("naïve café au lait", 10) == "naïve caf…"
    assert elide("e\u0301te\u0301", 3) == "e\u0301te\u0301"  # combining accents take none
    assert elide("  two\n lines ", 20) == "two lines"
    assert elide("👨\u200d👩\u200d👧 family", 3) == "👨…"  # no joiner left dangling


def test_elide_has_nothing_to_show_in_no_columns_and_reads_only_a_head() -> None:
    assert elide("abc", 0) == elide("", -3) == ""
    assert elide("abc", 1) == "…" and elide("ab", 2) == "ab"
    assert elide("\ufffd" * 8_000_000, 9) == "\ufffd" * 8 + "…"  # a stray binary line
    assert elide("x" * 10 + " " * 10_000, 20) == "x" * 10  # blanks past the head: no cut


def test_padding_counts_columns_so_the_next_column_starts_in_line() -> None:
    rows = [pad(name, 14) + "|" for name in ("files.read", "ファイル.読む", "🔧.fix")]
    assert {cells(row) for row in rows} == {15}


def test_did_you_mean_lists_one_two_or_three_names_alike() -> None:
    assert one_of(["a"]) == "a" and one_of(["a", "b"]) == "a or b"
    assert one_of(["a", "b", "c"]) == "a, b or c"
    assert did_you_mean("colour", ["color", "colors"]) == "did you mean color or colors?"
    assert did_you_mean("zzz", ["color"]) is None


def test_slash_tools_keeps_its_columns_with_wide_tool_names() -> None:
    def tool(name: str, label: str) -> SimpleNamespace:
        return SimpleNamespace(
            name=name, label=label, asks=True, runs=lambda: "MCP server", description="d"
        )

    tools = [tool("srv__read", "srv.read"), tool("srv__5a7f", "srv.読む"), tool("t", "srv.🔧")]
    tools[0].description = "\x1b[31mred\x1b[0m " * 20  # shown as ^[[31m…: wider than sent
    box = SimpleNamespace(
        offered=tools[:1],
        available={t.name: t for t in tools},
        consent=SimpleNamespace(always=set(), assume_yes=False),
        toolset=SimpleNamespace(started=lambda: [], server_names=[]),
    )
    lines = describe_tools(box).splitlines()  # type: ignore[arg-type]
    assert len(lines) == 3
    assert len({cells(line.split(" asks ")[0]) for line in lines}) == 1, lines
    assert max(cells(terminal_safe(line)) for line in lines) <= 100, lines
