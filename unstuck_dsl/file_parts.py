"""A result file written as parts encoded on every core, then appended in order: a table's
slices of PART_ROWS rows, each encoded by Arrow on its own thread (`ahead.made_in_order`).

CSV parts are the slices' lines (the first part has the header), so the file is their
concatenation. A Parquet part is a whole Parquet file in memory, one row group; the parts'
bodies are appended, under one footer that lists every part's row group.

Arrow's writer encodes a file's row groups one at a time on one thread, and encoding is most of
a result file's writing (dictionary indices, snappy, the id strings). A Parquet file is its
row groups' pages, then a footer (Thrift compact protocol) naming where each column chunk's
pages start; pages hold no file offsets. So a part encoded alone is exactly the bytes the
joined file holds at a later position, and joining moves only the footer's offsets. The parts
are written without page indexes or bloom filters (the one place a page's offset would be
written beside the pages).
"""

from __future__ import annotations

import enum
import functools
import itertools
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import pyarrow as pa

from .ahead import made_in_order

MAGIC = b"PAR1"
# Small enough that the encoders (one per core) share a million-record result evenly, large
# enough that a Parquet reader's cost per row group is nothing (DuckDB writes 122,880 rows to one).
PART_ROWS = 1 << 18


class Compact(enum.IntEnum):
    """The Thrift compact protocol's type codes (a field header's low nibble)."""

    STOP = 0
    TRUE = 1  # a boolean field's value is its type code
    FALSE = 2
    BYTE = 3
    I16 = 4
    I32 = 5
    I64 = 6
    DOUBLE = 7
    BINARY = 8
    LIST = 9
    SET = 10
    MAP = 11
    STRUCT = 12
    UUID = 13


# A decoded struct: field id -> (type, value). Lists and sets are (element type, [values]); maps
# are (key type, value type, [(key, value)]); booleans are bool with the type TRUE.
Struct = dict[int, tuple[Compact, object]]


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def byte(self) -> int:
        b = self.data[self.at]
        self.at += 1
        return b

    def varint(self) -> int:
        shift = value = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def take(self, count: int) -> bytes:
        piece = bytes(self.data[self.at:self.at + count])
        if len(piece) != count:
            raise ValueError("Thrift data ends inside a value")
        self.at += count
        return piece

    def value(self, kind: Compact):
        if kind in (Compact.TRUE, Compact.FALSE):  # in a list, set or map: one byte
            return self.byte() == Compact.TRUE
        if kind is Compact.BYTE:
            return struct.unpack("<b", self.take(1))[0]
        if kind in (Compact.I16, Compact.I32, Compact.I64):
            return self.zigzag()
        if kind is Compact.DOUBLE:
            return struct.unpack("<d", self.take(8))[0]
        if kind is Compact.BINARY:
            return self.take(self.varint())
        if kind is Compact.UUID:
            return self.take(16)
        if kind in (Compact.LIST, Compact.SET):
            header = self.byte()
            size, element = header >> 4, Compact(header & 0x0F)
            if size == 15:
                size = self.varint()
            return element, [self.value(element) for _ in range(size)]
        if kind is Compact.MAP:
            size = self.varint()
            if not size:
                return Compact.STOP, Compact.STOP, []
            types = self.byte()
            key, item = Compact(types >> 4), Compact(types & 0x0F)
            return key, item, [(self.value(key), self.value(item)) for _ in range(size)]
        if kind is Compact.STRUCT:
            return self.struct()
        raise ValueError(f"unknown Thrift compact type {kind}")

    def struct(self) -> Struct:
        fields: Struct = {}
        last = 0
        while (header := self.byte()) != Compact.STOP:
            kind, delta = Compact(header & 0x0F), header >> 4
            field = last + delta if delta else self.zigzag()
            fields[field] = (kind, kind is Compact.TRUE) if kind in (Compact.TRUE, Compact.FALSE) else \
                (kind, self.value(kind))
            last = field
        return fields


class _Writer:
    def __init__(self):
        self.out = bytearray()

    def varint(self, n: int) -> None:
        while n > 0x7F:
            self.out.append((n & 0x7F) | 0x80)
            n >>= 7
        self.out.append(n)

    def zigzag(self, n: int) -> None:
        self.varint((n << 1) ^ (n >> 63))

    def value(self, kind: Compact, value) -> None:
        if kind in (Compact.TRUE, Compact.FALSE):
            self.out.append(Compact.TRUE if value else Compact.FALSE)
        elif kind is Compact.BYTE:
            self.out += struct.pack("<b", value)
        elif kind in (Compact.I16, Compact.I32, Compact.I64):
            self.zigzag(value)
        elif kind is Compact.DOUBLE:
            self.out += struct.pack("<d", value)
        elif kind is Compact.BINARY:
            self.varint(len(value))
            self.out += value
        elif kind is Compact.UUID:
            self.out += value
        elif kind in (Compact.LIST, Compact.SET):
            element, items = value
            if len(items) < 15:
                self.out.append(len(items) << 4 | element)
            else:
                self.out.append(0xF0 | element)
                self.varint(len(items))
            for item in items:
                self.value(element, item)
        elif kind is Compact.MAP:
            key, item, pairs = value
            self.varint(len(pairs))
            if pairs:
                self.out.append(key << 4 | item)
            for k, v in pairs:
                self.value(key, k)
                self.value(item, v)
        elif kind is Compact.STRUCT:
            self.struct(value)
        else:
            raise ValueError(f"unknown Thrift compact type {kind}")

    def struct(self, fields: Struct) -> None:
        last = 0
        for field, (kind, value) in fields.items():
            code = (Compact.TRUE if value else Compact.FALSE) if kind in (Compact.TRUE, Compact.FALSE) else kind
            if 0 < field - last <= 15:
                self.out.append((field - last) << 4 | code)
            else:
                self.out.append(code)
                self.zigzag(field)
            if kind not in (Compact.TRUE, Compact.FALSE):
                self.value(kind, value)
            last = field
        self.out.append(Compact.STOP)


def decode_struct(data: bytes) -> Struct:
    return _Reader(data).struct()


def encode_struct(fields: Struct) -> bytes:
    writer = _Writer()
    writer.struct(fields)
    return bytes(writer.out)


# The Parquet footer's fields this module reads or moves (parquet.thrift).
class FileMetaData(enum.IntEnum):
    NUM_ROWS = 3
    ROW_GROUPS = 4


class RowGroup(enum.IntEnum):
    COLUMNS = 1
    FILE_OFFSET = 5
    ORDINAL = 7


class ColumnChunk(enum.IntEnum):
    FILE_OFFSET = 2
    META_DATA = 3
    OFFSET_INDEX_OFFSET = 4
    COLUMN_INDEX_OFFSET = 6


class ColumnMetaData(enum.IntEnum):
    DATA_PAGE_OFFSET = 9
    INDEX_PAGE_OFFSET = 10
    DICTIONARY_PAGE_OFFSET = 11
    BLOOM_FILTER_OFFSET = 14


def _moved(fields: Struct, offsets: Iterable[enum.IntEnum], shift: int) -> Struct:
    """`fields` with the given offsets moved by `shift`. An offset of 0 is left: it would be the
    magic, never a page (Arrow writes 0 for the deprecated ColumnChunk.file_offset)."""
    moved = dict(fields)
    for field in offsets:
        if field in moved and moved[field][1]:
            kind, value = moved[field]
            moved[field] = (kind, value + shift)
    return moved


def _moved_row_group(group: Struct, shift: int, ordinal: int) -> Struct:
    kind, (element, columns) = group[RowGroup.COLUMNS]
    chunks = []
    for chunk in columns:
        for absent in (ColumnChunk.OFFSET_INDEX_OFFSET, ColumnChunk.COLUMN_INDEX_OFFSET):
            if absent in chunk:
                raise ValueError("a part with a page index cannot be moved (its pages' offsets are inside it)")
        chunk = _moved(chunk, [ColumnChunk.FILE_OFFSET], shift)
        meta_kind, meta = chunk[ColumnChunk.META_DATA]
        if ColumnMetaData.BLOOM_FILTER_OFFSET in meta:
            raise ValueError("a part with bloom filters cannot be moved")
        chunk[ColumnChunk.META_DATA] = (meta_kind, _moved(meta, ColumnMetaData, shift))
        chunks.append(chunk)
    group = _moved(group, [RowGroup.FILE_OFFSET], shift)
    group[RowGroup.COLUMNS] = (kind, (element, chunks))
    if RowGroup.ORDINAL in group:
        group[RowGroup.ORDINAL] = (Compact.I16, ordinal)
    return group


class Part:
    """One part encoded as a whole Parquet file in memory: its body (the row groups' pages)
    and its footer."""

    def __init__(self, encoded: pa.Buffer):
        size = encoded.size
        if size < 12 or encoded[:4].to_pybytes() != MAGIC or encoded[size - 4:].to_pybytes() != MAGIC:
            raise ValueError("not a Parquet file")
        footer_size = int.from_bytes(encoded[size - 8:size - 4].to_pybytes(), "little")
        self.body = encoded[4:size - 8 - footer_size]
        self.footer = decode_struct(encoded[size - 8 - footer_size:size - 8].to_pybytes())


class JoinedFile:
    """The destination being written: parts' bodies appended in order, then one footer (the
    first part's schema and metadata, every part's row groups at their new offsets)."""

    def __init__(self, sink):
        self.sink = sink
        write_all(self.sink, MAGIC)
        self.position = len(MAGIC)
        self.footer: Struct | None = None
        self.row_groups: list[Struct] = []
        self.rows = 0

    def append(self, part: Part) -> None:
        shift = self.position - len(MAGIC)  # the part's offsets count from its own magic
        if self.footer is None:
            self.footer = part.footer
        _, (_, groups) = part.footer.get(FileMetaData.ROW_GROUPS, (Compact.LIST, (Compact.STRUCT, [])))
        for group in groups:
            self.row_groups.append(_moved_row_group(group, shift, len(self.row_groups)))
        self.rows += part.footer[FileMetaData.NUM_ROWS][1]
        write_all(self.sink, part.body)
        self.position += part.body.size

    def close(self) -> None:
        if self.footer is None:
            raise ValueError("a Parquet file needs at least one part (its schema)")
        footer = dict(self.footer)
        footer[FileMetaData.NUM_ROWS] = (Compact.I64, self.rows)
        footer[FileMetaData.ROW_GROUPS] = (Compact.LIST, (Compact.STRUCT, self.row_groups))
        footer = dict(sorted(footer.items()))
        encoded = encode_struct(footer)
        write_all(self.sink, encoded + len(encoded).to_bytes(4, "little") + MAGIC)


def encode_part(table: pa.Table, schema: pa.Schema, **options) -> Part:
    """`table` as one Parquet file in memory (one row group), with the writer's `options`."""
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, schema, write_page_index=False, **options) as writer:
        writer.write_table(table, row_group_size=max(1, table.num_rows))
    return Part(sink.getvalue())


def write_parquet(tables: Iterable[pa.Table], path: str, options_of: Callable[[pa.Schema], dict]) -> None:
    """Write `tables` (one schema) as one Parquet file at `path`, a row group per part;
    `options_of(schema)` gives the writer's options."""
    parts = slices(tables)
    first = next(parts)
    schema, options = first.schema, options_of(first.schema)
    with open(path, "wb") as sink:
        joined = JoinedFile(sink)
        for part in made_in_order(itertools.chain([first], parts),
                                  functools.partial(encode_part, schema=schema, **options), "unstuck-encode"):
            joined.append(part)
        joined.close()


def write_csv(tables: Iterable[pa.Table], sink: BinaryIO,
              prepare: Callable[[pa.Table], pa.Table] = lambda part: part) -> None:
    """Write `tables` (one schema) as CSV to `sink`, the header once; each part goes through
    `prepare` on its encoder's thread."""
    import pyarrow.csv as pcsv

    def encoded(numbered: tuple[int, pa.Table]) -> pa.Buffer:
        number, part = numbered
        buffer = pa.BufferOutputStream()
        pcsv.write_csv(prepare(part), buffer, pcsv.WriteOptions(include_header=number == 0))
        return buffer.getvalue()

    for part in made_in_order(enumerate(slices(tables)), encoded, "unstuck-encode"):
        write_all(sink, part)


def write_all(sink: BinaryIO, data) -> None:
    """Write all of `data`: a buffered writer may write part of a large buffer and say so (a
    pipe whose reader left takes what it had room for); the next write then raises."""
    view = memoryview(data)
    while view:
        view = view[sink.write(view):]


def slices(tables: Iterable[pa.Table]) -> Iterator[pa.Table]:
    """Each table in slices of at most PART_ROWS rows (views, not copies); with no rows at all,
    the last (empty) table, so that the file still has its schema. At least one table."""
    rows, table = 0, None
    for table in tables:
        for start in range(0, table.num_rows, PART_ROWS):
            yield table.slice(start, PART_ROWS)
        rows += table.num_rows
    if table is None:
        raise ValueError("no table to write (its schema is needed)")
    if not rows:
        yield table
