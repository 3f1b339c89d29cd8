"""The compiled passes of the id index (`keys`): hash each id's bytes, build a table that stops
at the first repeated id, probe it; and of the repeat check of a table whose index is not built
(`keys.RepeatedIds`): ids in order, else bitmaps of their hashes. Imported on first use, so that
reading rules never loads numba."""

from __future__ import annotations

import numpy as np
from numba import njit

# xxHash64's primes: its round (multiply, rotate, multiply) takes eight bytes of an id at a time.
_PRIME_1 = 11400714785074694791
_PRIME_2 = 14029467366897019727
_PRIME_5 = 2870177450012600261


@njit(cache=True, nogil=True, inline="always")
def mix(h):
    """The final avalanche of MurmurHash3, so that nearby ids spread over the table."""
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@njit(cache=True, nogil=True, inline="always")
def _word(data, j):
    """The eight bytes from data[j] as one little-endian word (LLVM makes it a single load)."""
    word = np.uint64(0)
    for k in range(8):
        word |= np.uint64(data[j + np.uint64(k)]) << np.uint64(8 * k)
    return word


@njit(cache=True, nogil=True, inline="always")
def _round(h, word):
    h += word * np.uint64(_PRIME_2)
    h = (h << np.uint64(31)) | (h >> np.uint64(33))
    return h * np.uint64(_PRIME_1)


@njit(cache=True, nogil=True)
def hashes_into(offsets, data, out):
    """Each id's hash into `out` (one id column's piece at a time): its length, then its bytes
    eight at a time and the last few as one more word, each by xxHash64's round, then mixed. A
    byte at a time (FNV-1a), the hashing of 30M lead ids took 3.5 times as long. Positions are
    unsigned: see `steps.lookup`."""
    for i in range(len(offsets) - 1):
        j, stop = np.uint64(offsets[i]), np.uint64(offsets[i + 1])
        h = np.uint64(_PRIME_5) + (stop - j)
        while j + np.uint64(8) <= stop:
            h = _round(h, _word(data, j))
            j += np.uint64(8)
        tail, shift = np.uint64(0), np.uint64(0)
        while j < stop:
            tail |= np.uint64(data[j]) << shift
            shift += np.uint64(8)
            j += np.uint64(1)
        out[i] = mix(_round(h, tail))


@njit(cache=True, nogil=True)
def increasing(offsets, data):
    """Whether each id's bytes are greater than the id's before it (byte by byte; a prefix is
    less than what it begins)."""
    for i in range(1, len(offsets) - 1):
        a, b = np.uint64(offsets[i - 1]), np.uint64(offsets[i])
        length_a, length_b = b - a, np.uint64(offsets[i + 1]) - b
        k, common = np.uint64(0), min(length_a, length_b)
        while k < common and data[a + k] == data[b + k]:
            k += np.uint64(1)
        if data[a + k] > data[b + k] if k < common else length_a >= length_b:
            return False
    return True


@njit(cache=True, nogil=True)
def mark_hashes(hashes, bits):
    """Each hash, cut to the bitmap's length, as a bit in `bits[:, 0]`, or in `bits[:, 1]` when the
    first has it already (two ids that share a bit: the same id, or a clash of hashes). The two
    words of a bit side by side: one cache line read per id. (Hashing in the same loop was ten
    times slower than hashing a piece first.)"""
    mask = np.uint64(len(bits) * 64 - 1)
    for i in range(len(hashes)):
        h = hashes[i] & mask
        word, bit = np.int64(h >> np.uint64(6)), np.uint64(1) << (h & np.uint64(63))
        seen = bits[word, 0]
        bits[word, 1] |= seen & bit
        bits[word, 0] = seen | bit


@njit(cache=True, nogil=True)
def rows_marked_twice(hashes, bits):
    """The rows whose hash's bit `mark_hashes` set twice."""
    mask = np.uint64(len(bits) * 64 - 1)
    rows = np.empty(len(hashes), np.int64)
    count = 0
    for i in range(len(hashes)):
        h = hashes[i] & mask
        if bits[np.int64(h >> np.uint64(6)), 1] & (np.uint64(1) << (h & np.uint64(63))):
            rows[count] = i
            count += 1
    return rows[:count].copy()


@njit(cache=True, nogil=True)
def hashes(offsets, data):
    out = np.empty(len(offsets) - 1, np.uint64)
    hashes_into(offsets, data, out)
    return out


@njit(cache=True, nogil=True, inline="always")
def same(offsets_a, data_a, a, offsets_b, data_b, b):
    start_a, start_b = offsets_a[a], offsets_b[b]
    length = offsets_a[a + 1] - start_a
    if offsets_b[b + 1] - start_b != length:
        return False
    for k in range(length):
        if data_a[start_a + k] != data_b[start_b + k]:
            return False
    return True


@njit(cache=True, nogil=True)
def build(hashes, slots, start, stop, from_slot):
    """Rows `start` to `stop` - 1 into the table (linear probing) by their hashes alone, so that no
    id column need be in one piece: the first row whose hash the table already holds stops the
    build and comes back as (the row holding it, this row, its slot) for the caller to compare the
    two ids, else (-1, -1, -1). Two ids that only share a hash go on with `from_slot`, the slot
    after the one returned (-1: start at a row's own slot)."""
    mask = np.uint64(len(slots) - 1)
    for i in range(start, stop):
        s = np.int64(hashes[i] & mask) if from_slot < 0 or i != start else from_slot
        while True:
            row = slots[s]
            if row < 0:
                slots[s] = i
                break
            if hashes[row] == hashes[i]:
                return row, i, s
            s = np.int64((np.uint64(s) + np.uint64(1)) & mask)
    return -1, -1, -1


# Ids probed at a time by `probe`: enough reads in flight to hide a memory access behind the others.
_GROUP = 16


@njit(cache=True, nogil=True, inline="always")
def _probe_from(s, mask, h, offsets, data, i, slots, table_hashes, table_offsets, table_data):
    """The table's row for id i, probing from slot s on (linear probing), or -1."""
    while True:
        row = slots[s]
        if row < 0:
            return -1
        if table_hashes[row] == h and same(table_offsets, table_data, row, offsets, data, i):
            return row
        s = np.int64((np.uint64(s) + np.uint64(1)) & mask)


# `probe` follows the table's order while at most `_FOLLOW_MISSES` of a window of ids are not where
# that order puts them: the row of the id before, or one of the few after it (whose hashes share a
# cache line: records the other table lacks are stepped over).
_FOLLOW_WINDOW = 64
_FOLLOW_MISSES = 16
_FOLLOW_AHEAD = 8


@njit(cache=True, nogil=True)
def _probe_following(hashes, offsets, data, slots, table_hashes, table_offsets, table_data, out):
    """`probe` while the ids follow the table's order: each id is first looked for in the row of
    the id before it and the few after it (a lead table in account order, against accounts in the
    same order: the leads of one account one after another, the next account's a row or a few
    further on), whose hashes and bytes lie next to the last ones read, and only otherwise probed.
    Returns the first id not done: where too many ids of a window were found elsewhere (ids in
    another order: probed in groups from there)."""
    mask = np.uint64(len(slots) - 1)
    last = len(table_hashes) - 1
    row, misses = np.int64(-1), 0
    for i in range(len(hashes)):
        if i % _FOLLOW_WINDOW == 0:
            if misses > _FOLLOW_MISSES:
                return i
            misses = 0
        h = hashes[i]  # (compared first: an id's bytes are compared only with a row that has its hash)
        ahead = -1
        if row >= 0:
            for step in range(min(_FOLLOW_AHEAD, last - row + 1)):
                if table_hashes[row + step] == h and same(table_offsets, table_data, row + step, offsets, data, i):
                    ahead = step
                    break
        if ahead >= 0:
            row += ahead
            out[i] = row
            continue
        misses += 1
        found = _probe_from(np.int64(h & mask), mask, h, offsets, data, i, slots, table_hashes, table_offsets,
                            table_data)
        out[i] = found
        if found >= 0:
            row = found
    return len(hashes)


@njit(cache=True, nogil=True)
def probe(hashes, offsets, data, slots, table_hashes, table_offsets, table_data, out):
    """The table's row for each probed id, or -1. Ids in the table's order are found where that
    order puts them (`_probe_following`). Otherwise a table larger than the cache makes each read
    of a probe (its slot, the row's hash, the row's id) wait on memory, and one probe's reads
    depend on each other: so a group of ids is probed one step at a time, each step's reads for
    the whole group independent of each other, in flight together. An id whose first slot does
    not hold it (a clash, or an id not in the table) goes on probing alone."""
    if len(table_hashes) == 0:  # (below, an empty slot reads row 0's hash, unused)
        out[:] = -1
        return
    mask = np.uint64(len(slots) - 1)
    first = np.empty(_GROUP, np.int64)  # each id's own slot
    rows = np.empty(_GROUP, np.int64)  # the row in it (-1: empty)
    row_hashes = np.empty(_GROUP, np.uint64)
    done = _probe_following(hashes, offsets, data, slots, table_hashes, table_offsets, table_data, out)
    for start in range(done, len(hashes), _GROUP):
        count = min(_GROUP, len(hashes) - start)
        for g in range(count):
            first[g] = np.int64(hashes[start + g] & mask)
            rows[g] = slots[first[g]]
        for g in range(count):
            row_hashes[g] = table_hashes[max(rows[g], 0)]
        for g in range(count):
            i, row = start + g, rows[g]
            if row >= 0 and row_hashes[g] == hashes[i] and same(table_offsets, table_data, row, offsets, data, i):
                out[i] = row
            elif row < 0:
                out[i] = -1
            else:
                out[i] = _probe_from(first[g], mask, hashes[i], offsets, data, i, slots, table_hashes,
                                     table_offsets, table_data)
