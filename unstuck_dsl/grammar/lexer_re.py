"""The regular-expression module of the grammar's lexers (Lark's lexers take one: `re`, or the
`regex` package): `re`'s own expressions, each compiled with the code it compiles to kept beside
it, so that a kept parser's lexers are read back ready to match (`unstuck_dsl.parsed`), not
compiled again (Python's regular-expression compiler: two thirds of parsing a changed file).

The code is `_sre`'s, for this Python's engine: a kept parser names the engine it was compiled for
(`_sre.MAGIC`), and one kept by another is built anew."""

from __future__ import annotations

import _sre
import copyreg
import functools
import re
import weakref
from re import _compiler, _parser

error = re.error
match = re.match  # (Lark tries each keyword against the expressions; nothing it keeps)


@functools.cache
def compile(pattern: str, flags: int = 0) -> re.Pattern:
    """`re.compile(pattern, flags)`, compiled as `re._compiler.compile` compiles it, its code kept;
    once per expression, as `re` caches it (lexers of different states share some)."""
    from array import array

    try:
        parsed = _parser.parse(pattern, flags)
        code = array("I", _compiler._code(parsed, flags))
    except (AttributeError, TypeError):  # another Python's `re` internals: compiled as `re` does, kept by pattern
        return re.compile(pattern, flags)
    if code.itemsize != _sre.CODESIZE:
        return re.compile(pattern, flags)
    indexgroup = [None] * parsed.state.groups
    for name, index in parsed.state.groupdict.items():
        indexgroup[index] = name
    return compiled(pattern, flags | parsed.state.flags, code.tobytes(), parsed.state.groups - 1,
                    parsed.state.groupdict, tuple(indexgroup))


def compiled(pattern: str, flags: int, code: bytes, groups: int, groupindex: dict, indexgroup: tuple) -> re.Pattern:
    """The expression compiled to `code`, made without compiling."""
    made = _sre.compile(pattern, flags, memoryview(code).cast("I").tolist(), groups, groupindex, indexgroup)
    _code[made] = pattern, flags, code, groups, groupindex, indexgroup
    return made


def kept(expression: re.Pattern):
    """How a compiled expression is pickled: with its code when it was compiled here, as `re`
    pickles it (its pattern, compiled again as it is read) otherwise."""
    made_from = _code.get(expression)
    return (compiled, made_from) if made_from is not None else copyreg.dispatch_table[re.Pattern](expression)


# What each expression compiled here was made from.
_code: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
