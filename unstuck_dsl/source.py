"""Rule sources: reading one file or a directory of `.ust` files, within size limits."""

from __future__ import annotations

from pathlib import Path

import attrs

# A hostile or accidental input (a data file passed as rules) gets a diagnostic, not a hang.
MAX_FILE_BYTES = 2_000_000
RULE_SUFFIX = ".ust"


@attrs.frozen(slots=True)
class Source:
    """One rule file's text, with the name diagnostics show for it."""

    name: str
    text: str

    def line(self, number: int) -> str:
        # Lines end at "\n" only, as the parser counts them (not at U+2028, form feeds, ...).
        lines = self.text.split("\n")
        return lines[number - 1].rstrip("\r") if 0 < number <= len(lines) else ""


class SourceError(Exception):
    """The rules could not be read at all (missing path, no rule files, unreadable bytes)."""


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
    return [_read(p) for p in files]


def _read(path: Path) -> Source:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SourceError(f"{path}: {size} bytes is too large for a rule file (limit {MAX_FILE_BYTES})")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return Source(str(path), text)
