"""The lint pass (unstuck_dsl/lint.py): each warning fires on the smallest rule that shows it and
stays silent on the nearest legal, meaningful rule; what it proves is checked against the
reference evaluator; `check` prints it, `check --strict` fails on it, other passes never see it."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal
from pathlib import Path

import lark
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from test_grammar_fuzz import PRELUDE, _token_strategies

from unstuck_dsl import ast
from unstuck_dsl.cli import cli
from unstuck_dsl.parser import grammar_text
from unstuck_dsl.pipeline import check_sources
from unstuck_dsl.printer import print_condition
from unstuck_dsl.reference import Context, evaluate_condition, exclude_triggers, filter_passes
from unstuck_dsl.source import Source, read_sources

REPO = Path(__file__).resolve().parent.parent

FIELDS = """account fields {
  industry: category
  employees: int
  arr_usd: number
  tech_stack: open set
  offices: set
  funding_stage: ordinal("Seed", "Series A", "Series B")
  founded_on: date
  is_competitor: bool
}
lead fields {
  title: text
  seniority: ordinal("IC", "Manager", "VP")
}
"""
# Reads every field of FIELDS, so that only what a test adds can be reported.
READS_ALL = """icp reads_all "Reads all" draft {
  score 1: industry == "x" and employees > 1 and arr_usd > 1 and tech_stack has "x" and offices has "x"
  score 1: funding_stage == "Seed" and founded_on after 2020-01-01 and is_competitor
  persona p { score 1: title == "x" and seniority == "VP" }
}
"""


def lint(text: str, reads_all: bool = True):
    ruleset, diagnostics = check_sources([Source("t.ust", FIELDS + (READS_ALL if reads_all else "") + text)], lint=True)
    assert ruleset is not None, [(d.code, d.message) for d in diagnostics]
    return diagnostics


def found(text: str, **kwargs) -> list[tuple[str, int]]:
    """(code, line in `text`, 1-based) of every warning."""
    offset = FIELDS.count("\n") + (READS_ALL.count("\n") if kwargs.get("reads_all", True) else 0)
    return [(d.code, d.span.line - offset) for d in lint(text, **kwargs)]


def icp(*params: str, status: str = "") -> str:
    return f"icp i {status}{{\n" + "".join(f"  {p}\n" for p in params) + "}\n"


def persona(*params: str) -> str:
    """An ICP with one Persona, whose parameters start on line 4."""
    return "icp i {\n  score 1: arr_usd > 1\n  persona p {\n" + "".join(f"    {p}\n" for p in params) + "  }\n}\n"


def rule(condition: str) -> str:
    """A score parameter on line 2 (of an ICP), or on line 4 (of a Persona) when it reads a lead field."""
    return persona(f"score 1: {condition}") if "title" in condition else icp(f"score 1: {condition}")


def line_of(condition: str) -> int:
    return 4 if "title" in condition else 2


# ---- W003: never true --------------------------------------------------------------------------


@pytest.mark.parametrize("condition", [
    'not tech_stack has "Okta"',
    'not tech_stack has any {"Okta", "dbt"}',
    "employees > 100 and employees < 50",
    "employees >= 100 and not employees >= 50",
    "employees == 5.5",
    "employees between 5.2 and 5.8",
    'funding_stage > "Series B"',
    'funding_stage < "Seed"',
    "arr_usd > 10 and arr_usd <= 10",
    "founded_on before 2020-01-01 and founded_on >= 2020-01-01",
    "is_competitor and not is_competitor",
    "employees is unknown and employees > 5",
    'industry == "a" and industry == "b"',
    'industry in {"a", "b"} and industry not in {"b", "a"}',
    'title == "VP  sales" and title != "vp sales"',  # text compares normalized
])
def test_never_true(condition):
    assert found(rule(condition)) == [("W003", line_of(condition))]


@pytest.mark.parametrize("condition", [
    'tech_stack has "Okta"',
    'not offices has "GB"',  # a plain set: a member missing means no
    "employees > 50 and employees < 100",
    "employees > 100 or employees < 50",
    "employees == 5",
    "employees between 5.2 and 6",
    'funding_stage >= "Series B"',
    "arr_usd > 10 and arr_usd <= 10.5",
    "founded_on before 2020-01-02 and founded_on >= 2020-01-01",
    "employees is unknown or employees > 5",
    'industry == "a" or industry == "b"',
    'industry == "Software" and industry != "software"',  # a category compares exactly
    'title in {"a"} and title like "b*"',  # wildcards are not reasoned about: no guess
    "founded_on within 1 month and founded_on before 2 years ago",  # relative to the as-of date
])
def test_never_true_near_misses(condition):
    assert found(rule(condition)) == []


def test_never_true_points_at_the_smallest_part():
    (d,) = lint(icp('score 1: employees > 5 or (employees > 10 and employees < 2) or industry == "x"'))
    assert d.code == "W003" and d.message == "`employees > 10 and employees < 2` is never true"
    assert d.span.column == len("  score 1: employees > 5 or (") + 1
    (d,) = lint(icp('score 1: employees > 5 and not tech_stack has "Okta"'))
    assert d.message == '`not tech_stack has "Okta"` is never true' and d.label == "`tech_stack` is an open set"


def test_never_true_under_a_not_is_said_with_the_not():
    (d,) = lint(icp("score 1: not (employees > 5 or employees <= 5) or industry == \"x\""))
    assert d.code == "W003" and d.message == "`not (employees > 5 or employees <= 5)` is never true"


# ---- W004: always true -------------------------------------------------------------------------


@pytest.mark.parametrize("condition", [
    'funding_stage >= "Seed"',
    'funding_stage <= "Series B"',
    'funding_stage in {"Seed", "Series A", "Series B"}',
    "employees < 50 or employees >= 50",
    "is_competitor or not is_competitor",
    'industry != "x" or industry == "x"',
    'industry not in {"x"} or industry in {"x", "y"}',
    'not funding_stage < "Seed"',
])
def test_true_for_every_value(condition):
    assert found(icp(f"score 1: {condition}")) == [("W004", 2)]


@pytest.mark.parametrize("condition", [
    'funding_stage >= "Series A"',
    "employees is known",
    "employees < 50 or employees > 50",
    "arr_usd < 50 or arr_usd > 50",
    'funding_stage in {"Seed", "Series B"}',
])
def test_true_for_every_value_near_misses(condition):
    assert found(icp(f"score 1: {condition}")) == []


def test_score_fields_of_an_audience_hold_0_to_100():
    assert found("audience a { icp_score >= 0 }\naudience b { icp_score > 100 }\n") == [("W004", 1), ("W003", 2)]
    assert found("audience a { icp_score >= 1 }\naudience b { icp_score >= 100 }\n") == []


# ---- W005, W006, W007: parameters of one ICP or Persona together ---------------------------------


SIZE = 'filter "Size": employees between 51 and 2000'


def test_a_score_the_filters_rule_out():
    assert found(icp("score 1: employees < 20", SIZE)) == [("W005", 2)]
    assert found(icp("score 1: employees < 60", SIZE)) == []
    # A filter that passes on unknown requires nothing.
    assert found(icp("score 1: employees < 20", 'filter unknown passes: employees between 51 and 2000')) == []


def test_an_exclude_the_filters_rule_out():
    assert found(icp("score 1: arr_usd > 1", SIZE, "exclude: employees > 5000")) == [("W005", 4)]
    assert found(icp("score 1: arr_usd > 1", SIZE, "exclude: employees > 1000")) == []
    # Excluding on unknown, it still excludes the records whose size is unknown... which the filter fails anyway;
    # it is not reported: it does something (it takes part in qualifying).
    assert found(icp("score 1: arr_usd > 1", SIZE, "exclude unknown excludes: employees > 5000")) == []


def test_an_icp_that_can_never_qualify():
    assert found(icp("score 1: arr_usd > 1", "filter: employees > 2000", SIZE)) == [("W006", 4)]
    assert found(icp("score 1: arr_usd > 1", "filter: employees >= 2000", SIZE)) == []
    assert found(icp("score 1: arr_usd > 1", "filter: employees > 2000", "filter unknown passes: employees < 10")) == []
    assert found(icp("score 1: arr_usd > 1", "filter: employees > 2000", "filter: arr_usd < 10")) == []


def test_an_exclude_on_unknown_that_is_never_false_excludes_everything():
    # In an open set `has` is true or unknown, never false: excluding on unknown excludes all.
    assert found(icp("score 1: arr_usd > 1", 'exclude unknown excludes: tech_stack has "Okta"')) == [("W006", 3)]
    assert found(icp("score 1: arr_usd > 1", 'exclude: tech_stack has "Okta"')) == []
    assert found(icp("score 1: arr_usd > 1", 'exclude unknown excludes: offices has "GB"')) == []


def test_a_persona_that_can_never_qualify():
    persona = 'icp i {{\n  score 1: arr_usd > 1\n  persona p {{\n    score 1: title == "x"\n    {}\n    {}\n  }}\n}}\n'
    assert found(persona.format('filter: seniority == "VP"', 'filter: seniority < "VP"')) == [("W006", 6)]
    assert found(persona.format('filter: seniority == "VP"', 'filter: seniority > "IC"')) == []
    assert found(persona.format('filter: seniority == "VP"', 'exclude unknown excludes: seniority >= "Manager"')) == [("W006", 6)]
    # Every record the filter passes, the exclude excludes.
    assert found(persona.format('filter: seniority == "VP"', 'exclude: seniority >= "Manager"')) == [("W006", 6)]
    assert found(persona.format('filter: seniority == "VP"', 'exclude: seniority < "Manager"')) == [("W005", 6)]
    assert found(persona.format('filter: seniority >= "Manager"', 'exclude: seniority == "VP"')) == []


def test_a_score_the_filters_imply():
    assert found(icp("score 1: employees > 50", SIZE)) == [("W007", 2)]
    assert found(icp("score 1: employees > 50 and employees < 5000", SIZE)) == [("W007", 2)]
    assert found(icp("score 1: employees > 51", SIZE)) == []
    assert found(icp("score 1: employees > 50 and arr_usd > 5", SIZE)) == []
    assert found(icp('score 1: industry is known', 'filter: industry in {"software"}')) == [("W007", 2)]
    assert found(icp('score 1: industry != "banking"', 'filter: industry in {"software"}')) == [("W007", 2)]
    assert found(icp('score 1: industry != "software"', 'filter: industry in {"software", "saas"}')) == []
    # Text compares normalized: not the same written condition, but the same test.
    assert found(persona('score 1: title == "vp sales"', 'filter: title == "VP  Sales"')) == [("W007", 4)]
    assert found(persona('score 1: title like "*VP*"', 'filter: title == "VP Sales"')) == []
    assert found(icp("score 1: employees > 50", 'filter unknown passes: employees between 51 and 2000')) == []


def test_template_parameters_are_reported_once_at_the_template():
    text = ('persona template t { score 1 "Never": seniority > "VP"\n score 1 "T": title == "x" }\n'
            'icp i {\n  score 1: arr_usd > 1\n  persona a from t\n  persona b from t\n}\n')
    assert found(text) == [("W003", 1)]


# ---- W008: the same condition twice ------------------------------------------------------------


def test_the_same_condition_twice():
    assert found(icp("score 1: arr_usd >= 1_000_000", 'score 2 "B": arr_usd >= 1000000')) == [("W008", 3)]
    assert found(icp('score 1 "A": industry == "x"', 'filter "B": industry == "x"')) == [("W008", 3)]
    assert found(icp('score 1: industry == "x" or industry == "y" or industry == "x"')) == [("W008", 2)]
    assert found(icp("score 1: arr_usd >= 1_000_000", 'score 2 "B": arr_usd > 1000000')) == []
    assert found(icp('score 1: industry == "x" or industry == "X"')) == []
    # Two ICPs may share a condition.
    assert found(icp("score 1: arr_usd > 5") + icp("score 1: arr_usd > 5").replace("icp i", "icp j")) == []


# ---- W009: declared, never used ----------------------------------------------------------------


def test_unused_field_region_and_template():
    text = 'region dach { DE, AT }\npersona template t { score 1: title == "x" }\n' + icp('score 1: industry == "x"')
    # Every field but industry and title (which the unused template reads), the region, the template.
    assert found(text, reads_all=False) == [
        ("W009", -11), ("W009", -10), ("W009", -9), ("W009", -8), ("W009", -7), ("W009", -6), ("W009", -5),
        ("W009", -1), ("W009", 1), ("W009", 2)]
    used = ('region dach { DE, AT }\npersona template t { score 1: title == "x" }\n'
            'icp i {\n  score 1: industry in dach\n  persona p from t\n}\n')
    assert [d.message for d in lint(used)] == []


def test_a_field_read_only_by_an_audience_or_a_template_is_used():
    text = 'lead fields { tenure: number }\npersona template t { score 1: tenure > 2 }\n'
    assert [d.message for d in lint(text)] == ["persona template `t` is declared but no Persona is made from it"]
    assert found("account fields { region_code: category }\naudience a { region_code == \"x\" }\n") == []


# ---- W010: an audience naming a draft ------------------------------------------------------------


def test_an_audience_naming_a_draft():
    rules = ('icp live_one { score 1: arr_usd > 1\n persona lp { score 1: title == "x" }\n'
             ' persona dp draft { score 1: title == "y" } }\n'
             'icp draft_one draft { score 1: arr_usd > 2\n persona only_in_draft { score 1: title == "z" } }\n')
    assert found(rules + 'audience a { icp_code == "draft_one" }\n') == [("W010", 6)]
    assert found(rules + 'audience a { persona_code in {"dp", "only_in_draft"} }\n') == [("W010", 6), ("W010", 6)]
    assert found(rules + 'audience a { icp_code == "live_one" and persona_code in {"lp", "no_persona_fit"} }\n') == []


# ---- what lint proves, checked against the reference evaluator ----------------------------------


_INT_VALUES = [-1, 0, 1, 2, 3, 5, 6, 9, 10, 11]
_NUMBER_VALUES = [-1.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 9.5, 10.0, 11.0]
_FIELD_VALUES = {"employees": _INT_VALUES, "arr_usd": _NUMBER_VALUES, "funding_stage": ["Seed", "Series A", "Series B"],
                 "is_competitor": [False, True], "industry": ["a", "b", "c"]}


def _test(field: str) -> st.SearchStrategy[str]:
    if field == "funding_stage":
        level = st.sampled_from(['"Seed"', '"Series A"', '"Series B"'])
        return st.one_of(st.tuples(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), level).map(
            lambda t: f"{field} {t[0]} {t[1]}"), st.lists(level, min_size=1, max_size=3).map(
            lambda items: f"{field} in {{{', '.join(items)}}}"), st.just(f"{field} is known"))
    if field == "industry":
        value = st.sampled_from(['"a"', '"b"', '"c"', '"d"'])
        return st.one_of(st.tuples(st.sampled_from(["==", "!="]), value).map(lambda t: f"{field} {t[0]} {t[1]}"),
                         st.tuples(st.sampled_from(["in", "not in"]), st.lists(value, min_size=1, max_size=3)).map(
                             lambda t: f"{field} {t[0]} {{{', '.join(t[1])}}}"))
    if field == "is_competitor":
        return st.sampled_from(["is_competitor", "not is_competitor", "is_competitor == false",
                                "is_competitor in {true, false}", "is_competitor is unknown"])
    number = st.sampled_from(["0", "1", "2", "5", "9.5", "10", "1.5"])
    return st.one_of(
        st.tuples(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), number).map(lambda t: f"{field} {t[0]} {t[1]}"),
        st.tuples(number, number).map(lambda t: f"{field} between {min(t, key=Decimal)} and {max(t, key=Decimal)}"),
        st.lists(number, min_size=1, max_size=3).map(lambda items: f"{field} in {{{', '.join(items)}}}"),
        st.sampled_from([f"{field} is known", f"{field} is unknown"]))


def _condition(depth: int = 2) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(list(_FIELD_VALUES)).flatmap(_test)
    if depth == 0:
        return leaf
    inner = _condition(depth - 1)
    return st.one_of(leaf, inner.map(lambda c: f"not ({c})"),
                     st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3)).map(
                         lambda t: f" {t[0]} ".join(f"({c})" for c in t[1])))


def _records():
    """Every combination of the test values of the fields (and unknown)."""
    names = list(_FIELD_VALUES)
    for values in itertools.product(*[[None, *_FIELD_VALUES[n]] for n in names]):
        yield dict(zip(names, values))


RECORDS = list(_records())


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["score 1", "filter", "exclude", "filter", "exclude", "filter unknown passes",
                                            "exclude unknown excludes"]), _condition()), min_size=1, max_size=4))
def test_what_lint_reports_holds_on_every_record(params):
    lines = [f'{mode.split(" unknown")[0]} "p{k}"{mode[mode.find(" unknown"):] if " unknown" in mode else ""}: {condition}'
             for k, (mode, condition) in enumerate(params)]
    text = icp(*lines)
    ruleset, diagnostics = check_sources([Source("t.ust", FIELDS + text)], lint=True)
    assert ruleset is not None
    (rule,) = ruleset.icps
    ctx = Context(ruleset.schema, dt.date(2026, 11, 26))
    offset = FIELDS.count("\n") + 1
    by_line = {offset + k + 1: p for k, p in enumerate(rule.params)}
    outcomes = [{p.name: evaluate_condition(p.condition, r, ctx) for p in rule.params} for r in RECORDS]
    qualifying = [o for o in outcomes if all(filter_passes(p, o[p.name]) for p in rule.params if p.mode == "filter")
                  and not any(exclude_triggers(p, o[p.name]) for p in rule.params if p.mode == "exclude")]
    for d in diagnostics:
        if d.code in ("W003", "W004"):
            node = _node_at(rule.params, d.span)
            values = [evaluate_condition(node, r, ctx) for r in RECORDS]
            quoted = d.message[1:d.message.rindex("` is ")]
            if _shows(quoted, f"not {print_condition(node, 3)}"):  # said of the negation
                values = [None if v is None else not v for v in values]
            else:
                assert _shows(quoted, print_condition(node)), d.message
            if d.code == "W003":
                assert True not in values, d.message
            elif "is always true" in d.message:
                assert set(values) == {True}, d.message
            else:  # true for every value of the field: whenever the field is known
                name = d.message.rsplit("`", 2)[1]
                assert all(v is True for v, r in zip(values, RECORDS) if r[name] is not None), d.message
        elif d.code == "W005" and by_line[d.span.line].mode == "exclude":
            # Never true on a record that passes the filters and the other excludes that exclude on unknown.
            me = by_line[d.span.line]
            gated = [o for o in outcomes if all(filter_passes(p, o[p.name]) for p in rule.params if p.mode == "filter")
                     and all(o[p.name] is False for p in rule.params if p.unknown == "excludes" and p is not me)]
            assert all(o[me.name] is not True for o in gated), d.message
        elif d.code == "W005":
            assert all(o[by_line[d.span.line].name] is not True for o in qualifying), d.message
        elif d.code == "W006":
            assert qualifying == [], d.message
        elif d.code == "W007":
            assert all(o[by_line[d.span.line].name] is True for o in qualifying), d.message


def _shows(quoted: str, text: str) -> bool:
    """Whether a message quotes this condition (a long one cut short with "…")."""
    return quoted == text or (quoted.endswith("…") and text.startswith(quoted[:-1]))


def _node_at(params, span):
    for param in params:
        stack = [param.condition]
        while stack:
            node = stack.pop()
            if node.span == span:
                return node
            if isinstance(node, ast.Not):
                stack.append(node.operand)
            elif isinstance(node, (ast.And, ast.Or)):
                stack.extend(node.operands)
    raise AssertionError(f"no condition at {span}")


# The grammar as hypothesis.extra.lark reads it: built here, since a parser loaded from Lark's
# cache file lacks the grammar object it needs.
programs = from_lark(lark.Lark(grammar_text(), parser="lalr", lexer="contextual", maybe_placeholders=True),
                     explicit=_token_strategies())


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs)
def test_lint_never_crashes_on_programs_from_the_grammar(program):
    ruleset, diagnostics = check_sources([Source("fuzz.ust", PRELUDE + program)], lint=True)
    assert (ruleset is None) == any(d.is_error for d in diagnostics)
    assert all(d.span is not None and d.span.file == "fuzz.ust" for d in diagnostics)


# ---- where lint runs ----------------------------------------------------------------------------


def test_the_example_workspace_lints_clean():
    ruleset, diagnostics = check_sources(read_sources(REPO / "rules"), lint=True)
    assert ruleset is not None and [d.message for d in diagnostics] == []


def test_only_check_lints():
    text = FIELDS + icp('score 1: not tech_stack has "Okta"')
    assert [d.code for d in check_sources([Source("t.ust", text)])[1]] == []
    assert "W003" in [d.code for d in check_sources([Source("t.ust", text)], lint=True)[1]]


def test_rules_with_errors_are_not_linted():
    text = FIELDS + icp('score 1: not tech_stack has "Okta"', "score 0: employees > 1")
    assert [d.code for d in check_sources([Source("t.ust", text)], lint=True)[1]] == ["E040"]


def _check(tmp_path, text, *args):
    path = tmp_path / "t.ust"
    path.write_text(FIELDS + READS_ALL + text, encoding="utf-8")
    return CliRunner().invoke(cli, ["check", str(path), *args])


def test_check_prints_warnings_and_exits_0_and_strict_exits_1(tmp_path):
    text = icp('score 1: not tech_stack has "Okta"')
    result = _check(tmp_path, text)
    assert result.exit_code == 0
    assert "warning[W003]: `not tech_stack has \"Okta\"` is never true" in result.output
    assert "= hint: in an open set" in result.output
    assert result.output.rstrip().endswith("ok: 1 file, 2 ICPs, 1 Persona")
    strict = _check(tmp_path, text, "--strict")
    assert strict.exit_code == 1
    assert "warning[W003]" in strict.output and "ok:" not in strict.output
    assert strict.output.rstrip().endswith("failed: --strict makes warnings fail the check")
    as_json = json.loads(_check(tmp_path, text, "--strict", "--json").output)
    assert as_json["ok"] is False and [d["code"] for d in as_json["diagnostics"]] == ["W003"]


def test_strict_passes_clean_rules(tmp_path):
    result = _check(tmp_path, icp('score 1: tech_stack has "Okta"'), "--strict")
    assert result.exit_code == 0 and result.output.startswith("ok:")
    result = CliRunner().invoke(cli, ["check", str(REPO / "rules"), "--strict"])
    assert result.exit_code == 0, result.output
