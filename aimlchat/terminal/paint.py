"""Markdown and code into rows of styled text, and rows into what the terminal gets.

With render.py, the only importer of rich. Every entry point takes model text and makes
it terminal-safe first, and every row is made safe again as it is encoded: markdown-it
decodes character references (`&#x202E;`) after the source was checked.

Rows are copy-clean: no padding column on the left, no spaces to fill the width on the
right, and a code line is never broken: however long, it is one line that the terminal
soft-wraps, so selecting it copies it whole. A code block's background still reaches
the right edge: erase-to-end-of-line paints it without writing characters.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from markdown_it import MarkdownIt
from rich.cells import cell_len
from rich.color import ColorSystem
from rich.markdown import CodeBlock, Markdown, TableElement
from rich.segment import ControlType, Segment
from rich.style import Style
from rich.syntax import Syntax

from aimlchat.terminal.sanitize import is_terminal_safe, terminal_safe
from aimlchat.terminal.simple import simple_lines, table_lines

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

TAB_SIZE = 4
_COLOR_SYSTEMS = {
    "standard": ColorSystem.STANDARD,
    "256": ColorSystem.EIGHT_BIT,
    "truecolor": ColorSystem.TRUECOLOR,
    "windows": ColorSystem.WINDOWS,
}
# Marks a code row inside rich's layout (a fence in a list item): paint to the edge.
# A control segment, so rich neither measures nor crops it.
_FILL_MARK = Segment("", None, [(ControlType.ERASE_IN_LINE, 0)])


class Row(NamedTuple):
    segments: list[Segment]
    width: int  # in cells
    fill: bool = False  # paint the code background to the right edge


BLANK = Row([], 0)


class Painter:
    def __init__(self, console: Console, code_theme: str) -> None:
        self.console = console
        self.code_theme = code_theme
        self._theme = Syntax.get_theme(code_theme)
        self._base = self._theme.get_background_style()
        self._token_styles: dict[Any, Style] = {}
        self._lexers: dict[str, Any] = {}  # pygments lexers, by fence language
        self._colors = _COLOR_SYSTEMS.get(console.color_system or "")
        self._codes: dict[Style, str] = {}  # the SGR sequence that starts each style
        # One parser for every document (rich makes one per document: a third of the cost
        # of a small one), configured as rich's own.
        self._parser = MarkdownIt().enable("strikethrough").enable("table")
        self._document = _Markdown("", self)
        self._fill = ""  # the code background, painted from the cursor to the edge
        if self._base.bgcolor is not None and self._colors is not None:
            paint = Style(bgcolor=self._base.bgcolor)
            self._fill = paint.render("\x1b[K", color_system=self._colors)

    # -- model text to rows --------------------------------------------------------------

    def markdown(self, text: str, width: int) -> list[Row]:
        """One block's Markdown laid out at `width` (see `blocks`)."""
        return self.blocks([text], width)

    def blocks(self, sources: Sequence[str], width: int) -> list[Row]:
        """Markdown blocks laid out at `width`, one blank row between them.

        A simple block is laid out directly (simple.py); the others are parsed and laid
        out by rich together, a run at a time.
        """
        rows: list[Row] = []
        run: list[str] = []
        for source in sources:
            safe = terminal_safe(source)
            lines = simple_lines(safe, self.console, width)
            if lines is None:
                run.append(safe)
                continue
            if run:
                self._add(rows, self._layout("\n\n".join(run), width))
                run = []
            self._add(rows, lines)
        if run:
            self._add(rows, self._layout("\n\n".join(run), width))
        return rows

    def _layout(self, text: str, width: int) -> Iterable[list[Segment]]:
        document = copy.copy(self._document)
        document.markup = text
        document.parsed = self._parser.parse(text)
        options = self.console.options.update(width=width, height=None)
        return Segment.split_lines(self.console.render(document, options))

    @staticmethod
    def _add(rows: list[Row], lines: Iterable[list[Segment]]) -> None:
        """Append lines as rows: one blank row between blocks, none at either end.

        (rich adds blank rows of its own, e.g. a table's empty edges, so the same block
        would otherwise look different at the start of a batch and in its middle.)
        """
        if rows:
            rows.append(BLANK)
        for line in lines:
            row = _row(line)
            if row != BLANK or (rows and rows[-1] != BLANK):
                rows.append(row)
        if rows and rows[-1] == BLANK:
            rows.pop()

    def code(self, lines: Sequence[str], lang: str, context: Sequence[str] = ()) -> list[Row]:
        """One row per line of code, highlighted as the lines after `context`."""
        return self._code(
            [terminal_safe(line) for line in lines],
            lang,
            [terminal_safe(line) for line in context],
        )

    def plain(self, lines: Iterable[str]) -> list[Row]:
        """Lines shown as they are (the raw tail of a table too tall to lay out yet)."""
        rows = []
        for line in lines:
            text = terminal_safe(line).expandtabs(TAB_SIZE)
            rows.append(Row([Segment(text)], cell_len(text)))
        return rows

    def _code(self, lines: Sequence[str], lang: str, context: Sequence[str] = ()) -> list[Row]:
        skip = len(context)
        code = "\n".join([*context, *lines]).expandtabs(TAB_SIZE) + "\n"
        rows: list[list[Segment]] = [[]]
        style_for = self._token_style
        for token_type, value in self._lexer(lang).get_tokens(code):
            style = style_for(token_type)
            first, *rest = value.split("\n")
            if first:
                rows[-1].append(Segment(first, style))
            for piece in rest:
                rows.append([Segment(piece, style)] if piece else [])
        return [
            Row(segments, sum(cell_len(s.text) for s in segments), True)
            for segments in rows[skip : skip + len(lines)]
        ]

    def _token_style(self, token_type: Any) -> Style:
        style = self._token_styles.get(token_type)
        if style is None:
            style = self._base + self._theme.get_style_for_token(token_type)
            self._token_styles[token_type] = style
        return style

    def _lexer(self, lang: str) -> Any:
        lexer = self._lexers.get(lang)
        if lexer is None:
            from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]
            from pygments.util import ClassNotFound  # type: ignore[import-untyped]

            try:
                lexer = get_lexer_by_name(lang or "text", stripnl=False, ensurenl=True)
            except ClassNotFound:
                lexer = get_lexer_by_name("text", stripnl=False, ensurenl=True)
            self._lexers[lang] = lexer
        return lexer

    # -- rows to the terminal ------------------------------------------------------------

    def encode(self, row: Row, width: int, *, crop: bool = False) -> tuple[str, int]:
        """The row as terminal text, and the cells it takes (cut to `width` if `crop`)."""
        row = _safe(row)
        segments, cells = row.segments, row.width
        if crop and cells > width:
            segments, cells = _crop(segments, width), width
        if self._colors is None:
            text = "".join(segment.text for segment in segments)
        else:
            text = self._styled(segments)
        # A row that ends exactly at the edge leaves the cursor waiting to wrap, and an
        # erase there would take the row's last character with it.
        if row.fill and (cells == 0 or cells % width):
            text += self._fill
        return text, cells

    def _styled(self, segments: list[Segment]) -> str:
        """Segments as text with SGR codes, changing style only where it changes."""
        out: list[str] = []
        current = ""
        codes = self._codes
        for piece, style, _ in segments:
            code = ""
            if style:
                code = codes.get(style) or ""
                if style not in codes:
                    code = style.render("\0", color_system=self._colors).partition("\0")[0]
                    codes[style] = code
            if code != current:
                out.append(f"\x1b[0m{code}" if current else code)
                current = code
            out.append(piece)
        if current:
            out.append("\x1b[0m")
        return "".join(out)

    def wrap(self, row: Row, width: int) -> list[Row]:
        """A code row cut into rows of `width` (only where rich lays out: in a list)."""
        if row.width <= width:
            return [row]
        cuts = range(width, row.width + width, width)
        return [
            Row(part, sum(cell_len(s.text) for s in part), row.fill)
            for part in Segment.divide(row.segments, cuts)
            if part
        ]


def _row(line: list[Segment]) -> Row:
    """A line of rich's layout, without the padding rich adds on its right."""
    fill = False
    segments = []
    for segment in line:
        if segment.control:
            fill = True
        elif segment.text:
            segments.append(segment)
    while segments:
        text, style, _ = segments[-1]
        stripped = text.rstrip()
        if stripped == text:
            break
        if stripped:
            segments[-1] = Segment(stripped, style)
            break
        segments.pop()
    return Row(segments, sum(cell_len(s.text) for s in segments), fill)


def _safe(row: Row) -> Row:
    """The row with any control or bidi character shown, as `terminal_safe` shows it.

    A character reference in Markdown (`&#x202E;`, in a paragraph or a table cell) is
    decoded by the parser, after the source was made safe; it is caught here, the one
    place every row passes on its way to the terminal.
    """
    if all(is_terminal_safe(segment.text) for segment in row.segments):
        return row
    segments = [Segment(terminal_safe(s.text), s.style, s.control) for s in row.segments]
    return Row(segments, sum(cell_len(s.text) for s in segments), row.fill)


def _crop(segments: list[Segment], width: int) -> list[Segment]:
    out: list[Segment] = []
    used = 0
    for segment in segments:
        cells = cell_len(segment.text)
        if used + cells > width:
            out.append(segment.split_cells(width - used)[0])
            break
        out.append(segment)
        used += cells
    return out


class _Markdown(Markdown):
    """rich's Markdown with copy-clean code blocks, for a text already made safe.

    Made once per painter; each document is a copy with its own `markup` and `parsed`.
    """

    elements: ClassVar[dict[str, Any]] = {}

    def __init__(self, text: str, painter: Painter) -> None:
        # hyperlinks=False: a link shows its URL, so link text cannot disguise where it goes.
        super().__init__(text, code_theme=painter.code_theme, hyperlinks=False)
        self.painter = painter


class _CodeBlock(CodeBlock):
    """A code block: no padding; its lines whole at the top level (the terminal wraps
    them), cut to the width inside a list item or a quote, where rich lays it out."""

    painter: Painter
    top: bool

    @classmethod
    def create(cls, markdown: Markdown, token: Any) -> CodeBlock:
        block = super().create(markdown, token)
        assert isinstance(block, _CodeBlock) and isinstance(markdown, _Markdown)
        block.painter = markdown.painter
        block.top = token.level == 0
        return block

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        for row in self.painter._code(code.split("\n"), self.lexer_name):
            for part in [row] if self.top else self.painter.wrap(row, options.max_width):
                yield from part.segments
                yield _FILL_MARK
                yield Segment.line()


class _Table(TableElement):
    """A Markdown table; one whose cells fit on a line each is laid out directly, as
    rich lays it out (simple.py), without rich's general table layout."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = None
        if self.header is not None and self.header.row is not None and not options.ascii_only:
            header = [cell.content.copy() for cell in self.header.row.cells]
            for text in header:
                text.stylize("markdown.table.header")
            body = (
                [[cell.content for cell in row.cells] for row in self.body.rows]
                if self.body
                else []
            )
            lines = table_lines(console, [header, *body], options.max_width)
        if lines is None:
            yield from super().__rich_console__(console, options)
            return
        for line in lines:
            yield from line
            yield Segment.line()


_Markdown.elements = {
    **Markdown.elements,
    "fence": _CodeBlock,
    "code_block": _CodeBlock,
    "table_open": _Table,
}
