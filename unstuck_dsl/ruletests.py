"""Rule tests: run the workspace's `test` blocks through the compiled kernel, and measure coverage.

A test (docs/language.md, "Rule tests") gives an account and perhaps a lead as field values, an
as-of date, signals, and expectations. The tests become records: every test's account is one row
of one accounts table (a test without `account { }` has an account with every field unknown),
every test's lead one row of one leads table, with ids made from the test's position. Tests are
scored in batches that can share a run: one per as-of date and per kind (tests with a lead and
tests without, because an audience reads leads when leads are scored and accounts otherwise),
each scored once, with parameter outcomes, through the same compiled kernels as `unstuck score`.
Expectations are read from the run's tables, its parameter outcome matrix and its audience
kernels; a failing test gets the drawer of its record from the same run (`ScoreResult.explain`).

Coverage counts, over every test's records, each ICP and Persona qualifying and not, and each
of their parameters true, false and unknown, from the same outcome matrix: an ICP over every
test's account (drafts included: the kernel evaluates them), a Persona over the leads whose
account the run assigned to its ICP (a Persona of a draft ICP is never evaluated, so it is
listed apart and not counted). The percentage is the outcomes seen over the outcomes possible:
two per ICP or Persona, and per parameter those its condition can have (`possible_outcomes`:
true, false and unknown, but never false for `has` on an open set, never unknown for `is known`).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections import defaultdict
from decimal import Decimal

import attrs
import numpy as np
import pyarrow as pa

from . import ast, ir, model
from .explain import Explanation
from .printer import print_expectation, quote
from .reference import tally
from .schema import ACCOUNT_KEY, BAND_LEVELS, LEAD_KEY, arrow_type

_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}
_TRI = {ir.FALSE: ast.Outcome.FALSE, ir.UNKNOWN: ast.Outcome.UNKNOWN, ir.TRUE: ast.Outcome.TRUE}
_TRI_VALUE = {ir.FALSE: False, ir.UNKNOWN: None, ir.TRUE: True}


@attrs.frozen
class Failure:
    """One expectation a test broke: what it expected (as written after `expect`) and what the run gave."""

    expectation: ast.Expectation
    got: str

    @property
    def expected(self) -> str:
        return print_expectation(self.expectation)

    def to_dict(self) -> dict:
        span = self.expectation.span
        return {"expected": self.expected, "got": self.got,
                **({"file": span.file, "line": span.line, "column": span.column} if span else {})}


@attrs.frozen
class Verdict:
    test: ast.RuleTest
    failures: tuple[Failure, ...]
    explanation: Explanation | None  # the drawer of the test's record, for a failed test

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        span = self.test.span
        return {"test": self.test.name, "file": span.file, "line": span.line, "passed": self.passed,
                "failures": [f.to_dict() for f in self.failures],
                **({"drawer": self.explanation.to_dict()} if self.explanation is not None else {})}


@attrs.define
class RuleCoverage:
    """What the tests saw of one ICP or Persona: counts of records per outcome."""

    kind: str  # "icp" | "persona"
    code: str  # "mm_saas" or "mm_saas.vp_sales"
    status: str
    params: tuple[model.Parameter, ...]
    evaluated: bool = True  # False: a Persona of a draft ICP, which no record reaches
    qualified: int = 0
    not_qualified: int = 0
    outcomes: dict = attrs.Factory(dict)  # parameter name → {"true": n, "false": n, "unknown": n}

    def count(self, outcome) -> None:
        if outcome.qualifies:
            self.qualified += 1
        else:
            self.not_qualified += 1
        for param, value in zip(self.params, outcome.outcomes):
            word = {True: "true", False: "false", None: "unknown"}[value]
            self.outcomes.setdefault(param.name, {"true": 0, "false": 0, "unknown": 0})[word] += 1

    possible: dict = attrs.Factory(dict)  # parameter name → the outcomes its condition can have

    def seen(self) -> tuple[int, int]:
        """(outcomes seen, outcomes possible)."""
        if not self.evaluated:
            return 0, 0
        seen = (self.qualified > 0) + (self.not_qualified > 0)
        for param in self.params:
            counts = self.outcomes.get(param.name, {})
            seen += sum(1 for word in self.possible[param.name] if counts.get(word))
        return seen, 2 + sum(len(self.possible[p.name]) for p in self.params)

    def to_dict(self) -> dict:
        seen, possible = self.seen()
        return {"kind": self.kind, "code": self.code, "status": self.status, "evaluated": self.evaluated,
                "qualified": self.qualified, "not_qualified": self.not_qualified, "seen": seen, "possible": possible,
                "parameters": [{"name": p.name, "mode": str(p.mode), "possible": list(self.possible[p.name]),
                                **self.outcomes.get(p.name, {"true": 0, "false": 0, "unknown": 0})}
                               for p in self.params]}


@attrs.frozen
class Coverage:
    rules: tuple[RuleCoverage, ...]

    @property
    def seen(self) -> int:
        return sum(r.seen()[0] for r in self.rules)

    @property
    def possible(self) -> int:
        return sum(r.seen()[1] for r in self.rules)

    @property
    def percent(self) -> float:
        return 100.0 * self.seen / self.possible if self.possible else 100.0

    def to_dict(self) -> dict:
        return {"percent": round(self.percent, 2), "seen": self.seen, "possible": self.possible,
                "rules": [r.to_dict() for r in self.rules]}


@attrs.frozen
class Report:
    outcomes: tuple[Verdict, ...]
    coverage: Coverage

    @property
    def failed(self) -> tuple[Verdict, ...]:
        return tuple(o for o in self.outcomes if not o.passed)

    def to_dict(self) -> dict:
        return {"tests": len(self.outcomes), "failed": len(self.failed),
                "results": [o.to_dict() for o in self.outcomes], "coverage": self.coverage.to_dict()}


def run_tests(compiled) -> Report:
    """Run every test of the compiled rules' workspace (`model.Ruleset.tests`)."""
    ruleset = compiled.model
    coverage = _empty_coverage(ruleset)
    by_rule = {r.code: r for r in coverage.rules}
    batches: dict[tuple[dt.date, bool], list[int]] = defaultdict(list)
    for number, test in enumerate(ruleset.tests):
        batches[(test.as_of.day, test.record("lead") is not None)].append(number)
    outcomes: dict[int, Verdict] = {}
    for (as_of, with_leads), numbers in sorted(batches.items()):
        run = _Batch(compiled, [ruleset.tests[n] for n in numbers], numbers, as_of, with_leads)
        for number, test in zip(numbers, run.tests):
            run.count(number, by_rule)
            failures = tuple(f for f in (run.check(number, e) for e in test.expectations) if f is not None)
            outcomes[number] = Verdict(test, failures, run.explain(number) if failures else None)
    return Report(tuple(outcomes[n] for n in range(len(ruleset.tests))), coverage)


def _empty_coverage(ruleset: model.Ruleset) -> Coverage:
    def possible(params):
        return {p.name: possible_outcomes(p.condition, ruleset.schema) for p in params}

    rules = []
    for icp in ruleset.icps:
        rules.append(RuleCoverage("icp", icp.code, str(icp.status), icp.params, possible=possible(icp.params)))
        for persona in icp.personas:
            status = str(persona.status) if icp.status == "live" else f"{persona.status} (in a draft ICP)"
            rules.append(RuleCoverage("persona", f"{icp.code}.{persona.code}", status, persona.params,
                                      evaluated=icp.status == "live", possible=possible(persona.params)))
    return Coverage(tuple(rules))


_ALL_OUTCOMES = ("true", "false", "unknown")
_RANK = {"false": 0, "unknown": 1, "true": 2}  # three-valued logic: `and` is the least, `or` the greatest
_WORD = {rank: word for word, rank in _RANK.items()}
_NEGATED = {"true": "false", "false": "true", "unknown": "unknown"}


def possible_outcomes(condition, schema) -> tuple[str, ...]:
    """The outcomes a condition can have on some record, so that coverage does not ask tests for
    one no record can give: `has` on an open set is never false (a member not seen is unknown),
    `is known` never unknown; `not`, `and` and `or` combine their operands' outcomes (taken as
    independent, so this can only err towards asking for more)."""
    if isinstance(condition, ast.Not):
        return tuple(w for w in _ALL_OUTCOMES if _NEGATED[w] in possible_outcomes(condition.operand, schema))
    if isinstance(condition, (ast.And, ast.Or)):
        pick = min if isinstance(condition, ast.And) else max
        ranks = {_RANK[w] for w in possible_outcomes(condition.operands[0], schema)}
        for operand in condition.operands[1:]:
            ranks = {pick(a, _RANK[b]) for a in ranks for b in possible_outcomes(operand, schema)}
        return tuple(w for w in _ALL_OUTCOMES if _RANK[w] in ranks)
    if isinstance(condition, ast.IsKnown):
        return ("true", "false")
    field = schema.get(condition.field.name)
    if isinstance(condition, ast.Has) and field is not None and field.type.open:
        return ("true", "unknown")
    return _ALL_OUTCOMES


def _account_id(number: int) -> str:
    return f"test-{number + 1}"


def _lead_id(number: int) -> str:
    return f"test-{number + 1}-lead"


def _python_value(field_type, value):
    """A test's literal as the Python value an input table holds for the field."""
    if isinstance(value, tuple):
        return [v.value for v in value]
    if field_type.name == "int":
        return int(value.value)
    if field_type.name == "number":
        return float(value.value)
    return value.value


def _records_table(schema, kind: str, records: list[ast.GivenRecord | None], ids: dict[str, list[str]]) -> pa.Table:
    """One row per test: the key columns in `ids`, then every declared field of `kind` (unknown
    where the test gives nothing)."""
    columns = {key: pa.array(values, pa.string()) for key, values in ids.items()}
    for field in schema.of_kind(kind):
        values = []
        for record in records:
            given = next((f.value for f in record.fields if f.name == field.name), None) if record else None
            values.append(None if given is None else _python_value(field.type, given))
        columns[field.name] = pa.array(values, arrow_type(field.type))
    return pa.table(columns)


class _Batch:
    """One run over the tests sharing an as-of date and a kind."""

    def __init__(self, compiled, tests: list[ast.RuleTest], numbers: list[int], as_of: dt.date, with_leads: bool):
        self.compiled, self.tests, self.as_of = compiled, tests, as_of
        self.position = {number: k for k, number in enumerate(numbers)}
        schema = compiled.model.schema
        accounts = _records_table(schema, "account", [t.record("account") for t in tests],
                                  {ACCOUNT_KEY: [_account_id(n) for n in numbers]})
        leads = None
        if with_leads:
            leads = _records_table(schema, "lead", [t.record("lead") for t in tests],
                                   {LEAD_KEY: [_lead_id(n) for n in numbers], ACCOUNT_KEY: [_account_id(n) for n in numbers]})
        signals = None
        if compiled.model.engagement is not None:  # always given: without signals the stage is the lowest
            rows = [(_lead_id(n) if with_leads else None, None if with_leads else _account_id(n), s.code, s.day)
                    for n, t in zip(numbers, tests) for s in t.signals]
            signals = pa.table({"lead_id": pa.array([r[0] for r in rows], pa.string()),
                                "account_id": pa.array([r[1] for r in rows], pa.string()),
                                "signal": pa.array([r[2] for r in rows], pa.string()),
                                "timestamp": pa.array([r[3] for r in rows], pa.date32())})
        self.result = compiled.score(accounts, leads, as_of=as_of, outcomes=True, signals=signals)
        self.with_leads = with_leads
        self.accounts = self.result.accounts.to_pylist()
        self.leads = self.result.leads.to_pylist() if with_leads else None
        self.membership: dict[str, np.ndarray] = {}
        # Each test's rows, by its ids (the dataset keeps them as read), and its tallies, once.
        dataset = self.result.dataset
        self.account_rows = {key: row for row, key in enumerate(dataset.accounts.ids.to_pylist())}
        self.lead_rows = {key: row for row, key in enumerate(dataset.leads.ids.to_pylist())} if with_leads else {}
        self.tallies: dict[tuple[str, int], object] = {}

    # -- reading the run
    def _account_row(self, number: int) -> int:
        return self.account_rows[_account_id(number)]

    def _lead_row(self, number: int) -> int:
        return self.lead_rows[_lead_id(number)]

    def record(self, number: int) -> dict:
        """The test's output row: the lead's when it has one, else the account's."""
        if self.with_leads:
            return self.leads[self._lead_row(number)]
        return self.accounts[self._account_row(number)]

    def icp_outcomes(self, number: int):
        """Each ICP's tally on the test's account, from the kernel's outcome matrix."""
        if ("icp", number) not in self.tallies:
            self.tallies[("icp", number)] = self._icp_outcomes(number)
        return self.tallies[("icp", number)]

    def persona_outcomes(self, number: int):
        """(ICP index, each Persona's tally) for the Personas of the ICP the test's lead landed
        in, or None when it landed in none (or the test has no lead)."""
        if ("persona", number) not in self.tallies:
            self.tallies[("persona", number)] = self._persona_outcomes(number)
        return self.tallies[("persona", number)]

    def _icp_outcomes(self, number: int):
        row = self.result.account_outcomes[self._account_row(number)]
        program = self.compiled.program
        return [tally(icp, tuple(_TRI_VALUE[int(row[p.slot])] for p in rule.params))
                for icp, rule in zip(self.compiled.model.icps, program.icps.rules)]

    def _persona_outcomes(self, number: int):
        if not self.with_leads:
            return None
        codes = self.compiled.icp_codes
        icp_code = self.record(number)["icp_code"]
        if icp_code is None:
            return None
        index = codes.index(icp_code)
        row = self.result.lead_outcomes[self._lead_row(number)]
        block = self.compiled.program.personas[index]
        icp = self.compiled.model.icps[index]
        return index, [tally(persona, tuple(_TRI_VALUE[int(row[p.slot])] for p in rule.params))
                       for persona, rule in zip(icp.personas, block.rules)]

    def count(self, number: int, by_rule: dict[str, RuleCoverage]) -> None:
        for icp, outcome in zip(self.compiled.model.icps, self.icp_outcomes(number)):
            by_rule[icp.code].count(outcome)
        landed = self.persona_outcomes(number)
        if landed is not None:
            icp = self.compiled.model.icps[landed[0]]
            for persona, outcome in zip(icp.personas, landed[1]):
                by_rule[f"{icp.code}.{persona.code}"].count(outcome)

    def explain(self, number: int) -> Explanation:
        if self.with_leads:
            return self.result.explain(lead_id=_lead_id(number))
        return self.result.explain(account_id=_account_id(number))

    # -- expectations
    def check(self, number: int, e) -> Failure | None:
        got = getattr(self, "got_" + type(e).__name__)(number, e)
        return None if got is None else Failure(e, got)

    def got_ExpectIcp(self, number: int, e: ast.ExpectIcp) -> str | None:
        code = self.record(number)["icp_code"]
        return None if code == e.code else f"icp {code}" if code else "no icp"

    def got_ExpectPersona(self, number: int, e: ast.ExpectPersona) -> str | None:
        row = self.record(number)
        code = row["persona_code"]
        if code == e.code:
            return None
        return f"persona {code}" if code else "no persona: the lead's account is in no ICP"

    def got_ExpectColumn(self, number: int, e: ast.ExpectColumn) -> str | None:
        value = self.record(number).get(e.column)
        if value is None:
            return f"{e.column} unknown"
        if e.column in ("icp_band", "persona_band", "stage"):
            levels = BAND_LEVELS if e.column != "stage" else self.compiled.model.engagement.stages
            holds = _COMPARE[e.op](levels.index(value), levels.index(e.value.value))
            shown = quote(value)
        else:
            holds = _COMPARE[e.op](Decimal(str(value)), e.value.value)
            shown = f"{value:g}" if isinstance(value, float) else str(value)
        return None if holds else f"{e.column} {shown}"

    def got_ExpectAudience(self, number: int, e: ast.ExpectAudience) -> str | None:
        if e.code not in self.membership:
            self.membership[e.code] = self.result.audience_membership(e.code)
        rows = self._lead_row(number) if self.with_leads else self._account_row(number)
        member = int(self.membership[e.code][rows]) == ir.TRUE
        if member == e.member:
            return None
        return f"a member of {e.code}" if member else f"not a member of {e.code}"

    def got_ExpectParam(self, number: int, e: ast.ExpectParam) -> str | None:
        codes = self.compiled.icp_codes
        index = codes.index(e.owner[0])
        if len(e.owner) == 1:
            outcome = self.icp_outcomes(number)[index]
            params = self.compiled.model.icps[index].params
        else:
            landed = self.persona_outcomes(number)
            if landed is None or landed[0] != index:
                where = "no ICP" if landed is None else f"ICP {codes[landed[0]]}"
                return f"not evaluated: the lead's account is in {where}, so {'.'.join(e.owner)} does not read it"
            personas = self.compiled.model.icps[index].personas
            k = next(k for k, p in enumerate(personas) if p.code == e.owner[1])
            outcome, params = landed[1][k], personas[k].params
        k = next(k for k, p in enumerate(params) if p.name == e.label)
        word = {True: "true", False: "false", None: "unknown"}[outcome.outcomes[k]]
        return None if word == e.outcome else f"{'.'.join(e.owner)} {quote(e.label)} {word}"


# ---- text ----------------------------------------------------------------------------------------


def coverage_lines(coverage: Coverage) -> list[str]:
    """The coverage table: per ICP and Persona how many test records qualified and not, per
    parameter how many were true, false, unknown; a 0 is an outcome no test has seen, a `-` one
    the condition can never have."""
    header = ("ICP / Persona / parameter", "qualify", "not", "true", "false", "unknown")
    rows: list[tuple[str, ...]] = [header]
    for rule in coverage.rules:
        if not rule.evaluated:
            rows.append((f"{rule.kind} {rule.code} ({rule.status}: not counted)", "", "", "", "", ""))
            continue
        status = "" if rule.status == "live" else f" ({rule.status})"
        rows.append((f"{rule.kind} {rule.code}{status}", str(rule.qualified), str(rule.not_qualified), "", "", ""))
        for param in rule.params:
            counts = rule.outcomes.get(param.name, {"true": 0, "false": 0, "unknown": 0})
            cells = [str(counts[w]) if w in rule.possible[param.name] else "-" for w in _ALL_OUTCOMES]
            rows.append((f"  {param.mode} {quote(param.name)}", "", "", *cells))
    widths = [max(len(row[k]) for row in rows) for k in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[0]) if k == 0 else cell.rjust(widths[k]) for k, cell in enumerate(row)).rstrip()
             for row in rows]
    lines.append(f"coverage: {coverage.percent:.1f}% ({coverage.seen} of {coverage.possible} outcomes seen)")
    return lines
