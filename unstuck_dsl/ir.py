"""The flat IR between the checked rules and the generated kernel.

A condition becomes a list of instructions, each producing one three-valued truth value encoded
as 0 = false, 1 = unknown, 2 = true (so `and` is min, `or` is max, `not` is 2 - x). Instructions
name columns and constant slots by number; every constant (lookup tables, thresholds, set item
codes, weights) is bound at run time into arrays, so generated source holds no rule text.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Union

import attrs

FALSE, UNKNOWN, TRUE = 0, 1, 2


@attrs.frozen(slots=True)
class ColumnSlot:
    field: str
    encoding: str  # schema.Encoding: coded, f64, i64, days or set
    open: bool = False  # sets: a member not seen is unknown


# ---- constants, bound at run time -----------------------------------------------------------------


@attrs.frozen(slots=True)
class LutSpec:
    """A lookup table over a coded column's dictionary: the predicate decided once per value."""

    field: str
    predicate: object  # the ast predicate node


@attrs.frozen(slots=True)
class NumberConst:
    value: Decimal


@attrs.frozen(slots=True)
class IntConst:
    value: int


@attrs.frozen(slots=True)
class DateConst:
    value: dt.date


@attrs.frozen(slots=True)
class AsOfShift:
    """The as-of date moved by `amount` units (negative: back), in days."""

    amount: int
    unit: str


@attrs.frozen(slots=True)
class SetItem:
    """The code of one value in a set column's dictionary (-1 when no record has it)."""

    field: str
    value: str


# ---- instructions ----------------------------------------------------------------------------


@attrs.frozen(slots=True)
class LutTest:
    column: int
    lut: int


@attrs.frozen(slots=True)
class NumTest:
    """A float64 column against a float constant slot."""

    column: int
    op: str  # == != < <= > >=
    const: int


@attrs.frozen(slots=True)
class IntTest:
    """An int64 or day column against an int constant slot; `always`/`never` decide every
    known value (e.g. an int compared for equality with 2.5)."""

    column: int
    op: str  # == != < <= > >= always never
    const: int


@attrs.frozen(slots=True)
class KnownTest:
    column: int
    known: bool


@attrs.frozen(slots=True)
class SetTest:
    """A set column against item codes held in the int constant slots first .. first + count - 1
    (a slice, so that a list of any length is one loop in the kernel)."""

    column: int
    first: int
    count: int
    quantifier: str  # "any" | "all"


@attrs.frozen(slots=True)
class MemberTest:
    """A number, int or date column in a list of constants (`in {…}`): true when it equals one.
    The constants are the slots first .. first + count - 1 of the float (number column) or int
    constants; equality with each is what the reference tests."""

    column: int
    first: int
    count: int


@attrs.frozen(slots=True)
class NotOp:
    arg: int


@attrs.frozen(slots=True)
class AndOp:
    args: tuple[int, ...]


@attrs.frozen(slots=True)
class OrOp:
    args: tuple[int, ...]


Instruction = Union[LutTest, NumTest, IntTest, KnownTest, SetTest, MemberTest, NotOp, AndOp, OrOp]


# ---- rules -------------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class ParamIR:
    mode: str
    unknown: str | None
    value: int  # the instruction holding the condition's truth value
    weight: int  # scaled integer weight (score parameters), else 0
    slot: int  # column of this parameter in the weight table and the outcome matrix

    @property
    def threshold(self) -> int:
        """A filter passes when its value >= threshold, an exclude when its value < threshold:
        2 when only true counts, 1 when unknown counts too (`unknown passes` / `unknown excludes`)."""
        return 1 if self.unknown in ("passes", "excludes") else 2


@attrs.frozen(slots=True)
class RuleIR:
    """One ICP or Persona: its parameters in declaration order and its index in weight tables."""

    index: int
    params: tuple[ParamIR, ...]

    @property
    def possible(self) -> int:
        return sum(p.weight for p in self.params if p.mode == "score")

    @property
    def unit(self) -> int:
        """The largest whole number dividing every score weight (1 without any). Kernels count a
        rule's points in this unit: its score is the same, and its score table (bind.py) shorter
        (weights 25 and 50 make a table of 4 entries, not 76)."""
        return math.gcd(*(p.weight for p in self.params if p.mode == "score")) or 1

    @property
    def points(self) -> int:
        """The possible points in units of `unit`."""
        return self.possible // self.unit


@attrs.frozen(slots=True)
class Block:
    """The straight-line code of one record kind's rules: instructions, then the rules."""

    instructions: tuple[Instruction, ...]
    rules: tuple[RuleIR, ...]


@attrs.frozen(slots=True)
class Program:
    account_columns: tuple[ColumnSlot, ...]
    lead_columns: tuple[ColumnSlot, ...]
    icps: Block
    personas: tuple[Block, ...]  # one block per ICP, in ICP order
    luts: tuple[LutSpec, ...]
    floats: tuple[NumberConst, ...]
    ints: tuple[IntConst | DateConst | AsOfShift | SetItem, ...]
    weight_scale: int  # weights are multiplied by this to make them integers


@attrs.frozen(slots=True)
class AudienceProgram:
    """One audience: its condition over one record table (fields and scores side by side)."""

    columns: tuple[ColumnSlot, ...]
    instructions: tuple[Instruction, ...]
    result: int
    luts: tuple[LutSpec, ...]
    floats: tuple[NumberConst, ...]
    ints: tuple[IntConst | DateConst | AsOfShift | SetItem, ...]
