"""The columnar data layer: accounts and leads from files or data frames into typed, encoded
columns the kernel reads (SPEC sections 3 and 9).

Category, text, ordinal and bool columns become int32 codes into a dictionary (-1 is unknown),
so every string condition is decided once per distinct value. Numbers are float64, ints int64,
dates int32 days, each with a validity mask. Sets become per-record bitsets over the set's
dictionary, or CSR lists (offsets + codes) when the dictionary is too large for a few words.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import mmap
import os
import re
from collections import abc
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .ahead import made_ahead, side_by_side
from .countries import COUNTRY_CODES, holds_countries
from .data_error import DataError
from .dates import EPOCH, to_days
from .keys import IdIndex, RepeatedIds, RowsOfBatches, extends, first_repeat, rows_of_dictionary_chunks
from .schema import ACCOUNT_KEY, ENCODING_DTYPES, LEAD_KEY, REPRESENTATIONS, Encoding, Field, Schema

FORMATS = (".csv", ".parquet", ".jsonl", ".ndjson")
SET_SEPARATOR = ";"
BITSET_MAX_VALUES = 256  # up to four 64-bit words per record; larger dictionaries go CSR
PARQUET_BATCH_ROWS = 262_144
# A batch's columns are encoded side by side from this many rows (`_Chunk.add`): more than a file's
# batches hold. A table handed over whole, as the store's records are, is one batch. A Parquet
# file's batches are each encoded while the next is read (`made_ahead`), which keeps the cores busy
# already: side by side, 1M accounts and 3M leads from Parquet ran no quicker and peaked 15 MB
# higher. (CSV and JSON Lines come in Arrow's blocks, far smaller.)
SIDE_BY_SIDE_ROWS = PARQUET_BATCH_ROWS + 1
# Field types whose strings are read from Parquet's dictionary pages as codes (no string hashed)
DICTIONARY_TYPES = ("category", "text", "ordinal", "set")
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
# Below this many values (an inbound record's, a rule test's) a search in Python is quicker than an
# Arrow kernel call, whose fixed cost is tens of microseconds.
FEW_VALUES = 16


@functools.cache
def _arrow(values: tuple) -> pa.Array:
    """A constant as an Arrow array, built on first use: `pa.array` loads pandas when it is
    installed, which a command that never reads data should not pay for at start-up."""
    return pa.array(values)
_FIRST_DAY, _LAST_DAY = to_days(dt.date.min), to_days(dt.date.max)  # the dates the language knows


def row_error(name: str, column: str, message: str, index: int, value=None) -> DataError:
    """The one form of an error about a value: input, column, problem, row (index 0 is row 1)
    and the value as Python writes it (a numpy scalar as its plain value: `10.5`, never
    `np.float64(10.5)`)."""
    if isinstance(value, np.generic):
        value = value.item()
    shown = "" if value is None else f" (value {value!r})"
    return DataError(f"{name}: column {column}: {message}; row {index + 1}{shown}")


class Dictionary(abc.Sequence):
    """The distinct values of a coded or set column, kept as one Arrow array (a Python string
    each would take ten times the memory on a set of 20M members) and read like a list: by
    code, in code order, and `index(value)` for a value's code."""

    __slots__ = ("values", "__weakref__")  # lookup tables are kept per dictionary, weakly

    def __init__(self, values: pa.Array):
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, code):
        return self.values[code].to_pylist() if isinstance(code, slice) else self.values[code].as_py()

    def __iter__(self):
        for start in range(0, len(self.values), 65_536):
            yield from self.values.slice(start, 65_536).to_pylist()

    def __contains__(self, value) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def index(self, value, start: int = 0, stop=None) -> int:
        code = -1
        if isinstance(value, str) and len(self.values) < FEW_VALUES:  # (an inbound record's): no Arrow call
            found = self.values.slice(start, (stop if stop is not None else len(self.values)) - start).to_pylist()
            code = found.index(value) + start if value in found else -1
        elif isinstance(value, str):
            code = pc.index(self.values, value, start, stop).as_py()
        if code < 0:
            raise ValueError(f"{value!r} is not in the dictionary")
        return code


@attrs.define
class Column:
    """One declared field, encoded. `encoding` says which arrays are set:
    coded: values = int32 codes into `dictionary` (-1 unknown);
    f64 / i64 / days: values + valid (uint8);
    bitset: values = uint64[n, words] + valid;  csr: offsets int64[n+1], values int32 codes + valid."""

    field: Field
    encoding: Encoding
    values: np.ndarray
    valid: np.ndarray | None = None
    offsets: np.ndarray | None = None
    dictionary: Sequence = attrs.Factory(list)  # values by code: a list, or a Dictionary read from data

    def python_value(self, i: int):
        """Row i as the reference evaluator reads it."""
        if self.encoding == "coded":
            code = int(self.values[i])
            return None if code < 0 else self.dictionary[code]
        if not self.valid[i]:
            return None
        if self.encoding == "f64":
            return float(self.values[i])
        if self.encoding == "i64":
            return int(self.values[i])
        if self.encoding == "days":
            return EPOCH + dt.timedelta(days=int(self.values[i]))
        if self.encoding == "bitset":
            words = self.values[i]
            return frozenset(v for code, v in enumerate(self.dictionary) if (int(words[code >> 6]) >> (code & 63)) & 1)
        return frozenset(self.dictionary[c] for c in self.values[self.offsets[i]:self.offsets[i + 1]])

    def gather(self, rows: np.ndarray) -> Column:
        """Rows by index where -1 is a row that does not exist: it reads as unknown."""
        missing = rows < 0
        column = self.take(np.where(missing, 0, rows)) if self.n else _empty_like(self, len(rows))
        if not missing.any():
            return column
        if column.encoding == "coded":
            column.values = np.where(missing, -1, column.values).astype(np.int32, copy=False)
        else:
            column.valid = np.where(missing, 0, column.valid).astype(np.uint8, copy=False)
        return column

    @property
    def n(self) -> int:
        return len(self.offsets) - 1 if self.encoding == "csr" else len(self.values)

    def take(self, rows: np.ndarray) -> Column:
        if self.encoding == "csr":
            starts, ends = self.offsets[rows], self.offsets[rows + 1]
            pieces = [self.values[s:e] for s, e in zip(starts, ends)]
            values = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
            offsets = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64, copy=False)
            return Column(self.field, self.encoding, values.astype(np.int32, copy=False), self.valid[rows], offsets, self.dictionary)
        valid = None if self.valid is None else self.valid[rows]
        return Column(self.field, self.encoding, self.values[rows], valid, None, self.dictionary)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.values, self.valid, self.offsets) if a is not None)


def _encoding(field_type) -> Encoding:
    """A column's encoding (schema.REPRESENTATIONS); a set starts as a bitset, the default layout."""
    encoding = REPRESENTATIONS[field_type.name].encoding
    return Encoding.BITSET if encoding is Encoding.SET else encoding


def unknown_column(field: Field, n: int) -> Column:
    """A column of n unknown values (a field the input does not have, e.g. lead fields when
    only accounts were scored)."""
    encoding = _encoding(field.type)
    if encoding is Encoding.CODED:
        return Column(field, encoding, np.full(n, -1, np.int32))
    values = np.zeros((n, 1), np.uint64) if encoding is Encoding.BITSET else np.zeros(n, ENCODING_DTYPES[encoding])
    return Column(field, encoding, values, np.zeros(n, np.uint8))


def _empty_like(column: Column, n: int) -> Column:
    """n unknown values of the column's encoding (for gathering from an empty table)."""
    if column.encoding == "coded":
        return Column(column.field, Encoding.CODED, np.full(n, -1, np.int32), None, None, column.dictionary)
    valid = np.zeros(n, np.uint8)
    if column.encoding == "csr":
        return Column(column.field, Encoding.CSR, np.zeros(0, np.int32), valid, np.zeros(n + 1, np.int64), column.dictionary)
    shape = (n, column.values.shape[1]) if column.encoding == "bitset" else n
    return Column(column.field, column.encoding, np.zeros(shape, column.values.dtype), valid, None, column.dictionary)


@attrs.define
class EncodedTable:
    kind: str  # "account" | "lead"
    ids: pa.ChunkedArray  # keys, one per row: text or whole numbers, as the input has them
    columns: dict[str, Column]
    account_ids: pa.ChunkedArray | None = None  # leads: the account each lead belongs to
    name: str = ""  # the input, as errors and warnings name it
    missing_columns: tuple[str, ...] = ()  # declared fields the input lacks, read as unknown
    index: IdIndex | None = attrs.field(default=None, eq=False, repr=False)  # where each id is
    # leads read with the accounts' index: each lead's account row in them (-1: not there)
    account_rows: np.ndarray | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def n(self) -> int:
        return len(self.ids)

    def record(self, i: int) -> dict:
        record = {name: column.python_value(i) for name, column in self.columns.items()}
        record[LEAD_KEY if self.kind == "lead" else ACCOUNT_KEY] = self.ids[i].as_py()
        if self.account_ids is not None:
            record[ACCOUNT_KEY] = self.account_ids[i].as_py()
        return record

    def take(self, rows) -> EncodedTable:
        """A few rows (to explain one record): ids are copied as plain values, which avoids
        unifying the dictionaries of every batch of a large table."""
        rows = np.asarray(rows, dtype=np.int64)

        def ids(column) -> pa.Array:
            value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
            return pa.array([column[int(i)].as_py() for i in rows], value_type)

        return EncodedTable(self.kind, ids(self.ids), {n: c.take(rows) for n, c in self.columns.items()},
                            None if self.account_ids is None else ids(self.account_ids))

    def row_of(self, record_id) -> int | None:
        """The row with this id (text, or a number for whole-number ids), from the id index."""
        if self.index is None:
            self.index = IdIndex(self.ids)
        return self.index.row_of(record_id)

    @property
    def nbytes(self) -> int:
        return sum(c.nbytes for c in self.columns.values())


# ---- reading ----------------------------------------------------------------------------------


def _describe(source) -> str:
    return str(source) if isinstance(source, (str, Path)) else type(source).__name__


def _input_file(source) -> tuple[Path, str]:
    """An input path and its format, or a clear error."""
    path = Path(source)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unknown file type `{suffix or '(none)'}`; use .csv, .parquet or .jsonl")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a {suffix} file")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    return path, suffix


def read_batches(source, needed: list[str], name: str, dictionary_columns=(), null_values: Sequence[str] = (),
                 optional: Sequence[str] = (), prepare: Callable[[pa.RecordBatch], object] | None = None,
                 ) -> tuple[list[str], Iterable, int]:
    """The needed columns the input has, its record batches of them and how many rows they hold
    in all, from a path (by extension) or an in-memory table. A needed column that is absent is
    an error unless it is `optional`. `dictionary_columns` are read dictionary-encoded where the
    format stores them so (Parquet); `null_values` are CSV cells that mean unknown besides the
    empty one. With `prepare`, each batch comes as `prepare(batch)`, called where the batch is
    read: for Parquet, on the reading thread, while the caller works on the batch before. The
    batches are read lazily: `prepare` is first called when the first batch is asked for."""
    if isinstance(source, (str, Path)):
        path, suffix = _input_file(source)
        if suffix == ".parquet":
            return _read_parquet(path, needed, dictionary_columns, optional, prepare)
        table = _read_csv(path, needed, null_values, optional) if suffix == ".csv" else _read_jsonl(path, needed, optional)
        present, batches = table.column_names, table.to_batches()
    else:
        table = _to_arrow(source)
        present = _check_columns(table.column_names, needed, name, optional)
        batches = table.select(present).to_batches()
    rows, batches = table.num_rows, _handed_over(batches)
    del table
    return present, map(prepare, batches) if prepare is not None else batches, rows


def _handed_over(batches: list[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches of a table read whole, each let go of here once handed over: a file scored a
    chunk at a time (`encode_chunks`) holds only the batches still to come and the chunk in hand."""
    batches.reverse()
    while batches:
        yield batches.pop()


def read_table(source, null_values: Sequence[str] = ()) -> pa.Table:
    """Every column of an input, whole (for the workspace store, which keeps undeclared columns
    too). CSV columns come as text, to be typed by the declared fields."""
    if isinstance(source, (str, Path)):
        path, suffix = _input_file(source)
        if suffix == ".csv":
            return _read_csv(path, None, null_values)
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            try:
                table = pq.ParquetFile(path).read()  # pq.read_table would import pyarrow.dataset too
            except (pa.ArrowInvalid, OSError) as exc:
                raise DataError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
            _check_columns(table.column_names, [], str(path))
            return table
        return _read_jsonl(path, [])
    table = _to_arrow(source)
    _check_columns(table.column_names, [], _describe(source))
    return table


def _to_arrow(source) -> pa.Table:
    if isinstance(source, pa.Table):
        return source
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    if isinstance(source, list):
        return pa.Table.from_pylist(source)
    module = type(source).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(source, preserve_index=False)
    if module == "polars":
        return source.to_arrow()
    if hasattr(source, "__arrow_c_stream__"):
        return pa.table(source)
    raise DataError(f"cannot read {type(source).__name__}: pass a file path, an Arrow table, "
                    "a pandas or polars DataFrame, or a list of dicts")


def _check_columns(present: list[str], needed: list[str], name: str, optional: Sequence[str] = ()) -> list[str]:
    """Each column named once (which of two would the rules read?) and every needed one there
    but the optional ones. Returns the needed columns that are there."""
    seen = set()
    for column in present:
        if column in seen:
            raise DataError(f"{name}: two columns are named `{column}`; rename or remove one")
        seen.add(column)
    missing = [c for c in needed if c not in seen and c not in optional]
    if missing:
        raise DataError(f"{name}: missing column{'s' if len(missing) > 1 else ''} "
                        + ", ".join(f"`{c}`" for c in missing)
                        + f" (the rules read {'them' if len(missing) > 1 else 'it'}); found: " + ", ".join(present))
    return [c for c in needed if c in seen]


# Formats that get saved under a .csv name by mistake, by their first bytes.
_FILE_SIGNATURES = {b"\x1f\x8b": "gzip-compressed data", b"PAR1": "a Parquet file", b"PK\x03\x04": "a zip archive",
                    b"\xd0\xcf\x11\xe0": "an old Excel or Office file"}
_UTF8_BOM = b"\xef\xbb\xbf"


def _read_csv(path: Path, columns: list[str] | None, null_values: Sequence[str], optional: Sequence[str] = ()) -> pa.Table:
    """The named columns (None: all; `optional` ones may be absent) as text. Only an empty cell,
    quoted or not, is unknown, unless the user names more null words: `NA` is also Namibia,
    `None` a possible answer."""
    import pyarrow.csv as pcsv

    header = _csv_header(path)
    quoted_line_breaks = _check_quotes(path)  # before the header is trusted: it may hold the stray quote
    present = _check_columns(header, columns or [], str(path), optional)
    columns = header if columns is None else present
    try:
        return pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(newlines_in_values=quoted_line_breaks),
            convert_options=pcsv.ConvertOptions(
                include_columns=columns, column_types={c: pa.string() for c in columns},
                null_values=["", *null_values], strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0]})") from None


def _csv_header(path: Path) -> list[str]:
    """The column names on a CSV file's first line. A file that is not text (often another format
    renamed .csv) is an error before anything decodes it."""
    with open(path, "rb") as handle:
        start = handle.read(4096)
    what = next((what for signature, what in _FILE_SIGNATURES.items() if start.startswith(signature)),
                "binary data" if b"\x00" in start else None)
    if what is not None:
        raise DataError(f"{path}: not a readable CSV file (it is {what})")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            return next(csv.reader(handle), [])
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a readable CSV file (not UTF-8 text: {exc.reason})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: not a readable CSV file ({exc})") from None


def _check_quotes(path: Path) -> bool:
    """Refuse a stray quote, naming its line: Arrow would read `A1",x` as the id `A1"` and let an
    unclosed quote swallow the rows after it. Returns whether a quoted value spans lines.
    A file without any quote is not scanned; one with quotes is, once, by a compiled loop."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return False
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
            if view.find(b'"') < 0:
                return False
            start = len(_UTF8_BOM) if view[:len(_UTF8_BOM)] == _UTF8_BOM else 0
            data = np.frombuffer(view, np.uint8)
            try:
                problem, at, opened_at, line_breaks = _quote_scanner()(data, start)
                if problem:
                    line, opened = (1 + int(np.count_nonzero(data[:position] == _LF)) for position in (at, opened_at))
            finally:
                del data  # the view cannot close while an array still reads it
    if problem == _QUOTE_INSIDE_VALUE:
        raise DataError(f"{path}: line {line}: stray quote inside an unquoted value; quote the whole value "
                        f'and write a quote inside it twice ("say ""hi""")')
    if problem == _QUOTE_NOT_CLOSED:
        raise DataError(f"{path}: line {line}: a quoted value is never closed (stray quote?)")
    if problem == _TEXT_AFTER_QUOTE:
        since = f" (the value was opened on line {opened})" if opened != line else ""
        raise DataError(f"{path}: line {line}: stray quote: text follows a closing quote{since}; "
                        f'write a quote inside a value twice ("say ""hi""")')
    return line_breaks


_QUOTE_INSIDE_VALUE, _QUOTE_NOT_CLOSED, _TEXT_AFTER_QUOTE = 1, 2, 3
_QUOTE, _COMMA, _LF, _CR = ord('"'), ord(","), ord("\n"), ord("\r")


def _scan_quotes(data, start):
    """RFC 4180 quoting: a quote opens a value only at its start, a doubled quote inside stands
    for one, and the closing quote ends the value. Returns (problem, its byte offset, offset of
    the quote that opened the value, whether a quoted value holds a line break); problem 0 is
    none. Outside quotes each byte is only compared with `"`, the loop's fast path."""
    n, i, line_breaks = len(data), start, False
    while i < n:
        if data[i] != _QUOTE:
            i += 1
            continue
        if i > start and data[i - 1] != _COMMA and data[i - 1] != _LF and data[i - 1] != _CR:
            return _QUOTE_INSIDE_VALUE, i, i, line_breaks
        opened = i
        i += 1
        while True:
            if i >= n:
                return _QUOTE_NOT_CLOSED, opened, opened, line_breaks
            byte = data[i]
            if byte == _QUOTE:
                if i + 1 < n and data[i + 1] == _QUOTE:
                    i += 2
                    continue
                break
            line_breaks = line_breaks or byte == _LF
            i += 1
        i += 1
        if i < n and data[i] != _COMMA and data[i] != _LF and data[i] != _CR:
            return _TEXT_AFTER_QUOTE, i, opened, line_breaks
    return 0, n, n, line_breaks


@functools.cache
def _quote_scanner():
    from numba import njit  # compiled on first use (and cached on disk), not on import

    return njit(cache=True, nogil=True)(_scan_quotes)


def _read_parquet(path: Path, needed: list[str], dictionary_columns=(), optional: Sequence[str] = (),
                  prepare: Callable[[pa.RecordBatch], object] | None = None) -> tuple[list[str], Iterator, int]:
    """The needed columns the file has, its batches of them (each through `prepare`, on the
    reading thread) and its rows."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
    present = _check_columns(parquet.schema_arrow.names, needed, str(path), optional)
    # Strings come out of Parquet's own dictionary pages as codes, without hashing each value.
    leaves = [parquet.schema.column(i) for i in range(parquet.metadata.num_columns)]
    read_dictionary = [leaf.path for leaf in leaves
                       if leaf.path.split(".")[0] in dictionary_columns and leaf.physical_type == "BYTE_ARRAY"]
    if read_dictionary:
        parquet = pq.ParquetFile(path, read_dictionary=read_dictionary, pre_buffer=False, buffer_size=1 << 20)
    # Batches keep memory bounded by the batch, not the file: each is encoded, then dropped. With
    # dictionary pages a batch must not span two row groups (Arrow cannot join a list column's
    # dictionaries across them), so then the batches are read row group by row group.
    if not read_dictionary:
        batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=present)
    else:
        batches = (batch for group in range(parquet.metadata.num_row_groups)
                   for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, row_groups=[group], columns=present))
    # The next batch is decoded (and prepared) while the caller encodes this one (the encoding is
    # mostly single-threaded; Arrow's decoding of a batch's columns spreads over the cores but
    # leaves them idle between batches).
    if prepare is not None:
        batches = map(prepare, batches)
    return present, made_ahead(batches, "unstuck-read"), parquet.metadata.num_rows


def _read_jsonl(path: Path, needed: list[str], optional: Sequence[str] = ()) -> pa.Table:
    import pyarrow.json as pjson

    try:
        table = pjson.read_json(path)
    except pa.ArrowInvalid as exc:
        raise _jsonl_error(path, str(exc).splitlines()[0]) from None
    present = _check_columns(table.column_names, needed, str(path), optional)
    return table.select(present) if needed else table


_ARROW_JSON_ROW = re.compile(r"\s*in row \d+$")
_ARROW_JSON_TYPE_CHANGE = re.compile(r"Column\(([^)]*)\) changed from \w+ to (\w+)")
_JSON_KINDS = {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object",
               type(None): "null"}


def _jsonl_error(path: Path, message: str) -> DataError:
    """Arrow counts rows from the start of the block it was parsing, not of the file: the line
    is found again by reading the file line by line (only once it has failed)."""
    message = _ARROW_JSON_ROW.sub("", message.removeprefix("JSON parse error: "))
    change = _ARROW_JSON_TYPE_CHANGE.search(message)
    line = _first_bad_json_line(path, change[1] if change else None, change[2] if change else None)
    return DataError(f"{path}: {f'line {line}: ' if line else ''}not valid JSON Lines ({message})")


def _first_bad_json_line(path: Path, column: str | None, kind: str | None) -> int | None:
    """The first line that is not a JSON object with each key once, or (given a column path like
    `/a/b` and a JSON kind) the first whose value there is of that kind."""
    def unique_keys(pairs):
        if len({key for key, _ in pairs}) < len(pairs):
            raise ValueError("a key appears twice")
        return dict(pairs)

    with open(path, "rb") as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                value = json.loads(text, object_pairs_hook=unique_keys)
            except ValueError:
                return number
            if column is None and not isinstance(value, dict):
                return number
            if column is not None:
                for key in column.split("/")[1:]:
                    value = value.get(key) if isinstance(value, dict) else None
                if _JSON_KINDS.get(type(value)) == kind:
                    return number
    return None


# ---- encoding ---------------------------------------------------------------------------------


# Numpy's spelling of the fixed-width Arrow types that `values_or` reads (by Arrow type id:
# `DataType.to_pandas_dtype` would import pandas, half a second).
_NUMPY_TYPES = {pa.from_numpy_dtype(t).id: t for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                                         np.uint32, np.uint64, np.float32, np.float64)}


def values_or(array: pa.Array, missing, dtype) -> np.ndarray:
    """A fixed-width Arrow array's values as numpy `dtype`, `missing` where null, read straight
    from its data buffer (Arrow's fill_null would first write a filled copy of every value)."""
    if not len(array):
        return np.zeros(0, dtype)
    raw = np.frombuffer(array.buffers()[1], dtype=_NUMPY_TYPES[array.type.id])
    raw = raw[array.offset:array.offset + len(array)]
    if array.null_count:
        raw = np.where(validity(array).view(np.bool_), raw, missing)
    return raw.astype(dtype, copy=False)


def validity(array: pa.Array) -> np.ndarray:
    """1 where an Arrow array has a value, 0 where it is null (uint8), from its validity bitmap."""
    if not array.null_count:
        return np.ones(len(array), np.uint8)
    bits = np.frombuffer(array.buffers()[0], np.uint8)
    return np.unpackbits(bits, count=array.offset + len(array), bitorder="little")[array.offset:]


class _Encoder:
    """One field's column, encoded batch by batch. A coded or fixed-width column is written in
    place, into arrays made once for the rows the input holds (`rows`): kept as a chunk per batch
    and joined at the end, the chunks and the whole were alive together, and the chunks' memory,
    freed in pieces, was kept by the allocator (at 3M leads, 80 MB at the load's peak). A set's
    layout depends on its dictionary, known only at the end: its batches are kept as chunks."""

    def __init__(self, field: Field, name: str, rows: int = 0, first_row: int = 0):
        self.field, self.name = field, name
        self.first_row = first_row  # this column's first row in the input: errors count rows from the input's first
        self.type = field.type
        self.encoding = _encoding(field.type)
        self.values = self.valid = None
        if self.encoding is Encoding.CODED:  # each batch's codes into its own dictionary, until `finish`
            self.values = np.empty(rows, np.int32)
        elif self.encoding is not Encoding.BITSET:
            self.values, self.valid = np.empty(rows, ENCODING_DTYPES[self.encoding]), np.empty(rows, np.uint8)
        self.dictionaries: list[pa.Array] = []  # a coded column's, per batch
        self.chunks: list[tuple] = []  # a set's, per batch
        self.batch_rows: list[int] = []
        self.row_base = 0

    def fail(self, message: str, index: int, value=None) -> DataError:
        return row_error(self.name, f"`{self.field.name}` ({self.type.describe()})", message,
                         self.first_row + self.row_base + index, value)

    def type_error(self, array: pa.Array, hint: str = "") -> DataError:
        first = next((i for i, v in enumerate(array.is_valid().to_pylist()) if v), 0)
        return self.fail(f"expected {self.type.name}, found {array.type}{hint}", first,
                         array[first].as_py() if len(array) else None)

    def add(self, array: pa.Array) -> None:
        encoded = getattr(self, "_encode_" + self.type.name)(self.typed(array))
        rows = slice(self.row_base, self.row_base + len(array))
        if self.encoding is Encoding.CODED:
            self.values[rows], dictionary = encoded
            self.dictionaries.append(dictionary)
        elif self.encoding is Encoding.BITSET:
            self.chunks.append(encoded)
        else:
            self.values[rows], self.valid[rows] = encoded
        self.batch_rows.append(len(array))
        self.row_base += len(array)

    def typed(self, array: pa.Array) -> pa.Array:
        """The column checked and converted to its field's Arrow type (strings stay strings or
        dictionaries; CSV text becomes numbers, bools, dates, lists). Errors name a row."""
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if pa.types.is_null(array.type):
            array = pa.nulls(len(array), pa.string() if self.type.name != "set" else pa.list_(pa.string()))
        return getattr(self, "_typed_" + self.type.name)(array)

    # -- strings
    def _strings(self, array: pa.Array) -> pa.Array:
        values = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
        if pa.types.is_integer(values) and self.type.name != "ordinal":
            return array.cast(pa.string()) if not pa.types.is_dictionary(array.type) else array.dictionary_decode().cast(pa.string())
        if not (pa.types.is_string(values) or pa.types.is_large_string(values)):
            raise self.type_error(array)
        return array

    def _typed_category(self, array):
        return self._strings(array)

    _typed_text = _typed_category

    def _typed_ordinal(self, array):
        array = self._strings(array)
        values = array.dictionary if pa.types.is_dictionary(array.type) else array
        values = values if pa.types.is_string(values.type) else values.cast(pa.string())
        # A value that is not a level has no index: more nulls among the indexes than the values have.
        if pc.index_in(values, value_set=_arrow(tuple(self.type.levels))).null_count > values.null_count:
            values = pc.unique(values)
            unknown = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=_arrow(tuple(self.type.levels)))))
            for value in values.filter(unknown).to_pylist():
                used = np.flatnonzero(pc.equal(array.cast(pa.string()), value).fill_null(False).to_numpy(zero_copy_only=False))
                if len(used):
                    shown = ", ".join(f'"{lv}"' for lv in self.type.levels)
                    raise self.fail(f"\"{value}\" is not a level (levels: {shown})", int(used[0]))
        return array

    def _local_codes(self, array: pa.Array) -> tuple[np.ndarray, pa.Array]:
        """A string column as codes into its own batch's dictionary (-1 for null) and that
        dictionary; `finish` maps them to the column's codes. Dictionary-encoded input (Parquet
        read with dictionaries, pandas categoricals) is taken as it is, without rehashing."""
        if not pa.types.is_dictionary(array.type):
            array = pc.dictionary_encode(array)
        codes = values_or(array.indices, -1, np.int32)
        dictionary = array.dictionary
        return codes, dictionary if pa.types.is_string(dictionary.type) else dictionary.cast(pa.string())

    def _encode_category(self, array):
        return self._local_codes(array)

    _encode_text = _encode_category
    _encode_ordinal = _encode_category

    def _typed_bool(self, array):
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            words = pc.utf8_lower(pc.utf8_trim_whitespace(array))
            true = pc.is_in(words, value_set=_arrow(TRUE_WORDS))
            known = pc.or_(true, pc.is_in(words, value_set=_arrow(FALSE_WORDS)))
            bad = pc.and_(pc.is_valid(array), pc.invert(known))
            if pc.any(bad).as_py():
                i = pc.index(bad, True).as_py()
                raise self.fail("expected true or false", i, array[i].as_py())
            return pc.if_else(pc.is_null(array), pa.scalar(None, pa.bool_()), true)
        if pa.types.is_integer(array.type):
            bad = pc.and_(pc.not_equal(array, 0), pc.not_equal(array, 1)).fill_null(False).to_numpy(zero_copy_only=False)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise self.fail("expected true or false", i, array[i].as_py())
            return pc.not_equal(array, 0)
        if not pa.types.is_boolean(array.type):
            raise self.type_error(array)
        return array

    def _encode_bool(self, array):
        return values_or(pc.cast(array, pa.int32()), -1, np.int32), _arrow((False, True))

    # -- numbers and dates
    def _typed_number(self, array):
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            array = parse_text(array, lambda text: pc.cast(text, pa.float64()), "a number", self.fail)
        elif not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_decimal(array.type)):
            raise self.type_error(array)
        array = array if pa.types.is_float64(array.type) else pc.cast(array, pa.float64(), safe=False)
        if not np.isnan(values_or(array, 0.0, np.float64)).any():  # (in numpy: no Arrow call per test)
            return array
        return pc.if_else(pc.is_nan(array).fill_null(False), pa.scalar(None, pa.float64()), array)  # NaN is missing

    def _encode_number(self, array):
        valid = validity(array)
        return values_or(array, 0.0, np.float64), valid

    def _typed_int(self, array):
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            return self._whole_numbers(array)
        if pa.types.is_floating(array.type):
            floats = array.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            nulls = array.is_null().to_numpy(zero_copy_only=False) | np.isnan(floats)  # NaN is missing
            for problem, bad in (("expected a whole number", ~nulls & (floats != np.floor(floats))),
                                 ("whole number out of range", ~nulls & (np.abs(floats) >= 2.0 ** 63))):
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise self.fail(problem, i, floats[i])
            return pa.array(np.where(nulls, 0, floats).astype(np.int64), mask=nulls)
        if not pa.types.is_integer(array.type):
            raise self.type_error(array)
        if pa.types.is_uint64(array.type):
            too_big = pc.greater(array, pa.scalar(2 ** 63 - 1, pa.uint64())).fill_null(False)
            if pc.any(too_big).as_py():
                i = pc.index(too_big, True).as_py()
                raise self.fail("whole number out of range", i, array[i].as_py())
        return array.cast(pa.int64())

    def _whole_numbers(self, text: pa.Array) -> pa.Array:
        """Int column text read exactly, never through float64 (which rounds beyond 2^53): plain
        digits (and `240.0`, as pandas writes ints beside missing values) by Arrow; any other
        spelling (`1e3`, 19 digits, `NaN`) once per distinct value, as a Decimal."""
        text = pc.utf8_trim_whitespace(text)
        try:
            return pc.cast(text, pa.int64())  # the usual column: plain digits only
        except pa.ArrowInvalid:
            pass
        text = pc.replace_substring_regex(text, r"^([+-]?[0-9]+)\.0*$", r"\1")
        plain = pc.match_substring_regex(text, r"^[+-]?[0-9]{1,18}$").fill_null(True)  # 18 digits fit in int64
        values = pc.cast(pc.if_else(plain, text, pa.scalar(None, pa.string())), pa.int64())
        if pc.all(plain).as_py():
            return values
        rows = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
        others = text.take(pa.array(rows))
        distinct = pc.unique(others)
        numbers, known = np.zeros(len(distinct), np.int64), np.zeros(len(distinct), bool)
        for k, spelling in enumerate(distinct.to_pylist()):
            try:
                number = _exact_whole_number(spelling)
            except ValueError as problem:
                raise self.fail(str(problem), int(rows[pc.index(others, spelling).as_py()]), spelling) from None
            if number is not None:
                numbers[k], known[k] = number, True
        which = pc.index_in(others, value_set=distinct).to_numpy(zero_copy_only=False)
        merged = values.fill_null(0).to_numpy(zero_copy_only=False).copy()
        valid = values.is_valid().to_numpy(zero_copy_only=False).copy()
        merged[rows], valid[rows] = numbers[which], known[which]
        return pa.array(merged, mask=~valid)

    def _encode_int(self, array):
        valid = validity(array)
        return values_or(array, 0, np.int64), valid

    def _typed_date(self, array):
        return date_days(array, self.fail)

    def _encode_date(self, array):
        valid = validity(array)
        return values_or(array.cast(pa.int32()), 0, np.int32), valid

    # -- sets
    _SET_HINT = f" (a set is a list column, or text with members separated by `{SET_SEPARATOR}`)"

    def _typed_set(self, array):
        values = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
        if pa.types.is_string(values) or pa.types.is_large_string(values):
            if pa.types.is_dictionary(array.type):  # Parquet text: each distinct value split once
                return split_members(array.dictionary).take(array.indices)
            return split_members(array)
        if pa.types.is_large_list(array.type):
            array = array.cast(pa.list_(array.type.value_type))
        if not pa.types.is_list(array.type):
            raise self.type_error(array, self._SET_HINT)
        values = array.type.value_type
        if pa.types.is_dictionary(values):
            values = values.value_type
        if not (pa.types.is_string(values) or pa.types.is_large_string(values) or pa.types.is_null(values)):
            raise self.type_error(array, self._SET_HINT)
        return array

    def _encode_set(self, array):
        """Arrow's own layout: per record its offsets into the member codes (-1 for a missing
        member); `finish` turns them into bits or a compacted list in one compiled pass."""
        valid = validity(array)
        offsets = array.offsets.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
        # A slice of a list array (a table's batch, a page of records) shares its parent's
        # members: only the slice's own are encoded, the offsets rebased onto them.
        first, last = int(offsets[0]), int(offsets[-1])  # (an empty list array has one offset)
        members = array.values.slice(first, last - first)
        offsets = offsets - first
        members = members.cast(pa.string()) if pa.types.is_null(members.type) else members
        codes, dictionary = self._local_codes(members)
        return offsets, codes, valid, dictionary

    def _dictionary(self, batch_dictionaries: list[pa.Array]) -> tuple[Sequence, list[np.ndarray]]:
        """The column's dictionary and, per batch, the map from the batch's codes to the column's
        (its last entry, -1, is where the null code -1 lands). The dictionary is the values in
        order of first appearance, all hashed at once by Arrow; ordinals and bools have a fixed
        one (levels; false, true), which an unused value outside it maps to -1."""
        distinct, which = [], []
        for dictionary in batch_dictionaries:  # Parquet repeats a row group's dictionary in each batch
            if not (distinct and dictionary.equals(distinct[-1])):
                distinct.append(dictionary)
            which.append(len(distinct) - 1)
        fixed = self.type.levels if self.type.name == "ordinal" else (False, True) if self.type.name == "bool" else None
        if fixed is not None:
            dictionary = list(fixed)
            codes = [values_or(pc.index_in(d, value_set=_arrow(tuple(fixed))), -1, np.int32) for d in distinct]
        elif len(distinct) == 1 and _distinct_values(distinct[0]):  # its codes are the column's already
            dictionary = Dictionary(distinct[0])
            codes = [np.arange(len(distinct[0]), dtype=np.int32)]
        else:  # one hash table over every batch's values, which come back as codes into the whole
            merged = pc.dictionary_encode(pa.chunked_array(distinct, pa.string())).chunks
            dictionary = Dictionary(merged[0].dictionary if merged else pa.nulls(0, pa.string()))
            indices = np.concatenate([values_or(chunk.indices, -1, np.int32) for chunk in merged]
                                     or [np.zeros(0, np.int32)])
            bounds = np.cumsum([0] + [len(d) for d in distinct])
            codes = [indices[start:end] for start, end in zip(bounds[:-1], bounds[1:])]
        maps = [np.append(c, -1).astype(np.int32) for c in codes]
        return dictionary, [maps[k] for k in which]

    def finish(self) -> Column:
        """The column: a coded one's codes mapped, batch by batch, to the column's dictionary; a
        set's chunks let go one by one as they are copied into it."""
        if self.encoding is Encoding.CODED:
            dictionary, maps = self._dictionary(self.dictionaries)
            start = 0
            for rows, mapping in zip(self.batch_rows, maps):
                codes = self.values[start:start + rows]
                codes[:] = mapping[codes]  # a batch's null code, -1, reads the map's last entry (-1)
                start += rows
            return Column(self.field, Encoding.CODED, self.values[:self.row_base], None, None, dictionary)
        if self.encoding is not Encoding.BITSET:
            return Column(self.field, self.encoding, self.values[:self.row_base], self.valid[:self.row_base])
        from . import set_members

        chunks, self.chunks = self.chunks, []
        dictionary, maps = self._dictionary([c[3] for c in chunks])
        valid, bits = np.empty(self.row_base, np.uint8), None
        if len(dictionary) <= BITSET_MAX_VALUES:
            bits = np.zeros((self.row_base, max(1, (len(dictionary) + 63) // 64)), dtype=np.uint64)
        starts = np.cumsum([0] + [len(c[2]) for c in chunks[:-1]]).tolist()

        compacted = [None] * len(chunks)

        def copy(k: int) -> None:
            """Chunk k copied into the column (its rows are its own: chunks are copied side by
            side), and let go: its bits set, or its members compacted (offsets from its first)."""
            (chunk_offsets, local, chunk_valid, _), chunks[k] = chunks[k], None
            start = starts[k]
            valid[start:start + len(chunk_valid)] = chunk_valid
            if bits is not None:
                set_members.set_bits(bits, start, chunk_offsets, maps[k], local, chunk_valid)
            else:
                compacted[k] = set_members.compact(chunk_offsets, maps[k], local, chunk_valid)

        # (At 10M accounts, the bits of one set column took a second on one core.)
        side_by_side([functools.partial(copy, k) for k in range(len(chunks))])
        if bits is not None:
            return Column(self.field, Encoding.BITSET, bits, valid, None, dictionary)
        offsets, codes, base = [np.zeros(1, np.int64)], [], 0
        for k, (chunk_ends, kept) in enumerate(compacted):
            chunk_ends += base
            offsets.append(chunk_ends)
            codes.append(kept)
            base += len(kept)
            compacted[k] = None
        offsets = np.concatenate(offsets)
        codes = np.concatenate(codes).astype(np.int32, copy=False) if codes else np.zeros(0, np.int32)
        return Column(self.field, Encoding.CSR, codes, valid, offsets, dictionary)


def _distinct_values(dictionary: pa.Array) -> bool:
    """Whether a batch's dictionary is the column's as it is: values each once, none null. Told
    in Python for a few values (an inbound record's: no Arrow call); a larger one is hashed again
    with the others (a dictionary-encoded input need not hold each value once)."""
    if len(dictionary) >= FEW_VALUES or dictionary.null_count:
        return False
    values = dictionary.to_pylist()
    return len(set(values)) == len(values)


def split_members(text: pa.Array) -> pa.ListArray:
    """Set members written as text, in any format: `Snowflake; dbt` is two members, trimmed, and
    empty ones are dropped; unknown text is an unknown set."""
    split = pc.split_pattern(text, SET_SEPARATOR)
    flat = pc.utf8_trim_whitespace(pc.list_flatten(split))
    keep = pc.not_equal(flat, "")
    parents = pc.list_parent_indices(split).filter(keep).to_numpy(zero_copy_only=False)
    counts = np.bincount(parents, minlength=len(text))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, flat.filter(keep).cast(pa.string()), mask=text.is_null())


def parse_text(array: pa.Array, parse, what: str, fail) -> pa.Array:
    """Text parsed by `parse` (Arrow casts: fast, all or nothing); on failure the first value it
    cannot parse is found and named: `fail(message, row index, value)` makes the error."""
    try:
        return parse(pc.utf8_trim_whitespace(array))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for i, value in enumerate(array.to_pylist()):
            try:
                parse(pa.array([value.strip() if value else value], pa.string()))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise fail(f"expected {what}", i, value) from None
        raise


def date_days(array: pa.Array, fail, what: str = "a date (YYYY-MM-DD)") -> pa.Array:
    """Dates, times or ISO 8601 text as date32 days within the years the language knows (1 to
    9999); `fail(message, row index, value)` makes the error that names a bad value."""
    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        days = parse_text(array, _parse_dates, what, fail)
    elif pa.types.is_timestamp(array.type) or pa.types.is_date64(array.type):
        if getattr(array.type, "tz", None):  # Arrow would take the day in that zone; the rule is UTC
            array = array.cast(pa.timestamp(array.type.unit))
        days = pc.cast(array, pa.date32())
    elif pa.types.is_date32(array.type):
        days = array
    else:
        first = pc.index(pc.is_valid(array), True).as_py()
        raise fail(f"expected {what}, found {array.type}", max(first, 0), array[first].as_py() if first >= 0 else None)
    number = values_or(days.cast(pa.int32()), _FIRST_DAY, np.int32)  # (in numpy: no Arrow call per test)
    outside = (number < _FIRST_DAY) | (number > _LAST_DAY)
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise fail("date out of range (years 1 to 9999)", i, days.cast(pa.string())[i].as_py())
    return days


_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?nan", re.IGNORECASE)


def _exact_whole_number(text: str) -> int | None:
    """`1.0`, `1e3`, `9007199254740993`, exactly (None for NaN: unknown, as in a number column);
    a ValueError says what is wrong otherwise."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError("expected a whole number")
    number = Decimal(text)
    if number.is_nan():
        return None
    if not -(2 ** 63) <= number < 2 ** 63:
        raise ValueError("whole number out of range")
    if number != number.to_integral_value():
        raise ValueError("expected a whole number")
    return int(number)


_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_ZONED_TIME = r"[T ][0-9:]+(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"


def _parse_dates(text: pa.Array) -> pa.Array:
    """ISO 8601 text as days: `YYYY-MM-DD`, or a date-time whose day is taken as written, or in UTC
    when it carries a zone (`2026-11-20T23:30:00-05:00` is 2026-11-21). Raises ArrowInvalid."""
    try:
        return pc.cast(text, pa.date32())
    except pa.ArrowInvalid:
        pass
    # Fractions of a second never change the day; dropping them lets nanoseconds parse too.
    text = pc.replace_substring_regex(pc.utf8_upper(text), r"(:[0-9]{2})[.,][0-9]+", r"\1")
    dated = pc.match_substring_regex(text, _ISO_DATE).fill_null(False)
    zoned = pc.match_substring_regex(text, _ZONED_TIME).fill_null(False)
    naive = pc.invert(pc.or_(dated, zoned))
    none = pa.scalar(None, pa.string())
    return pc.coalesce(
        pc.cast(pc.if_else(dated, text, none), pa.date32()),
        pc.cast(pc.cast(pc.if_else(zoned, text, none), pa.timestamp("us", "UTC")), pa.date32()),
        pc.cast(pc.cast(pc.if_else(naive, text, none), pa.timestamp("us")), pa.date32()))


def _ids(array: pa.Array, column: str, name: str, row_base: int) -> pa.Array:
    """An id column as it came: text, or whole numbers, which stay numbers (a dictionary-encoded
    one stays so: its dictionary is the set of distinct ids, which makes finding each lead's
    account cheaper)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    values = array.type.value_type if pa.types.is_dictionary(array.type) else array.type
    if not (pa.types.is_integer(values) or pa.types.is_string(values) or pa.types.is_large_string(values)):
        raise DataError(f"{name}: column `{column}` holds ids: expected text or whole numbers, found {array.type}")
    if array.null_count:
        first = pc.index(pc.is_null(array), True).as_py()
        raise DataError(f"{name}: column `{column}` is empty in row {row_base + first + 1}; every record needs an id")
    return array


MISSING_COLUMNS = ("error", "unknown")  # what a declared column the input lacks does


def encode(source, schema: Schema, kind: str, fields: Iterable[str], name: str | None = None,
           extra_keys: tuple[str, ...] = (), null_values: Sequence[str] = (),
           missing_columns: str = "error", accounts: IdIndex | None = None) -> EncodedTable:
    """Read and encode one record kind. `fields` are the declared fields the rules read;
    `null_values` are CSV cells that mean unknown besides the empty one; with `missing_columns`
    "unknown" a field the input lacks is unknown in every record (the ids are always needed).
    A repeated id is refused. `accounts`, for leads: the accounts' id index, in which each lead's
    account is found as its batch is read (`EncodedTable.account_rows`)."""
    (table,) = encode_chunks(source, schema, kind, fields, name, extra_keys, null_values, missing_columns, accounts)
    return table


def encode_chunks(source, schema: Schema, kind: str, fields: Iterable[str], name: str | None = None,
                  extra_keys: tuple[str, ...] = (), null_values: Sequence[str] = (), missing_columns: str = "error",
                  accounts: IdIndex | None = None, chunk_rows: int | None = None) -> Iterator[EncodedTable]:
    """`encode`, a chunk of consecutive records at a time: each chunk (whole batches, up to
    `chunk_rows` records, or more when one batch holds more; None: the whole input in one) is
    handed over as an EncodedTable of its own once encoded, so that the encoded records in memory
    are the chunk's (the ids read so far are kept for the repeat check). The ids are checked for
    repeats across the whole input once its last batch is read, before the last chunk is handed
    over: a repeat raises then, after the chunks before it (a writer of their results commits
    nothing until the end). Only leads come in several chunks: an account table is indexed whole."""
    name = name or _describe(source)
    key = LEAD_KEY if kind == "lead" else ACCOUNT_KEY
    keys = [key, *extra_keys]
    fields = [schema.get(f) for f in fields]
    needed = keys + [f.name for f in fields if f.name not in keys]
    optional = needed[len(keys):] if missing_columns == "unknown" else ()
    strings = [f.name for f in fields if f.type.name in DICTIONARY_TYPES]
    batch_keys = _BatchKeys(key, extra_keys[0] if extra_keys else None, name)
    # Leads' account ids are read as text, not coded through a Parquet file's dictionary pages: a
    # row group of a few hundred thousand accounts outgrows its dictionary page, whose column then
    # falls back to plain text, which Arrow hashed id by id to code it; as text, the leads find
    # their accounts in the accounts' order (`keys.RowsOfBatches`). 1M accounts, 3M leads, heavy
    # rules, four interleaved pairs: 1.61/1.56/1.32/1.66 s -> 1.29/1.24/1.13/1.31 s, the peak
    # 576 -> 607 MB; the same files shuffled (rules/): 2.64/2.77/2.82 s -> 2.00/2.25/2.12 s.
    present, batches, count = read_batches(source, needed, name, strings, null_values, optional, batch_keys)
    # (Before the first batch is read: a lead table's ids are marked for the repeat check, an account
    # table's index finds repeats too.)
    batch_keys.repeats = RepeatedIds(count) if kind == "lead" else None
    index = IdIndex.growing(count) if kind == "account" else None
    chunk_rows = chunk_rows if kind == "lead" and chunk_rows else None
    missing = tuple(f.name for f in fields if f.name not in present)
    chunk, every_id, done = None, [], 0
    for batch, batch_ids, batch_account_ids in batches:
        if chunk is not None and chunk_rows is not None and chunk.rows + batch.num_rows > chunk_rows:
            every_id.extend(chunk.ids.arrays)
            done += chunk.rows
            yield chunk.finish(kind, key)
            chunk = None
        if chunk is None:
            capacity = count - done if chunk_rows is None else max(batch.num_rows, min(chunk_rows, count - done))
            chunk = _Chunk(fields, present, name, missing, capacity, done, extra_keys, accounts, index)
        chunk.add(batch, batch_ids, batch_account_ids)
    if chunk is None:  # no records at all
        chunk = _Chunk(fields, present, name, missing, 0, 0, extra_keys, accounts, index)
    repeats = batch_keys.handed_over()
    # A lead table's index (the largest) is built only if `row_of` asks (explain): its ids are
    # checked in a third of the index's memory, and before the encoders finish, so that the check's
    # bitmaps are let go before the columns' last temporaries are made (the load's peak). (The
    # batches as marked: `column()` may have cast them to one type, whose bytes hash otherwise.)
    if repeats is not None:
        every_id.extend(chunk.ids.arrays)
        repeated = repeats.first(every_id)
        if repeated[0] >= 0:
            refuse_repeats(id_column(every_id), repeated, key, name)
        del repeats, every_id
    del batches
    yield chunk.finish(kind, key)


class _Chunk:
    """Consecutive batches of one input being encoded (`encode_chunks`): the fields' encoders,
    made for `rows` records whose first is row `first_row` of the input, and the batches' ids;
    for an account table, its id index (`index`, growing), given the ids as they come."""

    def __init__(self, fields: list[Field], present: list[str], name: str, missing: tuple[str, ...], rows: int,
                 first_row: int, extra_keys: tuple[str, ...], accounts: IdIndex | None, index: IdIndex | None = None):
        self.fields, self.name, self.missing, self.extra_keys = fields, name, missing, extra_keys
        self.encoders = {f.name: _Encoder(f, name, rows, first_row) for f in fields if f.name in present}
        self.ids, self.account_ids, self.rows = _IdBatches(), _IdBatches(), 0
        # Each lead's account is found here, on this thread, as its batch is encoded: the reading
        # thread has the decoding and the repeat check, about as much work (at 1M accounts). So is
        # each account put in the index (at 10M accounts, built after the reading, it was half a
        # second on one core; on the reading thread, it held the encoding up as long).
        self.owners = RowsOfBatches(accounts) if accounts is not None and extra_keys else None
        self.index = index

    def add(self, batch: pa.RecordBatch, batch_ids: pa.Array, batch_account_ids: pa.Array | None) -> None:
        self.ids.add(batch_ids)
        steps = [functools.partial(encoder.add, batch.column(column)) for column, encoder in self.encoders.items()]
        if self.index is not None:
            steps.append(functools.partial(self.index.add, batch_ids))
        if self.extra_keys:
            self.account_ids.add(batch_account_ids)
            if self.owners is not None:
                steps.append(functools.partial(self.owners.add, batch_account_ids))
        # Each column has an encoder of its own: a large batch's run side by side (`SIDE_BY_SIDE_ROWS`;
        # the store's 1M accounts and 3M leads were encoded in 1.4-1.5 s on one core, 0.8-0.9 s so).
        if batch.num_rows >= SIDE_BY_SIDE_ROWS:
            side_by_side(steps)
        else:
            for step in steps:
                step()
        self.rows += batch.num_rows

    def finish(self, kind: str, key: str) -> EncodedTable:
        id_array = self.ids.column()
        encoders, self.encoders = self.encoders, {}
        columns = {f.name: encoders[f.name].finish() if f.name in encoders else unknown_column(f, self.rows)
                   for f in self.fields}
        # What reading and encoding freed is left to Arrow's pool, as its settings keep or hand back
        # pages (`cli.process`): the kernels' outputs come from it next (`execute.kernel_output`).
        # Released here, as when the outputs were numpy's, the peak was the same and the run slower (1M accounts: eight runs of each, 1.80-2.61 s against
        # 1.64-2.28 s; 10M: the same peak and time).
        del encoders
        # The accounts' index joins each lead to its account, and found a repeated id as it was built.
        index = self.index.finish(id_array) if self.index is not None else None
        if index is not None:
            refuse_repeats(id_array, index.repeated, key, self.name)
        return EncodedTable(kind, id_array, columns, self.account_ids.column() if self.extra_keys else None,
                            self.name, self.missing, index, self.owners.rows() if self.owners is not None else None)


class _BatchKeys:
    """A batch's id columns checked, and a lead table's ids marked for the repeat check
    (`repeats`), where the batch is read: for Parquet, on the reading thread, while the batch
    before is encoded. Called with each batch in order; gives (batch, its ids, its account ids or
    None)."""

    def __init__(self, key: str, account_key: str | None, name: str):
        self.key, self.account_key, self.name = key, account_key, name
        self.repeats: RepeatedIds | None = None
        self.rows = 0  # before this batch: error messages count rows from the input's first

    def __call__(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.Array, pa.Array | None]:
        ids = _ids(batch.column(self.key), self.key, self.name, self.rows)
        if self.repeats is not None:
            self.repeats.add(ids)
        account_ids = None
        if self.account_key is not None:
            account_ids = _ids(batch.column(self.account_key), self.account_key, self.name, self.rows)
        self.rows += batch.num_rows
        return batch, ids, account_ids

    def handed_over(self) -> RepeatedIds | None:
        """Once every batch is read: the repeat check, no longer held here (its bitmaps are let go
        as soon as it is done, before the load's peak)."""
        repeats, self.repeats = self.repeats, None
        return repeats


class _IdBatches:
    """An id column's batches, kept as they come (no strings copied). Ids coded through a Parquet
    file's dictionary pages (a caller's table read so; `encode_chunks` reads ids as text) come with
    the row group's dictionary so far in each batch, a copy that grows batch by batch (at 3M leads,
    28 MB of `account_id` dictionaries for 11 MB of distinct ids): a batch whose dictionary extends
    the one before takes over, and the batches before it read their codes from it."""

    def __init__(self):
        self.arrays: list[pa.Array] = []
        self.sharing = 0  # the first batch reading the last batch's dictionary

    def add(self, array: pa.Array) -> None:
        last = self.arrays[-1] if self.arrays else None
        if (last is not None and pa.types.is_dictionary(array.type) and last.type == array.type
                and extends(array.dictionary, last.dictionary)):
            self.arrays[self.sharing:] = [pa.DictionaryArray.from_arrays(a.indices, array.dictionary, safe=False)
                                          for a in self.arrays[self.sharing:]]
        else:
            self.sharing = len(self.arrays)
        self.arrays.append(array)

    def column(self) -> pa.ChunkedArray:
        """The batches as one chunked column."""
        return id_column(self.arrays)


def id_column(arrays: list[pa.Array]) -> pa.ChunkedArray:
    """Id batches as one chunked column: as text when they came as several types."""
    if not arrays:
        return pa.chunked_array([], pa.string())
    if len({a.type for a in arrays}) > 1:
        arrays = [a.cast(pa.string()) for a in arrays]
    return pa.chunked_array(arrays)


ARROW_COUNTED_IDS = 65_536


def check_unique(ids, key: str, name: str) -> None:
    """Refuse a table in which an id appears twice, naming the id and both rows: leads find their
    account by it, `explain` finds a record by it. A few thousand ids are counted by Arrow's
    hash, which needs no compiled pass (an ingest of a few records does not wait for numba to
    load); more, or a repeat to locate, take `first_repeat` (a third of Arrow's memory)."""
    if len(ids) <= ARROW_COUNTED_IDS and pc.count_distinct(ids, mode="all").as_py() == len(ids):
        return
    refuse_repeats(ids, first_repeat(ids), key, name)


def refuse_repeats(ids, repeated: tuple[int, int], key: str, name: str) -> None:
    """The error for a repeated id, given its (first row, repeating row) as `IdIndex.repeated`
    says it; nothing when the first row is -1."""
    first, repeat = repeated
    if first >= 0:
        value = _chunked(ids)[int(first)].as_py()
        raise DataError(f"{name}: column `{key}`: id {value!r} appears more than once (rows {first + 1} and {repeat + 1})")


def _chunked(ids) -> pa.ChunkedArray:
    return ids if isinstance(ids, pa.ChunkedArray) else pa.chunked_array([ids])


def typed_column(field: Field, array, name: str = "input") -> pa.Array:
    """One input column checked and converted to its field's Arrow type, for storing it."""
    return _Encoder(field, name).typed(array)


@attrs.define
class Dataset:
    """The encoded input of one scoring run."""

    accounts: EncodedTable
    leads: EncodedTable | None
    lead_account_rows: np.ndarray | None  # per lead: its account's row, -1 when missing

    @property
    def missing_columns(self) -> dict[str, tuple[str, ...]]:
        """Declared fields the input lacks, read as unknown, by record kind ("account", "lead")."""
        return {table.kind: table.missing_columns for table in (self.accounts, self.leads)
                if table is not None and table.missing_columns}

    def missing_column_warnings(self) -> list[str]:
        """One line per input that lacks declared fields, naming them (a flat lead file lacks
        account and lead fields alike)."""
        by_input: dict[str, list[str]] = {}
        for table in (self.accounts, self.leads):
            if table is not None and table.missing_columns:
                by_input.setdefault(table.name, []).extend(table.missing_columns)
        return [f"{name}: missing column{'s' if len(columns) > 1 else ''} " + ", ".join(f"`{c}`" for c in columns)
                + f"; the rules read {'them' if len(columns) > 1 else 'it'} as unknown in every record"
                for name, columns in by_input.items()]

    def country_warnings(self) -> list[str]:
        """One line per country column holding values that are not ISO 3166-1 alpha-2 codes
        (`USA`, `uk`): no condition on the column can match them (the rules are held to codes)."""
        return country_warnings(self.odd_countries())

    def odd_countries(self) -> dict[tuple[str, str], pa.Array]:
        """`odd_countries` of the accounts and of the leads."""
        return {**odd_countries(self.accounts), **(odd_countries(self.leads) if self.leads is not None else {})}

    def warnings(self) -> list[str]:
        """What a run should say about its input before its results."""
        return self.missing_column_warnings() + self.country_warnings()


def odd_countries(table: EncodedTable) -> dict[tuple[str, str], pa.Array]:
    """Per (input, column) of `table` holding countries: its distinct values that are not codes
    (in the order they first appear), when it has any."""
    odd = {}
    for name, column in table.columns.items():
        if not holds_countries(name) or column.field.type.name not in ("category", "text", "set"):
            continue
        if not len(column.dictionary):
            continue
        values = column.dictionary.values if isinstance(column.dictionary, Dictionary) \
            else pa.array(list(column.dictionary), pa.string())
        if column.field.type.name == "text":
            values = pc.utf8_upper(pc.utf8_trim_whitespace(values))
        found = pc.unique(values.filter(pc.invert(pc.is_in(values, value_set=pa.array(sorted(COUNTRY_CODES))))))
        if len(found):
            odd[table.name, name] = found
    return odd


def country_warnings(odd: dict[tuple[str, str], pa.Array]) -> list[str]:
    """`Dataset.country_warnings` from its `odd_countries` (of one dataset, or `add_odd_countries`
    gathered over the chunks of a run)."""
    lines = []
    for (table, name), values in odd.items():
        shown = ", ".join(repr(v) for v in values.slice(0, 3).to_pylist())
        lines.append(f"{table}: column `{name}`: {len(values):,} distinct value{'s' if len(values) > 1 else ''}"
                     f" not ISO 3166-1 alpha-2 (e.g. {shown}); no country condition matches "
                     f"{'them' if len(values) > 1 else 'it'}")
    return lines


def add_odd_countries(odd: dict[tuple[str, str], pa.Array], more: dict[tuple[str, str], pa.Array]) -> None:
    """Add a later chunk's `odd_countries` to `odd` (those of the chunks before it), in place."""
    for column, values in more.items():
        odd[column] = pc.unique(pa.concat_arrays([odd[column], values])) if column in odd else values


def load_dataset(schema: Schema, account_fields, lead_fields, accounts=None, leads=None,
                 null_values: Sequence[str] = (), missing_columns: str = "error") -> Dataset:
    """Accounts and leads as two tables, or one flat lead table carrying the account columns
    (then `accounts` is None and each account is taken from its first lead row). `null_values`
    are CSV cells that mean unknown besides the empty one. A declared field the input lacks is
    an error, or with `missing_columns="unknown"` unknown in every record (`Dataset.missing_columns`
    says which)."""
    (dataset,) = load_dataset_chunks(schema, account_fields, lead_fields, accounts, leads, null_values,
                                     missing_columns)
    return dataset


def load_dataset_chunks(schema: Schema, account_fields, lead_fields, accounts=None, leads=None,
                        null_values: Sequence[str] = (), missing_columns: str = "error",
                        lead_chunk_rows: int | None = None) -> Iterator[Dataset]:
    """`load_dataset`, the leads a chunk of up to `lead_chunk_rows` at a time (`encode_chunks`;
    None: all at once): a Dataset per chunk, each with the same account table, read and encoded
    before the first. A flat lead table comes in one chunk."""
    if missing_columns not in MISSING_COLUMNS:
        raise ValueError(f"missing_columns is {missing_columns!r}; use one of: {', '.join(MISSING_COLUMNS)}")
    if accounts is None and leads is None:
        raise DataError("no input: give accounts, leads, or both")
    account_name = lead_name = _describe(leads)
    if accounts is None:
        optional = [*account_fields, *lead_fields] if missing_columns == "unknown" else ()
        flat = _to_arrow_any(leads, [ACCOUNT_KEY, LEAD_KEY, *account_fields, *lead_fields], null_values, optional)
        first = _first_rows(flat)
        accounts = flat.take(pa.array(first))
        leads, lead_chunk_rows = flat, None
    else:
        account_name = _describe(accounts)
    account_table = encode(accounts, schema, "account", account_fields, account_name, null_values=null_values,
                           missing_columns=missing_columns)
    if leads is None:
        yield Dataset(account_table, None, None)
        return
    # One table after the other: loading both at once on two threads was no faster (Arrow already
    # decodes on several threads) and held both tables' temporaries at the same time.
    for lead_table in encode_chunks(leads, schema, "lead", lead_fields, lead_name, (ACCOUNT_KEY,), null_values,
                                    missing_columns, account_table.index, lead_chunk_rows):
        yield Dataset(account_table, lead_table, lead_table.account_rows)


def account_rows(lead_account_ids, account_ids, index: IdIndex | None = None) -> np.ndarray:
    """Each lead's account as a row index (-1: not in the accounts), resolved once at load so the
    kernel never probes a hash table; `index` is the accounts' id index when it is built."""
    return rows_of_dictionary_chunks(index if index is not None else IdIndex(account_ids), lead_account_ids)


def _to_arrow_any(source, needed: list[str], null_values: Sequence[str], optional: Sequence[str] = ()) -> pa.Table:
    present, batches, _ = read_batches(source, list(dict.fromkeys(needed)), _describe(source), null_values=null_values,
                                       optional=optional)
    batches = list(batches)
    return pa.Table.from_batches(batches) if batches else pa.table({c: pa.array([], pa.string()) for c in present})


def _first_rows(flat: pa.Table) -> np.ndarray:
    ids = flat.column(ACCOUNT_KEY).combine_chunks()
    encoded = pc.dictionary_encode(ids.cast(pa.string()) if not pa.types.is_string(ids.type) else ids)
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(indices, return_index=True)
    return np.sort(first)
