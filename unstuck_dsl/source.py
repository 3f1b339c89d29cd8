"""Rule sources: reading one file or a directory of `.ust` files, within size limits."""

from __future__ import annotations

from pathlib import Path

import attrs

from .frozen import Frozen, frozen

# A hostile or accidental input (a data file passed as rules, a folder of generated files) gets
# one clear line, not a hang: parsing and checking take about 4 seconds and 60 MB per MB of rules.
MAX_FILE_BYTES = 2_000_000
MAX_WORKSPACE_BYTES = 10_000_000  # all the rule files of one workspace together
RULE_SUFFIX = ".ust"
TEST_SUFFIX = ".test.ust"  # rule tests (`test` blocks): read with the rules, not part of what scores
TEXT_NAME = "<rules>"  # the name of rule text given as a string (a published version's), read from no file


@frozen
class Source(Frozen):
    """One rule file's text, with the name diagnostics show for it."""

    name: str
    text: str
    # Lines end at "\n" only, as the parser counts them (not at U+2028, form feeds, ...). Split
    # once: a diagnostic shows its line, and a run may have a diagnostic on every line.
    _lines: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)

    @_lines.default
    def _split_lines(self) -> tuple[str, ...]:
        return tuple(self.text.split("\n"))

    def line(self, number: int) -> str:
        return self._lines[number - 1].rstrip("\r") if 0 < number <= len(self._lines) else ""


class SourceError(Exception):
    """The rules could not be read at all (missing path, no rule files, too large, not UTF-8)."""


def read_sources(path: str | Path) -> list[Source]:
    """The rule files of a workspace: a single file, or every `.ust` file below a directory,
    in sorted path order (which is the declaration order used to break ties)."""
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob(f"*{RULE_SUFFIX}") if p.is_file())
        if not files:
            raise SourceError(f"{root}: no {RULE_SUFFIX} rule files in this directory")
    elif root.is_file():
        files = [root]
    else:
        raise SourceError(f"{root}: no such file or directory")
    total = sum(_size(p) for p in files)
    if total > MAX_WORKSPACE_BYTES:
        raise SourceError(f"{root}: its {len(files)} rule files hold {total} bytes together, too much for one "
                          f"workspace (limit {MAX_WORKSPACE_BYTES})")
    return [_read(p) for p in files]


def _size(path: Path) -> int:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SourceError(f"{path}: {size} bytes is too large for a rule file (limit {MAX_FILE_BYTES})")
    return size


def _read(path: Path) -> Source:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return Source(str(path), text)
