"""`python -m unstuck_dsl.grammar` (`make parser`): writes `lalr.py`, the LALR parser of
unstuck.lark, with Lark's standalone generator, and `lalr_tables.py`, the grammar's tables it
builds the parser from. Run it after every change to the grammar (and after upgrading Lark, to
ship its fixes); Lark numbers the parser's states differently from run to run, so the tables
change each time, to an equivalent parser."""

from __future__ import annotations

import io

from lark.tools.standalone import gen_standalone

from . import GENERATED_FILE, GENERATED_TABLES, fingerprint, grammar_parser, grammar_text

# Lark's annotations are left unevaluated: they are for readers, and evaluating them (typing's
# generics) was a fourteenth of importing the generated module.
HEADER = """\
# Generated from unstuck.lark by `python -m unstuck_dsl.grammar` (`make parser`), with Lark's
# standalone tool: Lark's parsing code; the grammar's tables are in lalr_tables.py. Do not edit;
# regenerate.
from __future__ import annotations

GRAMMAR_FINGERPRINT = {fingerprint}
"""

TABLES_HEADER = """\
# Generated from unstuck.lark by `python -m unstuck_dsl.grammar` (`make parser`), with Lark's
# standalone tool: the grammar's tables, which lalr.Lark_StandAlone builds the parser from. Do not
# edit; regenerate.
"""

# Two parts of Lark's standalone code that a process parsing with the kept parser never uses
# (`unstuck_dsl.parsed`), each made lazy: importing `lalr.py` took 52M instructions with them, 22M
# without (`unstuck check` of a changed file: 4 % fewer).
# - the tables, 160,000 characters of dict literals, built as the module ran: they move to
#   lalr_tables.py, which `Lark_StandAlone` imports to build the parser;
# - Lark's logger: importing `logging` (traceback, string...) for it took more than the tables,
#   and parsing logs nothing. It is made, as Lark makes it, the first time Lark logs.
TABLES_START = "import pickle, zlib, base64\nDATA = (\n"
TABLES_END = "Shift = 0\nReduce = 1\n"
STANDALONE = "def Lark_StandAlone(**kwargs):\n  return Lark._load_from_dict(DATA, MEMO, **kwargs)\n"
LAZY_STANDALONE = """\
def Lark_StandAlone(**kwargs):
  from .lalr_tables import DATA, MEMO
  return Lark._load_from_dict(DATA, MEMO, **kwargs)
"""
LOGGER = """\
import logging
from dataclasses import dataclass
from typing import Generic, AnyStr

logger: logging.Logger = logging.getLogger("lark")
logger.addHandler(logging.StreamHandler())
##

##

logger.setLevel(logging.CRITICAL)
"""
LAZY_LOGGER = """\
from dataclasses import dataclass
from typing import Generic, AnyStr


class _LarkLogger:
    def __getattr__(self, name):
        global logger
        import logging
        logger = logging.getLogger("lark")
        logger.addHandler(logging.StreamHandler())
        logger.setLevel(logging.CRITICAL)
        return getattr(logger, name)


logger = _LarkLogger()
"""


def _replaced(text: str, old: str, new: str) -> str:
    """`text` with `old`, which it holds once, replaced: a Lark whose standalone code reads
    otherwise stops the generation rather than ship a parser changed in ways nobody checked."""
    if text.count(old) != 1:
        raise SystemExit(f"Lark's standalone code no longer holds, once:\n{old}\nupdate unstuck_dsl/grammar/__main__.py")
    return text.replace(old, new)


def generate() -> tuple[str, str]:
    """The parser's module and its tables' module."""
    out = io.StringIO()
    gen_standalone(grammar_parser(), out=out)
    code, start, rest = out.getvalue().partition(TABLES_START)
    tables, end, standalone = rest.partition(TABLES_END)
    if not (start and end and standalone == STANDALONE):
        raise SystemExit("Lark's standalone code no longer ends with its tables and Lark_StandAlone: "
                         "update unstuck_dsl/grammar/__main__.py")
    code = _replaced(code, LOGGER, LAZY_LOGGER)
    code = HEADER.format(fingerprint=fingerprint(grammar_text())) + code + "import pickle, zlib, base64\n" + end
    return code + LAZY_STANDALONE, TABLES_HEADER + "DATA = (\n" + tables


if __name__ == "__main__":
    code, tables = generate()
    GENERATED_TABLES.write_text(tables, encoding="utf-8")
    GENERATED_FILE.write_text(code, encoding="utf-8")
    print(f"wrote {GENERATED_FILE} and {GENERATED_TABLES}")
