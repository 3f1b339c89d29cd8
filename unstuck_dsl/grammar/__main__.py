"""`python -m unstuck_dsl.grammar` (`make parser`): writes `lalr.py`, the LALR parser of
unstuck.lark, with Lark's standalone generator. Run it after every change to the grammar (and
after upgrading Lark, to ship its fixes); Lark numbers the parser's states differently from run
to run, so the tables' line changes each time, to an equivalent parser."""

from __future__ import annotations

import io

from lark.tools.standalone import gen_standalone

from . import GENERATED_FILE, fingerprint, grammar_parser, grammar_text

# Lark's annotations are left unevaluated: they are for readers, and evaluating them (typing's
# generics) was a fourteenth of importing the generated module.
HEADER = """\
# Generated from unstuck.lark by `python -m unstuck_dsl.grammar` (`make parser`), with Lark's
# standalone tool: Lark's parsing code and the grammar's tables. Do not edit; regenerate.
from __future__ import annotations

GRAMMAR_FINGERPRINT = {fingerprint}
"""


def generate() -> str:
    out = io.StringIO()
    gen_standalone(grammar_parser(), out=out)
    return HEADER.format(fingerprint=fingerprint(grammar_text())) + out.getvalue()


if __name__ == "__main__":
    GENERATED_FILE.write_text(generate(), encoding="utf-8")
    print(f"wrote {GENERATED_FILE}")
