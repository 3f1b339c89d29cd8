"""SPEC section 5, rule by rule, against the reference evaluator, with small hand-written rules
and records; predicate edge cases JSON cannot hold (the truth tables are conformance data in
tests/conformance/truth/, run against both engines); and the seed's worked example."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from unstuck_dsl import ast, explain, reference
from unstuck_dsl.check import check_workspace
from unstuck_dsl.model import NO_PERSONA_FIT
from unstuck_dsl.parser import parse_text
from unstuck_dsl.pipeline import load_ruleset

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
AS_OF = dt.date(2025, 6, 15)

FIELDS = """
account fields {
  industry: category
  company: text
  employees: int
  arr: number
  country: category
  stack: set
  tools: open set
  stage: ordinal("Seed", "Series A", "Series B", "Series C", "Public")
  founded_on: date
  is_competitor: bool
}

lead fields {
  title: text
  seniority: ordinal("IC", "Manager", "Director", "VP", "C-suite")
  function: category
  tenure: number
  skills: set
  signals: open set
  joined_on: date
  is_customer: bool
}

region north_america "North America" { US, CA }
"""

LEAD_FIELDS = {"title", "seniority", "function", "tenure", "skills", "signals", "joined_on", "is_customer"}


def rules(body: str):
    return load_ruleset(FIELDS + "\n" + body)


def truth(condition: str, as_of: dt.date = AS_OF, **record):
    """The three-valued truth of one condition on one record (account or lead by its fields)."""
    is_lead = any(name in LEAD_FIELDS for name in record) or any(
        word in condition.split() for word in LEAD_FIELDS)
    if is_lead:
        ruleset = rules(f"icp t {{\n  persona p {{\n    score 1: {condition}\n  }}\n}}")
        param = ruleset.icps[0].personas[0].params[0]
    else:
        ruleset = rules(f"icp t {{\n  score 1: {condition}\n}}")
        param = ruleset.icps[0].params[0]
    return reference.evaluate_condition(param.condition, record, reference.Context(ruleset.schema, as_of, ruleset.titles))


def account(**values):
    return {"account_id": values.pop("account_id", "a1"), **values}


def lead(**values):
    return {"lead_id": values.pop("lead_id", "l1"), "account_id": values.pop("account_id", "a1"), **values}


# ---- rule 1: three-valued logic -------------------------------------------------------------------

T, F, U = True, False, None


@pytest.mark.parametrize("a,expected", [(T, F), (F, T), (U, U)])
def test_rule1_not_table(a, expected):
    assert reference.tri_not(a) is expected


@pytest.mark.parametrize("a,b,expected", [
    (T, T, T), (T, F, F), (T, U, U), (F, T, F), (F, F, F), (F, U, F), (U, T, U), (U, F, F), (U, U, U),
])
def test_rule1_and_table(a, b, expected):
    assert reference.tri_and([a, b]) is expected


@pytest.mark.parametrize("a,b,expected", [
    (T, T, T), (T, F, T), (T, U, T), (F, T, T), (F, F, F), (F, U, U), (U, T, T), (U, F, U), (U, U, U),
])
def test_rule1_or_table(a, b, expected):
    assert reference.tri_or([a, b]) is expected


# ---- rule 2: modes ---------------------------------------------------------------------------------

MODES = """
icp m {
  score 3 "S": employees > 10
  filter "F": arr > 0
  exclude "X": is_competitor
}
"""


def _outcome(ruleset, record, code="m"):
    result = reference.evaluate_account(ruleset, record, AS_OF)
    return next(o for o in result.icps if o.code == code), result


def test_rule2_score_earns_only_when_true():
    ruleset = rules(MODES)
    base = dict(arr=1, is_competitor=False)
    for employees, earned in ((11, 3), (10, 0), (None, 0)):
        outcome, _ = _outcome(ruleset, account(employees=employees, **base))
        assert outcome.earned == earned and outcome.possible == 3
        assert outcome.qualifies  # a score parameter never decides qualification


def test_rule2_score_unknown_shown_as_unknown_in_drawer():
    ruleset = rules(MODES)
    record = account(employees=None, arr=1, is_competitor=False)
    result = reference.evaluate_account(ruleset, record, AS_OF)
    e = explain.explain_account(ruleset, record, result, AS_OF)
    row = e.icps[0].rows[0]
    assert (row.name, row.mode, row.value, row.weight, row.result) == ("S", "Score", "unknown", 3, "0 / 3")
    assert row.outcome is None


@pytest.mark.parametrize("arr,qualifies", [(1, True), (0, False), (None, False)])
def test_rule2_filter_passes_only_when_true(arr, qualifies):
    outcome, _ = _outcome(rules(MODES), account(employees=11, arr=arr, is_competitor=False))
    assert outcome.qualifies is qualifies


@pytest.mark.parametrize("arr,qualifies", [(1, True), (0, False), (None, True)])
def test_rule2_filter_may_opt_into_passing_on_unknown(arr, qualifies):
    ruleset = rules(MODES.replace('filter "F":', 'filter "F" unknown passes:'))
    outcome, _ = _outcome(ruleset, account(employees=11, arr=arr, is_competitor=False))
    assert outcome.qualifies is qualifies


@pytest.mark.parametrize("competitor,qualifies", [(True, False), (False, True), (None, True)])
def test_rule2_exclude_excludes_only_when_true(competitor, qualifies):
    outcome, _ = _outcome(rules(MODES), account(employees=11, arr=1, is_competitor=competitor))
    assert outcome.qualifies is qualifies


@pytest.mark.parametrize("competitor,qualifies", [(True, False), (False, True), (None, False)])
def test_rule2_exclude_may_opt_into_excluding_on_unknown(competitor, qualifies):
    ruleset = rules(MODES.replace('exclude "X":', 'exclude "X" unknown excludes:'))
    outcome, _ = _outcome(ruleset, account(employees=11, arr=1, is_competitor=competitor))
    assert outcome.qualifies is qualifies


def test_rule2_drawer_outcomes_for_filters_and_excludes():
    ruleset = rules(MODES.replace('exclude "X":', 'exclude "X" unknown excludes:'))
    cases = [
        (dict(arr=1, is_competitor=False), ("passed", "passed")),
        (dict(arr=0, is_competitor=True), ("failed", "excluded")),
        (dict(arr=None, is_competitor=None), ("unknown", "excluded")),
    ]
    for values, (filter_result, exclude_result) in cases:
        record = account(employees=11, **values)
        result = reference.evaluate_account(ruleset, record, AS_OF)
        rows = explain.breakdowns("icp", ruleset.icps, result.icps, record, result.icp_code)[0].rows
        assert (rows[1].result, rows[2].result) == (filter_result, exclude_result)


# ---- rule 3: normalization ----------------------------------------------------------------------


def _score(weights_earned: list[tuple[str, bool]]):
    """An ICP with one score parameter per (weight, earned); the record earns those marked True."""
    lines = [f'  score {w} "p{i}": employees > {i}' if earned else f'  score {w} "p{i}": employees < -1'
             for i, (w, earned) in enumerate(weights_earned)]
    ruleset = rules("icp s {\n" + "\n".join(lines) + "\n}")
    result = reference.evaluate_account(ruleset, account(employees=1000), AS_OF)
    return result.icp_score


@pytest.mark.parametrize("weights,expected", [
    ([("1", True), ("1", False)], 50),  # 1/2
    ([("1", True), ("7", False)], 13),  # 1/8 = 12.5 → 13
    ([("3", True), ("5", False)], 38),  # 3/8 = 37.5 → 38
    ([("5", True), ("3", False)], 63),  # 5/8 = 62.5 → 63
    ([("7", True), ("1", False)], 88),  # 7/8 = 87.5 → 88
    ([("1", True)] + [("1", False)] * 5, 17),  # 1/6 = 16.67 → 17
    ([("1", True), ("1", False), ("1", False)], 33),  # 33.33 → 33
    ([("1", True), ("1", True), ("1", False)], 67),  # 66.67 → 67
    ([("1", True), ("199", False)], 1),  # 0.5 → 1
    ([("199", True), ("1", False)], 100),  # 99.5 → 100
    ([("1", True), ("399", False)], 0),  # 0.25 → 0
    ([("0.5", True), ("2.25", False), ("1.25", False)], 13),  # 0.5 / 4 = 12.5 → 13
    ([("2.25", True), ("2.25", False)], 50),
    ([("0.1", True), ("0.2", True), ("0.3", False)], 50),  # exact, not 0.1 + 0.2 in floats
    ([("0.7", True), ("0.7", True), ("0.7", True), ("0.6", False), ("0.3", False)], 70),
    ([("5", True), ("3", False), ("4", True), ("8", True)], 85),  # the seed: 17 / 20
    ([("1", False), ("1", False)], 0),
    ([("1", True), ("1", True)], 100),
])
def test_rule3_round_half_up_of_earned_over_possible(weights, expected):
    assert _score(weights) == expected


@pytest.mark.parametrize("earned,possible,expected", [
    ("1", "8", 13), ("3", "8", 38), ("5", "8", 63), ("7", "8", 88), ("1", "2", 50), ("1", "200", 1),
    ("0", "3", 0), ("3", "3", 100), ("17", "20", 85), ("0", "0", 100), ("0.3", "0.6", 50), ("1", "3", 33),
    ("2", "3", 67),
])
def test_rule3_normalized_score_function(earned, possible, expected):
    score = reference.normalized_score(Decimal(earned), Decimal(possible))
    assert score == expected and type(score) is int


def test_rule3_no_score_parameters_scores_100_and_warns():
    text = FIELDS + '\nicp f {\n  filter "F": employees > 10\n}\n'
    ruleset = load_ruleset(text)
    assert reference.evaluate_account(ruleset, account(employees=11), AS_OF).icp_score == 100
    assert reference.evaluate_account(ruleset, account(employees=10), AS_OF).icp_score is None
    _, diagnostics = check_workspace(ast.Workspace((parse_text(text),)))
    assert any(d.code == "W001" and not d.is_error for d in diagnostics)
    empty = rules("icp e {\n}")
    assert reference.evaluate_account(empty, account(), AS_OF).icp_score == 100


# ---- rule 4: qualification and ICP assignment -----------------------------------------------------

ASSIGN = """
icp first "First" {
  score 1 "big": employees > 100
  score 1 "rich": arr > 100
  filter "software": industry == "software"
}
icp second "Second" {
  score 1 "big": employees > 100
  score 1 "rich": arr > 100
  exclude "competitor": is_competitor
}
icp better "Better" draft {
  score 1 "big": employees > 100
}
icp third "Third" {
  score 2 "big": employees > 100
  score 1 "small": employees < 10
  filter "large": employees > 100
}
"""


def test_rule4_highest_score_wins():
    ruleset = rules(ASSIGN)
    r = reference.evaluate_account(ruleset, account(industry="software", employees=500, arr=0), AS_OF)
    # first 50, second 50, third 67 (2/3), better (draft) would be 100.
    assert [o.score for o in r.icps] == [50, 50, 100, 67]
    assert (r.icp_code, r.icp_score, r.icp_band) == ("third", 67, "solid")


def test_rule4_tie_goes_to_the_first_declared():
    ruleset = rules(ASSIGN)
    r = reference.evaluate_account(ruleset, account(industry="software", employees=50, arr=500), AS_OF)
    assert [o.score for o in r.icps][:2] == [50, 50]
    assert r.icp_code == "first"
    swapped = rules(ASSIGN.replace("icp first", "icp tmp").replace("icp second", "icp first").replace("icp tmp", "icp second"))
    # same texts, codes swapped: the one declared first still wins
    assert reference.evaluate_account(swapped, account(industry="software", employees=50, arr=500), AS_OF).icp_code == "second"


def test_rule4_filter_failure_falls_back_to_another_icp():
    ruleset = rules(ASSIGN)
    r = reference.evaluate_account(ruleset, account(industry="retail", employees=50, arr=500, is_competitor=False), AS_OF)
    assert (r.icp_code, r.icp_score) == ("second", 50)


def test_rule4_drafts_are_never_assigned():
    ruleset = rules(ASSIGN)
    r = reference.evaluate_account(ruleset, account(industry="software", employees=500, arr=0), AS_OF)
    better = next(o for o in r.icps if o.code == "better")
    assert better.qualifies and better.score == 100 and r.icp_code != "better"
    only_draft = rules('icp d draft {\n  score 1: employees > 0\n}')
    r = reference.evaluate_account(only_draft, account(employees=5), AS_OF)
    assert (r.icp_code, r.icp_score, r.icp_band) == (None, None, None)
    # a preview run may score the draft, without it being live
    preview = reference.evaluate_account(only_draft, account(employees=5), AS_OF, preview=frozenset({"d"}))
    assert preview.icp_code == "d"


def test_rule4_none_qualifies_gives_nulls():
    ruleset = rules(ASSIGN)
    r = reference.evaluate_account(ruleset, account(industry="retail", employees=5, arr=0, is_competitor=True), AS_OF)
    assert (r.icp_code, r.icp_score, r.icp_band) == (None, None, None)
    # unknown filter fails; unknown exclude does not exclude
    r = reference.evaluate_account(ruleset, account(), AS_OF)
    assert (r.icp_code, r.icp_score) == ("second", 0)


def test_rule4_qualifying_with_score_zero_beats_not_qualifying():
    ruleset = rules('icp a {\n  score 1: employees > 10\n  filter "f": arr > 0\n}\n'
                    'icp b {\n  score 1: employees < 0\n}')
    r = reference.evaluate_account(ruleset, account(employees=50, arr=0), AS_OF)
    assert (r.icp_code, r.icp_score, r.icp_band) == ("b", 0, "weak")


# ---- rule 5: Personas -----------------------------------------------------------------------------

PERSONAS = """
icp saas "SaaS" {
  score 1 "big": employees > 100
  filter "software": industry == "software"
  persona vp "VP" {
    filter "sales": function == "Sales"
    score 1 "title": title resembles "VP Sales"
    score 1 "senior": seniority >= "VP"
  }
  persona rep "Rep" {
    filter "sales": function == "Sales"
    score 1 "title": title resembles "VP Sales"
    score 1 "senior": seniority >= "VP"
  }
  persona boss "Boss" draft {
    score 1 "senior": seniority >= "IC"
  }
  persona eng "Engineer" {
    filter "engineering": function == "Engineering"
  }
}
icp other "Other" {
  filter "retail": industry == "retail"
  persona anyone "Anyone" {
    score 1 "senior": seniority >= "IC"
  }
}
icp bare "No personas" {
  filter "bank": industry == "bank"
}
"""


def _lead(ruleset, lead_values, account_values, as_of=AS_OF):
    acc = None if account_values is None else account(**account_values)
    return reference.evaluate_lead(ruleset, lead(**lead_values), acc, as_of)


def test_rule5_best_persona_of_the_assigned_icp():
    ruleset = rules(PERSONAS)
    r = _lead(ruleset, dict(function="Sales", title="Head of Sales", seniority="Director"), dict(industry="software"))
    assert r.icp_code == "saas"
    # vp and rep tie at 50: the first declared wins; the draft boss (100) is never assigned.
    assert [o.score for o in r.personas] == [50, 50, 100, 100]
    assert [o.qualifies for o in r.personas] == [True, True, True, False]
    assert (r.persona_code, r.persona_score, r.persona_band) == ("vp", 50, "partial")


def test_rule5_no_persona_fit_has_a_null_score():
    ruleset = rules(PERSONAS)
    r = _lead(ruleset, dict(function="Marketing", seniority="VP"), dict(industry="software"))
    assert (r.icp_code, r.persona_code, r.persona_score, r.persona_band) == ("saas", NO_PERSONA_FIT, None, None)
    r = _lead(ruleset, dict(function=None), dict(industry="software"))  # unknown filter fails
    assert r.persona_code == NO_PERSONA_FIT


def test_rule5_icp_without_personas_gives_no_persona_fit():
    r = _lead(rules(PERSONAS), dict(function="Sales", seniority="VP"), dict(industry="bank"))
    assert (r.icp_code, r.icp_score, r.persona_code, r.persona_score) == ("bare", 100, NO_PERSONA_FIT, None)


def test_rule5_only_personas_of_the_assigned_icp():
    ruleset = rules(PERSONAS)
    # Fits `anyone` of `other` perfectly, but the account is in `saas`.
    r = _lead(ruleset, dict(function="Engineering", seniority="C-suite"), dict(industry="software"))
    assert (r.icp_code, r.persona_code, r.persona_score) == ("saas", "eng", 100)
    r = _lead(ruleset, dict(function="Sales", seniority="C-suite", title="VP Sales"), dict(industry="retail"))
    assert (r.icp_code, r.persona_code, r.persona_score) == ("other", "anyone", 100)


def test_rule5_no_persona_when_the_account_has_no_icp():
    r = _lead(rules(PERSONAS), dict(function="Sales", seniority="VP", title="VP Sales"), dict(industry="mining"))
    assert (r.icp_code, r.icp_score, r.icp_band) == (None, None, None)
    assert (r.persona_code, r.persona_score, r.persona_band) == (None, None, None)


def test_rule5_no_persona_when_the_account_is_missing():
    r = _lead(rules(PERSONAS), dict(function="Sales", seniority="VP", title="VP Sales"), None)
    assert (r.icp_code, r.icp_score, r.persona_code, r.persona_score) == (None, None, None, None)


def test_rule5_draft_persona_never_assigned_even_if_only_qualifier():
    ruleset = rules(PERSONAS)
    r = _lead(ruleset, dict(function="Marketing", seniority="IC"), dict(industry="software"))
    boss = next(o for o in r.personas if o.code == "boss")
    assert boss.qualifies and r.persona_code == NO_PERSONA_FIT


def test_rule5_persona_template_instances_are_independent():
    ruleset = rules("""
persona template seller "Seller" {
  filter "Sales": function == "Sales"
  score 5 "Title": title resembles "VP Sales"
  score 1 "Experience": tenure >= 8
}
icp a {
  filter "software": industry == "software"
  persona s from seller {
    drop "Experience"
  }
}
icp b {
  filter "retail": industry == "retail"
  persona s from seller {
    score 4 "Title": title like "*sales*"
  }
}
""")
    assert [p.name for p in ruleset.icp("a").personas[0].params] == ["Sales", "Title"]
    assert [(p.name, p.weight) for p in ruleset.icp("b").personas[0].params] == [
        ("Sales", None), ("Title", 4), ("Experience", 1)]
    values = dict(function="Sales", title="Head of Sales", tenure=10)
    assert _lead(ruleset, values, dict(industry="software")).persona_score == 100  # 5 / 5
    assert _lead(ruleset, values, dict(industry="retail")).persona_score == 100  # 5 / 5
    values["title"] = "Sales Director"
    assert _lead(ruleset, values, dict(industry="software")).persona_score == 0
    assert _lead(ruleset, values, dict(industry="retail")).persona_score == 100


# ---- rule 6: bands --------------------------------------------------------------------------------


@pytest.mark.parametrize("score,name", [
    (0, "weak"), (1, "weak"), (25, "weak"), (26, "partial"), (50, "partial"), (51, "solid"), (75, "solid"),
    (76, "strong"), (99, "strong"), (100, "strong"), (None, None),
])
def test_rule6_band_function(score, name):
    assert reference.band(score) == name


@pytest.mark.parametrize("earned,missed,band", [
    ("25", "75", "weak"), ("26", "74", "partial"), ("50", "50", "partial"), ("51", "49", "solid"),
    ("75", "25", "solid"), ("76", "24", "strong"), ("1", "3", "weak"), ("3", "1", "solid"),
])
def test_rule6_bands_of_assigned_scores(earned, missed, band):
    ruleset = rules(f'icp b {{\n  score {earned} "yes": employees > 0\n  score {missed} "no": employees < 0\n}}')
    r = reference.evaluate_account(ruleset, account(employees=1), AS_OF)
    assert r.icp_band == band


# ---- rules 7 and 8: determinism and subsets -------------------------------------------------------

DATA_ACCOUNTS = [
    account(account_id="a1", industry="software", employees=500, arr=0),
    account(account_id="a2", industry="software", employees=50, arr=500),
    account(account_id="a3", industry="retail", employees=50, arr=500, is_competitor=False),
    account(account_id="a4", industry="mining"),
]
DATA_LEADS = [
    lead(lead_id="l1", account_id="a1", function="Sales", title="VP Sales", seniority="VP"),
    lead(lead_id="l2", account_id="a2", function="Engineering", seniority="IC"),
    lead(lead_id="l3", account_id="a3", seniority="Manager"),
    lead(lead_id="l4", account_id="a9", function="Sales"),
    lead(lead_id="l5", account_id="a4"),
]


def _score_all(ruleset, accounts, leads, as_of=AS_OF):
    by_id = {a["account_id"]: a for a in accounts}
    out_accounts, out_leads = [], []
    for a in accounts:
        r = reference.evaluate_account(ruleset, a, as_of)
        e = explain.explain_account(ruleset, a, r, as_of)
        out_accounts.append(json.dumps([a["account_id"], r.icp_code, r.icp_score, r.icp_band, e.to_dict(), str(e)],
                                       sort_keys=True, ensure_ascii=False))
    for l in leads:
        acc = by_id.get(l["account_id"])
        r = reference.evaluate_lead(ruleset, l, acc, as_of)
        e = explain.explain_lead(ruleset, l, acc, r, as_of)
        out_leads.append(json.dumps([l["lead_id"], r.icp_code, r.icp_score, r.persona_code, r.persona_score,
                                     r.persona_band, e.to_dict(), str(e)], sort_keys=True, ensure_ascii=False))
    return out_accounts, out_leads


def test_rule7_same_input_same_output():
    first = _score_all(rules(ASSIGN + PERSONAS.replace("icp saas", "icp saas2").replace("icp other", "icp other2")
                             .replace("icp bare", "icp bare2")), DATA_ACCOUNTS, DATA_LEADS)
    second = _score_all(rules(ASSIGN + PERSONAS.replace("icp saas", "icp saas2").replace("icp other", "icp other2")
                              .replace("icp bare", "icp bare2")), DATA_ACCOUNTS, DATA_LEADS)
    assert first == second
    ruleset = rules(PERSONAS)
    assert _score_all(ruleset, DATA_ACCOUNTS, DATA_LEADS) == _score_all(ruleset, DATA_ACCOUNTS, DATA_LEADS)


def test_rule8_rescoring_a_subset_equals_the_full_rescore():
    ruleset = rules(PERSONAS)
    before = _score_all(ruleset, DATA_ACCOUNTS, DATA_LEADS)
    # a2's data changes (new enrichment); l2 belongs to it, l4's data changes too.
    accounts = [dict(a) for a in DATA_ACCOUNTS]
    leads = [dict(l) for l in DATA_LEADS]
    accounts[1].update(industry="retail", employees=5000)
    leads[3].update(account_id="a3")
    full_accounts, full_leads = _score_all(ruleset, accounts, leads)
    assert (full_accounts, full_leads) != before
    sub_accounts, _ = _score_all(ruleset, [accounts[1]], [])
    _, sub_leads = _score_all(ruleset, accounts, [leads[1], leads[3]])
    assert sub_accounts == [full_accounts[1]]
    assert sub_leads == [full_leads[1], full_leads[3]]
    # order of the input does not matter either
    rev_accounts, rev_leads = _score_all(ruleset, accounts[::-1], leads[::-1])
    assert rev_accounts == full_accounts[::-1] and rev_leads == full_leads[::-1]


# ---- the seed's worked example --------------------------------------------------------------------

SEED_AS_OF = dt.date(2025, 6, 1)
SEED_ACCOUNT = {
    "account_id": "seed", "industry": "software", "employees": 240, "arr_usd": None, "country": None,
    "tech_stack": frozenset({"Snowflake"}), "funding_stage": "Series B", "hired_ciso_on": dt.date(2025, 1, 10),
    "is_competitor": False,
}


def test_seed_worked_example():
    ruleset = load_ruleset(RULES_DIR)
    r = reference.evaluate_account(ruleset, SEED_ACCOUNT, SEED_AS_OF)
    assert (r.icp_code, r.icp_score, r.icp_band) == ("mm_saas", 85, "strong")
    e = explain.explain_account(ruleset, SEED_ACCOUNT, r, SEED_AS_OF)
    drawer = e.icps[0]
    assert drawer.code == "mm_saas" and drawer.verdict == "assigned"
    rows = [(row.name, row.mode, row.value, row.weight, row.result) for row in drawer.rows]
    assert rows[0] == ("Uses Snowflake", "Score", "yes", 5, "+5 / 5")
    assert rows[1] == ("Uses Okta", "Score", "unknown", 3, "0 / 3")
    assert rows[2] == ("Funding stage", "Score", "Series B", 4, "+4 / 4")
    assert (rows[3][0], rows[3][1], rows[3][3], rows[3][4]) == ("Hired a CISO in 12mo", "Score", 8, "+8 / 8")
    assert rows[4] == ("Industry", "Filter", "software", None, "passed")
    assert rows[5] == ("Employee count", "Filter", "240", None, "passed")
    assert rows[6] == ("Competitor", "Exclude", "no", None, "passed")
    assert len(rows) == 7
    assert (drawer.earned, drawer.possible, drawer.score) == (17, 20, 85)
    assert drawer.subtotal == "17 / 20"
    assert drawer.normalization.startswith("17 / 20 normalizes to 85 / 100")
    text = str(e)
    assert "17 / 20 normalizes to 85 / 100" in text
    # the other live ICP says why it lost; the draft is not shown
    assert [b.code for b in e.icps] == ["mm_saas", "smb_saas"]
    assert "Employee count" in e.icps[1].verdict and "failed" in e.icps[1].verdict


def test_seed_missing_snowflake_costs_its_weight():
    ruleset = load_ruleset(RULES_DIR)
    record = dict(SEED_ACCOUNT, tech_stack=None)  # the seed's "Uses Snowflake is null" case
    r = reference.evaluate_account(ruleset, record, SEED_AS_OF)
    assert (r.icp_code, r.icp_score) == ("mm_saas", 60)  # 12 / 20


# ---- predicates, exactly --------------------------------------------------------------------------


def test_dates_far_apart():
    assert truth("founded_on before 100 years ago", as_of=AS_OF, founded_on=dt.date(1, 1, 1)) is True
    assert truth("founded_on within 2024 years", as_of=AS_OF, founded_on=dt.date(1, 1, 1)) is False
    # 2025 years back from 2025-06-15 is before the calendar starts: the window reaches its first day
    assert truth("founded_on within 2025 years", as_of=AS_OF, founded_on=dt.date(1, 1, 1)) is True
    assert truth("founded_on within 2024 years", as_of=AS_OF, founded_on=dt.date(1, 6, 15)) is True
    assert truth("founded_on within 100000 days", as_of=AS_OF, founded_on=dt.date(1900, 1, 1)) is True
    assert truth("founded_on within next 7974 years", as_of=AS_OF, founded_on=dt.date(9999, 6, 15)) is True
    assert truth("founded_on within 12 months", as_of=AS_OF, founded_on=dt.date(9999, 12, 31)) is False
    assert truth("founded_on after 2000-01-01", as_of=AS_OF, founded_on=dt.datetime(2000, 1, 1, 12, 0)) is False


def test_numbers_exact_edges():
    assert truth("arr == 0", arr=-0.0) is True
    assert truth("arr >= 0", arr=-0.0) is True
    assert truth("arr < 0", arr=-0.0) is False
    assert truth("arr == 0.1", arr=0.1) is True
    assert truth("arr > -1", arr=-0.5) is True
    assert truth("arr < 1000000", arr=1e308) is False
    assert truth("arr > 0", arr=5e-324) is True
    assert truth("arr in {1, 2.25}", arr=2.25) is True
    assert truth("arr == 1", arr=1) is True  # an int in a number field
    assert truth("arr > 0", arr=float("nan")) is None  # NaN is missing data
    assert truth("employees > 50.5", employees=51) is True
    assert truth("employees > 50.5", employees=50) is False
    assert truth("employees == 9007199254740993", employees=9007199254740993) is True
    assert truth("employees == 9007199254740993", employees=9007199254740992) is False
    assert truth("employees >= -1", employees=-1) is True
    assert truth("employees != 0", employees=0) is False


