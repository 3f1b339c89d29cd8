"""The table interpreter: kernels for rulesets too large to compile as straight-line code.

numba's compile time grows with the size of a function (about linearly in its front end, about
quadratically in LLVM's optimizer), so straight-line code for thousands of parameters takes
minutes and gigabytes. A large ruleset is instead encoded as integer tables (`Tables`, built by
codegen.py from the IR) that these fixed functions walk per record; the generated kernel only
calls them once per column, so its size depends on the fields read, not on the rules. These
functions are compiled once per installation and cached by numba.

The semantics are those of the straight-line emitters in codegen.py, one to one: truth values
0 = false, 1 = unknown, 2 = true; tests write `vals[instruction]`; `and` is min, `or` is max.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Test operations (column `OP` of a test row). A row is (instruction, op, a, b, c):
# a comparison reads the constant a; a list reads the constants a .. a + b - 1; a lookup table
# is number a; c is 1 for a set test on an open set.
EQ, NE, LT, LE, GT, GE, ALWAYS, NEVER, MEMBER, KNOWN, UNKNOWN, LUT, HAS_ANY, HAS_ALL = range(14)
COMPARISONS = {"==": EQ, "!=": NE, "<": LT, "<=": LE, ">": GT, ">=": GE, "always": ALWAYS, "never": NEVER}
DST, OP, A, B, C = range(5)

# Logic rows: (instruction, op, first argument, argument count), arguments in `logic_args`.
NOT, AND, OR = range(3)

# Parameter rows: (instruction, mode, threshold, slot); rule rows: (rule index, first parameter,
# parameter count). A filter passes when its value >= threshold, an exclude when value < threshold.
FILTER, EXCLUDE, SCORE = range(3)


@njit(cache=True, nogil=True, inline="always")
def _known(op, ok):
    """A known / unknown test: true or false, never unknown."""
    return 2 * ((ok != 0) == (op == KNOWN))


@njit(cache=True, nogil=True)
def test_values(i, values, valid, consts, tests, lo, hi, vals):
    """The tests of one number, int or date column on record i."""
    for t in range(lo, hi):
        op, ok = tests[t, OP], valid[i]
        if op == KNOWN or op == UNKNOWN:
            vals[tests[t, DST]] = _known(op, ok)
            continue
        if ok == 0:
            vals[tests[t, DST]] = 1
            continue
        x = values[i]
        if op == MEMBER:
            hit = False
            for k in range(tests[t, A], tests[t, A] + tests[t, B]):
                if x == consts[k]:
                    hit = True
                    break
        elif op == ALWAYS or op == NEVER:
            hit = op == ALWAYS
        else:
            c = consts[tests[t, A]]
            if op == EQ:
                hit = x == c
            elif op == NE:
                hit = x != c
            elif op == LT:
                hit = x < c
            elif op == LE:
                hit = x <= c
            elif op == GT:
                hit = x > c
            else:
                hit = x >= c
        vals[tests[t, DST]] = 2 if hit else 0


@njit(cache=True, nogil=True)
def test_codes(i, codes, luts, lut_off, tests, lo, hi, vals):
    """The tests of one coded (category, text, ordinal, bool) column: lookup tables, whose entry
    0 is the answer for a missing value (code -1)."""
    code = codes[i]
    for t in range(lo, hi):
        op = tests[t, OP]
        if op == LUT:
            vals[tests[t, DST]] = luts[lut_off[tests[t, A]] + 1 + code]
        else:
            vals[tests[t, DST]] = _known(op, code >= 0)


@njit(cache=True, nogil=True, inline="always")
def _set_answer(tests, t, ok, present):
    """`has any` / `has all` from present(item code) for the items of test t."""
    if ok == 0:
        return 1
    every = tests[t, OP] == HAS_ALL
    hit = every
    for k in range(tests[t, A], tests[t, A] + tests[t, B]):
        if present[k] != every:
            hit = not every
            break
    return 2 if hit else tests[t, C]


@njit(cache=True, nogil=True)
def test_bitset(i, bits, valid, ints, tests, lo, hi, vals, present):
    """The tests of one set column stored as a bitset per record."""
    for t in range(lo, hi):
        op = tests[t, OP]
        if op == KNOWN or op == UNKNOWN:
            vals[tests[t, DST]] = _known(op, valid[i])
            continue
        for k in range(tests[t, A], tests[t, A] + tests[t, B]):
            code = ints[k]
            present[k] = code >= 0 and (bits[i, code >> 6] >> np.uint64(code & 63)) & np.uint64(1) != 0
        vals[tests[t, DST]] = _set_answer(tests, t, valid[i], present)


@njit(cache=True, nogil=True)
def test_csr(i, offsets, members, valid, ints, tests, lo, hi, vals, present):
    """The tests of one set column stored as lists of member codes (offsets, codes)."""
    for t in range(lo, hi):
        op = tests[t, OP]
        if op == KNOWN or op == UNKNOWN:
            vals[tests[t, DST]] = _known(op, valid[i])
            continue
        for k in range(tests[t, A], tests[t, A] + tests[t, B]):
            code, found = ints[k], False
            if code >= 0:
                for q in range(offsets[i], offsets[i + 1]):
                    if members[q] == code:
                        found = True
                        break
            present[k] = found
        vals[tests[t, DST]] = _set_answer(tests, t, valid[i], present)


@njit(cache=True, nogil=True, inline="always")
def combine(vals, logic, logic_args, lo, hi):
    """not / and / or, in instruction order (operands come before the operation using them)."""
    for o in range(lo, hi):
        first, count = logic[o, 2], logic[o, 3]
        op = logic[o, 1]
        if op == NOT:
            v = 2 - vals[logic_args[first]]
        elif op == AND:
            v = 2
            for k in range(first, first + count):
                v = min(v, vals[logic_args[k]])
        else:
            v = 0
            for k in range(first, first + count):
                v = max(v, vals[logic_args[k]])
        vals[logic[o, 0]] = v


@njit(cache=True, nogil=True, inline="always")
def rate(i, vals, params, rules, lo, hi, weights, possible, explain, out_tri, qualifies, scores):
    """Rules lo .. hi - 1: whether each qualifies and its score (round-half-up(100 × earned /
    possible) in integers: floor((200e + p) / 2p)); each parameter's value to `out_tri` on request."""
    for r in range(lo, hi):
        passes, earned = True, 0
        for p in range(rules[r, 1], rules[r, 1] + rules[r, 2]):
            value = vals[params[p, 0]]
            mode = params[p, 1]
            if mode == FILTER:
                passes = passes and value >= params[p, 2]
            elif mode == EXCLUDE:
                passes = passes and value < params[p, 2]
            else:
                earned += weights[params[p, 3]] * (value == 2)
            if explain:
                out_tri[i, params[p, 3]] = value
        pos = possible[rules[r, 0]]
        qualifies[r - lo] = passes
        scores[r - lo] = 100 if pos == 0 else (200 * earned + pos) // (2 * pos)


@njit(cache=True, nogil=True, inline="always")
def assign(active, first, rules, lo, hi, qualifies, scores):
    """The best qualifying active rule of lo .. hi - 1 and its score (-1, -1: none); ties go to
    the first declared (strictly greater wins)."""
    best, best_score = -1, -1
    for r in range(lo, hi):
        if active[rules[r, 0] - first] and qualifies[r - lo] and scores[r - lo] > best_score:
            best, best_score = rules[r, 0] - first, scores[r - lo]
    return best, best_score
