"""Diagnostics: what went wrong, where, and what to do, rendered for a terminal.

Every problem the front end finds becomes a `Diagnostic` with a stable code, a severity, a span
and a hint; a run collects all of them and shows them at once, errors before warnings.
"""

from __future__ import annotations

import difflib
from typing import Iterable

import attrs

from .ast import Span
from .source import Source
from .terminal import visible
from .text import look_alike_letters, look_alike_skeleton

# A run reports at most this many errors, as javac does: the rest are mostly knock-on errors, and
# each error's hint searches every declared name, so without a limit the time would grow with
# the product of errors and names (an hour for a 1 MB file of misspelt references).
MAX_ERRORS = 100
# difflib compares in Python, so a hint looks at the names closest in length only (a name much
# longer or shorter is never close): one hint costs the same in a workspace of any size.
MAX_HINT_CANDIDATES = 500

@attrs.frozen(slots=True)
class Diagnostic:
    code: str  # "E012", "W001"
    message: str
    span: Span | None
    label: str = ""  # written after the caret, under the source line
    hint: str = ""

    @property
    def severity(self) -> str:
        return "error" if self.code.startswith("E") else "warning"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict:
        """For editors and CI: the place as 1-based line and column, start and end."""
        place = {} if self.span is None else {
            "file": self.span.file, "line": self.span.line, "column": self.span.column,
            "end_line": self.span.end_line, "end_column": self.span.end_column}
        return {"severity": self.severity, "code": self.code, "message": self.message, **place,
                "label": self.label, "hint": self.hint}


class RuleError(Exception):
    """The rules have errors; carries every diagnostic of the run (warnings included)."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, Source] | None = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        super().__init__(render_all(diagnostics, self.sources, color=False))


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A hint naming the closest candidate, or "" when nothing is close."""
    candidates = list(candidates)
    # A name that reads the same is spelled with other letters: say which, or the hint would
    # seem to repeat the name.
    skeleton = look_alike_skeleton(word)
    look_alike = [c for c in candidates if look_alike_skeleton(c) == skeleton]
    if look_alike:
        return f"did you mean `{look_alike[0]}`? {look_alike_note(word, look_alike[0])}".rstrip()
    # A difference in case only is the likeliest slip, and difflib may rank another name as close.
    same_letters = [c for c in candidates if c.casefold() == word.casefold()]
    nearest = sorted(candidates, key=lambda c: abs(len(c) - len(word)))[:MAX_HINT_CANDIDATES]
    close = same_letters or difflib.get_close_matches(word, nearest, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def look_alike_note(*names: str) -> str:
    """Which letters of these names only look like others: "`mm_ѕaas` has ѕ (U+0455 ...)"."""
    return "; ".join(f"`{name}` has {', '.join(look_alike_letters(name))}" for name in names
                     if look_alike_letters(name))


def sort_key(d: Diagnostic):
    s = d.span
    return (not d.is_error, s.file if s else "", s.line if s else 0, s.column if s else 0, d.code)


def render(d: Diagnostic, sources: dict[str, Source], color: bool = False) -> str:
    def paint(text: str, style: str) -> str:
        codes = {"error": "1;31", "warning": "1;33", "blue": "1;34", "bold": "1"}
        return f"\x1b[{codes[style]}m{text}\x1b[0m" if color else text

    where = visible(f"{d.span}: ") if d.span else ""
    head = f"{where}{paint(f'{d.severity}[{d.code}]', d.severity)}: {paint(visible(d.message), 'bold')}"
    lines = [head]
    source = sources.get(d.span.file) if d.span else None
    if d.span and source is not None:
        text = visible(source.line(d.span.line).replace("\t", " "))
        gutter = " " * len(str(d.span.line))
        if d.span.end_line == d.span.line and d.span.end_column > d.span.column:
            width = d.span.end_column - d.span.column
        else:
            width = 1
        width = max(1, min(width, len(text) - d.span.column + 1))
        caret = " " * (d.span.column - 1) + "^" * width
        lines += [
            f"{gutter} {paint('|', 'blue')}",
            f"{paint(str(d.span.line), 'blue')} {paint('|', 'blue')} {text}",
            f"{gutter} {paint('|', 'blue')} {paint(caret, d.severity)}{' ' + visible(d.label) if d.label else ''}",
        ]
    if d.hint:
        gutter = " " * (len(str(d.span.line)) if d.span else 0)
        lines.append(f"{gutter} = hint: {visible(d.hint)}")
    return "\n".join(lines)


def summary(diagnostics: list[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    stopped = f" (checking stops at {MAX_ERRORS} errors)" if errors >= MAX_ERRORS else ""
    return f"{plural(errors, 'error')}, {plural(warnings, 'warning')}{stopped}"


def render_all(diagnostics: list[Diagnostic], sources: dict[str, Source], color: bool = False) -> str:
    blocks = [render(d, sources, color) for d in sorted(diagnostics, key=sort_key)]
    return "\n\n".join(blocks + [summary(diagnostics)])
