"""The compiled kernel against the reference evaluator: random rulesets × random data, every
record compared (codes, scores, bands, preview columns, every parameter's truth value), and
explanations from the kernel equal to explanations from the reference.

Each example compiles a fresh kernel (a few seconds), then checks several data sets against it.
DIFFERENTIAL_EXAMPLES sets how many rulesets (default 25 in CI).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from unstuck_dsl import api
from unstuck_dsl.explain import explain_account, explain_lead
from unstuck_dsl.reference import evaluate_account, evaluate_audience, evaluate_lead, normalized_score

from conformance_runner import arrow_table
from strategies import audiences, datasets, rulesets

EXAMPLES = int(os.environ.get("DIFFERENTIAL_EXAMPLES", "25"))

def reference_rows(ruleset, accounts, leads, as_of, preview):
    by_id = {a["account_id"]: a for a in accounts}
    account_rows = [(evaluate_account(ruleset, a, as_of), evaluate_account(ruleset, a, as_of, preview))
                    for a in accounts]
    lead_rows = [(evaluate_lead(ruleset, lead, by_id.get(lead["account_id"]), as_of),
                  evaluate_lead(ruleset, lead, by_id.get(lead["account_id"]), as_of, preview)) for lead in leads]
    return account_rows, lead_rows


def _tri(value: int):
    return {0: False, 1: None, 2: True}[int(value)]


def check_accounts(compiled, result, account_rows, preview, outcomes=True):
    table = result.accounts.to_pylist()
    slots = [p.slot for r in compiled.program.icps.rules for p in r.params]
    for i, (live, previewed) in enumerate(account_rows):
        row = table[i]
        assert (row["icp_code"], row["icp_score"], row["icp_band"]) == (live.icp_code, live.icp_score, live.icp_band)
        if preview:
            assert (row["preview_icp_code"], row["preview_icp_score"], row["preview_icp_band"]) == (
                previewed.icp_code, previewed.icp_score, previewed.icp_band)
        if outcomes:
            kernel_truth = [_tri(result.account_outcomes[i, s]) for s in slots]
            reference_truth = [t for outcome in live.icps for t in outcome.outcomes]
            assert kernel_truth == reference_truth


def check_leads(compiled, result, lead_rows, preview, outcomes=True):
    table = result.leads.to_pylist()
    icp_index = {icp.code: k for k, icp in enumerate(compiled.model.icps)}
    for i, (live, previewed) in enumerate(lead_rows):
        row = table[i]
        expected = (live.icp_code, live.icp_score, live.icp_band, live.persona_code, live.persona_score,
                    live.persona_band)
        assert (row["icp_code"], row["icp_score"], row["icp_band"], row["persona_code"], row["persona_score"],
                row["persona_band"]) == expected
        if preview:
            assert (row["preview_icp_code"], row["preview_persona_code"], row["preview_persona_score"],
                    row["preview_persona_band"]) == (previewed.icp_code, previewed.persona_code,
                                                      previewed.persona_score, previewed.persona_band)
        if outcomes and live.icp_code is not None:
            block = compiled.program.personas[icp_index[live.icp_code]]
            kernel_truth = [_tri(result.lead_outcomes[i, p.slot]) for r in block.rules for p in r.params]
            reference_truth = [t for outcome in live.personas for t in outcome.outcomes]
            assert kernel_truth == reference_truth


def assert_same_explanation(a, b):
    """Equal explanations, compared part by part so that a failure names the row that differs."""
    one, other = a.to_dict(), b.to_dict()
    for kind in ("icps", "personas"):
        assert [x["code"] for x in one[kind]] == [x["code"] for x in other[kind]]
        for x, y in zip(one.pop(kind), other.pop(kind)):
            for row_x, row_y in zip(x.pop("parameters"), y.pop("parameters")):
                assert row_x == row_y
            assert x == y
    assert one == other


def check_explanations(compiled, result, accounts, leads, account_rows, lead_rows, as_of):
    model = compiled.model
    for account, (live, _) in list(zip(accounts, account_rows))[:2]:
        from_kernel = result.explain(account_id=account["account_id"])
        from_reference = explain_account(model, account, live, as_of)
        assert_same_explanation(from_kernel, from_reference)
        for b in from_kernel.icps:  # the subtotal reproduces the score it explains
            assert b.score == normalized_score(b.earned, b.possible)
    by_id = {a["account_id"]: a for a in accounts}
    for lead, (live, _) in list(zip(leads, lead_rows))[:2]:
        from_kernel = result.explain(lead_id=lead["lead_id"])
        account = by_id.get(lead["account_id"])
        from_reference = explain_lead(model, lead, account, live, as_of)
        assert_same_explanation(from_kernel, from_reference)
        assert (from_kernel.persona_code, from_kernel.persona_score) == (live.persona_code, live.persona_score)


# Shrinking recompiles a kernel per step; DIFFERENTIAL_SHRINK=0 reports the first failure as found.
PHASES = [p for p in Phase if os.environ.get("DIFFERENTIAL_SHRINK", "1") != "0" or p != Phase.shrink]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), phases=PHASES)
@given(data=st.data())
def test_kernel_equals_reference_on_every_record(data):
    text, ruleset = data.draw(rulesets(), label="rules")
    compiled = api.Ruleset(ruleset)
    drafts = [i.code for i in ruleset.icps if i.status == "draft"]
    drafts += [f"{i.code}.{p.code}" for i in ruleset.icps for p in i.personas if p.status == "draft"]
    for round_ in range(3):
        accounts, leads, as_of = data.draw(datasets(ruleset.schema), label=f"data {round_}")
        preview = frozenset(data.draw(st.lists(st.sampled_from(drafts), unique=True), label="preview")
                            if drafts else ())
        result = compiled.score(arrow_table(accounts, ruleset.schema, "account"),
                                arrow_table(leads, ruleset.schema, "lead"),
                                as_of=as_of, preview=preview, outcomes=True)
        account_rows, lead_rows = reference_rows(ruleset, accounts, leads, as_of, preview)
        check_accounts(compiled, result, account_rows, preview)
        check_leads(compiled, result, lead_rows, preview)
        check_explanations(compiled, result, accounts, leads, account_rows, lead_rows, as_of)
        # A run keeping no outcomes skips the rules taking no part in it (a draft outside a preview).
        plain = compiled.score(arrow_table(accounts, ruleset.schema, "account"), arrow_table(leads, ruleset.schema, "lead"),
                               as_of=as_of, preview=preview)
        check_accounts(compiled, plain, account_rows, preview, outcomes=False)
        check_leads(compiled, plain, lead_rows, preview, outcomes=False)


def _scored_record(fields: dict, live) -> dict:
    record = dict(fields)
    record.update(icp_code=live.icp_code, icp_score=live.icp_score, icp_band=live.icp_band,
                  persona_code=getattr(live, "persona_code", None), persona_score=getattr(live, "persona_score", None),
                  persona_band=getattr(live, "persona_band", None))
    return record


@settings(max_examples=max(5, EXAMPLES // 2), deadline=None, suppress_health_check=list(HealthCheck), phases=PHASES)
@given(data=st.data())
def test_audience_kernel_equals_reference(data):
    text, base = data.draw(rulesets(), label="rules")
    text, ruleset = data.draw(audiences(text, base), label="audience")
    compiled = api.Ruleset(ruleset)
    audience = ruleset.audience("aud")
    for round_ in range(2):
        accounts, leads, as_of = data.draw(datasets(ruleset.schema), label=f"data {round_}")
        with_leads = data.draw(st.booleans(), label="with leads")
        result = compiled.score(arrow_table(accounts, ruleset.schema, "account"),
                                arrow_table(leads, ruleset.schema, "lead") if with_leads else None, as_of=as_of)
        account_rows, lead_rows = reference_rows(ruleset, accounts, leads, as_of, frozenset())
        if with_leads:
            by_id = {a["account_id"]: a for a in accounts}
            records = [_scored_record({**by_id.get(lead["account_id"], {}), **lead}, live)
                       for lead, (live, _) in zip(leads, lead_rows)]
        else:
            records = [_scored_record(account, live) for account, (live, _) in zip(accounts, account_rows)]
        expected = [evaluate_audience(ruleset, audience, r, as_of) for r in records]
        got = [{0: False, 1: None, 2: True}[int(v)] for v in result.audience_membership("aud")]
        assert got == expected
        assert result.audience("aud").num_rows == expected.count(True)
