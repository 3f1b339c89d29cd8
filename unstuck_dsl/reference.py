"""The reference evaluator: SPEC section 5, straight from the checked rules, one record at a time.

This is the oracle. The compiled kernel must agree with it on every record; each semantic rule
lives in exactly one function here, and codegen has exactly one twin for it.

Records are plain dicts of Python values (str, int, float, bool, datetime.date, a set or list of
str for sets, None for unknown). Truth values are three-valued: True, False, None (unknown).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction

import attrs

from . import ast, dates, model
from .schema import BANDS, FieldType, constant, record_value
from .text import normalize_text, resembles, wildcard_match
from .titles import SHIPPED, TitleReader, function_in, seniority_holds

Tri = bool | None


# ---- three-valued logic (rule 1) ----------------------------------------------------------------


def tri_not(value: Tri) -> Tri:
    return None if value is None else not value


def tri_and(values: Iterable[Tri]) -> Tri:
    values = list(values)
    if False in values:
        return False
    return None if None in values else True


def tri_or(values: Iterable[Tri]) -> Tri:
    values = list(values)
    if True in values:
        return True
    return None if None in values else False


# ---- predicates -----------------------------------------------------------------------------------


@attrs.frozen
class Context:
    """What a condition may read besides the record: the field types, the as-of date, and how
    the ruleset reads titles (its vocabulary: the shipped one plus its `titles` block)."""

    schema: object
    as_of: dt.date
    titles: TitleReader = SHIPPED

    def field_type(self, name: str) -> FieldType:
        return self.schema.get(name).type


def _equal(field_type: FieldType, value, const) -> bool:
    if field_type.name == "text":
        return normalize_text(value) == normalize_text(const)
    if field_type.name == "number":
        return float(value) == float(const)
    return value == const


def _order(field_type: FieldType, value, op: str, const) -> bool:
    if field_type.name == "number":
        value, const = float(value), float(const)
    return {
        "<": value < const, "<=": value <= const, ">": value > const, ">=": value >= const,
    }[op]


def _compare(field_type: FieldType, value, op: str, const) -> bool:
    if op == "==":
        return _equal(field_type, value, const)
    if op == "!=":
        return not _equal(field_type, value, const)
    return _order(field_type, value, op, const)


def _has(field_type: FieldType, members: frozenset, items: tuple, quantifier: str) -> Tri:
    """Set membership. In an open set a member not seen is unknown, not absent."""
    present = [item in members for item in items]
    found = all(present) if quantifier == "all" else any(present)
    if found:
        return True
    return None if field_type.open else False


def _like(field_type: FieldType, value: str, pattern: str) -> bool:
    if field_type.name == "text":
        return wildcard_match(normalize_text(value), normalize_text(pattern))
    return wildcard_match(value, pattern)


def _role_test(c: ast.RoleTest, role) -> Tri:
    """A condition on the role read from a title; unknown when the title names no function (for
    `function`) or no seniority (for `seniority`)."""
    names = tuple(item.value for item in c.items)
    if c.part == "function":
        found = function_in(role, names)
        return None if found is None else found == (c.op in ("==", "in"))
    if c.op in ("in", "not in"):
        held = [seniority_holds(role, "==", name) for name in names]
        found = True if True in held else (None if None in held else False)
        return None if found is None else found == (c.op == "in")
    return seniority_holds(role, c.op, names[0])


def relative_bound(bound, as_of: dt.date) -> dt.date:
    if isinstance(bound, ast.RelativeDate):
        return dates.shift(as_of, -bound.amount, bound.unit)
    return bound.value


def evaluate_predicate(c: ast.Predicate, record: dict, ctx: Context) -> Tri:
    field_type = ctx.field_type(c.field.name)
    value = record_value(field_type, record.get(c.field.name))
    if isinstance(c, ast.IsKnown):
        return (value is not None) == c.known
    if value is None:
        return None
    if isinstance(c, ast.BoolTest):
        return bool(value)
    if isinstance(c, ast.Compare):
        return _compare(field_type, value, c.op, constant(field_type, c.value))
    if isinstance(c, ast.In):
        member = any(_equal(field_type, value, constant(field_type, item)) for item in c.items)
        return member != c.negated
    if isinstance(c, ast.Between):
        return _order(field_type, value, ">=", constant(field_type, c.low)) and _order(
            field_type, value, "<=", constant(field_type, c.high))
    if isinstance(c, ast.Has):
        return _has(field_type, value, tuple(constant(field_type, i) for i in c.items), c.quantifier)
    if isinstance(c, ast.Like):
        return _like(field_type, value, c.pattern.value)
    if isinstance(c, ast.Resembles):
        return resembles(value, tuple(p.value for p in c.phrases), c.threshold, ctx.titles)
    if isinstance(c, ast.RoleTest):
        return _role_test(c, ctx.titles.read(value))
    if isinstance(c, ast.Within):
        low, high = dates.window(ctx.as_of, c.amount, c.unit, c.future)
        return low <= value <= high
    if isinstance(c, ast.DateBound):
        bound = relative_bound(c.bound, ctx.as_of)
        return value < bound if c.side == "before" else value > bound
    raise TypeError(f"not a predicate: {c!r}")


def evaluate_condition(c: ast.Condition, record: dict, ctx: Context) -> Tri:
    if isinstance(c, ast.Not):
        return tri_not(evaluate_condition(c.operand, record, ctx))
    if isinstance(c, ast.And):
        return tri_and(evaluate_condition(o, record, ctx) for o in c.operands)
    if isinstance(c, ast.Or):
        return tri_or(evaluate_condition(o, record, ctx) for o in c.operands)
    return evaluate_predicate(c, record, ctx)


# ---- modes, scores, qualification (rules 2, 3, 4) ---------------------------------------------


def filter_passes(param: model.Parameter, outcome: Tri) -> bool:
    """A filter passes only when true, or when unknown and it opts into passing on unknown."""
    return outcome is True or (outcome is None and param.unknown == "passes")


def exclude_triggers(param: model.Parameter, outcome: Tri) -> bool:
    """An exclude excludes only when true, or when unknown and it opts into excluding on unknown."""
    return outcome is True or (outcome is None and param.unknown == "excludes")


def earns(param: model.Parameter, outcome: Tri) -> Decimal:
    """A score parameter earns its weight only when its condition is true."""
    return param.weight if outcome is True else Decimal(0)


def normalized_score(earned: Decimal, possible: Decimal) -> int:
    """round-half-up(100 × earned / possible), exactly; 100 when nothing is possible."""
    if possible == 0:
        return 100
    return math.floor(Fraction(100) * Fraction(earned) / Fraction(possible) + Fraction(1, 2))


def band(score: int | None) -> str | None:
    """Rule 6: 0–25 weak, 26–50 partial, 51–75 solid, 76–100 strong."""
    if score is None:
        return None
    return next(name for name, top in BANDS if score <= top)


@attrs.frozen
class RuleOutcome:
    """One ICP or Persona against one record: every parameter's truth value, and what follows."""

    code: str
    outcomes: tuple[Tri, ...]
    qualifies: bool
    earned: Decimal
    possible: Decimal
    score: int


def tally(rule: model.Icp | model.Persona, outcomes: tuple[Tri, ...]) -> RuleOutcome:
    """From parameter truth values to qualification and score. Explanations use this too, so
    an explanation's subtotal is the score's own arithmetic."""
    qualifies, earned = True, Decimal(0)
    for param, outcome in zip(rule.params, outcomes):
        if param.mode == "filter" and not filter_passes(param, outcome):
            qualifies = False
        elif param.mode == "exclude" and exclude_triggers(param, outcome):
            qualifies = False
        elif param.mode == "score":
            earned += earns(param, outcome)
    possible = rule.possible
    return RuleOutcome(rule.code, outcomes, qualifies, earned, possible, normalized_score(earned, possible))


def evaluate_rule(rule, record: dict, ctx: Context) -> RuleOutcome:
    outcomes = tuple(evaluate_condition(p.condition, record, ctx) for p in rule.params)
    return tally(rule, outcomes)


def best(candidates: Iterable[RuleOutcome]) -> RuleOutcome | None:
    """Rules 4 and 5: the qualifying candidate with the highest score; ties go to the first."""
    winner = None
    for candidate in candidates:
        if candidate.qualifies and (winner is None or candidate.score > winner.score):
            winner = candidate
    return winner


# ---- records ------------------------------------------------------------------------------------


def _takes_part(status: str, code: str, preview: frozenset[str]) -> bool:
    return status == "live" or code in preview


@attrs.frozen
class AccountResult:
    icp_code: str | None
    icp_score: int | None
    icp_band: str | None
    icps: tuple[RuleOutcome, ...]  # every ICP of the ruleset, drafts included, declaration order

    @classmethod
    def assign(cls, ruleset: model.Ruleset, icps: tuple[RuleOutcome, ...], preview: frozenset[str] = frozenset()):
        by_code = {i.code: i for i in ruleset.icps}
        winner = best(o for o in icps if _takes_part(by_code[o.code].status, o.code, preview))
        if winner is None:
            return cls(None, None, None, icps)
        return cls(winner.code, winner.score, band(winner.score), icps)


@attrs.frozen
class LeadResult:
    account: AccountResult | None  # None when the lead's account is not in the data
    persona_code: str | None
    persona_score: int | None
    persona_band: str | None
    personas: tuple[RuleOutcome, ...]  # every Persona of the assigned ICP, drafts included

    @property
    def icp_code(self) -> str | None:
        return self.account.icp_code if self.account else None

    @property
    def icp_score(self) -> int | None:
        return self.account.icp_score if self.account else None

    @property
    def icp_band(self) -> str | None:
        return self.account.icp_band if self.account else None


def evaluate_account(ruleset: model.Ruleset, account: dict, as_of: dt.date,
                     preview: frozenset[str] = frozenset()) -> AccountResult:
    """Rule 4. `preview` names drafts to treat as live (a preview run; live runs pass none)."""
    ctx = Context(ruleset.schema, as_of, ruleset.titles)
    outcomes = tuple(evaluate_rule(icp, account, ctx) for icp in ruleset.icps)
    return AccountResult.assign(ruleset, outcomes, preview)


def assign_persona(icp: model.Icp, personas: tuple[RuleOutcome, ...], preview: frozenset[str] = frozenset()):
    """Rule 5 once the Persona outcomes are known: best live qualifier, else `no_persona_fit`."""
    by_code = {p.code: p for p in icp.personas}
    winner = best(o for o in personas
                  if _takes_part(by_code[o.code].status, f"{icp.code}.{o.code}", preview))
    if winner is None:
        return model.NO_PERSONA_FIT, None, None
    return winner.code, winner.score, band(winner.score)


def evaluate_lead(ruleset: model.Ruleset, lead: dict, account: dict | None, as_of: dt.date,
                  preview: frozenset[str] = frozenset()) -> LeadResult:
    """Rule 5: a lead is scored against the Personas of its account's ICP, and only then."""
    if account is None:
        return LeadResult(None, None, None, None, ())
    account_result = evaluate_account(ruleset, account, as_of, preview)
    if account_result.icp_code is None:
        return LeadResult(account_result, None, None, None, ())
    icp = ruleset.icp(account_result.icp_code)
    ctx = Context(ruleset.schema, as_of, ruleset.titles)
    outcomes = tuple(evaluate_rule(p, lead, ctx) for p in icp.personas)
    code, score, persona_band = assign_persona(icp, outcomes, preview)
    return LeadResult(account_result, code, score, persona_band, outcomes)


def evaluate_audience(ruleset: model.Ruleset, audience: model.Audience, record: dict, as_of: dt.date) -> Tri:
    """An audience's condition on one record: its fields (a lead's with its account's) and its
    scores (icp_code, icp_score, icp_band, persona_code, persona_score, persona_band).
    A record is a member only when the condition is true."""
    return evaluate_condition(audience.condition, record, Context(ruleset.audience_schema, as_of, ruleset.titles))


# ---- engagement (SPEC §7): apart from fit, never mixed in -------------------------------------


def signal_value(signal: model.Signal, age_days: int) -> float:
    """How much one signal still counts `age_days` after it happened: its weight halved every
    half-life, or its full weight within its window; a signal after the as-of date counts 0."""
    if age_days < 0:
        return 0.0
    if signal.decay == "window":
        return float(signal.weight) if age_days <= signal.days else 0.0
    return float(signal.weight) * 0.5 ** (age_days / float(signal.days))


def engagement_score(engagement: model.Engagement, signals, as_of: dt.date) -> float:
    """The sum of what each (signal type, date) still counts, in date order then type order
    (the kernel adds in the same order, so the floats are equal)."""
    ordered = sorted((day, engagement.signal_index(code)) for code, day in signals)
    total = 0.0
    for day, index in ordered:
        total += signal_value(engagement.signals[index], (as_of - day).days)
    return total


def stage(engagement: model.Engagement, score: float) -> str:
    """The first stage whose threshold the score is below; else the last (open) stage."""
    for name, threshold in zip(engagement.stages, engagement.thresholds):
        if score < float(threshold):
            return name
    return engagement.stages[-1]
