from __future__ import annotations

from aimlchat.terminal.blocks import Block, BlockSplitter, split_blocks


def split_blocks_full(text: str) -> list[Block]:
    s = BlockSplitter()
    return s.feed(text) + s.close()


def test_paragraphs_split_on_blank_lines():
    assert split_blocks("one\ntwo\n\nthree\n") == ["one\ntwo", "three"]


def test_fence_with_blank_lines_stays_one_block():
    text = "```py\na = 1\n\n\nb = 2\n```\nafter\n"
    assert split_blocks(text) == ["```py\na = 1\n\n\nb = 2\n```", "after"]


def test_fence_is_emitted_as_soon_as_it_closes():
    s = BlockSplitter()
    assert s.feed("```\ncode\n") == []
    (block,) = s.feed("```\n")
    assert block.source == "```\ncode\n```" and block.code == ("code",) and block.lang == ""


def test_heading_is_a_block_at_once():
    s = BlockSplitter()
    assert s.feed("# Title\n") == [Block("# Title")]


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


def test_open_code_block_tail_is_its_last_code_lines():
    s = BlockSplitter()
    s.feed("```python\n" + "".join(f"line{i}\n" for i in range(50)) + "partial")
    tail = s.tail(5, 80)
    assert tail.kind == "code" and tail.lang == "python"
    assert tail.lines == ["line46", "line47", "line48", "line49", "partial"]
    assert tail.context[-1] == "line45"  # highlighted in the light of what came before


def test_tall_code_block_hands_out_its_lines_once_in_order():
    s = BlockSplitter()
    s.feed("intro\n\n```py\n")
    seen: list[str] = []
    for i in range(30):
        s.feed(f"x{i}\n")
        part = s.take_code(keep=3)
        if part is not None:
            assert part.lang == "py" and part.first == (not seen)
            seen += part.lines
    assert seen == [f"x{i}" for i in range(27)]
    (rest,) = s.feed("```\n")
    assert rest.lang == "py" and rest.continued and rest.code == ("x27", "x28", "x29")
    assert rest.context[-1] == "x26"


def test_code_block_lines_lose_the_fence_indent_only():
    (block,) = split_blocks_full("  ```sh\n  ls\n    cd x\n ```\n")
    assert block.lang == "sh" and block.code == ("ls", "  cd x")


def test_backticks_with_backticks_after_them_are_not_a_fence():
    assert split_blocks("```not a fence```\ntext\n") == ["```not a fence```\ntext"]


def test_crlf_line_ends_are_line_ends():
    assert split_blocks("one\r\n\r\ntwo\r\n") == ["one", "two"]


def test_tail_of_a_tall_table_is_its_raw_last_lines():
    s = BlockSplitter()
    s.feed("| a | b |\n|---|---|\n" + "".join(f"| {i} | x |\n" for i in range(40)))
    tail = s.tail(5, 80)
    assert tail.kind == "table" and tail.lines[-1] == "| 39 | x |" and len(tail.lines) == 5


def test_cropped_nested_fence_keeps_its_opening_line():
    s = BlockSplitter()
    s.feed("1. step\n   ```bash\n" + "".join(f"   cmd{i}\n" for i in range(20)))
    tail = s.tail(5, 80)
    assert tail.kind == "text" and tail.lines[0] == "   ```bash" and tail.lines[-1] == "   cmd19"
    assert len(tail.lines) == 5


def test_tail_is_bounded_by_the_screen():
    s = BlockSplitter()
    s.feed("x" * 100_000)
    (line,) = s.tail(10, 50).lines
    assert len(line) == 500


def test_blocks_joined_give_back_the_text():
    text = "# T\n\npara\n\n```\na\n\nb\n```\n\n- x\n- y\n"
    assert "\n\n".join(split_blocks(text)) == text.strip()
