"""Properties of the reference evaluator over random rulesets and data (tests/strategies.py).

Invariants: scores are ints in 0..100 or null; the assigned ICP is the best qualifying live one
(recomputed here from the parameters' truth values); the Persona comes only from the assigned ICP;
an explanation's subtotal reproduces its score. Metamorphic: adding an exclude never raises a score
nor adds a qualifier; renaming an ICP changes nothing but its code; declaration order only matters
for ties.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unstuck_dsl import ast, explain, reference
from unstuck_dsl.model import NO_PERSONA_FIT
from unstuck_dsl.parser import parse_text
from unstuck_dsl.pipeline import load_ruleset
from unstuck_dsl.printer import print_file

import strategies as S

PROPERTY = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# ---- helpers ----------------------------------------------------------------------------------------


def score_all(ruleset, accounts, leads, as_of):
    """Account results by id (input order) and lead results (input order), with their inputs."""
    by_id = {a["account_id"]: a for a in accounts}
    account_results = [(a, reference.evaluate_account(ruleset, a, as_of)) for a in accounts]
    lead_results = [(l, by_id.get(l["account_id"]), reference.evaluate_lead(ruleset, l, by_id.get(l["account_id"]), as_of))
                    for l in leads]
    return account_results, lead_results


def independent_tally(rule, record, ruleset, as_of):
    """Qualification and score of one ICP or Persona, recomputed from the truth values without
    reference.tally / normalized_score / best."""
    ctx = reference.Context(ruleset.schema, as_of, ruleset.titles)
    qualifies, earned, possible = True, Fraction(0), Fraction(0)
    for param in rule.params:
        truth = reference.evaluate_condition(param.condition, record, ctx)
        assert truth in (True, False, None)
        if param.mode == "filter":
            if not (truth is True or (truth is None and param.unknown == "passes")):
                qualifies = False
        elif param.mode == "exclude":
            if truth is True or (truth is None and param.unknown == "excludes"):
                qualifies = False
        else:
            possible += Fraction(param.weight)
            if truth is True:
                earned += Fraction(param.weight)
    if possible == 0:
        score = 100
    else:
        # round half up of 100 * earned / possible, in integers: floor((200e + p) / 2p)
        score = math.floor((200 * earned + possible) / (2 * possible))
    return qualifies, earned, possible, score


def independent_best(candidates):
    """candidates: [(code, live, qualifies, score)] in declaration order."""
    top = None
    for code, live, qualifies, score in candidates:
        if live and qualifies and (top is None or score > top[1]):
            top = (code, score)
    return top


def _band(score):
    if score is None:
        return None
    assert 0 <= score <= 100
    return "weak" if score <= 25 else "partial" if score <= 50 else "solid" if score <= 75 else "strong"


def _is_score(value) -> bool:
    return type(value) is int and 0 <= value <= 100


def _rank(score) -> int:
    return -1 if score is None else score


# ---- strategies' own contract -------------------------------------------------------------------------


@PROPERTY
@given(S.schemas().flatmap(lambda schema: st.tuples(st.just(schema), S.rulesets(schema))))
def test_generated_rules_load_with_the_drawn_schema(drawn):
    schema, (text, ruleset) = drawn
    assert ruleset.schema == schema
    assert load_ruleset(text) == ruleset
    assert parse_text(print_file(parse_text(text))) == parse_text(text)
    for name in (f.name for f in schema.fields):
        assert name not in S.RESERVED


@PROPERTY
@given(S.workloads())
def test_generated_data_matches_the_schema(workload):
    _, ruleset, accounts, leads, _ = workload
    account_ids = [a["account_id"] for a in accounts]
    assert len(set(account_ids)) == len(account_ids)
    lead_ids = [l["lead_id"] for l in leads]
    assert len(set(lead_ids)) == len(lead_ids)
    for kind, rows in (("account", accounts), ("lead", leads)):
        names = {f.name for f in ruleset.schema.of_kind(kind)}
        for row in rows:
            assert set(row) - {"account_id", "lead_id"} == names


# ---- invariants -----------------------------------------------------------------------------------


@PROPERTY
@given(S.workloads())
def test_scores_are_ints_from_0_to_100_or_null(workload):
    _, ruleset, accounts, leads, as_of = workload
    account_results, lead_results = score_all(ruleset, accounts, leads, as_of)
    for _, r in account_results:
        assert (r.icp_code is None) == (r.icp_score is None) == (r.icp_band is None)
        assert r.icp_score is None or _is_score(r.icp_score)
        assert r.icp_band == _band(r.icp_score)
        for outcome in r.icps:
            assert _is_score(outcome.score)
    for _, _account, r in lead_results:
        assert r.persona_score is None or _is_score(r.persona_score)
        assert r.persona_band == _band(r.persona_score)
        assert r.icp_score is None or _is_score(r.icp_score)
        assert (r.persona_score is None) == (r.persona_code in (None, NO_PERSONA_FIT))
        for outcome in r.personas:
            assert _is_score(outcome.score)


@PROPERTY
@given(S.workloads())
def test_assigned_icp_is_the_best_qualifying_live_one(workload):
    _, ruleset, accounts, _, as_of = workload
    for account, r in score_all(ruleset, accounts, [], as_of)[0]:
        candidates = []
        for icp, outcome in zip(ruleset.icps, r.icps):
            qualifies, earned, possible, score = independent_tally(icp, account, ruleset, as_of)
            assert (outcome.code, outcome.qualifies, outcome.score) == (icp.code, qualifies, score)
            assert (Fraction(outcome.earned), Fraction(outcome.possible)) == (earned, possible)
            candidates.append((icp.code, icp.status == "live", qualifies, score))
        top = independent_best(candidates)
        assert (r.icp_code, r.icp_score) == (top if top else (None, None))
        if top is not None:
            assert ruleset.icp(top[0]).status == "live"


@PROPERTY
@given(S.workloads())
def test_persona_comes_only_from_the_assigned_icp(workload):
    _, ruleset, accounts, leads, as_of = workload
    for lead, account, r in score_all(ruleset, accounts, leads, as_of)[1]:
        if account is None:
            assert r.account is None
            assert (r.icp_code, r.icp_score, r.persona_code, r.persona_score) == (None, None, None, None)
            continue
        assert r.icp_code == reference.evaluate_account(ruleset, account, as_of).icp_code
        if r.icp_code is None:
            assert (r.persona_code, r.persona_score, r.persona_band) == (None, None, None)
            assert r.personas == ()
            continue
        icp = ruleset.icp(r.icp_code)
        assert [o.code for o in r.personas] == [p.code for p in icp.personas]
        candidates = []
        for persona in icp.personas:
            qualifies, _, _, score = independent_tally(persona, lead, ruleset, as_of)
            candidates.append((persona.code, persona.status == "live", qualifies, score))
        top = independent_best(candidates)
        if top is None:
            assert (r.persona_code, r.persona_score, r.persona_band) == (NO_PERSONA_FIT, None, None)
        else:
            assert (r.persona_code, r.persona_score) == top
            assert icp.persona(r.persona_code).status == "live"


def _check_breakdown(b, rule):
    assert reference.normalized_score(b.earned, b.possible) == b.score
    assert b.subtotal == f"{explain._num(b.earned)} / {explain._num(b.possible)}"
    if b.qualifies:
        assert f"normalizes to {b.score} / 100" in b.normalization
    else:  # a rule that did not qualify has no score on the record: its figure is hypothetical
        assert f"would score {b.score} / 100 if it qualified" in b.normalization
    assert [row.name for row in b.rows] == [p.name for p in rule.params]
    earned = sum((row.weight for row in b.rows if row.mode == "Score" and row.outcome is True), Decimal(0))
    possible = sum((row.weight for row in b.rows if row.mode == "Score"), Decimal(0))
    assert (earned, possible) == (b.earned, b.possible)
    for row in b.rows:
        if row.mode == "Score":
            w = explain._num(row.weight)
            assert row.result == (f"+{w} / {w}" if row.outcome is True else f"0 / {w}")
        if row.outcome is None and row.mode != "Exclude":
            assert row.result in ("unknown", f"0 / {explain._num(row.weight)}")


@PROPERTY
@given(S.workloads())
def test_explanation_subtotal_reproduces_the_score(workload):
    _, ruleset, accounts, leads, as_of = workload
    account_results, lead_results = score_all(ruleset, accounts, leads, as_of)
    for account, r in account_results:
        e = explain.explain_account(ruleset, account, r, as_of)
        assert (e.icp_code, e.icp_score) == (r.icp_code, r.icp_score)
        shown = [b.code for b in e.icps]
        live = [i.code for i in ruleset.icps if i.status == "live"]
        if r.icp_code is not None:
            assert shown[0] == r.icp_code and e.icps[0].verdict == "assigned"
            assert e.icps[0].score == r.icp_score
            assert reference.normalized_score(e.icps[0].earned, e.icps[0].possible) == r.icp_score
        assert sorted(shown) == sorted(set(live) | ({r.icp_code} - {None}))
        for b in e.icps:
            _check_breakdown(b, ruleset.icp(b.code))
        e.to_dict()
        str(e)
    for lead, account, r in lead_results:
        e = explain.explain_lead(ruleset, lead, account, r, as_of)
        if r.persona_code not in (None, NO_PERSONA_FIT):
            assert e.personas[0].code == r.persona_code and e.personas[0].score == r.persona_score
            assert reference.normalized_score(e.personas[0].earned, e.personas[0].possible) == r.persona_score
        if r.icp_code is not None:
            icp = ruleset.icp(r.icp_code)
            for b in e.personas:
                _check_breakdown(b, icp.persona(b.code))
        else:
            assert e.personas == ()
        str(e)


# ---- metamorphic ------------------------------------------------------------------------------------


def _icp_decls(rule_file):
    return [d for d in rule_file.declarations if isinstance(d, ast.Icp)]


def _regions(rule_file):
    return tuple(d.code for d in rule_file.declarations if isinstance(d, ast.RegionDecl))


def _replace_icps(rule_file, icps):
    """The file with its ICP declarations replaced, in order, by `icps` (same count)."""
    it = iter(icps)
    decls = tuple(next(it) if isinstance(d, ast.Icp) else d for d in rule_file.declarations)
    return attrs.evolve(rule_file, declarations=decls)


def _reload(rule_file):
    return load_ruleset(print_file(rule_file))


@PROPERTY
@given(S.workloads(), st.data())
def test_adding_an_exclude_never_raises_a_score_nor_adds_a_qualifier(workload, data):
    text, ruleset, accounts, leads, as_of = workload
    rule_file = parse_text(text)
    icps = _icp_decls(rule_file)
    regions = _regions(rule_file)
    index = data.draw(st.integers(0, len(icps) - 1), label="icp")
    exclude = data.draw(S.params(ruleset.schema, "account", regions, mode="exclude"), label="exclude")
    exclude = attrs.evolve(exclude, display_name="Added exclude ✗")
    changed = list(icps)
    changed[index] = attrs.evolve(icps[index], params=icps[index].params + (exclude,))
    new_file = _replace_icps(rule_file, changed)

    # ... and one to a Persona, when there is one and leads have fields
    persona_at = [(i, j) for i, icp in enumerate(changed) for j, _ in enumerate(icp.personas)]
    if persona_at and ruleset.schema.of_kind("lead"):
        i, j = data.draw(st.sampled_from(persona_at), label="persona")
        lead_exclude = data.draw(S.params(ruleset.schema, "lead", regions, mode="exclude"), label="lead exclude")
        lead_exclude = attrs.evolve(lead_exclude, display_name="Added exclude ✗")
        persona = changed[i].personas[j]
        if isinstance(persona, ast.PersonaInstance):
            persona = attrs.evolve(persona, overrides=(persona.overrides or ()) + (lead_exclude,))
        else:
            persona = attrs.evolve(persona, params=persona.params + (lead_exclude,))
        personas = list(changed[i].personas)
        personas[j] = persona
        changed[i] = attrs.evolve(changed[i], personas=tuple(personas))
        new_file = _replace_icps(rule_file, changed)
    new_ruleset = _reload(new_file)

    old_accounts, old_leads = score_all(ruleset, accounts, leads, as_of)
    new_accounts, new_leads = score_all(new_ruleset, accounts, leads, as_of)
    for (_, old), (_, new) in zip(old_accounts, new_accounts):
        for o, n in zip(old.icps, new.icps):
            assert o.code == n.code
            assert n.score == o.score  # an exclude never changes a score...
            assert o.qualifies or not n.qualifies  # ...and never adds a qualifier
        assert _rank(new.icp_score) <= _rank(old.icp_score)
    for (_, _, old), (_, _, new) in zip(old_leads, new_leads):
        if old.icp_code is not None and new.icp_code == old.icp_code:
            for o, n in zip(old.personas, new.personas):
                assert n.score == o.score
                assert o.qualifies or not n.qualifies
            assert _rank(new.persona_score) <= _rank(old.persona_score)
        else:
            assert _rank(new.icp_score) <= _rank(old.icp_score)


@PROPERTY
@given(S.workloads(), st.data())
def test_renaming_an_icp_changes_nothing_but_its_code(workload, data):
    text, ruleset, accounts, leads, as_of = workload
    rule_file = parse_text(text)
    icps = _icp_decls(rule_file)
    index = data.draw(st.integers(0, len(icps) - 1), label="icp")
    taken = {i.code for i in icps}
    new_code = data.draw(S.names().filter(lambda n: n not in taken), label="new code")
    old_code = icps[index].code
    changed = list(icps)
    changed[index] = attrs.evolve(icps[index], code=new_code)
    new_ruleset = _reload(_replace_icps(rule_file, changed))

    def rename(code):
        return new_code if code == old_code else code

    old_accounts, old_leads = score_all(ruleset, accounts, leads, as_of)
    new_accounts, new_leads = score_all(new_ruleset, accounts, leads, as_of)
    for (_, old), (_, new) in zip(old_accounts, new_accounts):
        assert (rename(old.icp_code), old.icp_score, old.icp_band) == (new.icp_code, new.icp_score, new.icp_band)
        assert [attrs.evolve(o, code=rename(o.code)) for o in old.icps] == list(new.icps)
    for (_, _, old), (_, _, new) in zip(old_leads, new_leads):
        assert (rename(old.icp_code), old.icp_score, old.persona_code, old.persona_score, old.persona_band) == (
            new.icp_code, new.icp_score, new.persona_code, new.persona_score, new.persona_band)
        assert old.personas == new.personas


@PROPERTY
@given(S.workloads(), st.data())
def test_declaration_order_only_matters_for_ties(workload, data):
    text, ruleset, accounts, leads, as_of = workload
    rule_file = parse_text(text)
    icps = _icp_decls(rule_file)
    permuted = data.draw(st.permutations(icps), label="icp order")
    permuted = [attrs.evolve(icp, personas=tuple(data.draw(st.permutations(icp.personas), label="persona order")))
                for icp in permuted]
    new_ruleset = _reload(_replace_icps(rule_file, permuted))

    old_accounts, old_leads = score_all(ruleset, accounts, leads, as_of)
    new_accounts, new_leads = score_all(new_ruleset, accounts, leads, as_of)
    for (_, old), (_, new) in zip(old_accounts, new_accounts):
        assert {o.code: o for o in old.icps} == {n.code: n for n in new.icps}  # per-ICP results are order-free
        assert old.icp_score == new.icp_score
        if old.icp_code != new.icp_code:
            # a different winner only when old and new winners tie
            outcomes = {o.code: o for o in old.icps}
            assert outcomes[old.icp_code].score == outcomes[new.icp_code].score == old.icp_score
            assert outcomes[new.icp_code].qualifies and outcomes[old.icp_code].qualifies
    for (_, _, old), (_, _, new) in zip(old_leads, new_leads):
        if old.icp_code == new.icp_code:
            assert old.persona_score == new.persona_score
            if old.persona_code != new.persona_code:
                outcomes = {o.code: o for o in old.personas}
                assert NO_PERSONA_FIT not in (old.persona_code, new.persona_code)
                assert outcomes[old.persona_code].score == outcomes[new.persona_code].score
            assert {o.code: o for o in old.personas} == {n.code: n for n in new.personas}
