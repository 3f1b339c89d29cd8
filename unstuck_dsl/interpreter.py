"""The table interpreter: kernels for rulesets too large to compile as straight-line code.

numba's compile time grows with the size of a function (about linearly in its front end, about
quadratically in LLVM's optimizer), so straight-line code for thousands of parameters takes
minutes and gigabytes. A large ruleset is instead encoded as integer tables (`Tables`, built by
codegen.py from the IR) that these fixed functions walk, a batch of records at a time; the
generated kernel only calls them once per column, so its size depends on the fields read, not on
the rules. These functions are compiled once per installation and cached by numba.

The semantics are those of the straight-line emitters in codegen.py, one to one, and the scalar
pieces (a comparison, a set item's presence) are the very steps they call (steps.py): truth values
ir.FALSE, ir.UNKNOWN, ir.TRUE (0, 1, 2); tests write `vals[instruction, record in batch]`; `and` is
min, `or` is max.
"""

from __future__ import annotations

from numba import njit

from . import ir  # truth values: numba reads ir.FALSE / UNKNOWN / TRUE as compile-time constants
from .interpreter_ops import AND, DST, EXCLUDE, FILTER, HAS_ALL, KNOWN, LUT, MEMBER, NOT, OP, UNKNOWN, A, B, C
from .steps import holds, in_bitset, in_list, known

# Records are evaluated in batches: each table row is decoded once per batch, then applied to
# every record of the batch (`rows[0:n]`, record numbers), so that the decoding costs little.
BATCH = 256


@njit(cache=True, nogil=True)
def test_values(rows, n, values, valid, consts, tests, lo, hi, vals):
    """The tests of one number, int or date column on the batch's records."""
    for t in range(lo, hi):
        op, dst = tests[t, OP], tests[t, DST]
        if op == KNOWN or op == UNKNOWN:
            for j in range(n):
                vals[dst, j] = known(op, valid[rows[j]])
        elif op == MEMBER:
            for j in range(n):
                i = rows[j]
                hit = False
                for k in range(tests[t, A], tests[t, A] + tests[t, B]):
                    if values[i] == consts[k]:
                        hit = True
                        break
                vals[dst, j] = ir.UNKNOWN if valid[i] == 0 else (ir.TRUE if hit else ir.FALSE)
        else:
            c = consts[tests[t, A]]
            for j in range(n):
                i = rows[j]
                vals[dst, j] = ir.UNKNOWN if valid[i] == 0 else (ir.TRUE if holds(op, values[i], c) else ir.FALSE)


@njit(cache=True, nogil=True)
def test_codes(rows, n, codes, luts, lut_off, tests, lo, hi, vals):
    """The tests of one coded (category, text, ordinal, bool) column: lookup tables, whose entry
    0 is the answer for a missing value (code -1)."""
    for t in range(lo, hi):
        op, dst = tests[t, OP], tests[t, DST]
        if op == LUT:
            base = lut_off[tests[t, A]] + 1
            for j in range(n):
                vals[dst, j] = luts[base + codes[rows[j]]]
        else:
            for j in range(n):
                vals[dst, j] = known(op, codes[rows[j]] >= 0)


@njit(cache=True, nogil=True, inline="always")
def _set_answer(tests, t, ok, present):
    """`has any` / `has all` from present(item code) for the items of test t."""
    if ok == 0:
        return ir.UNKNOWN
    every = tests[t, OP] == HAS_ALL
    hit = every
    for k in range(tests[t, A], tests[t, A] + tests[t, B]):
        if present[k] != every:
            hit = not every
            break
    return ir.TRUE if hit else tests[t, C]  # C: the answer when no item decides it (ir.UNKNOWN for an open set)


@njit(cache=True, nogil=True)
def test_bitset(rows, n, bits, valid, words, masks, tests, lo, hi, vals, present):
    """The tests of one set column stored as a bitset per record."""
    for t in range(lo, hi):
        op, dst = tests[t, OP], tests[t, DST]
        for j in range(n):
            i = rows[j]
            if op == KNOWN or op == UNKNOWN:
                vals[dst, j] = known(op, valid[i])
                continue
            for k in range(tests[t, A], tests[t, A] + tests[t, B]):
                present[k] = in_bitset(bits, i, words[k], masks[k])
            vals[dst, j] = _set_answer(tests, t, valid[i], present)


@njit(cache=True, nogil=True)
def test_csr(rows, n, offsets, members, valid, ints, tests, lo, hi, vals, present):
    """The tests of one set column stored as lists of member codes (offsets, codes)."""
    for t in range(lo, hi):
        op, dst = tests[t, OP], tests[t, DST]
        for j in range(n):
            i = rows[j]
            if op == KNOWN or op == UNKNOWN:
                vals[dst, j] = known(op, valid[i])
                continue
            for k in range(tests[t, A], tests[t, A] + tests[t, B]):
                present[k] = in_list(offsets, members, i, ints[k])
            vals[dst, j] = _set_answer(tests, t, valid[i], present)


@njit(cache=True, nogil=True, inline="always")
def combine(n, vals, logic, logic_args, lo, hi):
    """not / and / or, in instruction order (operands come before the operation using them)."""
    for o in range(lo, hi):
        dst, op, first, count = logic[o, 0], logic[o, 1], logic[o, 2], logic[o, 3]
        if op == NOT:
            arg = logic_args[first]
            for j in range(n):
                vals[dst, j] = ir.TRUE - vals[arg, j]  # TRUE and FALSE trade places, UNKNOWN stays (not is TRUE − x)
            continue
        for j in range(n):
            vals[dst, j] = ir.TRUE if op == AND else ir.FALSE
        for k in range(first, first + count):
            arg = logic_args[k]
            for j in range(n):
                if op == AND:
                    vals[dst, j] = min(vals[dst, j], vals[arg, j])
                else:
                    vals[dst, j] = max(vals[dst, j], vals[arg, j])


@njit(cache=True, nogil=True, inline="always")
def rate(rows, n, vals, params, rules, lo, hi, weights, possible, explain, out_tri, qualifies, scores):
    """Rules lo .. hi - 1 on the batch: whether each qualifies and its score (round-half-up(100 ×
    earned / possible) in integers: floor((200e + p) / 2p)); parameter values to `out_tri` on request."""
    for r in range(lo, hi):
        for j in range(n):
            qualifies[r - lo, j] = True
            scores[r - lo, j] = 0  # earned, until the score replaces it below
        for p in range(rules[r, 1], rules[r, 1] + rules[r, 2]):
            value_of, mode, threshold, slot = params[p, 0], params[p, 1], params[p, 2], params[p, 3]
            for j in range(n):
                value = vals[value_of, j]
                if mode == FILTER:
                    qualifies[r - lo, j] &= value >= threshold
                elif mode == EXCLUDE:
                    qualifies[r - lo, j] &= value < threshold
                else:
                    scores[r - lo, j] += weights[slot] * (value == ir.TRUE)
                if explain:
                    out_tri[rows[j], slot] = value
        pos = possible[rules[r, 0]]
        for j in range(n):
            scores[r - lo, j] = 100 if pos == 0 else (200 * scores[r - lo, j] + pos) // (2 * pos)


@njit(cache=True, nogil=True, inline="always")
def assign(active, first, rules, lo, hi, qualifies, scores, j):
    """For record j of the batch: the best qualifying active rule of lo .. hi - 1 and its score
    (-1, -1: none); ties go to the first declared (strictly greater wins)."""
    best, best_score = -1, -1
    for r in range(lo, hi):
        if active[rules[r, 0] - first] and qualifies[r - lo, j] and scores[r - lo, j] > best_score:
            best, best_score = rules[r, 0] - first, scores[r - lo, j]
    return best, best_score
