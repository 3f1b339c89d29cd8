"""The unstuck rule grammar, shipped as package data, and its LALR parser generated from it
(`lalr.py` and its tables, `lalr_tables.py`, written by `python -m unstuck_dsl.grammar`, i.e.
`make parser`; loaded by unstuck_dsl.parser).

The parser's tables ship with the package so that no command analyses the grammar (half of the
first `unstuck check` in an empty cache folder) or loads Lark itself (a quarter of `unstuck check`
of a changed file);
`lalr.py` carries the fingerprint of the grammar it was made from, and the parser refuses to run
with another."""

from __future__ import annotations

import binascii
import functools
from pathlib import Path

GRAMMAR_FILE = Path(__file__).with_name("unstuck.lark")
GENERATED_FILE = Path(__file__).with_name("lalr.py")
GENERATED_TABLES = Path(__file__).with_name("lalr_tables.py")

# How the grammar is parsed: Lark's LALR parser and contextual lexer (see unstuck.lark), every
# tree node with its position, an absent `[x]` as None.
OPTIONS = {"parser": "lalr", "lexer": "contextual", "propagate_positions": True, "maybe_placeholders": True}


@functools.cache
def grammar_text() -> str:
    return GRAMMAR_FILE.read_text("utf-8")


def fingerprint(text: str) -> int:
    """What tells one grammar text from another: a checksum (crc32, in a module the interpreter
    has loaded already; hashlib would load OpenSSL at every parse), enough to notice an edit."""
    return binascii.crc32(text.encode("utf-8"))


def grammar_parser():
    """The grammar analysed by Lark itself: what `lalr.py` is generated from, and what the grammar
    fuzzer reads (the generated parser does not carry the analysed grammar)."""
    import lark

    return lark.Lark(grammar_text(), **OPTIONS)
