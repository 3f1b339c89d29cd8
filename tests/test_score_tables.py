"""Rule 3's score as the compiled kernels read it: a table per rule of the score of every total
it can earn, counted in the rule's unit (the largest divisor of its weights), and the division
the interpreter makes instead for a rule whose table would be too long. Both against the
reference; and the promise the kernels are compiled on, that no output overlaps an input."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import unstuck_dsl
from unstuck_dsl import codegen, execute, reference
from unstuck_dsl.bind import score_table

AS_OF = dt.date(2026, 12, 1)


@settings(max_examples=200, deadline=None)
@given(possible=st.integers(0, 3000), unit=st.integers(1, 10**6))
def test_a_score_table_holds_the_reference_score_of_every_total(possible, unit):
    table = score_table(possible)
    assert len(table) == possible + 1
    for earned in range(possible + 1):
        assert table[earned] == reference.normalized_score(Decimal(earned * unit), Decimal(possible * unit))


def _rules(weights: tuple[str, str, str]) -> str:
    a, b, c = weights
    return f"""
account fields {{ employees: int  arr: number  industry: category }}
lead fields {{ seniority: ordinal("IC", "Manager", "VP")  years: number }}
icp big "Big" {{
  score {a} "Large": employees > 100
  score {b} "Rich": arr >= 1000000
  score {c} "Software": industry == "software"
  persona boss "Boss" {{
    score {a} "Senior": seniority >= "VP"
    score {c} "Seasoned": years > 5
    filter "Known": seniority is known
  }}
}}
icp any "Any" {{
  score {c} "Large": employees > 10
  score {b} "Software": industry in {{"software", "saas"}}
  filter "SaaS": industry == "saas"
}}
"""


ACCOUNTS = [
    {"account_id": f"a{i}", "employees": employees, "arr": arr, "industry": industry}
    for i, (employees, arr, industry) in enumerate([
        (500, 2e6, "software"), (50, 2e6, "saas"), (150, None, "software"), (None, 5e5, "retail"),
        (5, 1e7, "saas"), (101, 1e6, None), (11, 0.0, "software"), (100, 999_999.5, "saas"), (500, 0.0, "retail"),
    ])
]
LEADS = [
    {"lead_id": f"l{i}", "account_id": f"a{i % len(ACCOUNTS)}", "seniority": seniority, "years": years}
    for i, (seniority, years) in enumerate([
        ("VP", 10.0), ("IC", 6.0), (None, 2.0), ("Manager", None), ("VP", 5.0), ("IC", 5.5),
        ("VP", 0.0), ("Manager", 20.0), ("VP", 7.0), (None, None), ("IC", 1.0), ("VP", 30.0),
    ])
]


@pytest.mark.parametrize("weights,interpreted", [
    (("25", "50", "75"), False),  # unit 25: tables of 7 entries, not 151
    (("0.5", "1.25", "3"), False),  # scaled by 100 to 50, 125, 300: unit 25
    (("7", "3", "1"), False),
    (("1000.0001", "1", "2000"), True),  # unit 1 at a 10,000 scale: 30 million points
])
def test_rules_score_like_the_reference_by_table_or_by_division(weights, interpreted):
    compiled = unstuck_dsl.compile(_rules(weights))
    assert codegen.interpreted(compiled.program) == interpreted
    result = compiled.score(ACCOUNTS, LEADS, as_of=AS_OF)
    ruleset = compiled.model
    accounts = {a["account_id"]: a for a in ACCOUNTS}
    for row in result.accounts.to_pylist():
        expected = reference.evaluate_account(ruleset, accounts[row["account_id"]], AS_OF)
        assert (row["icp_code"], row["icp_score"]) == (expected.icp_code, expected.icp_score), row
    assert result.leads.column("lead_id").to_pylist() == [lead["lead_id"] for lead in LEADS]
    for row, lead in zip(result.leads.to_pylist(), LEADS):
        expected = reference.evaluate_lead(ruleset, lead, accounts[lead["account_id"]], AS_OF)
        assert (row["persona_code"], row["persona_score"]) == (expected.persona_code, expected.persona_score), row
    assert any(0 < row["icp_score"] < 100 for row in result.accounts.to_pylist() if row["icp_score"] is not None)


def test_a_kernel_output_not_made_by_kernel_output_or_passed_twice_is_refused():
    inputs = np.arange(10, dtype=np.int64)
    out = execute.kernel_output(10, np.int32)
    assert execute.marshal(["codes", "same_codes", "out_score"],
                           {"codes": inputs, "same_codes": inputs, "out_score": out})[2] is out
    for not_its_own in (inputs[3:].view(np.int32)[:10], np.zeros(10, np.int32), out[::2]):
        with pytest.raises(ValueError, match="kernel output out_score is not an array of its own"):
            execute.marshal(["codes", "out_score"], {"codes": inputs, "out_score": not_its_own})
    with pytest.raises(ValueError, match="kernel output out_icp"):
        execute.marshal(["out_icp", "out_score"], {"out_icp": out, "out_score": out})
