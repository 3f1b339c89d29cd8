"""Record ids: each id names one record, and each lead finds its account by it.

An id index is a hash table over an id column, built once in one compiled pass: building it
finds a repeated id, probing it resolves every lead's account row, and `row_of` finds the record
`explain` asks for. Ids keep the type they arrive with: text is hashed as its UTF-8 bytes and a
whole number as its eight bytes, so both go through the same code and no id becomes a Python
object. Only when the two sides of a lookup differ in type (whole-number account ids, text in the
leads' `account_id`) are the numbers compared as their decimal text, as a user would read them.
"""

from __future__ import annotations

import functools
import re

import attrs
import numpy as np
import pyarrow as pa


@functools.cache
def _compiled():
    """The compiled passes, imported on first use (numba caches them on disk)."""
    from . import id_hash

    return id_hash.hashes, id_hash.build, id_hash.probe, id_hash.hashes_into


@functools.cache
def _repeat_passes():
    """The compiled passes of `RepeatedIds`: ids in order, then the bitmaps of hashes."""
    from . import id_hash

    return id_hash.increasing, id_hash.mark_hashes, id_hash.rows_marked_twice


@attrs.frozen
class IdBytes:
    """An id column as one byte string per id: `offsets[i]:offsets[i+1]` in `data`."""

    offsets: np.ndarray  # int64, or int32 for text read in place
    data: np.ndarray  # uint8

    @classmethod
    def of(cls, ids) -> IdBytes:
        """Text ids as their UTF-8 bytes, whole numbers as their eight bytes. Dictionary-encoded
        ids are read through their dictionary. Text is read where it lies, through its own
        offsets (no copy to 64-bit offsets: at 3M leads that copy was 50 MB at the load's peak)."""
        array = _plain(ids)
        if pa.types.is_integer(array.type):
            values = np.ascontiguousarray(array.cast(pa.int64()).to_numpy(zero_copy_only=False))
            return cls(np.arange(0, 8 * len(values) + 1, 8, dtype=np.int64), values.view(np.uint8))
        text = array if pa.types.is_string(array.type) or pa.types.is_large_string(array.type) \
            else array.cast(pa.large_string())
        _, offsets, data = text.buffers()
        width = np.int32 if pa.types.is_string(text.type) else np.int64
        offsets = np.frombuffer(offsets, width)[text.offset:text.offset + len(text) + 1]
        data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
        return cls(offsets, data)

    def __len__(self) -> int:
        return len(self.offsets) - 1


def _plain(ids) -> pa.Array:
    if isinstance(ids, pa.ChunkedArray):
        try:
            ids = ids.combine_chunks() if ids.num_chunks != 1 else ids.chunk(0)
        except (pa.ArrowCapacityError, pa.ArrowInvalid):  # text past 32-bit offsets in one piece: as large strings
            ids = ids.cast(pa.large_string()).combine_chunks()
    if pa.types.is_dictionary(ids.type):
        ids = ids.dictionary_decode()
    return ids


def _chunked(ids) -> pa.ChunkedArray:
    return ids if isinstance(ids, pa.ChunkedArray) else pa.chunked_array([ids])


def is_number_column(ids) -> bool:
    value_type = ids.type.value_type if pa.types.is_dictionary(ids.type) else ids.type
    return pa.types.is_integer(value_type)


class IdIndex:
    """A hash table over one id column: where each id is, built in one pass, or piece by piece
    as the column is read (`growing`)."""

    def __init__(self, ids):
        self._grow(ids)

    @classmethod
    def growing(cls, rows: int) -> IdIndex:
        """An index given its column's `rows` ids piece by piece as they are read (`add`, in
        order), then the column whole (`finish`): an account table's is built as its batches are
        encoded, and ready once the last is."""
        index = cls.__new__(cls)
        index._start(rows)
        return index

    def _start(self, rows: int) -> None:
        self.is_number: bool | None = None
        self._type: pa.DataType | None = None  # the first piece's
        self.repeated = (-1, -1)
        self._text_keys: IdIndex | None = None
        self._hashes = np.empty(rows, np.uint64)
        self._slots = None  # made with the first piece, on the thread adding the pieces (at 10M ids, 0.4 s of fresh memory)
        self._pieces: list[pa.Array] = []  # (for telling ids that share a hash apart)
        self._rows = 0
        self._mixed = False  # pieces of several types: the column is made text (`data.id_column`)

    def _grow(self, ids) -> None:
        """Built from the column whole (its chunks share one type)."""
        pieces = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
        self._start(sum(len(piece) for piece in pieces))
        for piece in pieces:
            self.add(piece)
        self._done(ids)

    def add(self, piece) -> None:
        """The column's next ids, hashed where they lie (the ids are put in one piece only when
        the index is first probed: a lead table's never is), and put in the table up to the
        first repeat."""
        if self._type is None:
            self._type, self.is_number = piece.type, is_number_column(piece)
        self._mixed |= piece.type != self._type
        start, self._rows = self._rows, self._rows + len(piece)
        if self._mixed or self._rows > len(self._hashes) or self.repeated[0] >= 0:
            return  # (a repeat refuses the table; pieces it was not made for, `finish` builds again)
        if self._slots is None:
            capacity = 1 << max(4, int(2 * len(self._hashes)).bit_length())
            # Rows as int32 while they fit: half the memory of the table, which is mostly empty slots.
            self._slots = np.full(capacity, -1, np.int32 if len(self._hashes) < 2 ** 31 else np.int64)
        keys = IdBytes.of(piece)
        _, _, _, hashes_into = _compiled()
        hashes_into(keys.offsets, keys.data, self._hashes[start:self._rows])
        self._pieces.append(piece)
        self.repeated = self._build(start)

    def finish(self, ids) -> IdIndex:
        """The index, given its column whole (the pieces added, as one column): built again from
        it when the pieces were not what it holds (of several types, or not its rows)."""
        if self._mixed or self._rows != len(self._hashes):
            self._grow(ids)
        else:
            self._done(ids)
        return self

    def _done(self, ids) -> None:
        if self._slots is None:  # (no ids)
            self._slots = np.full(16, -1, np.int32)
            self.is_number = is_number_column(ids)
        self._ids, self._pieces = ids, None

    def _build(self, start: int) -> tuple[int, int]:
        """The ids added since row `start` into the table: the first that repeats an earlier one,
        as (its first row, the repeating row), else (-1, -1). Two ids with one hash are told apart
        by their values."""
        _, build, _, _ = _compiled()
        row, repeat, slot = build(self._hashes, self._slots, start, self._rows, -1)
        while row >= 0 and self._id_at(row) != self._id_at(repeat):
            row, repeat, slot = build(self._hashes, self._slots, repeat, self._rows, (slot + 1) % len(self._slots))
        return int(row), int(repeat)

    def _id_at(self, row: int):
        for piece in self._pieces:
            if row < len(piece):
                return piece[int(row)].as_py()
            row -= len(piece)
        raise IndexError(row)

    @functools.cached_property
    def _keys(self) -> IdBytes:
        return IdBytes.of(self._ids)

    @property
    def unique(self) -> bool:
        return self.repeated[0] < 0

    def rows_of(self, ids) -> np.ndarray:
        """The row of each id in `ids` (int64; -1 for an id not in the index)."""
        if len(ids) == 0:
            return np.zeros(0, np.int64)
        if is_number_column(ids) != self.is_number:  # one side numbers, the other text: compare as text
            return self._as_text().rows_of(ids) if self.is_number else self.rows_of(_plain(ids).cast(pa.string()))
        keys = IdBytes.of(ids)
        hashes, _, probe, _ = _compiled()
        out = np.empty(len(keys), np.int64)
        probe(hashes(keys.offsets, keys.data), keys.offsets, keys.data, self._slots, self._hashes,
              self._keys.offsets, self._keys.data, out)
        return out

    def row_of(self, record_id) -> int | None:
        """The row of one id (given as text or a number), or None."""
        if self.is_number:  # a whole-number id is found by the number or its decimal text ("07" is not 7)
            text = str(record_id)
            if not re.fullmatch(r"-?[0-9]+", text) or str(int(text)) != text or not -2 ** 63 <= int(text) < 2 ** 63:
                return None
            probe = pa.array([int(text)], pa.int64())
        else:
            probe = pa.array([str(record_id)], pa.string())
        row = int(self.rows_of(probe)[0])
        return None if row < 0 else row

    def _as_text(self) -> IdIndex:
        """The same ids as decimal text, for probing with text (built once, when first needed)."""
        if self._text_keys is None:
            self._text_keys = IdIndex(_plain(self._ids).cast(pa.string()))
        return self._text_keys


def first_repeat(ids) -> tuple[int, int]:
    """`IdIndex(ids).repeated` (the first id that repeats an earlier one, as its first row and the
    repeating row; else (-1, -1)) in a third of the memory, for a table whose index is not kept
    (a lead table's: at 3M leads its 56 MB was the load's peak). `RepeatedIds` says how."""
    pieces = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
    repeats = RepeatedIds(sum(len(piece) for piece in pieces))
    for piece in pieces:
        repeats.add(piece)
    return repeats.first(pieces)


class RepeatedIds:
    """The first repeated id of a column given piece by piece (as a table's batches are read).
    Ids that come in increasing order (a table written in id order, as most are) repeat none:
    each is compared with the one before it, in one pass over bytes side by side. Once an id is
    not greater than the one before it, each id's hash marks a bit as its piece comes (`add`), or
    the same bit of a second bitmap when it is taken; then (`first`) the ids whose bit is in the
    second bitmap, a few percent of them (sixteen to thirty-two bits per id), get an index of
    their own, which finds the repeat among them and so among all. (At 30M lead ids in order:
    0.1 s of compares, against 1.2 s of hashing twice and marking.)"""

    def __init__(self, rows: int):
        self._rows = rows
        self._bits = None  # per word: seen once, seen twice (made at the first id out of order)
        self._hashes = np.empty(0, np.uint64)  # one piece's, the largest so far
        self._in_order = 0  # pieces added while every id was greater than the one before it
        self._last = None  # (whether a number, its value or bytes): the last id of those pieces

    def _piece_hashes(self, piece) -> np.ndarray:
        keys = IdBytes.of(piece)
        if len(self._hashes) < len(keys):
            self._hashes = np.empty(len(keys), np.uint64)
        _compiled()[3](keys.offsets, keys.data, self._hashes[:len(keys)])
        return self._hashes[:len(keys)]

    def _mark(self, piece) -> None:
        if self._bits is None:
            words = 1 << max(0, (16 * self._rows).bit_length() - 6)
            self._bits = np.zeros((words, 2), np.uint64)
        _repeat_passes()[1](self._piece_hashes(piece), self._bits)

    def add(self, piece) -> None:
        if self._bits is None and self._follows_in_order(piece):
            self._in_order += 1
        else:
            self._mark(piece)

    def _follows_in_order(self, piece) -> bool:
        """Whether each id of `piece` is greater than the one before it (the last of the pieces
        before included): numbers by value, text by its bytes. Remembers the piece's last id."""
        if not len(piece):
            return True
        keys, number = IdBytes.of(piece), is_number_column(piece)
        if number:
            values = keys.data.view(np.int64)
            first, last = int(values[0]), int(values[-1])
            ordered = bool(np.all(values[1:] > values[:-1]))
        else:
            first, last = (bytes(keys.data[keys.offsets[k]:keys.offsets[k + 1]]) for k in (0, len(keys) - 1))
            ordered = bool(_repeat_passes()[0](keys.offsets, keys.data))
        ordered = ordered and (self._last is None or (self._last[0] == number and self._last[1] < first))
        self._last = (number, last)
        return ordered

    def first(self, pieces) -> tuple[int, int]:
        """The first repeat among `pieces`, the pieces added, in order: (its first row, the
        repeating row), or (-1, -1)."""
        if self._bits is None:  # every id greater than the one before it
            return -1, -1
        for piece in pieces[:self._in_order]:  # (added in order, not marked then)
            self._mark(piece)
        marked_twice = _repeat_passes()[2]
        candidates, subset, start = [], [], 0
        for piece in pieces:  # (taken piece by piece: a chunked column's `take` joins its chunks first)
            rows = marked_twice(self._piece_hashes(piece), self._bits)
            candidates.append(start + rows)
            subset.append(piece.take(pa.array(rows)))
            start += len(piece)
        candidates = np.concatenate(candidates) if candidates else np.zeros(0, np.int64)
        if not len(candidates):
            return -1, -1
        row, repeat = IdIndex(pa.chunked_array(subset, pieces[0].type)).repeated
        return (-1, -1) if row < 0 else (int(candidates[row]), int(candidates[repeat]))


def extends(dictionary: pa.Array, earlier: pa.Array) -> bool:
    """Whether `dictionary` starts with `earlier`'s values (as a Parquet row group's dictionary,
    batch after batch, grows)."""
    return len(dictionary) >= len(earlier) and dictionary.slice(0, len(earlier)).equals(earlier)


def rows_of_dictionary_chunks(index: IdIndex, ids) -> np.ndarray:
    """`index.rows_of(ids)` for a column whose batches may be dictionary-encoded (Parquet)
    (`RowsOfBatches` says how)."""
    rows = RowsOfBatches(index)
    for chunk in ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]:
        rows.add(chunk)
    return rows.rows()


class RowsOfBatches:
    """`index.rows_of` for an id column given batch by batch (as a table is read). A
    dictionary-encoded batch (Parquet) probes each distinct id once, and a batch whose dictionary
    extends the previous batch's (as a Parquet row group's does, batch after batch) probes only
    its new ids: the probing, the costly part, is done as the batches come; each row's answer is
    gathered from its dictionary's only when `rows` asks, into one array (made then, in memory
    the reading has freed, not on top of it: at 3M leads made up front it was 24 MB on the
    load's peak; and no list of pieces joined: a second copy of the answer)."""

    def __init__(self, index: IdIndex):
        self.index = index
        self._lineages: list[np.ndarray] = []  # per run of batches extending one dictionary: its entries' rows
        self._batches: list[tuple[int, pa.Array]] = []  # (lineage, dictionary indices), or (-1, rows) for plain ids
        self._known = None  # the last batch's dictionary

    def add(self, batch) -> None:
        if not pa.types.is_dictionary(batch.type):
            self._batches.append((-1, self.index.rows_of(batch)))
            self._known = None
            return
        dictionary = batch.dictionary
        if self._known is not None and extends(dictionary, self._known):
            new = self.index.rows_of(dictionary.slice(len(self._known)))
            self._lineages[-1] = np.concatenate([self._lineages[-1], new])
        else:
            self._lineages.append(self.index.rows_of(dictionary))
        self._known = dictionary
        self._batches.append((len(self._lineages) - 1, batch.indices))

    def rows(self) -> np.ndarray:
        """The row of each id given, in order (int64; -1 for an id not in the index)."""
        out = np.empty(sum(len(part) for _, part in self._batches), np.int64)
        start = 0
        for lineage, part in self._batches:
            end = start + len(part)
            if lineage < 0:
                out[start:end] = part
            else:  # ids are never null (data._ids)
                np.take(self._lineages[lineage], part.to_numpy(zero_copy_only=False), out=out[start:end])
            start = end
        return out


def hashes_of(ids) -> np.ndarray:
    """Each id's hash (uint64), as the index keeps it."""
    keys = IdBytes.of(ids)
    return _compiled()[0](keys.offsets, keys.data)
