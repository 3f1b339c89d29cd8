"""What may reach a terminal: record values and rule text are shown, never obeyed.

A title or a rule name can hold terminal escape sequences (`\\x1b]0;owned\\x07` renames the
window, `\\x1b[2J` clears the screen) or bidirectional overrides that make text read differently
from what it is. Everything printed from data or rules goes through `visible`, which writes
such characters as escapes (`\\x1b`, `\\u202e`) instead of sending them.
"""

from __future__ import annotations

import functools
import re


@functools.cache
def _hidden() -> re.Pattern:
    """C0 and C1 controls except newline and tab (which lay out text), DEL, and the bidirectional
    embedding, override and isolate marks. (Compiled at the first text that needs it: its
    character set beyond Latin-1 takes `re` 2.6M instructions, and `unstuck check` of rules
    without findings shows none.)"""
    return re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: str) -> str:
    """The text with every control character written as an escape."""
    if text.isprintable():  # (every character `_hidden` finds is a control or format character)
        return text
    return _hidden().sub(_escape, text)
