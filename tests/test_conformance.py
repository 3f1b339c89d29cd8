"""Every engine against every conformance case (tests/conformance/<case>/)."""

from __future__ import annotations

import json

import pytest

from conformance_runner import (
    ACCOUNT_COLUMNS,
    LEAD_COLUMNS,
    case_dirs,
    compiled_engine,
    compiled_truth,
    load_case,
    load_truth_table,
    reference_engine,
    reference_truth,
    truth_tables,
)

ENGINES = [reference_engine, compiled_engine]

CASES = case_dirs()


def test_there_are_cases():
    assert len(CASES) >= 12


@pytest.mark.parametrize("case_dir", CASES, ids=[p.name for p in CASES])
def test_case_is_well_formed(case_dir):
    case = load_case(case_dir)
    assert [tuple(r) for r in case.expect_accounts] == [ACCOUNT_COLUMNS] * len(case.expect_accounts)
    assert [tuple(r) for r in case.expect_leads] == [LEAD_COLUMNS] * len(case.expect_leads)
    assert [r["account_id"] for r in case.expect_accounts] == [a["account_id"] for a in case.accounts]
    assert [r["lead_id"] for r in case.expect_leads] == [l["lead_id"] for l in case.leads]
    account_ids = [a["account_id"] for a in case.accounts]
    assert len(set(account_ids)) == len(account_ids)
    declared = {f.name for f in case.ruleset.schema.fields} | {"account_id", "lead_id"}
    for record in case.accounts + case.leads:
        assert set(record) <= declared, f"{case.name}: undeclared columns {set(record) - declared}"


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.__name__)
@pytest.mark.parametrize("case_dir", CASES, ids=[p.name for p in CASES])
def test_conformance(case_dir, engine):
    case = load_case(case_dir)
    account_rows, lead_rows = engine(case.ruleset, case.accounts, case.leads, case.as_of)
    account_rows, lead_rows = list(account_rows), list(lead_rows)
    for got, want in zip(account_rows, case.expect_accounts):
        assert got == want, f"{case.name}: account {want['account_id']}"
    assert len(account_rows) == len(case.expect_accounts)
    for got, want in zip(lead_rows, case.expect_leads):
        assert got == want, f"{case.name}: lead {want['lead_id']}"
    assert len(lead_rows) == len(case.expect_leads)
    # Scores are ints (not floats or Decimals) and bands follow from them.
    for row in account_rows + lead_rows:
        for key in ("icp_score", "persona_score"):
            assert row.get(key) is None or type(row[key]) is int
    json.dumps([account_rows, lead_rows])  # plain values only


TRUTH_TABLES = truth_tables()


def test_there_are_truth_tables():
    assert len(TRUTH_TABLES) >= 7 and sum(len(load_truth_table(p).rows) for p in TRUTH_TABLES) >= 300


@pytest.mark.parametrize("engine", [reference_truth, compiled_truth], ids=lambda e: e.__name__)
@pytest.mark.parametrize("path", TRUTH_TABLES, ids=[p.stem for p in TRUTH_TABLES])
def test_truth_table(path, engine):
    table = load_truth_table(path)
    answers = engine(table)
    assert len(answers) == len(table.rows)
    wrong = [(row.condition, row.record, row.as_of.isoformat(), row.expect, got)
             for row, got in zip(table.rows, answers) if got is not row.expect]
    assert not wrong, f"{table.name}: {len(wrong)} rows differ, e.g. {wrong[:3]}"
