"""Set columns in compiled passes: each record's members as bits (a small dictionary) or as a
compacted list of codes (a large one), straight from the input's list offsets. Imported on
first use, so that reading rules never loads numba.

A batch arrives as Arrow lays a list column out: per record, `offsets[i]:offsets[i+1]` into
the member codes (-1 for a missing member, which is skipped) and `valid` (an unknown set has
no members)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def set_bits(bits, first_row, offsets, mapping, local, valid):
    """OR each known record's members into its row of `bits` (64 members per word). A member's
    code is `mapping` of its batch code (`local`); `mapping` ends in -1, so a missing member's -1
    maps to -1, and is skipped."""
    for i in range(len(valid)):
        if valid[i]:
            row = first_row + i
            for j in range(offsets[i], offsets[i + 1]):
                code = mapping[local[j]]
                if code >= 0:
                    bits[row, code >> 6] |= np.uint64(1) << np.uint64(code & 63)


@njit(cache=True, nogil=True)
def compact(offsets, mapping, local, valid):
    """The known records' members, missing ones dropped, as (each record's end offset, codes): a
    member's code is `mapping` of its batch code, as in `set_bits`."""
    n = len(valid)
    out_offsets = np.empty(n, np.int64)
    out_codes = np.empty(max(0, offsets[n] - offsets[0]), np.int32)
    count = 0
    for i in range(n):
        if valid[i]:
            for j in range(offsets[i], offsets[i + 1]):
                code = mapping[local[j]]
                if code >= 0:
                    out_codes[count] = code
                    count += 1
        out_offsets[i] = count
    return out_offsets, out_codes[:count]
