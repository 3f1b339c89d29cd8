"""Rule files parsed once, their syntax trees kept between processes: `unstuck check` of files it
has parsed before reads their trees back instead of loading Lark, its grammar and its lexers and
parsing again (two fifths of the command).

A kept tree is used only for the same file name and text, parsed by the same front end: its key
hashes the grammar and the modules that build and define the tree, and Lark's install. Only
files that parse are kept, one entry per file path (a changed file replaces its entry), in the
cache folder beside the compiled kernels."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

from .ast import RuleFile
from .cache import cache_dir
from .diagnostics import Diagnostic
from .source import Source

# What makes the tree of a text: the grammar, the module that builds the tree and the one that
# defines its nodes (a pickled node is read back with the class of the name it was written with).
_FRONT_END = (Path(__file__).with_name("grammar") / "unstuck.lark", Path(__file__).with_name("parser.py"),
              Path(__file__).with_name("ast.py"))


def parse(source: Source, keep: bool = False) -> tuple[RuleFile | None, list[Diagnostic]]:
    """Parse one rule file (`parser.parse_source`); with `keep`, reuse the tree kept for the same
    file and text, and keep the tree of a file that parses."""
    key = _key(source) if keep else b""
    entry = _entry(source) if keep else None
    if entry is not None:
        kept = _read(entry, key)
        if kept is not None:
            return kept, []
    from .parser import parse_source  # Lark: loaded only when a file has to be parsed

    rule_file, diagnostics = parse_source(source)
    if entry is not None and rule_file is not None:
        _write(entry, key, rule_file)
    return rule_file, diagnostics


def _key(source: Source) -> bytes:
    digest = hashlib.sha256()
    for path in _FRONT_END:
        digest.update(path.read_bytes())
    digest.update(_lark_install().encode())
    digest.update(source.name.encode("utf-8", "surrogatepass") + b"\0" + source.text.encode("utf-8", "surrogatepass"))
    return digest.digest()


def _lark_install() -> str:
    """Where Lark is installed and when: a new version of it is another install (found without
    importing it, which is what keeping trees saves)."""
    from importlib.util import find_spec

    spec = find_spec("lark")
    origin = spec.origin if spec is not None and spec.origin else ""
    try:
        return f"{origin}@{os.stat(origin).st_mtime_ns}"
    except OSError:
        return origin


def _entry(source: Source) -> Path | None:
    """The file keeping this source's tree, or None when the cache folder cannot be made. One per
    file as named and where it is (its spans hold the name; the same folder may be checked by
    relative and by absolute paths)."""
    folder = cache_dir() / "parsed"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    where = f"{os.path.abspath(source.name)}\0{source.name}".encode("utf-8", "surrogatepass")
    name = hashlib.sha256(where).hexdigest()[:32]
    return folder / f"{name}.pickle"


def _read(entry: Path, key: bytes) -> RuleFile | None:
    try:
        with entry.open("rb") as kept:
            if kept.read(len(key)) != key:
                return None
            return pickle.load(kept)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        return None  # missing, being replaced or unreadable: parsed again, and kept anew


def _write(entry: Path, key: bytes, rule_file: RuleFile) -> None:
    """Written aside then moved into place, so a reader sees the old entry or the new, whole."""
    temporary = entry.with_name(f".{entry.stem}-{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as out:
            out.write(key)
            pickle.dump(rule_file, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, entry)
    except (OSError, pickle.PicklingError, RecursionError):
        temporary.unlink(missing_ok=True)
