"""The compiled steps both kinds of kernel are made of: one test's truth value for one record,
and one part of a rule's score.

A straight-line kernel (codegen.py) calls one step per IR instruction instead of spelling the
step out. numba compiles each step once and caches it; LLVM inlines it where it is called, so
the kernel runs as if the step were written out, while numba types and lowers one call instead
of a whole expression or loop: a call is a third of the work of the comparison it stands for,
and numba's own passes are most of a kernel's compile time. The table interpreter
(interpreter.py) reads the same scalar pieces (`holds`, `known`, `in_bitset`, `in_list`).

Truth values are ir.FALSE, ir.UNKNOWN, ir.TRUE (0, 1, 2); a missing value is unknown.

Kernels are compiled by `kernel`, which tells LLVM that no two of a kernel's arrays overlap: a
kernel's loop over records is then vectorized, many records per instruction, where it has no
branch on a record's data (the account kernel; codegen._vectorizable). A rule's score is read
from its score table (`scored`) for that reason: a division is done one record at a time.
"""

from __future__ import annotations

import llvmlite.binding
import numpy as np
from numba import njit
from numba.core import compiler, dispatcher, registry

from . import ir  # truth values: numba reads ir.FALSE / UNKNOWN / TRUE as compile-time constants
from .interpreter_ops import ALWAYS, EQ, GE, GT, KNOWN, LE, LT, NE

# LLVM's x86 back end turns a conditional move inside a loop back into a branch when it estimates
# that the branch shortens the loop's longest chain of dependent instructions (X86CmovConversion).
# A kernel's conditional moves choose on record data (a value above its threshold or not, a
# Persona's score beating the one before), which no branch predictor foresees. The heavy
# ruleset's lead kernel, a scalar loop, took 45 ms on one core with those branches and 21 ms
# without (20% faster than when it divided for its scores, which kept the loop's longest chain
# long enough that the pass left it alone). The option is the back end's only control of the
# pass; it applies to all numba code this process compiles from here on, a caller's own too.
llvmlite.binding.set_option("unstuck_dsl", "-x86-cmov-converter=false")


class _ApartCompiler(dispatcher._FunctionCompiler):
    """numba's function compiler with one more promise to LLVM: the function's array arguments
    never overlap (`noalias`), so a loop that writes one array and reads others at computed
    positions (a lookup table) can be vectorized without checking their addresses at run time,
    which LLVM cannot do for a position it cannot bound."""

    def _customize_flags(self, flags):
        flags.noalias = True
        return flags


class _KernelDispatcher(registry.CPUDispatcher):
    def __init__(self, py_func):
        super().__init__(py_func, targetoptions={"nopython": True, "nogil": True, "boundscheck": None})
        self._compiler = _ApartCompiler(py_func, self.targetdescr, self.targetoptions, self.locals, compiler.Compiler)


def kernel(py_func):
    """A generated kernel, compiled on its first call and cached on disk as `njit(cache=True,
    nogil=True)` would, with its array arguments declared apart. The promise holds because each
    array a kernel writes is fresh memory (execute.kernel_output), and execute.marshal refuses an
    output that is not, or that is passed twice."""
    compiled = _KernelDispatcher(py_func)
    compiled.enable_caching()
    return compiled


# ---- the scalar pieces, inlined by numba wherever they are used ------------------------------------


@njit(cache=True, nogil=True, inline="always")
def known(op, ok):
    """A known / unknown test: true or false, never unknown."""
    return ir.TRUE if (ok != 0) == (op == KNOWN) else ir.FALSE


@njit(cache=True, nogil=True, inline="always")
def holds(op, x, c):
    """Comparison `op` (interpreter_ops: EQ … GE, ALWAYS, NEVER) of x with c."""
    if op == EQ:
        return x == c
    if op == NE:
        return x != c
    if op == LT:
        return x < c
    if op == LE:
        return x <= c
    if op == GT:
        return x > c
    if op == GE:
        return x >= c
    return op == ALWAYS


@njit(cache=True, nogil=True, inline="always")
def in_bitset(bits, i, word, mask):
    """Whether record i's bitset holds the item of this word and mask (bind.Constants: an item no
    record has has no bit). Without a branch: a branch per item keeps LLVM from making a kernel's
    set tests straight-line code (the heavy ruleset's account kernel ran 2.5 times slower)."""
    return bits[i, word] & mask != 0


@njit(cache=True, nogil=True, inline="always")
def in_list(offsets, members, i, code):
    """Whether record i's member list holds item `code`."""
    if code >= 0:
        for q in range(np.uint64(offsets[i]), np.uint64(offsets[i + 1])):  # unsigned: see `lookup`
            if members[q] == code:
                return True
    return False


@njit(cache=True, nogil=True, inline="always")
def set_answer(open_set, ok, hit):
    """A set test's truth value from whether its items decide it (`hit`): unknown when the set
    is missing (ok = 0); else true on a hit, and otherwise false (a closed set) or unknown (an
    open set: a member not seen is unknown)."""
    if open_set:
        return 1 + ok * hit
    return 1 + ok * (2 * hit - 1)


# ---- the straight-line kernels' steps: one call per IR instruction or score part ------------------
# Constants arrive as arguments, read once per kernel run by its prologue, which LLVM folds once the
# step is inlined. numba compiles a step once per value of a literal argument, so the literals
# are only those of a few values (an operation code, a flag); a position in the constants is
# passed as a prologue variable (an int64, not a literal), and stays known to LLVM, which then
# unrolls the loop over a test's items.


@njit(cache=True, nogil=True)
def compare(op, values, valid, i, constant):
    """A value against a constant, without branches: 1 + ok × (±1) is unknown (1) when the value
    is missing (ok = 0), else true (2) or false (0)."""
    return 1 + valid[i] * (2 * holds(op, values[i], constant) - 1)


@njit(cache=True, nogil=True)
def lookup(luts, offset, codes, i):
    """A coded value's entry in its lookup table, at `offset` in `luts`: entry 0 is "unknown",
    for the code -1 of a missing value. The index is never negative; made unsigned, numba reads
    it as is instead of first wrapping a negative index around from the array's end."""
    return luts[np.uint64(offset + 1 + codes[i])]


@njit(cache=True, nogil=True)
def member(values, valid, i, constants, first, count):
    """Whether the value is one of constants[first:first + count]; unknown when it is missing."""
    if valid[i] == 0:
        return ir.UNKNOWN
    for k in range(np.uint64(first), np.uint64(first + count)):  # unsigned: see `lookup`
        if values[i] == constants[k]:
            return ir.TRUE
    return ir.FALSE


@njit(cache=True, nogil=True)
def has_bits(every, open_set, bits, valid, i, words, masks, first, count):
    """`has any` / `has all` (`every`) of the items first .. first + count - 1 on a bitset, each
    item given by its word and bit (bind.Constants: no bit for an item no record has); without
    branches on the record: its answer costs the same whichever items it has."""
    hit = every
    for k in range(np.uint64(first), np.uint64(first + count)):  # unsigned: see `lookup`
        present = in_bitset(bits, i, words[k], masks[k])
        hit = (hit & present) if every else (hit | present)
    return set_answer(open_set, valid[i], hit)


@njit(cache=True, nogil=True)
def has_list(every, open_set, offsets, members, valid, i, items, first, count):
    """`has any` / `has all` on member lists, as `has_bits`; it stops at the first item that
    decides, whatever the list's length."""
    hit = every
    for k in range(np.uint64(first), np.uint64(first + count)):  # unsigned: see `lookup`
        if in_list(offsets, members, i, items[k]) != every:
            hit = not every
            break
    return set_answer(open_set, valid[i], hit)


@njit(cache=True, nogil=True)
def earn(total, weight, value):
    """A score parameter's weight added when its value is true: `value >> 1` is 1 for true (2),
    else 0. Written as `value == TRUE`, LLVM makes each sum a data-dependent branch, taken at
    random."""
    return total + weight * (value >> 1)


@njit(cache=True, nogil=True)
def scored(score_table, first, earned):
    """A rule's score for the points it earned: its entry in the rule's score table, which starts
    at `first` (bind.score_table: one entry per possible total). A table read, unlike the
    division it stands for, is done for many records at once by a vectorized loop."""
    return score_table[np.uint64(first + earned)]
