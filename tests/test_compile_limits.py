"""Rules that pass `check` compile in bounded time and score exactly like the reference: long
lists, long and/or chains, many ICPs, one ICP with many parameters; beyond the stated limits the
checker says so (E070, E071); a compile error is not retried.

The large rulesets run on the table interpreter (interpreter.py); the interpreter is also checked
against the reference on random rulesets, as the straight-line kernels are in test_differential.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba.core.errors import NumbaError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import compile_limits  # noqa: E402
from test_differential import check_accounts, check_explanations, check_leads, reference_rows  # noqa: E402

from unstuck_dsl import api, check, codegen, kernel  # noqa: E402
from unstuck_dsl.diagnostics import RuleError  # noqa: E402
from unstuck_dsl.pipeline import load_ruleset  # noqa: E402
from unstuck_dsl.reference import evaluate_audience  # noqa: E402

from conformance_runner import arrow_table  # noqa: E402
from strategies import datasets, rulesets  # noqa: E402

AS_OF = dt.date(2026, 11, 26)
pytestmark = pytest.mark.slow


def _records(n_accounts: int, seed: int = 3) -> tuple[list[dict], list[dict]]:
    """Records over compile_limits.FIELDS whose values hit the generated lists and comparisons
    (and miss them), with many unknowns."""
    rng = random.Random(seed)

    def pick(*values):
        return rng.choice([None, None, *values])

    accounts = [{
        "account_id": f"a{k}", "industry": pick("ind3", "ind7", "ind299", "other"),
        "employees": pick(0, 3, 6, 7, 30, 400, 897, 1200), "revenue": pick(0.0, 7.0, 14.0, 99.5, 2093.0, 2e6),
        "founded": pick(dt.date(2010, 1, 1), dt.date(2011, 2, 2), dt.date(2030, 5, 5), dt.date(2015, 3, 4)),
        "stack": pick([], ["tool3"], ["tool5", "tool499"], ["nothing"]),
        "tools": pick([], ["t1", "t2"], ["tool1", "tool2", "tool3"], [f"tool{j}" for j in range(300)]),
        "public": pick(True, False),
    } for k in range(n_accounts)]
    for account in accounts[::5]:  # nothing known: excludes do not apply, filters passing on unknown pass
        account.update(dict.fromkeys(set(account) - {"account_id"}))
    leads = [{
        "lead_id": f"l{k}", "account_id": f"a{k % n_accounts}", "title": pick("x3 y", "vp x12", "cto"),
        "years": pick(1.0, 12.0, 29.0), "level": pick(0, 1, 4, 8), "joined": pick(dt.date(2026, 10, 1), dt.date(2020, 1, 1)),
        "skills": pick(["s1"], ["tool2"], ["s3", "tool400"]),
    } for k in range(2 * n_accounts)]
    return accounts, leads


def _assert_scores_like_the_reference(text: str, n_accounts: int = 40, preview=frozenset()) -> api.Ruleset:
    """Compile, score with outcomes, and compare every record, every parameter's truth value and
    a few explanations with the reference evaluator."""
    ruleset = load_ruleset(text)
    compiled = api.Ruleset(ruleset)
    accounts, leads = _records(n_accounts)
    result = compiled.score(arrow_table(accounts, ruleset.schema, "account"), arrow_table(leads, ruleset.schema, "lead"),
                            as_of=AS_OF, preview=preview, outcomes=True)
    account_rows, lead_rows = reference_rows(ruleset, accounts, leads, AS_OF, preview)
    check_accounts(compiled, result, account_rows, preview)
    check_leads(compiled, result, lead_rows, preview)
    check_explanations(compiled, result, accounts, leads, account_rows, lead_rows, AS_OF)
    assert any(live.icp_code for live, _ in account_rows), "no record qualifies: the comparison proves little"
    return compiled


def test_long_lists_compile_as_loops_and_score_like_the_reference():
    """`in {…}` with 300 numbers and 300 dates, `has any` / `has all` with 500 items: straight-line
    code with one loop per list (these gave `too many nested parentheses` / RecursionError)."""
    compiled = _assert_scores_like_the_reference(compile_limits.long_lists(500, chains=False))
    assert not codegen.interpreted(compiled.program)


def test_kernel_source_does_not_grow_with_list_length():
    # Lists long enough that every score part keeps its branch (codegen.BRANCH_FREE_SCORE_COST):
    # only the lists' length differs.
    layouts = {"stack": "bitset", "tools": "csr", "skills": "bitset"}
    short = api.Ruleset(load_ruleset(compile_limits.long_lists(50, chains=False))).source(layouts)
    long = api.Ruleset(load_ruleset(compile_limits.long_lists(500, chains=False))).source(layouts)
    assert len(long.splitlines()) == len(short.splitlines())


def test_or_and_and_chains_of_300_comparisons_score_like_the_reference():
    _assert_scores_like_the_reference(compile_limits.long_lists(300, chains=True))


def test_200_live_icps_compile_and_score_like_the_reference():
    """(Gave RecursionError in numba's SSA pass after minutes, at 3.5 GB.) Ties between ICPs
    scoring alike still go to the first declared, also in a preview of a draft."""
    compiled = _assert_scores_like_the_reference(compile_limits.many_icps(200, drafts=2), n_accounts=60,
                                                 preview=frozenset({"i201"}))
    assert codegen.interpreted(compiled.program)


def test_one_icp_with_600_parameters_compiles_and_scores_like_the_reference():
    _assert_scores_like_the_reference(compile_limits.one_icp_with_params(600))


def test_audience_with_a_chain_of_320_comparisons_matches_like_the_reference():
    text = compile_limits.many_icps(3) + 'audience big "Big" { ' + " or ".join(
        f"employees == {k} or revenue > {1000 + k}" for k in range(160)) + " or icp_score > 100 }\n"
    ruleset = load_ruleset(text)
    compiled = api.Ruleset(ruleset)
    assert "from unstuck_dsl.interpreter" in codegen.generate_audience(
        compiled.audience_kernels("big", {})[0], {})  # too long for straight-line code
    accounts, _ = _records(40)
    result = compiled.score(arrow_table(accounts, ruleset.schema, "account"), as_of=AS_OF)
    records = [{**account, "icp_code": live.icp_code, "icp_score": live.icp_score, "icp_band": live.icp_band,
                "persona_code": None, "persona_score": None, "persona_band": None}
               for account, (live, _) in zip(accounts, reference_rows(ruleset, accounts, [], AS_OF, frozenset())[0])]
    expected = [evaluate_audience(ruleset, ruleset.audience("big"), r, AS_OF) for r in records]
    assert [{0: False, 1: None, 2: True}[int(v)] for v in result.audience_membership("big")] == expected
    assert expected.count(True) and expected.count(False) and expected.count(None)


@settings(max_examples=max(4, int(os.environ.get("DIFFERENTIAL_EXAMPLES", "25")) // 5), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_table_interpreter_equals_reference_on_every_record(data):
    """The same comparison as test_differential's, with every ruleset on the interpreter."""
    text, ruleset = data.draw(rulesets(), label="rules")
    with mock.patch.object(codegen, "STRAIGHT_LINE_LIMIT", -1):
        compiled = api.Ruleset(ruleset)
        assert codegen.interpreted(compiled.program)
        drafts = [i.code for i in ruleset.icps if i.status == "draft"]
        drafts += [f"{i.code}.{p.code}" for i in ruleset.icps for p in i.personas if p.status == "draft"]
        for round_ in range(2):
            accounts, leads, as_of = data.draw(datasets(ruleset.schema), label=f"data {round_}")
            preview = frozenset(data.draw(st.lists(st.sampled_from(drafts), unique=True), label="preview")
                                if drafts else ())
            result = compiled.score(arrow_table(accounts, ruleset.schema, "account"),
                                    arrow_table(leads, ruleset.schema, "lead"), as_of=as_of, preview=preview,
                                    outcomes=True)
            account_rows, lead_rows = reference_rows(ruleset, accounts, leads, as_of, preview)
            check_accounts(compiled, result, account_rows, preview)
            check_leads(compiled, result, lead_rows, preview)
            check_explanations(compiled, result, accounts, leads, account_rows, lead_rows, as_of)


def _diagnostics(text: str):
    with pytest.raises(RuleError) as caught:
        load_ruleset(text)
    return caught.value.diagnostics


def test_icps_reading_more_fields_than_the_limit_get_E070_at_the_first_field_over():
    n = check.MAX_FIELDS_READ + 1
    fields = " ".join(f"f{k}: int" for k in range(n))
    params = "\n".join(f"  score 1: f{k} > 1" for k in range(n))
    [d] = _diagnostics(f'account fields {{ {fields} }}\nicp a "A" {{\n{params}\n}}\n')
    assert d.code == "E070"
    assert (d.span.line, d.span.column) == (n + 2, 12)  # `f{n-1}` in the last parameter
    assert "split the workspace" in d.hint


def test_rules_with_more_conditions_than_the_limit_get_E071_at_the_first_condition_over(monkeypatch):
    monkeypatch.setattr(check, "MAX_CONDITIONS", 30)
    [d] = _diagnostics(compile_limits.one_icp_with_params(40))
    assert d.code == "E071"
    # conditions 1–30 are in p0–p26 (every seventh parameter holds two), the 31st is p27's
    assert '"p27"' in compile_limits.one_icp_with_params(40).splitlines()[d.span.line - 1]
    assert "30 conditions" in d.message


def test_a_failed_compile_is_not_retried(monkeypatch, tmp_path):
    """A kernel numba cannot compile fails once, with numba's error; it is not deleted and
    compiled again as if its cache entry were damaged (that doubled the time to fail)."""
    monkeypatch.setenv("UNSTUCK_CACHE_DIR", str(tmp_path))
    original = codegen.generate

    def untypable(program, layouts, outcomes=False):  # a string where an int goes
        return original(program, layouts, outcomes).replace("out_score[i] = best_score", 'out_score[i] = "x"', 1)

    monkeypatch.setattr(codegen, "generate", untypable)
    reloads = []
    monkeypatch.setattr(kernel, "reload_kernel", lambda source: reloads.append(source))
    rules = api.Ruleset(load_ruleset('account fields { n: int }\nicp a "A" { score 1: n > 7 }\n'))
    with pytest.raises(NumbaError):
        rules.score([{"account_id": "a1", "n": 9}], as_of=AS_OF)
    assert reloads == []
