"""Writing results: every destination checked before the run starts, every file written whole or
not at all, and nothing written over what the command reads.

A command names its outputs and its inputs once (`check_destinations`); the check compares
resolved paths (through symlinks, and by inode for hard links), so `--out accounts.csv` cannot
replace the accounts it scores, `--html` cannot replace the workspace, and two outputs cannot
share a file. Files are written to a temporary file beside the destination, then moved into
place; a temporary file left by a killed run is removed by the next run that writes there.

CSV output neutralises spreadsheet formulas (OWASP "CSV injection"): a text cell that starts
with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`, so a CRM or spreadsheet
shows it as text instead of running it. `raw_csv=True` writes values exactly as they are.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from . import file_parts
from .ahead import made_ahead
from .data import SET_SEPARATOR
from .files import OutputError, replacing

RULE_SUFFIX = ".ust"
STDOUT = "-"  # as a table destination: CSV on standard output


class OutputFormat(enum.Enum):
    """What a file holds, by the extension its path must have."""

    CSV = (".csv",)
    PARQUET = (".parquet",)
    JSONL = (".jsonl", ".ndjson")
    HTML = (".html", ".htm")

    @property
    def suffixes(self) -> tuple[str, ...]:
        return self.value

    @classmethod
    def of(cls, path: str | Path, allowed: tuple[OutputFormat, ...]) -> OutputFormat:
        suffix = Path(path).suffix.lower()
        for fmt in allowed:
            if suffix in fmt.suffixes:
                return fmt
        wanted = ", ".join(s for fmt in allowed for s in fmt.suffixes[:1])
        raise OutputError(f"{path}: unknown output type `{suffix or '(none)'}`; use {_or(wanted)}")


TABLE_FORMATS = (OutputFormat.CSV, OutputFormat.PARQUET, OutputFormat.JSONL)
REPORT_FORMATS = (OutputFormat.HTML,)

# A spreadsheet reads a cell starting with one of these as a formula (or as the start of one).
_FORMULA_START = r"^[=+\-@\t\r]"


def _or(choices: str) -> str:
    head, _, last = choices.rpartition(", ")
    return f"{head} or {last}" if head else last


# ---- where a command may write ----------------------------------------------------------------


def check_destinations(outputs: Mapping[str, str | Path | None], inputs: Iterable[str | Path | None],
                       formats: tuple[OutputFormat, ...] = TABLE_FORMATS) -> None:
    """Refuse, before any work, an output whose extension does not match its format, whose folder
    is missing, that is a folder, that is one of the command's inputs (a data file, the
    workspace, a rule file) or that another output of the same command also writes.
    `outputs` maps each option (`--out`) to its path; absent options are None."""
    taken: dict[tuple, str] = {}
    protected = _protected(inputs)
    for option, path in outputs.items():
        if path is None:
            continue
        if str(path) == STDOUT and formats == TABLE_FORMATS:
            if ("stdout",) in taken:
                raise OutputError(f"{option} -: {taken[('stdout',)]} also writes to standard output")
            taken[("stdout",)] = f"{option} -"
            continue
        OutputFormat.of(path, formats)
        target = Path(path)
        if target.is_dir():
            raise OutputError(f"{option} {path}: is a folder; give a file name")
        folder = target.parent
        if not folder.is_dir():
            raise OutputError(f"{option} {path}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise OutputError(f"{option} {path}: the folder {folder} is not writable")
        identity = _identity(target)
        for key in identity:
            if key in protected:
                raise OutputError(f"{option} {path}: this would overwrite {protected[key]}, which the command "
                                  "reads; write the output somewhere else")
            if key in taken:
                raise OutputError(f"{option} {path}: {taken[key]} writes to the same file; give each output "
                                  "its own path")
        taken.update((key, f"{option} {path}") for key in identity)


def _identity(path: Path) -> list[tuple]:
    """The keys under which a path is the same file as another: its resolved path (symlinks
    followed) and, when it exists, its device and inode (hard links)."""
    keys: list[tuple] = [("path", os.path.realpath(path))]
    try:
        stat = path.stat()
        keys.append(("inode", stat.st_dev, stat.st_ino))
    except OSError:
        pass
    return keys


def _protected(inputs: Iterable[str | Path | None]) -> dict[tuple, str]:
    """Every file the command reads, by identity: input files, a workspace and its write-ahead
    log, and the rule files below a rules folder."""
    protected: dict[tuple, str] = {}
    for item in inputs:
        if item is None or not isinstance(item, (str, Path)):
            continue
        path = Path(item)
        files = [path, Path(f"{path}.wal")]
        if path.is_dir():
            files = sorted(path.rglob(f"*{RULE_SUFFIX}"))
        for file in files:
            for key in _identity(file):
                protected.setdefault(key, str(file))
    return protected


# ---- writing ----------------------------------------------------------------------------------


# A table written in pieces is built this many rows at a time (`ScoreResult.table_pieces`), so
# that the writing never holds the whole lead table; each piece is encoded in parts on every core.
PIECE_ROWS = 1 << 20


def write_table(table: pa.Table | Iterable[pa.Table], path: str | Path, raw_csv: bool = False) -> None:
    """Write a result table in the format its extension names, atomically (`-`: CSV on stdout).
    The table may come as consecutive pieces of PIECE_ROWS rows (`ScoreResult.table_pieces`),
    written as they come, so that the whole table is never in memory (JSON Lines excepted)."""
    pieces = [table] if isinstance(table, pa.Table) else made_ahead(table, "unstuck-piece")
    if str(path) == STDOUT:
        sys.stdout.flush()
        _write_csv(pieces, sys.stdout.buffer, raw_csv)
        sys.stdout.buffer.flush()
        return
    fmt = OutputFormat.of(path, TABLE_FORMATS)
    with replacing(path) as temporary:
        if fmt is OutputFormat.CSV:
            _write_csv(pieces, temporary, raw_csv)
        elif fmt is OutputFormat.PARQUET:
            _write_parquet(pieces, temporary)
        else:
            _write_jsonl(pa.concat_tables(pieces), temporary)


def _write_csv(pieces: Iterable[pa.Table], sink, raw_csv: bool) -> None:
    with open(sink, "wb") if isinstance(sink, str) else contextlib.nullcontext(sink) as out:
        file_parts.write_csv(pieces, out, prepare=functools.partial(csv_table, raw_csv=raw_csv))


def _write_parquet(pieces: Iterable[pa.Table], path: str) -> None:
    file_parts.write_parquet(pieces, path, _parquet_options)


def _parquet_options(schema: pa.Schema) -> dict:
    """Dictionary pages for the code columns; ids are unique, a dictionary would not pay. Min/max
    statistics for the numbers only (scores, engagement): readers filter on them, and on text
    columns they cost a third of the write (the min and max of every string) for row groups that
    span every code anyway."""
    return {"use_dictionary": [f.name for f in schema if pa.types.is_dictionary(f.type) and not f.name.endswith("_id")],
            "write_statistics": [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_floating(f.type)]}


def write_text(text: str, path: str | Path, formats: tuple[OutputFormat, ...] = REPORT_FORMATS) -> None:
    """Write a text report (an HTML page) atomically."""
    OutputFormat.of(path, formats)
    with replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as out:
            out.write(text)


def _write_jsonl(table: pa.Table, path: str) -> None:
    """One JSON object per line, streamed by DuckDB from the Arrow table (no Python row objects)."""
    import duckdb

    with duckdb.connect() as db:
        db.register("result", table)
        db.execute(f"COPY (SELECT * FROM result) TO '{_sql_string(path)}' (FORMAT JSON)")


def _sql_string(text: str) -> str:
    return str(text).replace("'", "''")


def csv_table(table: pa.Table, raw_csv: bool = False) -> pa.Table:
    """The table as CSV cells: a set becomes its members joined by `;` (as CSV input is read),
    and, unless `raw_csv`, formulas are neutralised."""
    columns = [_joined(column) if pa.types.is_list(column.type) or pa.types.is_large_list(column.type) else column
               for column in table.columns]
    table = pa.table(columns, names=table.column_names)
    return table if raw_csv else neutralise_formulas(table)


def _joined(column: pa.ChunkedArray) -> pa.ChunkedArray:
    members = column.type.value_type
    if not _is_text(members):
        column = column.cast(pa.list_(pa.string()))
    elif pa.types.is_dictionary(members):
        column = column.cast(pa.list_(members.value_type))
    return pc.binary_join(column, SET_SEPARATOR)


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Text cells that a spreadsheet would run as a formula, prefixed with `'` (dictionary
    columns are fixed in their dictionary, once per distinct value)."""
    columns = []
    for column in table.columns:
        columns.append(pa.chunked_array([_neutralise(chunk) for chunk in column.chunks], column.type)
                       if _is_text(column.type) else column)
    return pa.table(columns, schema=table.schema)


def _is_text(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        type_ = type_.value_type
    return pa.types.is_string(type_) or pa.types.is_large_string(type_)


def _neutralise(array: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(array.type):
        return pa.DictionaryArray.from_arrays(array.indices, _neutralise(array.dictionary))
    risky = pc.match_substring_regex(array, _FORMULA_START).fill_null(False)
    if not pc.any(risky).as_py():
        return array
    return pc.if_else(risky, pc.binary_join_element_wise("'", array, ""), array)
