"""The lint pass: findings on checked rules that are legal but almost certainly not what the
author meant. Every finding is a warning (W003–W010); `unstuck check` runs this pass and prints
them, `check --strict` fails on them, and no other command runs it.

A condition is reasoned about only where the answer is exact. Numbers, ints, dates, ordinals and
bools are sets of intervals of their values (an ordinal's levels are ranks, a bool is 0 or 1);
so are categories and text under `==`, `!=` and `in` (each distinct value written, normalized
for text, is a number of its own); every other test says only that its field is known. For
each condition the pass computes, per field, the values (and whether a missing value) a record
must have for the condition to be true: a field left with none means the condition is never
true. Negation is pushed down to the tests (De Morgan holds in three-valued logic), and `or`
keeps only what every side requires, so what is reported is proven and what cannot be proven is
never reported.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterator
from fractions import Fraction

from . import ast, model
from .diagnostics import Code, Diagnostic
from .frozen import Frozen, frozen
from .printer import print_condition
from .schema import SCORE_FIELDS, Field, audience_schema
from .text import normalize_text

# An interval of values: (low, low_open, high, high_open); a None bound is infinite.
Interval = tuple[Fraction | None, bool, Fraction | None, bool]
MAX_SHOWN = 80  # characters of a condition quoted in a message


# ---- sets of values ----------------------------------------------------------------------------


@frozen
class Domain(Frozen):
    """The values of a field type on a line: `discrete` for whole steps (ints, days, ranks),
    with the lowest and highest value when there are such."""

    discrete: bool
    low: int | None = None
    high: int | None = None

    def full(self) -> tuple[Interval, ...]:
        return _full(self)

    def normalize(self, intervals) -> tuple[Interval, ...]:
        """Disjoint, sorted, merged, empty ones dropped; in a discrete domain closed whole
        bounds clipped to the domain."""
        out = []
        for low, low_open, high, high_open in intervals:
            if self.discrete:
                low, high = self._whole_low(low, low_open), self._whole_high(high, high_open)
                low_open = high_open = False
                if low is not None and high is not None and low > high:
                    continue
            elif low is not None and high is not None and (low > high or (low == high and (low_open or high_open))):
                continue
            out.append((low, low_open, high, high_open))
        out.sort(key=lambda i: (i[0] is not None, i[0] if i[0] is not None else 0, i[1]))
        merged: list[Interval] = []
        for interval in out:
            if merged and self._touches(merged[-1], interval):
                low, low_open, high, high_open = merged[-1]
                if _above(interval[2], interval[3], high, high_open):
                    high, high_open = interval[2], interval[3]
                merged[-1] = (low, low_open, high, high_open)
            else:
                merged.append(interval)
        return tuple(merged)

    def _whole_low(self, low, low_open):
        if low is None:
            return self.low
        whole = math.floor(low) + 1 if (low_open or low != math.floor(low)) else int(low)
        return whole if self.low is None else max(whole, self.low)

    def _whole_high(self, high, high_open):
        if high is None:
            return self.high
        whole = math.ceil(high) - 1 if (high_open or high != math.ceil(high)) else int(high)
        return whole if self.high is None else min(whole, self.high)

    def _touches(self, first: Interval, second: Interval) -> bool:
        high, high_open, low, low_open = first[2], first[3], second[0], second[1]
        if high is None or low is None:
            return True
        if self.discrete:
            return low <= high + 1
        return low < high or (low == high and not (high_open and low_open))

    def intersect(self, a, b) -> tuple[Interval, ...]:
        out = []
        for x in a:
            for y in b:
                low, low_open = _max_low(x[0], x[1], y[0], y[1])
                high, high_open = (x[2], x[3]) if _above(y[2], y[3], x[2], x[3]) else (y[2], y[3])
                out.append((low, low_open, high, high_open))
        return self.normalize(out)

    def union(self, a, b) -> tuple[Interval, ...]:
        return self.normalize([*a, *b])

    def complement(self, a) -> tuple[Interval, ...]:
        out, low, low_open = [], None, True
        for x in a:
            if x[0] is not None:
                out.append((low, low_open, x[0], not x[1]))
            if x[2] is None:
                return self.normalize(out)
            low, low_open = x[2], not x[3]
        out.append((low, low_open, None, True))
        return self.normalize(out)


@functools.cache
def _full(domain: Domain) -> tuple[Interval, ...]:
    return domain.normalize([(None, True, None, True)])


def _above(high, high_open, other, other_open) -> bool:
    """Whether the upper bound (high, high_open) lies above (other, other_open)."""
    if high is None:
        return other is not None
    if other is None:
        return False
    return high > other or (high == other and other_open and not high_open)


def _max_low(low, low_open, other, other_open):
    if low is None:
        return other, other_open
    if other is None or low > other:
        return low, low_open
    if other > low:
        return other, other_open
    return low, low_open or other_open


_REAL = Domain(False)
_DOMAINS = {
    "number": _REAL,
    "int": Domain(True),
    "date": Domain(True, dt.date.min.toordinal(), dt.date.max.toordinal()),
    "bool": Domain(True, 0, 1),
    # Each distinct value written in the rules is a number from 0 up, in the order first met; the
    # numbers above them stand for the values never written, which no test tells apart.
    "category": Domain(True, 0),
    "text": Domain(True, 0),
}
_SCORE_RANGE = Domain(True, 0, 100)  # icp_score and persona_score


@frozen
class Need(Frozen):
    """What one field must hold for a condition to be true: one of `values` (known), or missing
    when `missing`."""

    values: tuple[Interval, ...]
    missing: bool

    def is_empty(self) -> bool:
        return not self.values and not self.missing


@frozen
class Region(Frozen):
    """Per field, what a record must hold for a condition to be true. `exact` when holding it is
    also enough (the condition is true exactly there)."""

    needs: dict[str, Need]
    exact: bool


# ---- the pass ----------------------------------------------------------------------------------


def lint_ruleset(ruleset: model.Ruleset, workspace: ast.Workspace) -> list[Diagnostic]:
    """The lint findings of a ruleset that checked without errors, `workspace` being the AST it
    was checked from (templates expanded). Each finding once; rendering sorts them."""
    linter = _Linter(ruleset)
    linter.run(workspace)
    seen, out = set(), []
    for d in linter.diagnostics:  # a template's parameter is in every Persona made from it
        key = (d.code, d.span, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


class _Linter:
    def __init__(self, ruleset: model.Ruleset):
        self.ruleset = ruleset
        self.fields: dict[str, Field] = {f.name: f for f in audience_schema(ruleset.schema, ruleset.engagement).fields}
        self.diagnostics: list[Diagnostic] = []
        self.regions: dict[tuple[int, bool], tuple[ast.Condition, Region | None]] = {}
        self.domains: dict[str, Domain] = {}
        self.string_numbers: dict[str, dict[str, int]] = {}  # per category or text field
        self.always_true_conditions: set[int] = set()  # reported as W004: not again as W007

    def report(self, code: Code, message: str, span, label: str = "", hint: str = "") -> None:
        self.diagnostics.append(Diagnostic(code, message, span, label, hint))

    def run(self, workspace: ast.Workspace) -> None:
        self.lint_unused(workspace)
        for icp in self.ruleset.icps:
            self.lint_rule(f"ICP `{icp.code}`", icp.params)
            for persona in icp.personas:
                self.lint_rule(f"Persona `{icp.code}.{persona.code}`", persona.params)
        for audience in self.ruleset.audiences:
            self.lint_condition(audience.condition)
            self.lint_audience_codes(audience)

    # ---- one condition: never true, always true, a part written twice ---------------------------

    def lint_condition(self, condition: ast.Condition) -> None:
        self.never_true(condition, True, condition, True)
        self.always_true(condition)
        self.repeated_operands(condition)

    def never_true(self, c, positive: bool, shown, shown_positive: bool) -> None:
        """W003 on the smallest parts of `c` (of `not c` when not `positive`) that can never be
        true. The report points at `shown`, which means the same (negated when not
        `shown_positive`): a `not` around a test is reported whole."""
        if isinstance(c, ast.Not):
            self.never_true(c.operand, not positive, shown, shown_positive)
            return
        region = self.region(c, positive)
        text = _show(shown, shown_positive)
        if not isinstance(c, (ast.And, ast.Or)):
            if region is None:
                self.report_never_test(c, positive, shown, text)
            return
        conjunction = isinstance(c, ast.And) == positive
        if region is not None or not conjunction:
            for operand in c.operands:
                self.never_true(operand, positive, operand, positive)
            return
        dead = [o for o in c.operands if self.region(o, positive) is None]
        for operand in dead:
            self.never_true(operand, positive, operand, positive)
        if not dead:
            field = self.emptied_field([self.region(o, positive) for o in c.operands])
            self.report(Code.W003, f"`{text}` is never true", shown.span,
                        f"no value of `{field}` meets every part" if field else "its parts exclude each other",
                        "check the values and bounds; to accept a record that meets any part, join them with `or`")

    def report_never_test(self, c, positive: bool, shown, text: str) -> None:
        field = self.fields[c.field.name]
        if isinstance(c, ast.Has) and field.type.open and not positive:
            self.report(Code.W003, f"`{text}` is never true", shown.span, f"`{c.field.name}` is an open set",
                        f"in an open set a member not seen is unknown, not absent, so its absence is never proven; "
                        f"declare `{c.field.name}: set` if a member missing from the data means no")
            return
        self.report(Code.W003, f"`{text}` is never true", shown.span, f"no value of `{c.field.name}` meets it",
                    _values_hint(field))

    def always_true(self, c) -> None:
        """W004 on the largest parts of `c` (through `and` and `or`) that hold for every value."""
        region = self.region(c, True)
        names = {p.field.name for p in ast.predicates(c)}
        if region is not None and region.exact and set(region.needs) == names and len(names) == 1 and _reads_a_value(c):
            (name, need), = region.needs.items()
            if need.values == self.domain(name).full():
                self.always_true_conditions.add(id(c))
                if need.missing:
                    self.report(Code.W004, f"`{_show(c)}` is always true", c.span, "true for every record",
                                "remove it, or check the bounds")
                else:
                    self.report(Code.W004, f"`{_show(c)}` is true for every value of `{name}`", c.span,
                                f"the same as `{name} is known`",
                                f"write `{name} is known` if that is meant; otherwise check the bounds")
                return
        if isinstance(c, (ast.And, ast.Or)):
            for operand in c.operands:
                self.always_true(operand)

    def repeated_operands(self, c) -> None:
        """W008 on an operand of one `and` / `or` written twice."""
        if isinstance(c, ast.Not):
            self.repeated_operands(c.operand)
        if not isinstance(c, (ast.And, ast.Or)):
            return
        seen = {}
        word = "and" if isinstance(c, ast.And) else "or"
        for operand in c.operands:
            text = print_condition(operand)
            if text in seen:
                self.report(Code.W008, f"`{_show(operand)}` is written twice in one `{word}`", operand.span,
                            "the same condition again", f"the first is at {seen[text]}; remove one")
            else:
                seen[text] = operand.span
            self.repeated_operands(operand)

    # ---- one ICP or Persona: its parameters together ---------------------------------------------

    def lint_rule(self, where: str, params: tuple[model.Parameter, ...]) -> None:
        for param in params:
            self.lint_condition(param.condition)
        repeated = self.repeated_params(where, params)
        regions = {id(p): self.region(p.condition, True) for p in params}
        # What qualifying requires: every filter true (unless it passes on unknown), and every
        # exclude that excludes on unknown false.
        gates = [(p, regions[id(p)] if p.mode == "filter" else self.region(p.condition, False)) for p in params
                 if (p.mode == "filter" and p.unknown is None) or (p.mode == "exclude" and p.unknown == "excludes")]
        for param, region in gates:
            if region is None and param.mode == "exclude":
                self.report(Code.W006, f"{where} can never qualify", param.span, "excludes every record",
                            f"`{_show(param.condition)}` is never false, and `unknown excludes` excludes on unknown; "
                            "check the condition, or drop `unknown excludes`")
        if any(region is None for _, region in gates):
            return  # a filter never true is reported where it is written (W003)
        qualify = Region({}, True)
        for k, (param, region) in enumerate(gates):
            joined = self.conjoin([qualify, region])
            if joined is None:
                other = next((p for p, r in gates[:k] if self.conjoin([r, region]) is None), None)
                label = f"contradicts {_mode_name(other)}" if other is not None else "contradicts the filters before it"
                both = f"{_passing(param)} and {_passing(other)} (at {other.span})" if other is not None else \
                    f"{_passing(param)} and the filters before it"
                self.report(Code.W006, f"{where} can never qualify", param.span, label,
                            f"no record can {both}; check the bounds, or make two ICPs or Personas of it")
                return
            qualify = joined
        # Scores, and excludes that do not exclude on unknown: none of them is a gate.
        for param in params:
            region = regions[id(param)]
            if id(param) in repeated or param.mode == "filter" or param.unknown is not None or region is None:
                continue
            if self.conjoin([qualify, region]) is None:
                other = next((p for p, r in gates if self.conjoin([r, region]) is None), None)
                by = f"{_mode_name(other)} (at {other.span})" if other is not None else "the filters together"
                if param.mode == "score":
                    self.report(Code.W005, f"{_mode_name(param)} of {where} never earns on a record that qualifies",
                                param.span, "ruled out by the filters",
                                f"{by} already rules it out; every qualifying record scores 0 on it. Check the bounds, or remove it")
                else:
                    self.report(Code.W005, f"{_mode_name(param)} of {where} never excludes a record the filters pass",
                                param.span, "ruled out by the filters", f"{by} already rules it out; remove it or check the bounds")
            elif param.mode == "exclude" and self.implies(qualify, region):
                other = next((p for p, r in gates if self.implies(r, region)), None)
                by = f"{_passing(other)} (at {other.span})" if other is not None else "pass the filters"
                self.report(Code.W006, f"{where} can never qualify", param.span, "excludes every record the filters pass",
                            f"every record that can {by} meets this exclude; check the bounds")
            elif param.mode == "score" and id(param.condition) not in self.always_true_conditions \
                    and self.implies(qualify, region):
                other = next((p for p, r in gates if self.implies(r, region)), None)
                by = f"{_mode_name(other)} (at {other.span})" if other is not None else "the filters together"
                self.report(Code.W007, f"{_mode_name(param)} of {where} is true for every record that qualifies",
                            param.span, "implied by the filters",
                            f"{by} already requires it, so it adds its weight to every qualifying record and ranks "
                            "none above another; remove it or score something the filters leave open")

    def repeated_params(self, where: str, params) -> set[int]:
        """W008 on a parameter whose condition another parameter of the same rule already has;
        the ids of the parameters repeated and their repeats (what else they would get is said
        by W008 already)."""
        first: dict[str, model.Parameter] = {}
        repeated = set()
        for param in params:
            text = print_condition(param.condition)
            if text not in first:
                first[text] = param
                continue
            earlier = first[text]
            repeated |= {id(param), id(earlier)}
            modes = {earlier.mode, param.mode}
            if modes == {"score"}:
                hint = "the two add their weights for one trait: keep one, with the weights summed"
            elif modes == {"filter", "score"}:
                hint = "every record that qualifies earns the score; remove the score or change it"
            elif "exclude" in modes and len(modes) == 2:
                hint = "a record that meets the condition is excluded whatever else it meets; remove one"
            else:
                hint = "remove one"
            self.report(Code.W008, f"{_mode_name(param)} of {where} has the same condition as {_mode_name(earlier)}",
                        param.span, f"`{_show(param.condition)}` again", f"{hint} (the first is at {earlier.span})")
        return repeated

    # ---- declarations and audiences -------------------------------------------------------------

    def lint_unused(self, workspace: ast.Workspace) -> None:
        """W009: fields no condition reads, regions no condition names, templates no Persona uses."""
        read, named = set(), set()
        for condition in _conditions(workspace):
            for predicate in ast.predicates(condition):
                read.add(predicate.field.name)
                for item in getattr(predicate, "items", ()):
                    if isinstance(item, ast.NameValue):
                        named.add(item.name)
        used_templates = {p.template for f in (workspace.as_written or workspace.files) for d in f.declarations
                          if isinstance(d, ast.Icp) for p in d.personas if isinstance(p, ast.PersonaInstance)}
        for d in workspace.declarations():
            if isinstance(d, ast.FieldsBlock):
                for field in d.fields:
                    if field.name not in read:
                        self.report(Code.W009, f"{d.kind} field `{field.name}` is declared but no condition reads it",
                                    field.span, "never read",
                                    "remove the declaration, or read the field in a parameter or an audience")
            elif isinstance(d, ast.RegionDecl) and d.code not in named:
                self.report(Code.W009, f"region `{d.code}` is declared but no condition names it", d.span, "never used",
                            f"remove it, or use it: `country in {d.code}`")
            elif isinstance(d, ast.PersonaTemplate) and d.code not in used_templates:
                self.report(Code.W009, f"persona template `{d.code}` is declared but no Persona is made from it",
                            d.span, "never used", f"remove it, or use it in an ICP: `persona {d.code} from {d.code}`")

    def lint_audience_codes(self, audience: model.Audience) -> None:
        """W010: an audience naming an ICP or Persona that is never assigned (a draft)."""
        live_icps = {i.code for i in self.ruleset.icps if i.status == "live"}
        live_personas = {p.code for i in self.ruleset.icps if i.status == "live" for p in i.personas if p.status == "live"}
        for predicate in ast.predicates(audience.condition):
            name = predicate.field.name
            if name not in ("icp_code", "persona_code"):
                continue
            values = predicate.items if isinstance(predicate, ast.In) else (
                [predicate.value] if isinstance(predicate, ast.Compare) else [])
            for value in values:
                if not isinstance(value, ast.StringValue) or value.value == model.NO_PERSONA_FIT:
                    continue
                if name == "icp_code" and value.value not in live_icps:
                    self.report(Code.W010, f"audience `{audience.code}` names ICP `{value.value}`, a draft", value.span,
                                "never assigned", f"a draft ICP is scored but never assigned, so no record has "
                                f"`icp_code` \"{value.value}\"; make it `live` when it is ready, and meanwhile look at it "
                                f"with `unstuck score --preview {value.value}`")
                elif name == "persona_code" and value.value not in live_personas:
                    self.report(Code.W010, f"audience `{audience.code}` names Persona `{value.value}`, which is a draft "
                                "or only in draft ICPs", value.span, "never assigned",
                                f"only a live Persona of a live ICP is assigned, so no lead has `persona_code` "
                                f"\"{value.value}\"; make it (and its ICP) `live` when it is ready")

    # ---- regions --------------------------------------------------------------------------------

    def domain(self, name: str) -> Domain:
        if name not in self.domains:
            self.domains[name] = self.compute_domain(self.fields[name])
        return self.domains[name]

    @staticmethod
    def compute_domain(field: Field) -> Domain:
        if field.type.name == "ordinal":
            return Domain(True, 0, len(field.type.levels) - 1)
        if field.type.name == "int" and field in SCORE_FIELDS:
            return _SCORE_RANGE
        return _DOMAINS.get(field.type.name, _REAL)

    def region(self, c, positive: bool) -> Region | None:
        """What a record must hold for `c` (for `not c` when not `positive`) to be true; None
        when nothing can make it true. Each is computed once: the checks ask again for parts."""
        key = (id(c), positive)
        if key not in self.regions:
            self.regions[key] = (c, self.compute_region(c, positive))  # c kept alive: its id stays its own
        return self.regions[key][1]

    def compute_region(self, c, positive: bool) -> Region | None:
        if isinstance(c, ast.Not):
            return self.region(c.operand, not positive)
        if isinstance(c, (ast.And, ast.Or)):
            regions = [self.region(o, positive) for o in c.operands]
            return self.conjoin(regions) if isinstance(c, ast.And) == positive else self.disjoin(regions)
        return self.test_region(c, positive)

    def test_region(self, c: ast.Predicate, positive: bool) -> Region | None:
        name = c.field.name
        domain = self.domain(name)
        if isinstance(c, ast.IsKnown):
            known = c.known == positive
            return Region({name: Need(domain.full() if known else (), not known)}, True)
        field = self.fields[name]
        if isinstance(c, ast.Has) and field.type.open:
            # Never false: true, or unknown when a member is not seen.
            return Region({name: Need(domain.full(), False)}, False) if positive else None
        values = self.test_values(c, field, domain)
        if values is None:
            return Region({name: Need(domain.full(), False)}, False)
        if not positive:
            values = domain.complement(values)
        return Region({name: Need(values, False)}, True) if values else None

    def test_values(self, c, field: Field, domain: Domain) -> tuple[Interval, ...] | None:
        """The known values for which the test is true, or None when that is not decided here."""
        if field.type.name not in ("number", "int", "date", "ordinal", "bool", "category", "text"):
            return None
        if field.type.is_string and not isinstance(c, (ast.Compare, ast.In)):
            return None  # `like`, `resembles`, a role: not decided here
        point = self.value_of
        if isinstance(c, ast.BoolTest):
            return domain.normalize([(Fraction(1), False, Fraction(1), False)])
        if isinstance(c, ast.Compare):
            v = point(field, c.value)
            return domain.normalize({
                "==": [(v, False, v, False)], "!=": [(None, True, v, True), (v, True, None, True)],
                "<": [(None, True, v, True)], "<=": [(None, True, v, False)],
                ">": [(v, True, None, True)], ">=": [(v, False, None, True)]}[c.op])
        if isinstance(c, ast.In):
            members = domain.normalize([(v, False, v, False) for v in (point(field, item) for item in c.items)])
            return domain.complement(members) if c.negated else members
        if isinstance(c, ast.Between):
            return domain.normalize([(point(field, c.low), False, point(field, c.high), False)])
        if isinstance(c, ast.DateBound) and isinstance(c.bound, ast.DateValue):
            v = point(field, c.bound)
            return domain.normalize([(None, True, v, True)] if c.side == "before" else [(v, True, None, True)])
        return None

    def value_of(self, field: Field, value: ast.Value) -> Fraction:
        """A literal as a point of the field's domain, as the engines compare it (numbers as
        doubles, ordinals as ranks, dates as day numbers, text normalized, each distinct string
        its own number)."""
        if field.type.is_string:
            key = normalize_text(value.value) if field.type.name == "text" else value.value
            numbers = self.string_numbers.setdefault(field.name, {})
            return Fraction(numbers.setdefault(key, len(numbers)))
        if field.type.name == "ordinal":
            return Fraction(field.type.levels.index(value.value))
        if isinstance(value, ast.DateValue):
            return Fraction(value.value.toordinal())
        if isinstance(value, ast.BoolValue):
            return Fraction(int(value.value))
        if field.type.name == "number":
            return Fraction(float(value.value))
        return Fraction(value.value)

    def conjoin(self, regions: list[Region | None]) -> Region | None:
        if any(region is None for region in regions):
            return None
        needs, emptied = self._joined(regions)
        return None if emptied is not None else Region(needs, all(region.exact for region in regions))

    def disjoin(self, regions: list[Region | None]) -> Region | None:
        regions = [r for r in regions if r is not None]
        if not regions:
            return None
        names = set(regions[0].needs).intersection(*(r.needs for r in regions[1:]))
        needs = {}
        for name in names:
            domain = self.domain(name)
            values, missing = (), False
            for region in regions:
                values, missing = domain.union(values, region.needs[name].values), missing or region.needs[name].missing
            needs[name] = Need(values, missing)
        # Exact when every side tests the same one field: then `or` is the union.
        exact = all(r.exact and set(r.needs) == names for r in regions) and len(names) == 1
        return Region(needs, exact)

    def emptied_field(self, regions: list[Region]) -> str | None:
        """The field whose needs leave nothing when `regions` are joined with `and`."""
        return self._joined(regions)[1]

    def _joined(self, regions: list[Region]) -> tuple[dict[str, Need], str | None]:
        """The regions' needs joined with `and`, field by field, and the first field they leave
        with nothing (None when every field keeps a value)."""
        needs: dict[str, Need] = {}
        for region in regions:
            for name, need in region.needs.items():
                if name in needs:
                    need = Need(self.domain(name).intersect(needs[name].values, need.values),
                                needs[name].missing and need.missing)
                if need.is_empty():
                    return needs, name
                needs[name] = need
        return needs, None

    def implies(self, required: Region, region: Region) -> bool:
        """Whether every record holding `required` makes the condition of the exact `region` true."""
        if not region.exact or not region.needs:
            return False
        for name, need in region.needs.items():
            held = required.needs.get(name)
            if held is None or (held.missing and not need.missing):
                return False
            if self.domain(name).intersect(held.values, self.domain(name).complement(need.values)):
                return False
        return True


# ---- helpers ------------------------------------------------------------------------------------


def _conditions(workspace: ast.Workspace) -> Iterator[ast.Condition]:
    """Every condition the workspace declares: parameters of ICPs, Personas and templates, audiences."""
    for d in workspace.declarations():
        if isinstance(d, ast.Icp):
            yield from (p.condition for p in d.params)
            for persona in d.personas:
                for member in (persona.params if isinstance(persona, ast.Persona) else persona.overrides or ()):
                    param = member.param if isinstance(member, ast.Inherited) else member
                    if isinstance(param, ast.Param):
                        yield param.condition
        elif isinstance(d, ast.PersonaTemplate):
            yield from (p.condition for p in d.params)
        elif isinstance(d, ast.Audience):
            yield d.condition


def _reads_a_value(c) -> bool:
    """Whether a condition tests a value, not only whether its field is known."""
    return any(not isinstance(p, ast.IsKnown) for p in ast.predicates(c))


def _values_hint(field: Field) -> str:
    t = field.type
    if t.name == "ordinal":
        return f'`{field.name}` goes from "{t.levels[0]}" up to "{t.levels[-1]}"; check the level and the operator'
    if t.name == "int":
        return f"`{field.name}` holds whole numbers" + (" from 0 to 100" if field in SCORE_FIELDS else "") + \
            "; check the value and the operator"
    if t.name == "bool":
        return f"`{field.name}` is true or false; check the values"
    return "check the value and the operator"


def _passing(param: model.Parameter) -> str:
    """What qualifying asks of a filter, or of an exclude that excludes on unknown."""
    if param.mode == "filter":
        return f'pass filter "{param.name}"'
    return f'escape exclude "{param.name}" (which excludes on unknown)'


def _mode_name(param: model.Parameter) -> str:
    return f'{param.mode} "{param.name}"'


def _show(condition, positive: bool = True) -> str:
    text = print_condition(condition) if positive else "not " + print_condition(condition, 3)
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 1] + "…"
