"""Lowering: the checked ruleset → the flat IR; and, per run, binding the IR's constants.

Each predicate kind lowers in exactly one place here (`lower_predicate`), mirroring its one
definition in the reference evaluator. String-valued predicates become lookup tables that are
filled by the reference's own `evaluate_predicate`, once per distinct dictionary value.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import attrs
import numpy as np

from . import ast, dates, ir, model
from .data import Column, Dataset
from .reference import Context, evaluate_predicate
from .schema import Schema

_COLUMN_KIND = {"category": "coded", "text": "coded", "ordinal": "coded", "bool": "coded",
                "number": "f64", "int": "i64", "date": "days", "set": "set"}
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


class _BlockBuilder:
    """Collects the instructions and columns of one record kind."""

    def __init__(self, lowering: "_Lowering", columns: dict[str, int]):
        self.lowering = lowering
        self.columns = columns
        self.instructions: list[ir.Instruction] = []

    def emit(self, instruction: ir.Instruction) -> int:
        self.instructions.append(instruction)
        return len(self.instructions) - 1

    def column(self, name: str) -> int:
        return self.lowering.column(self.columns, name)


class _Lowering:
    def __init__(self, schema: Schema, rules=()):
        self.schema = schema
        self.account_columns: dict[str, int] = {}
        self.lead_columns: dict[str, int] = {}
        self.luts: list[ir.LutSpec] = []
        self.floats: list[ir.NumberConst] = []
        self.ints: list = []
        decimals = max((-p.weight.as_tuple().exponent for r in rules for p in r.params if p.weight is not None),
                       default=0)
        self.weight_scale = 10 ** max(decimals, 0)

    def column(self, columns: dict[str, int], name: str) -> int:
        if name not in columns:
            columns[name] = len(columns)
        return columns[name]

    def slots(self, columns: dict[str, int]) -> tuple[ir.ColumnSlot, ...]:
        out = []
        for name in columns:
            field_type = self.schema.get(name).type
            out.append(ir.ColumnSlot(name, _COLUMN_KIND[field_type.name], field_type.open))
        return tuple(out)

    def float_const(self, value: Decimal) -> int:
        self.floats.append(ir.NumberConst(value))
        return len(self.floats) - 1

    def int_const(self, const) -> int:
        self.ints.append(const)
        return len(self.ints) - 1

    def lut(self, predicate) -> int:
        self.luts.append(ir.LutSpec(predicate.field.name, predicate))
        return len(self.luts) - 1

    def block(self, rules, columns: dict[str, int], first_rule: int, first_slot: int) -> ir.Block:
        builder = _BlockBuilder(self, columns)
        out, slot = [], first_slot
        for r, rule in enumerate(rules):
            params = []
            for param in rule.params:
                value = lower_condition(builder, param.condition)
                weight = int(param.weight * self.weight_scale) if param.weight is not None else 0
                params.append(ir.ParamIR(param.mode, param.unknown, value, weight, slot))
                slot += 1
            out.append(ir.RuleIR(first_rule + r, tuple(params)))
        return ir.Block(tuple(builder.instructions), tuple(out))


def lower_ruleset(ruleset: model.Ruleset) -> ir.Program:
    lowering = _Lowering(ruleset.schema, [*ruleset.icps, *(p for i in ruleset.icps for p in i.personas)])
    icps = lowering.block(ruleset.icps, lowering.account_columns, 0, 0)
    personas, rule, slot = [], len(ruleset.icps), 0
    for icp in ruleset.icps:
        block = lowering.block(icp.personas, lowering.lead_columns, rule, slot)
        personas.append(block)
        rule += len(icp.personas)
        slot += sum(len(p.params) for p in icp.personas)
    return ir.Program(lowering.slots(lowering.account_columns), lowering.slots(lowering.lead_columns),
                      icps, tuple(personas), tuple(lowering.luts), tuple(lowering.floats), tuple(lowering.ints),
                      lowering.weight_scale)


def lower_audience(schema: Schema, audience: model.Audience) -> ir.AudienceProgram:
    """An audience condition over `schema.audience_schema` fields: one block, one result."""
    lowering = _Lowering(schema)
    builder = _BlockBuilder(lowering, lowering.lead_columns)
    result = lower_condition(builder, audience.condition)
    return ir.AudienceProgram(lowering.slots(lowering.lead_columns), tuple(builder.instructions), result,
                              tuple(lowering.luts), tuple(lowering.floats), tuple(lowering.ints))


# ---- conditions ---------------------------------------------------------------------------------


def lower_condition(b: _BlockBuilder, c) -> int:
    if isinstance(c, ast.Not):
        return b.emit(ir.NotOp(lower_condition(b, c.operand)))
    if isinstance(c, ast.And):
        return b.emit(ir.AndOp(tuple(lower_condition(b, o) for o in c.operands)))
    if isinstance(c, ast.Or):
        return b.emit(ir.OrOp(tuple(lower_condition(b, o) for o in c.operands)))
    return lower_predicate(b, c)


def lower_predicate(b: _BlockBuilder, c) -> int:
    low = b.lowering
    field_type = low.schema.get(c.field.name).type
    kind = _COLUMN_KIND[field_type.name]
    column = b.column(c.field.name)
    if isinstance(c, ast.IsKnown):
        return b.emit(ir.KnownTest(column, c.known))
    if kind == "coded":
        # Every test of a category, text, ordinal or bool value: one table over its dictionary.
        return b.emit(ir.LutTest(column, low.lut(c)))
    if isinstance(c, ast.Has):
        first = len(low.ints)
        for item in c.items:
            low.int_const(ir.SetItem(c.field.name, item.value))
        return b.emit(ir.SetTest(column, first, len(c.items), "all" if c.quantifier == "all" else "any"))
    if isinstance(c, ast.Compare):
        return _compare(b, column, kind, c.op, c.value)
    if isinstance(c, ast.In):
        member = b.emit(_member_test(low, column, kind, c.items))
        return b.emit(ir.NotOp(member)) if c.negated else member
    if isinstance(c, ast.Between):
        return b.emit(ir.AndOp((_compare(b, column, kind, ">=", c.low), _compare(b, column, kind, "<=", c.high))))
    if isinstance(c, ast.Within):
        amount = c.amount if c.future else -c.amount
        edge = b.emit(ir.IntTest(column, "<=" if c.future else ">=", low.int_const(ir.AsOfShift(amount, c.unit))))
        as_of = b.emit(ir.IntTest(column, ">=" if c.future else "<=", low.int_const(ir.AsOfShift(0, "day"))))
        return b.emit(ir.AndOp((edge, as_of)))
    if isinstance(c, ast.DateBound):
        op = "<" if c.side == "before" else ">"
        if isinstance(c.bound, ast.RelativeDate):
            const = low.int_const(ir.AsOfShift(-c.bound.amount, c.bound.unit))
        else:
            const = low.int_const(ir.DateConst(c.bound.value))
        return b.emit(ir.IntTest(column, op, const))
    raise TypeError(f"cannot lower {type(c).__name__} on a {field_type.name} field")


def _compare(b: _BlockBuilder, column: int, kind: str, op: str, value: ast.Value) -> int:
    low = b.lowering
    if kind == "f64":
        return b.emit(ir.NumTest(column, op, low.float_const(value.value)))
    if kind == "days":
        return b.emit(ir.IntTest(column, op, low.int_const(ir.DateConst(value.value))))
    op, bound = exact_int_comparison(op, value.value)
    return b.emit(ir.IntTest(column, op, low.int_const(ir.IntConst(bound))))


def _member_test(low: _Lowering, column: int, kind: str, items) -> ir.MemberTest:
    """The list's constants side by side in one slice. An int column keeps only the integral
    values in its range: no int64 equals any other (`never`)."""
    if kind == "f64":
        first = len(low.floats)
        for item in items:
            low.float_const(item.value)
        return ir.MemberTest(column, first, len(low.floats) - first)
    first = len(low.ints)
    for item in items:
        if kind == "days":
            low.int_const(ir.DateConst(item.value))
        elif exact_int_comparison("==", item.value)[0] == "==":
            low.int_const(ir.IntConst(int(item.value)))
    return ir.MemberTest(column, first, len(low.ints) - first)


def exact_int_comparison(op: str, value: Decimal) -> tuple[str, int]:
    """`x op value` for an int64 x and an exact decimal, as an int64 comparison with the same
    answer for every int64 x (the reference compares Python ints with Decimals exactly)."""
    integral = value == value.to_integral_value()
    if op in ("==", "!="):
        if not integral or not INT64_MIN <= value <= INT64_MAX:
            return ("never" if op == "==" else "always"), 0
        return op, int(value)
    # x < v ⇔ x < ceil(v);  x <= v ⇔ x <= floor(v);  x > v ⇔ x > floor(v);  x >= v ⇔ x >= ceil(v)
    bound = math.ceil(value) if op in ("<", ">=") else math.floor(value)
    if bound > INT64_MAX:
        return ("always" if op in ("<", "<=") else "never"), 0
    if bound < INT64_MIN:
        return ("never" if op in ("<", "<=") else "always"), 0
    return op, bound


# ---- binding constants for one run --------------------------------------------------------------


@attrs.frozen
class Constants:
    """The run-time arrays a kernel's conditions read."""

    luts: np.ndarray  # int8 truth values, all tables end to end
    lut_offsets: np.ndarray  # int64 start of each table
    floats: np.ndarray  # float64
    ints: np.ndarray  # int64

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self.luts, self.lut_offsets, self.floats, self.ints


@attrs.frozen
class Bound:
    """Constants plus the scoring tables: weights per parameter slot, possible per rule."""

    constants: Constants
    weights: np.ndarray  # int64 per account parameter slot
    lead_weights: np.ndarray  # int64 per lead parameter slot
    possible: np.ndarray  # int64 per rule (ICPs, then every Persona)


def bind_constants(program, schema: Schema, columns: dict[str, Column], as_of: dt.date) -> Constants:
    """Fill a program's lookup tables from the data's dictionaries and resolve its constants
    (dates against the as-of date, set items to dictionary codes)."""
    ctx = Context(schema, as_of)
    tables, offsets, start = [], [], 0
    for spec in program.luts:
        table = lookup_table(spec, columns.get(spec.field), ctx)
        tables.append(table)
        offsets.append(start)
        start += len(table)
    luts = np.concatenate(tables) if tables else np.zeros(1, np.int8)
    floats = np.array([float(c.value) for c in program.floats] or [0.0], dtype=np.float64)
    ints = np.array([_int_value(c, columns, as_of) for c in program.ints] or [0], dtype=np.int64)
    return Constants(luts.astype(np.int8), np.array(offsets or [0], np.int64), floats, ints)


def bind_program(program: ir.Program, schema: Schema, dataset: Dataset, as_of: dt.date) -> Bound:
    columns = dict(dataset.accounts.columns)
    if dataset.leads is not None:
        columns.update(dataset.leads.columns)
    lead_rules = [r for b in program.personas for r in b.rules]
    weights = np.zeros(max(1, sum(len(r.params) for r in program.icps.rules)), np.int64)
    lead_weights = np.zeros(max(1, sum(len(r.params) for r in lead_rules)), np.int64)
    for table, rules in ((weights, program.icps.rules), (lead_weights, lead_rules)):
        for rule in rules:
            for p in rule.params:
                table[p.slot] = p.weight
    possible = np.array([r.possible for r in [*program.icps.rules, *lead_rules]] or [0], np.int64)
    return Bound(bind_constants(program, schema, columns, as_of), weights, lead_weights, possible)


def lookup_table(spec: ir.LutSpec, column: Column | None, ctx: Context) -> np.ndarray:
    """The predicate's truth value for every value in the column's dictionary, after a first
    entry for the code -1 (a missing value: unknown)."""
    dictionary = column.dictionary if column is not None else []
    table = np.empty(len(dictionary) + 1, dtype=np.int8)
    table[0] = ir.UNKNOWN
    for code, value in enumerate(dictionary):
        truth = evaluate_predicate(spec.predicate, {spec.field: value}, ctx)
        table[code + 1] = ir.UNKNOWN if truth is None else (ir.TRUE if truth else ir.FALSE)
    return table


def _int_value(const, columns: dict[str, Column], as_of: dt.date) -> int:
    if isinstance(const, ir.IntConst):
        return const.value
    if isinstance(const, ir.DateConst):
        return dates.to_days(const.value)
    if isinstance(const, ir.AsOfShift):
        return dates.to_days(dates.shift(as_of, const.amount, const.unit))
    if isinstance(const, ir.SetItem):
        column = columns.get(const.field)
        if column is None:
            return -1
        try:
            return column.dictionary.index(const.value)
        except ValueError:
            return -1
    raise TypeError(f"not an int constant: {const!r}")
