"""The printer: `parse(print_file(ast)) == ast` for the example workspace, for a file that uses
every construct, and for any AST a hypothesis strategy can build from the node classes."""

from __future__ import annotations

import datetime as dt
import re
import string
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unstuck_dsl import ast
from unstuck_dsl.parser import grammar_text, parse_text
from unstuck_dsl.printer import param_name, print_condition, print_file

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "rules").glob("*.ust"))


def round_trip(rule_file: ast.RuleFile) -> ast.RuleFile:
    return parse_text(print_file(rule_file), rule_file.path)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_workspace_round_trips(path):
    rule_file = parse_text(path.read_text(encoding="utf-8"), path.name)
    assert rule_file.declarations  # the comparison below is about something
    assert round_trip(rule_file) == rule_file


EVERY_CONSTRUCT = r'''
# Not a checked workspace: the printer must give back anything that parses.
account fields {
  industry: category
  tech_stack: open set
  offices: set
  funding_stage: ordinal("Pre-seed", "Seed", "Series \"A\"", "C:\\D")
  odd: open int
}
lead fields {}

region europe "Europe" { GB, "DE", fr }
region na { US }

persona template founder "Founder" draft {
  filter "Founder title": title resembles {"Founder", "CEO"} at 0.85 or title like "*found?r*"
  score 5 "C-suite": seniority == "C-suite"
  score 2: years_experience >= 10
}

icp mm_saas "Mid-market SaaS" live {
  score 5 "Uses Snowflake": tech_stack has "Snowflake"
  score 1_000.50: tech_stack has any {"a", "b"} and tech_stack has all {"c"}
  score -1 "negative weight": offices has any europe
  score 0.0001: x == -2.5 or x != 0 or x < 1 or x <= 2 or x > 3 or x >= 4
  score 2: not (a or b) and not not c and (d or e and f)
  filter "Industry" unknown passes: industry in {"software", "saas"} and industry not in {bad}
  filter: country in europe or country in {na, "CA"}
  filter: employees between 51 and 2000 and stage between "Seed" and "Series A"
  filter: d within 12 months or d within next 1 day or d within 0 weeks or d within 3 years
  filter: d before 2025-01-31 and d after 10 years ago and d after 1 month ago
  filter: e is known and f is unknown and g == true and h != false and i == 2024-02-29
  filter: j == bare_name and k == "line\nbreak\ttab \\ \" ü 東京"
  exclude unknown excludes: is_competitor
  exclude 3 "weighted exclude" unknown passes: is_competitor

  persona founder from founder
  persona vp "VP" draft from founder {
    score 4 "C-suite": seniority >= "VP"
    drop "Founder title"
    filter "extra": function == "Sales"
  }
  persona empty live from founder {}
  persona inline "Inline" {
    score 1: title resembles "Head of Sales"
  }
  persona nothing {}
}
icp bare {}
'''


def test_every_construct_round_trips():
    rule_file = parse_text(EVERY_CONSTRUCT, "every.ust")
    assert len(rule_file.declarations) == 7
    assert round_trip(rule_file) == rule_file


def test_printing_is_canonical():
    """Printing a printed file gives the same text: the printer is a formatter."""
    once = print_file(parse_text(EVERY_CONSTRUCT, "every.ust"))
    assert print_file(parse_text(once, "every.ust")) == once


def test_canonical_layout():
    messy = 'icp a "A" live{score 5 "S":x>1 and(y or z)  persona p from t{drop "S"}}\n' \
            'region r{US,"CA"}  lead fields{t:ordinal("a","b")}'
    assert print_file(parse_text(messy)) == (
        'icp a "A" live {\n'
        '  score 5 "S": x > 1 and (y or z)\n'
        '  persona p from t {\n'
        '    drop "S"\n'
        '  }\n'
        '}\n'
        '\n'
        'region r { "US", "CA" }\n'
        '\n'
        'lead fields {\n'
        '  t: ordinal("a", "b")\n'
        '}\n'
    )


def test_unnamed_parameter_is_named_by_its_condition():
    (icp,) = parse_text('icp a { score 2: tech_stack has any {"a", "b"} and not (x or y) }').declarations
    assert param_name(icp.params[0]) == 'tech_stack has any {"a", "b"} and not (x or y)'


# ---- any AST the node classes can hold, round-tripped --------------------------------------------

KEYWORDS = frozenset(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', grammar_text()))

# Names are drawn from a safe alphabet; a keyword is never a name here (test_parser covers where
# keywords may be names).
names = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(string.ascii_letters + "_"),
    st.text(string.ascii_letters + string.digits + "_", max_size=7),
).filter(lambda n: n not in KEYWORDS)

tricky_text = st.sampled_from(['"', "\\", "\n", "\t", "\r", "\\n", '\\"', "#", "}", "ü", "東京", "🚀", "\u2028", "\x00", " "])
texts = st.lists(st.one_of(st.text(st.characters(exclude_categories=("Cs",)), max_size=5), tricky_text), max_size=4).map("".join)

decimals = st.one_of(
    st.integers(-10**6, 10**6).map(Decimal),
    st.decimals(min_value=-10**6, max_value=10**6, places=4, allow_nan=False, allow_infinity=False),
)
dates = st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31))
units = st.sampled_from(["day", "week", "month", "year"])
counts = st.integers(0, 100_000)
statuses = st.sampled_from([None, "live", "draft"])
optional_text = st.none() | texts

field_refs = names.map(ast.FieldRef)
string_values = texts.map(ast.StringValue)
values = st.one_of(
    string_values,
    decimals.map(ast.NumberValue),
    dates.map(ast.DateValue),
    st.booleans().map(ast.BoolValue),
    names.map(ast.NameValue),
)
value_lists = st.lists(values, min_size=1, max_size=3).map(tuple)

predicates = st.one_of(
    st.builds(ast.BoolTest, field_refs),
    st.builds(ast.Compare, field_refs, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), values),
    st.builds(ast.In, field_refs, value_lists, st.booleans()),
    st.builds(ast.Between, field_refs, values, values),
    st.builds(ast.Has, field_refs, st.just("one"), values.map(lambda v: (v,))),
    st.builds(ast.Has, field_refs, st.sampled_from(["any", "all"]), value_lists),
    st.builds(ast.Like, field_refs, string_values),
    st.builds(ast.Resembles, field_refs, st.lists(string_values, min_size=1, max_size=3).map(tuple), st.none() | decimals),
    st.builds(ast.Within, field_refs, counts, units, st.booleans()),
    st.builds(ast.DateBound, field_refs, st.sampled_from(["before", "after"]),
              dates.map(ast.DateValue) | st.builds(ast.RelativeDate, counts, units)),
    st.builds(ast.IsKnown, field_refs, st.booleans()),
)
conditions = st.recursive(
    predicates,
    lambda inner: st.one_of(
        inner.map(ast.Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda ops: ast.And(tuple(ops))),
        st.lists(inner, min_size=2, max_size=3).map(lambda ops: ast.Or(tuple(ops))),
    ),
    max_leaves=6,
)
params = st.builds(
    ast.Param,
    st.sampled_from(["score", "filter", "exclude"]),
    st.none() | decimals,
    optional_text,
    st.sampled_from([None, "passes", "excludes"]),
    conditions,
)
param_lists = st.lists(params, max_size=3).map(tuple)
personas = st.one_of(
    st.builds(ast.Persona, names, optional_text, statuses, param_lists),
    st.builds(ast.PersonaInstance, names, optional_text, statuses, names,
              st.none() | st.lists(params | texts.map(ast.Drop), max_size=3).map(tuple)),
)
type_refs = st.one_of(
    st.builds(ast.TypeRef, names, st.booleans(), st.none()),
    st.builds(ast.TypeRef, names, st.booleans(), st.lists(string_values, min_size=1, max_size=3).map(tuple)),
)
declarations = st.one_of(
    st.builds(ast.FieldsBlock, st.sampled_from(["account", "lead"]),
              st.lists(st.builds(ast.FieldDecl, names, type_refs), max_size=3).map(tuple)),
    st.builds(ast.RegionDecl, names, optional_text, st.lists(texts.map(ast.Country), min_size=1, max_size=3).map(tuple)),
    st.builds(ast.PersonaTemplate, names, optional_text, statuses, param_lists),
    st.builds(ast.Icp, names, optional_text, statuses, param_lists, st.lists(personas, max_size=2).map(tuple)),
)
rule_files = st.builds(ast.RuleFile, st.just("gen.ust"), st.lists(declarations, max_size=4).map(tuple))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(rule_files)
def test_any_ast_round_trips(rule_file):
    assert round_trip(rule_file) == rule_file


@given(conditions)
def test_any_condition_round_trips_through_its_printed_form(condition):
    (icp,) = parse_text(f"icp x {{ filter: {print_condition(condition)} }}").declarations
    assert icp.params[0].condition == condition
