from __future__ import annotations

from aimlchat.terminal.blocks import BlockSplitter, split_blocks


def test_paragraphs_split_on_blank_lines():
    assert split_blocks("one\ntwo\n\nthree\n") == ["one\ntwo", "three"]


def test_fence_with_blank_lines_stays_one_block():
    text = "```py\na = 1\n\n\nb = 2\n```\nafter\n"
    assert split_blocks(text) == ["```py\na = 1\n\n\nb = 2\n```", "after"]


def test_fence_is_emitted_as_soon_as_it_closes():
    s = BlockSplitter()
    assert s.feed("```\ncode\n") == []
    assert s.feed("```\n") == ["```\ncode\n```"]


def test_heading_is_a_block_at_once():
    s = BlockSplitter()
    assert s.feed("# Title\n") == ["# Title"]


def test_loose_list_stays_one_block():
    text = "- a\n\n- b\n\n  more of b\n\nafter\n"
    assert split_blocks(text) == ["- a\n\n- b\n\n  more of b", "after"]


def test_table_is_one_block():
    text = "| a | b |\n|---|---|\n| 1 | 2 |\n\nnext\n"
    assert split_blocks(text) == ["| a | b |\n|---|---|\n| 1 | 2 |", "next"]


def test_fence_left_open_at_the_end_is_still_a_block():
    assert split_blocks("text\n\n```python\nx = 1\n") == ["text", "```python\nx = 1"]


def test_setext_heading_is_not_a_rule():
    assert split_blocks("Title\n-----\nbody\n") == ["Title\n-----", "body"]


def test_tail_keeps_fence_opening_when_cropped():
    s = BlockSplitter()
    s.feed("```python\n" + "".join(f"line{i}\n" for i in range(50)))
    tail = s.tail_lines(5, 1000)
    assert tail[0] == "```python" and tail[-1] == "line49" and len(tail) == 6


def test_tail_is_bounded_by_the_screen():
    s = BlockSplitter()
    s.feed("x" * 100_000)
    (line,) = s.tail_lines(10, 500)
    assert len(line) == 500


def test_blocks_joined_give_back_the_text():
    text = "# T\n\npara\n\n```\na\n\nb\n```\n\n- x\n- y\n"
    assert "\n\n".join(split_blocks(text)) == text.strip()
