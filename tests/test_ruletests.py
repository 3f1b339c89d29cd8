"""`unstuck test`: rule tests written in the language, run through the compiled kernel, with
coverage. The example workspace's tests pass at full coverage; each kind of expectation fails
when the rules give something else, with the drawer; the kernel's outcomes agree with the
reference evaluator test by test; tests are formatted, and stay out of the ruleset's hash."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from unstuck_dsl import ast, pipeline, ruletests
from unstuck_dsl.fmt import format_text
from unstuck_dsl.parser import parse_text
from unstuck_dsl.reference import evaluate_account, evaluate_lead
from unstuck_dsl.source import read_sources

from cli_support import RULES, run

RULE_FILES = ("fields.ust", "icps.ust", "personas.ust")


def workspace(tmp_path: Path, tests: str) -> Path:
    """The example rules with `tests` as their only test file."""
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in RULE_FILES:
        shutil.copy(RULES / name, folder / name)
    (folder / "t.test.ust").write_text(tests, encoding="utf-8")
    return folder


SEED_ACCOUNT = """
  account {
    industry: "software"
    employees: 240
    tech_stack: {"Snowflake"}
    funding_stage: "Series B"
    hired_ciso_on: 2026-05-04
    is_competitor: false
  }
"""


def one_test(body: str, as_of: str = "2026-11-26", name: str = "t") -> str:
    return f'test "{name}" {{\n  as_of {as_of}\n{body}\n}}\n'


# ---- the example workspace ------------------------------------------------------------------------


def test_the_example_tests_pass_at_full_coverage(tmp_path):
    out = tmp_path / "coverage.json"
    result = run("test", RULES, "--coverage", "--coverage-json", out, "--min-coverage", "100")
    assert result.exit_code == 0, result.output
    assert "18 tests: 18 passed, 0 failed" in result.output
    assert "coverage: 100.0% (119 of 119 outcomes seen)" in result.output
    assert 'score "Modern stack"                              7      -' in result.output  # open set: never false
    report = json.loads(out.read_text())
    assert report["tests"] == 18 and report["failed"] == 0
    assert report["coverage"]["percent"] == 100.0
    rules = {r["code"]: r for r in report["coverage"]["rules"]}
    assert rules["ent_finserv"]["status"] == "draft" and rules["ent_finserv"]["qualified"] == 1
    okta = next(p for p in rules["mm_saas"]["parameters"] if p["name"] == "Uses Okta")
    assert okta["possible"] == ["true", "unknown"] and okta["false"] == 0


def test_the_seed_drawer_example_is_among_the_shipped_tests():
    text = (RULES / "icps.test.ust").read_text()
    seed = next(d for d in parse_text(text).declarations if "85" in d.name)
    assert ast.ExpectColumn("icp_score", "==", ast.NumberValue(85)) in seed.expectations
    assert ast.ExpectParam((), "Uses Okta", "unknown") in seed.expectations


def test_check_and_fmt_accept_the_shipped_test_files():
    assert run("check", "--strict", RULES).exit_code == 0
    assert run("fmt", "--check", RULES).exit_code == 0


def test_min_coverage_fails_below_the_threshold(tmp_path):
    folder = workspace(tmp_path, one_test(SEED_ACCOUNT + "  expect icp mm_saas"))
    result = run("test", folder, "--coverage", "--min-coverage", "50")
    assert result.exit_code == 1
    assert "1 test: 1 passed, 0 failed" in result.output
    assert "is below --min-coverage 50%" in result.output
    assert run("test", folder, "--min-coverage", "10").exit_code == 0


def test_a_workspace_without_tests_is_an_error(tmp_path):
    folder = workspace(tmp_path, "")
    (folder / "t.test.ust").unlink()
    result = run("test", folder)
    assert result.exit_code == 1 and "no tests" in result.output


# ---- failures -------------------------------------------------------------------------------------

FAILING = [
    ("expect icp smb_saas", "got icp mm_saas"),
    ("expect no icp", "got icp mm_saas"),
    ("expect icp_score == 80", "got icp_score 85"),
    ("expect icp_score < 85", "got icp_score 85"),
    ("expect icp_band <= \"solid\"", 'got icp_band "strong"'),
    ('expect mm_saas "Uses Okta" false', 'got mm_saas "Uses Okta" unknown'),
    ('expect mm_saas "Uses Snowflake" unknown', 'got mm_saas "Uses Snowflake" true'),
    ("expect not audience strong_accounts", "got a member of strong_accounts"),
]


@pytest.mark.parametrize(("expectation", "got"), FAILING)
def test_a_broken_expectation_fails_with_where_what_and_the_drawer(tmp_path, expectation, got):
    account = SEED_ACCOUNT.replace("is_competitor: false", 'is_competitor: false\n    country: "US"')
    text = one_test(account + "  expect icp mm_saas\n  " + expectation, name="broken")
    folder = workspace(tmp_path, text)
    result = run("test", folder)
    assert result.exit_code == 1
    assert f'FAIL {folder}/t.test.ust:1:1: test "broken"' in result.output
    line = text.splitlines().index("  " + expectation) + 1
    assert f"{folder}/t.test.ust:{line}:3: expected {expectation.removeprefix('expect ')}" in result.output
    assert got in result.output
    assert "17 / 20 normalizes to 85 / 100 on the ICP score field." in result.output  # the drawer
    assert "1 test: 0 passed, 1 failed" in result.output


LEAD = """
  lead {
    title: "Staff Engineer"
    function: "Engineering"
    seniority: "IC"
  }
"""

LEAD_FAILING = [
    ("expect persona vp_sales", "got persona no_persona_fit"),
    ("expect persona_score >= 1", "got persona_score unknown"),
    ('expect mm_saas.vp_sales "Sales function" true', 'got mm_saas.vp_sales "Sales function" false'),
    ('expect smb_saas.vp_sales "Title" false', "not evaluated: the lead's account is in ICP mm_saas"),
    ('expect stage == "hot"', 'got stage "cool"'),
    ("expect engagement_score > 0", "got engagement_score 0"),
    ("expect audience mm_vp_sales", "got not a member of mm_vp_sales"),
]


@pytest.mark.parametrize(("expectation", "got"), LEAD_FAILING)
def test_a_lead_expectation_fails_with_what_the_run_gave(tmp_path, expectation, got):
    folder = workspace(tmp_path, one_test(SEED_ACCOUNT + LEAD + "  expect persona no_persona_fit\n  " + expectation))
    result = run("test", folder)
    assert result.exit_code == 1, result.output
    assert got in result.output
    assert "Persona vp_sales \"VP Sales\": did not qualify" in result.output


def test_only_the_failing_tests_are_shown(tmp_path):
    passing = one_test(SEED_ACCOUNT + "  expect icp mm_saas", name="passes")
    failing = one_test(SEED_ACCOUNT + "  expect no icp", name="fails")
    result = run("test", workspace(tmp_path, passing + "\n" + failing))
    assert result.exit_code == 1
    assert 'test "fails"' in result.output and 'test "passes"' not in result.output
    assert "2 tests: 1 passed, 1 failed" in result.output


def test_each_test_is_scored_at_its_own_date(tmp_path):
    # The CISO was hired on 2026-05-04: within 12 months in late 2026, not in 2028.
    recent = one_test(SEED_ACCOUNT + '  expect "Hired a CISO in 12mo" true\n  expect icp_score == 85', "2026-11-26")
    later = one_test(SEED_ACCOUNT + '  expect "Hired a CISO in 12mo" false\n  expect icp_score == 45', "2028-01-01")
    result = run("test", workspace(tmp_path, recent + later))
    assert result.exit_code == 0, result.output
    assert "2 tests: 2 passed" in result.output


def test_a_signal_counts_from_the_tests_date(tmp_path):
    meeting = SEED_ACCOUNT + LEAD + "  signal meeting 2026-11-25\n  signal demo_request 2026-11-25\n"
    fresh = one_test(meeting + '  expect stage == "hot"')
    stale = one_test(meeting + '  expect stage == "cool"', as_of="2027-11-25")
    result = run("test", workspace(tmp_path, fresh + stale))
    assert result.exit_code == 0, result.output


def test_a_test_with_errors_stops_the_run_as_check_does(tmp_path):
    folder = workspace(tmp_path, one_test('  account {\n    industy: "software"\n  }\n  expect icp mm_saaz'))
    result = run("test", folder)
    assert result.exit_code == 1
    assert "error[E012]: unknown field `industy`" in result.output
    assert "error[E081]: no ICP is called `mm_saaz`" in result.output


# ---- the kernel against the reference evaluator ----------------------------------------------------


def test_every_shipped_test_record_scores_as_the_reference_evaluator_scores_it():
    compiled = pipeline.compile_rules(RULES)
    tests = compiled.model.tests
    for with_leads in (False, True):
        numbers = [n for n, t in enumerate(tests) if (t.record("lead") is not None) == with_leads]
        batch = ruletests._Batch(compiled, [tests[n] for n in numbers], numbers, tests[0].as_of.day, with_leads)
        for number in numbers:
            account = batch.result.dataset.accounts.record(batch._account_row(number))
            expected = evaluate_account(compiled.model, account, tests[number].as_of.day)
            assert batch.icp_outcomes(number) == list(expected.icps)
            row = batch.record(number)
            assert (row["icp_code"], row["icp_score"]) == (expected.icp_code, expected.icp_score)
            if with_leads:
                lead = batch.result.dataset.leads.record(batch._lead_row(number))
                reference = evaluate_lead(compiled.model, lead, account, tests[number].as_of.day)
                landed = batch.persona_outcomes(number)
                assert (landed[1] if landed else []) == list(reference.personas)
                assert (row["persona_code"], row["persona_score"]) == (reference.persona_code, reference.persona_score)


# ---- coverage -------------------------------------------------------------------------------------


def test_possible_outcomes_leave_out_what_a_condition_can_never_be():
    ruleset = pipeline.load_ruleset(RULES)

    def outcomes(condition_text: str):
        rules = f'icp x {{ score 1: {condition_text} }}'
        condition = parse_text(rules).declarations[0].params[0].condition
        return ruletests.possible_outcomes(condition, ruleset.schema)

    assert outcomes('tech_stack has "Okta"') == ("true", "unknown")
    assert outcomes('not tech_stack has "Okta"') == ("false", "unknown")
    assert outcomes('tech_stack has all {"Okta", "dbt"}') == ("true", "unknown")
    assert outcomes("employees is known") == ("true", "false")
    assert outcomes('employees is known and tech_stack has "Okta"') == ("true", "false", "unknown")
    assert outcomes('employees is known or tech_stack has "Okta"') == ("true", "unknown")
    assert outcomes("employees > 5") == ("true", "false", "unknown")


def test_an_icp_seen_only_qualifying_is_not_fully_covered(tmp_path):
    compiled = pipeline.compile_rules(workspace(tmp_path, one_test(SEED_ACCOUNT + "  expect icp mm_saas")))
    report = ruletests.run_tests(compiled)
    mm = next(r for r in report.coverage.rules if r.code == "mm_saas")
    assert (mm.qualified, mm.not_qualified) == (1, 0)
    assert mm.outcomes["Uses Okta"] == {"true": 0, "false": 0, "unknown": 1}
    seen, possible = mm.seen()
    assert (seen, possible) == (1 + 7, 2 + (2 + 2 + 3 + 3 + 3 + 3 + 3))  # `has` on an open set: never false
    draft_persona = [r for r in report.coverage.rules if not r.evaluated]
    assert draft_persona == []  # the draft ICP has no Personas
    assert 0 < report.coverage.percent < 100


# ---- the language: formatting, and the ruleset's hash ----------------------------------------------

MESSY = '''test "messy"{as_of 2026-11-26  # the date
expect icp mm_saas   lead{title:"VP Sales"}
  # the account
  account { tech_stack: { "a","b" ,} employees: 1_000_000 }
  signal meeting 2026-11-01
}
'''


def test_fmt_lays_a_test_out_in_one_order_keeping_comments():
    formatted = format_text(MESSY, "t.test.ust")
    assert formatted == '''test "messy" {
  as_of 2026-11-26  # the date
  lead {
    title: "VP Sales"
  }
  # the account
  account {
    tech_stack: {"a", "b"}
    employees: 1_000_000
  }
  signal meeting 2026-11-01
  expect icp mm_saas
}
'''
    assert parse_text(formatted) == parse_text(MESSY)
    assert format_text(formatted, "t.test.ust") == formatted


def test_tests_do_not_change_the_rulesets_hash(tmp_path):
    with_tests = pipeline.load_ruleset(RULES)
    folder = tmp_path / "rules"
    folder.mkdir()
    for name in RULE_FILES:
        shutil.copy(RULES / name, folder / name)
    without = pipeline.load_ruleset(folder)
    assert len(with_tests.tests) == 18 and without.tests == ()
    assert with_tests.content_hash == without.content_hash


def test_test_files_are_read_with_the_workspace():
    names = [Path(s.name).name for s in read_sources(RULES)]
    assert "icps.test.ust" in names and "personas.test.ust" in names


def test_the_documented_examples_pass(tmp_path):
    """The `test` blocks of docs/language.md and docs/authoring.md, run on the example rules."""
    blocks = []
    for doc in ("language.md", "authoring.md"):
        text = (RULES.parent / "docs" / doc).read_text()
        blocks += re.findall(r"```\n(?:# rules/icps.test.ust\n)?(test .*?)```", text, re.S)
    assert len(blocks) == 2
    result = run("test", workspace(tmp_path, "\n".join(blocks)))
    assert result.exit_code == 0, result.output
    assert "2 tests: 2 passed, 0 failed" in result.output
