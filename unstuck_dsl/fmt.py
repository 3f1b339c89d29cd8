"""The formatter: rule text → the printer's canonical layout, with every comment kept.

The printer (`printer.declaration_lines`) lays a file out as lines, each standing for a piece of
syntax: a whole construct (a field, a parameter, a region, a one-line Persona), the head of a
block up to its `{`, or a block's closing `}`. The parser drops comments, so the formatter finds
them in the source itself (a short scan that knows strings, the only place a `#` is not a
comment) and gives each one to a printed line by where it sits between those pieces:

- A comment after a piece on the same line (`score 5: x  # why`, `icp a {  # note`,
  `}  # end`) stays at the end of that piece's line, unless it is inside the next piece.
- Any other comment leads the first piece that ends after it, and is printed on its own line
  before that piece's line: an own-line comment before the construct it precedes; one inside a
  construct that prints on one line (a condition broken over lines) before the construct; one
  after a block's last member before the `}`, indented as a member; one after the last
  declaration at the end of the file.

Blank lines are the author's grouping: a run of them becomes one blank line, none right after
`{` or before `}`, and a block declaration always has one between it and its neighbours.
Everything else is the printer's: one member per line, two-space indentation, single spaces,
two spaces before an end-of-line comment. Pieces move with their comments when the printer puts
them in its order (an ICP's parameters before its Personas, an engagement block's `stage` lines
as one). Some things parse the same however they are written; the formatter writes a region's
two-letter country codes without quotes, a lone region without braces (`country in europe`)
and numbers over four digits grouped (`1_000_000`), where a parameter's name has the standard
form (`country in {europe}`, `1000000`).

The result parses to the same syntax tree (spans aside) and formatting it again changes nothing;
tests/test_fmt.py checks both, with comments, over programs generated from the grammar.
"""

from __future__ import annotations

import bisect
import re

import attrs

from . import ast
from .diagnostics import Diagnostic
from .files import replacing
from .parser import parse_source
from .printer import INDENT, Line, declaration_lines
from .source import TEXT_NAME, Source

# A string is the only token that can hold `#` or `{`; the pattern is the grammar's STRING.
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\{')
_BLANK = None  # a blank line among a piece's leading comments


@attrs.frozen(slots=True)
class Comment:
    line: int
    column: int
    text: str  # from the `#`, without trailing whitespace


@attrs.frozen(slots=True)
class _Scan:
    """The comments of a source and the places of its `{` (1-based line and column)."""

    comments: list[Comment]
    braces: list[tuple[int, int]]


def scan(text: str) -> _Scan:
    """Comments and braces of rule text that lexes (tests/test_fmt.py checks the comments found
    against Lark's own lexer)."""
    starts = [0] + [m.end() for m in re.finditer("\n", text)]
    comments, braces = [], []
    for match in _TOKENS.finditer(text):
        line = bisect.bisect_right(starts, match.start())
        column = match.start() - starts[line - 1] + 1
        if match.group().startswith("#"):
            comments.append(Comment(line, column, match.group().rstrip()))
        elif match.group() == "{":
            braces.append((line, column))
    return _Scan(comments, braces)


def comments(text: str) -> list[Comment]:
    """Every comment of rule text that lexes, in order."""
    return scan(text).comments


@attrs.define
class _Piece:
    """A printed line, where its syntax starts and ends in the source, and its comments."""

    line: Line
    start: tuple[int, int]
    end: tuple[int, int]  # just after the last character
    leading: list = attrs.Factory(list)  # Comment or _BLANK, in source order
    trailing: Comment | None = None


def format_source(source: Source) -> tuple[str | None, list[Diagnostic]]:
    """The formatted text of one rule file, or None with the syntax errors that stop it."""
    rule_file, diagnostics = parse_source(source)
    if rule_file is None:
        return None, diagnostics
    return format_file(rule_file, source.text), []


def format_text(text: str, name: str = TEXT_NAME) -> str:
    """Format rule text, raising RuleError on a syntax error."""
    from .diagnostics import RuleError

    source = Source(name, text)
    formatted, diagnostics = format_source(source)
    if formatted is None:
        raise RuleError(diagnostics, {name: source})
    return formatted


def format_file(rule_file: ast.RuleFile, text: str) -> str:
    """`rule_file` (parsed from `text`) printed with the comments and blank lines of `text`."""
    found = scan(text)
    declarations = [declaration_lines(d, readable=True) for d in rule_file.declarations]
    pieces = [_piece(line, found.braces) for lines in declarations for line in lines]
    lines_of_text = text.split("\n")
    end_of_file = _Piece(Line(0, "", (), "end"), (len(lines_of_text) + 1, 1), (len(lines_of_text) + 1, 1))
    _attach(pieces, end_of_file, found.comments, lines_of_text)

    out: list[str] = []
    index = 0
    for number, lines in enumerate(declarations):
        for position, line in enumerate(lines):
            piece = pieces[index]
            index += 1
            leading = piece.leading
            if number and position == 0 and (len(lines) > 1 or len(declarations[number - 1]) > 1):
                leading = [_BLANK, *leading]  # a block stands apart from its neighbours
            first = index == 1 or pieces[index - 2].line.part == "open"
            _emit(out, piece, _trimmed(leading, first, line.part == "close"))
    _emit(out, end_of_file, _trimmed(end_of_file.leading, not out, True))
    return "\n".join(out) + "\n" if out else ""


def _piece(line: Line, braces: list[tuple[int, int]]) -> _Piece:
    spans = [node.span for node in line.nodes]
    start = min((s.line, s.column) for s in spans)
    end = max((s.end_line, s.end_column) for s in spans)
    if line.part == "open":  # the head ends at the block's `{`
        brace = braces[bisect.bisect_left(braces, start)]
        end = (brace[0], brace[1] + 1)
    elif line.part == "close":
        start = (end[0], end[1] - 1)
    return _Piece(line, start, end)


def _attach(pieces: list[_Piece], end_of_file: _Piece, found: list[Comment], lines_of_text: list[str]) -> None:
    """Give each comment to a piece (see the module docstring), and each piece the blank lines
    between it and the piece before it in the source."""
    in_source = sorted(pieces, key=lambda p: p.end) + [end_of_file]
    ends = [p.end for p in in_source]
    for comment in found:
        at = (comment.line, comment.column)
        before = bisect.bisect_right(ends, at) - 1
        after = in_source[before + 1]
        if before >= 0 and in_source[before].end[0] == comment.line and not after.start < at:
            in_source[before].trailing = comment
        else:
            after.leading.append(comment)
    previous_end = 0
    for piece in in_source:
        blanks = [number for number in range(previous_end + 1, piece.start[0])
                  if not lines_of_text[number - 1].strip()]
        items = [(c.line, c) for c in piece.leading] + [(number, _BLANK) for number in blanks]
        piece.leading = [item for _, item in sorted(items, key=lambda pair: pair[0])]
        previous_end = max(previous_end, piece.end[0])


def _trimmed(leading: list, first: bool, last: bool) -> list:
    """Runs of blank lines as one; none at the start of a block or file, none before its end."""
    items: list = []
    for item in leading:
        if item is _BLANK and (items[-1:] == [_BLANK] or (first and not items)):
            continue
        items.append(item)
    while last and items and items[-1] is _BLANK:
        items.pop()
    return items


def _emit(out: list[str], piece: _Piece, leading: list) -> None:
    line = piece.line
    comment_depth = line.depth + 1 if line.part == "close" else line.depth
    for item in leading:
        out.append("" if item is _BLANK else INDENT * comment_depth + item.text)
    if line.part != "end":
        text = INDENT * line.depth + line.text
        out.append(f"{text}  {piece.trailing.text}" if piece.trailing else text)


def write_formatted(path: str, text: str) -> None:
    """Replace the file at `path` (through a symlink, the file it points to) with `text`
    atomically, keeping its permissions: a reader sees the old text or the new, never a mix."""
    with replacing(path, in_place=True) as temporary:
        with open(temporary, "w", encoding="utf-8", newline="") as out:
            out.write(text)
