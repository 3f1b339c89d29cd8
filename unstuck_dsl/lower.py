"""Lowering: the checked ruleset → the flat IR (run-time binding of its constants is bind.py).

Each predicate kind lowers in exactly one place here (`lower_predicate`), mirroring its one
definition in the reference evaluator. String-valued predicates become lookup tables (`ir.LutSpec`)
that bind.py fills with the reference's own `evaluate_predicate`, once per dictionary value.
"""

from __future__ import annotations

import math
from decimal import Decimal

from . import ast, ir, model
from .schema import REPRESENTATIONS, Schema

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


class _BlockBuilder:
    """Collects the instructions and columns of one record kind."""

    def __init__(self, lowering: _Lowering, columns: dict[str, int]):
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
            out.append(ir.ColumnSlot(name, REPRESENTATIONS[field_type.name].encoding, field_type.open))
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
    kind = REPRESENTATIONS[field_type.name].encoding
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
