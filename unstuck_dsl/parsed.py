"""Rule files parsed once, their syntax trees kept between processes: `unstuck check` of files it
has parsed before reads their trees back instead of loading the parser, building its lexers and
parsing again (two fifths of the command). The parser itself is kept too, ready to parse: reading
it back takes a third of the time of building it from its tables (`kept_parser`).

A kept tree is used only for the same file name and text, parsed by the same front end: the
grammar, the parser generated from it, the module that builds the tree and the one that defines
its nodes, each known by its size and modification time, as Python knows its bytecode cache. Only
files that parse are kept, one entry per file, in the cache folder beside the compiled kernels; a
changed file replaces its entry.

The kept parser carries the lexers its parses have built, each regular expression with the code
it was compiled to (`grammar.lexer_re`): a later process reads them back ready to match."""

from __future__ import annotations

import _sre
import atexit
import binascii
import copyreg
import importlib
import os
import pickle
import re
import types
from collections.abc import Callable
from pathlib import Path

from .ast import RuleFile
from .cache import cache_dir, made_folder
from .diagnostics import Diagnostic
from .grammar import GENERATED_FILE, GENERATED_TABLES, GRAMMAR_FILE, lexer_re
from .source import TEXT_NAME, Source

# What makes the tree of a text: the grammar and the parser generated from it (its code and its
# tables), the module that builds the tree and the one that defines its nodes (a pickled node is
# read back with the class of the name it was written with).
_FRONT_END = (GRAMMAR_FILE, GENERATED_FILE, GENERATED_TABLES, Path(__file__).with_name("parser.py"),
              Path(__file__).with_name("ast.py"))


def parse(source: Source, keep: bool = False) -> tuple[RuleFile | None, list[Diagnostic]]:
    """Parse one rule file (`parser.parse_source`); with `keep`, reuse the tree kept for the same
    file and text, and keep the tree of a file that parses."""
    entry = _entry(source) if keep else None
    if entry is not None:
        header = (_front_end(), source.name, source.text)
        kept = _read(entry, header)
        if kept is not None:
            return kept, []
    from .parser import parse_source  # the parser: loaded only when a file has to be parsed

    rule_file, diagnostics = parse_source(source)
    if entry is not None and rule_file is not None:
        _write(entry, header, rule_file)
    return rule_file, diagnostics


def _front_end() -> tuple:
    """The front end's files, each by its size and modification time."""
    return tuple(_stamp(path) for path in _FRONT_END)


def _stamp(path) -> tuple:
    try:
        status = os.stat(path)
    except OSError:
        return (str(path),)
    return str(path), status.st_size, status.st_mtime_ns


def kept_parser(build: Callable[[], object], built: Callable[[object], int] | None = None):
    """The parser `build` makes, read back when a process of the same front end and regular-
    expression engine kept it, else built, and kept before it parses anything. One entry per
    installed front end (checkouts sharing a cache folder would otherwise replace each other's at
    every run), beside the kept trees' folder; none when the cache folder cannot be made (a file
    in its place is the kernels' to report).

    A parser builds parts of itself as it parses (Lark's lexers, each the first time a text needs
    it), which `built` counts: a parser that has built more by the end of the process is kept
    again then, with them, once (each lexer is compiled and kept once per front end)."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return build()
    entry = folder / f"parser-{binascii.crc32(os.fsencode(GENERATED_FILE)):08x}.pickle"
    header = (_front_end(), _stamp(lexer_re.__file__), _sre.MAGIC, _sre.CODESIZE)
    parser = _read(entry, header)
    if parser is None:
        parser = build()
        _write(entry, header, parser)
    if built is not None:
        atexit.register(_keep_if_grown, entry, header, parser, built, built(parser))
    return parser


def _keep_if_grown(entry: Path, header: tuple, parser, built: Callable[[object], int], kept: int) -> None:
    if built(parser) != kept:
        _write(entry, header, parser)


def _entry(source: Source) -> Path | None:
    """The file keeping this source's tree, or None when the cache folder cannot be made. One per
    file as named and where it is (its spans hold the name; the same folder may be checked by
    relative and by absolute paths), and one per text not read from a file (every workspace's
    published versions are all named `source.TEXT_NAME`); two files sharing an entry only take turns in it."""
    try:
        folder = made_folder(cache_dir() / "parsed")
    except OSError:
        return None
    where = f"{os.path.abspath(source.name)}\0{source.name}"
    if source.name == TEXT_NAME:  # rule text read from no file (every published version's): one entry per text
        where += f"\0{source.text}"
    where = where.encode("utf-8", "surrogatepass")
    return folder / f"{binascii.crc32(where):08x}.pickle"


def _read(entry: Path, header: tuple):
    """The kept tree or parser, when the entry was written for `header` (the front end, and a
    tree's file name and text)."""
    try:
        with entry.open("rb") as kept:
            if pickle.load(kept) != header:
                return None
            return pickle.load(kept)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError,
            RuntimeError):
        return None  # missing, being replaced or unreadable: parsed again, and kept anew


def _write(entry: Path, header: tuple, kept) -> None:
    """Written aside then moved into place, so a reader sees the old entry or the new, whole."""
    temporary = entry.with_name(f".{entry.stem}-{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as out:
            pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
            pickler.dispatch_table = _BY_REFERENCE
            pickler.dump(header)
            pickler.clear_memo()  # each read on its own: the header first, the rest only when it matches
            pickler.dump(kept)
        os.replace(temporary, entry)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        temporary.unlink(missing_ok=True)


# The parser holds the regular-expression module it compiles with: a module is kept by its name;
# and its lexers' compiled regular expressions, each with its code (`grammar.lexer_re`).
_BY_REFERENCE = {**copyreg.dispatch_table, types.ModuleType: lambda module: (importlib.import_module, (module.__name__,)),
                 re.Pattern: lexer_re.kept}
