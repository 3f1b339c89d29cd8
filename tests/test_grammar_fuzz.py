"""Hostile and random rule text: the front end answers with diagnostics or a ruleset, never an
exception. Programs come from the package grammar itself (hypothesis.extra.lark), plus random
unicode, byte garbage, mutated example rules and pathological nesting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from unstuck_dsl.diagnostics import render_all
from unstuck_dsl.grammar import grammar_parser
from unstuck_dsl.parser import MAX_NESTING, parse_source
from unstuck_dsl.pipeline import check_sources
from unstuck_dsl.printer import print_file
from unstuck_dsl.source import Source

# Lark itself, not the generated parser: hypothesis reads the analysed grammar.
GRAMMAR = grammar_parser()

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = "\n".join(p.read_text(encoding="utf-8") for p in sorted((REPO / "rules").glob("*.ust")))

# Declarations the generated programs can refer to, so that many of them get past "unknown field"
# and exercise the type checks.
PRELUDE = """account fields {
  industry: category
  employees: int
  arr_usd: number
  country: category
  tech_stack: open set
  funding_stage: ordinal("Seed", "Series A", "Series B")
  hired_ciso_on: date
  is_competitor: bool
}
lead fields {
  title: text
  seniority: ordinal("IC", "VP")
}
region emea { GB, DE }
persona template founder { score 1 "Founder": title == "Founder" }
"""

_NAMES = ["industry", "employees", "arr_usd", "country", "tech_stack", "funding_stage", "hired_ciso_on",
          "is_competitor", "title", "seniority", "emea", "founder", "account_id", "no_persona_fit",
          "category", "text", "number", "int", "bool", "date", "ordinal", "set", "US", "de", "x"]
_STRINGS = ['"software"', '"Series B"', '"Seed"', '"VP"', '"Founder"', '"Snowflake"', '"*found?r*"', '"GB"',
            '""', r'"say \"hi\""', r'"C:\\"', '"Zürich 東京"']


def _token_strategies() -> dict[str, st.SearchStrategy[str]]:
    """One strategy per terminal of the grammar, each token followed by a separator (usually a
    space, sometimes a newline or a comment, sometimes nothing, so tokens can run together)."""
    regex_terminals = {
        "NAME": st.sampled_from(_NAMES) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
        "STRING": st.sampled_from(_STRINGS)
        | st.text(st.characters(exclude_characters='"\\\n', exclude_categories=("Cs",)), max_size=6).map(lambda s: f'"{s}"'),
        "NUMBER": st.sampled_from(["0", "5", "-3", "0.5", "1.5", "2000", "1_000_000", "0.00001", "100001", "2000000"]),
        "DATE": st.sampled_from(["2025-01-31", "2024-02-29", "2025-02-30", "0000-00-00", "9999-12-31"]),
    }
    separator = st.sampled_from([" ", " ", " ", " ", "\n", "\t", "  # note\n", ""])
    tokens = {}
    for terminal in GRAMMAR.terminals:
        if terminal.name in ("WS", "COMMENT"):
            continue
        if terminal.pattern.type == "str":
            base = st.just(terminal.pattern.value)
        else:
            base = regex_terminals[terminal.name] if terminal.name in regex_terminals else st.from_regex(
                terminal.pattern.to_regexp(), fullmatch=True)
        tokens[terminal.name] = st.tuples(base, separator).map("".join)
    tokens["WS"] = st.sampled_from([" ", "\n", "\r\n", "\t"])
    tokens["COMMENT"] = st.sampled_from(["# comment\n", "#\n", "# ünïcode \u2603\n"])
    return tokens


programs = from_lark(GRAMMAR, explicit=_token_strategies())


def assert_answers_with_diagnostics(text: str) -> list:
    """Parse and check `text`; the result must be a ruleset or diagnostics that render."""
    source = Source("fuzz.ust", text)
    ruleset, diagnostics = check_sources([source])
    has_error = any(d.is_error for d in diagnostics)
    assert (ruleset is None) == has_error
    lines = text.count("\n") + 1
    for d in diagnostics:
        assert d.code[0] in "EW" and d.message
        assert d.span is not None and d.span.file == "fuzz.ust"
        assert 1 <= d.span.line <= lines and d.span.column >= 1
    rendered = render_all(diagnostics, {source.name: source})
    assert rendered.endswith("warning" if sum(not d.is_error for d in diagnostics) == 1 else "warnings")
    return diagnostics


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs, st.booleans())
def test_programs_from_the_grammar_get_diagnostics_or_a_ruleset(program, with_prelude):
    text = PRELUDE + program if with_prelude else program
    assert_answers_with_diagnostics(text)
    rule_file, _ = parse_source(Source("fuzz.ust", text))
    if rule_file is not None:  # whatever parses, the printer gives back
        again, problems = parse_source(Source("fuzz.ust", print_file(rule_file)))
        assert problems == [] and again == rule_file


@given(st.text(max_size=300))
def test_random_unicode(text):
    assert_answers_with_diagnostics(text)


@given(st.binary(max_size=300))
def test_random_bytes_as_text(data):
    assert_answers_with_diagnostics(data.decode("latin-1"))
    assert_answers_with_diagnostics(data.decode("utf-8", errors="replace"))


@given(st.integers(0, len(EXAMPLE)), st.integers(0, 20), st.text(max_size=12))
def test_example_rules_with_a_random_splice(at, cut, insert):
    """Near-valid rules: the example workspace with a few characters cut and others inserted."""
    assert_answers_with_diagnostics(EXAMPLE[:at] + insert + EXAMPLE[at + cut:])


FIELDS = "account fields {\n  a: int\n  b: bool\n}\n"


@pytest.mark.parametrize(("name", "condition", "codes"), [
    ("5000 nested parentheses", "(" * 5000 + "b" + ")" * 5000, ["W001"]),
    ("5000 nested not", "not " * 5000 + "b", ["E003"]),
    ("5000 nested and", "(b and " * 5000 + "b" + ")" * 5000, ["E003"]),
    ("5000 nested or in not", "not (b or " * 5000 + "b" + ")" * 5000, ["E003"]),
    ("10k-term and chain", " and ".join(["a > 1"] * 10_000), ["W001"]),
    ("10k-term or chain", " or ".join(["b"] * 10_000), ["W001"]),
    ("unclosed 5000 parentheses", "(" * 5000 + "b", ["E001"]),
    ("just under the nesting limit", "not " * (MAX_NESTING - 4) + "b", ["W001"]),
])
def test_pathological_conditions(name, condition, codes):
    diagnostics = assert_answers_with_diagnostics(f"{FIELDS}icp x {{\n  filter: {condition}\n}}\n")
    assert [d.code for d in diagnostics] == codes


def test_deeply_nested_braces():
    diagnostics = assert_answers_with_diagnostics("icp x " + "{" * 5000 + "}" * 5000)
    assert [d.code for d in diagnostics] == ["E001"]


def test_many_declarations():
    icps = "".join(f'icp i{n} {{ score 1: a > {n} }}\n' for n in range(2000))
    assert assert_answers_with_diagnostics(FIELDS + icps) == []


def test_a_nul_and_control_characters():
    diagnostics = assert_answers_with_diagnostics(FIELDS + "icp x {\x00\x1b[31m}\n")
    assert diagnostics[0].code == "E002"
    assert re.search(r"unexpected character `\\x00`", diagnostics[0].message)
