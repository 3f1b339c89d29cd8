"""Engagement (SPEC §7): signal weights and recency decay, stages, the kernel equal to the
reference, and no effect whatever on fit scores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import unstuck_dsl
from unstuck_dsl import sample
from unstuck_dsl.cli import cli
from unstuck_dsl.data import DataError
from unstuck_dsl.reference import engagement_score, evaluate_audience, signal_value, stage

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 26)
BLOCK = """
engagement {
  signal email_reply weight 10 half_life 14 days
  signal meeting weight 25 half_life 2 weeks
  signal site_visit weight 2 window 7 days
  stage cool below 20, warm below 50, in_market below 80, hot
}
audience engaged "Fit and in market" { icp_score >= 50 and stage >= "in_market" }
"""


def rules_text(block: str = BLOCK) -> str:
    """The example workspace with this test's own engagement block in place of its own."""
    icps = (ROOT / "rules" / "icps.ust").read_text().split("# Engagement:")[0]
    return "\n".join((ROOT / "rules" / f"{name}.ust").read_text() for name in ("fields", "personas")) + icps + block


@pytest.fixture(scope="module")
def rules():
    return unstuck_dsl.compile(rules_text())


@pytest.fixture(scope="module")
def data():
    return sample.generate(400, seed=4)


def test_half_life_window_future_and_stages(rules):
    e = rules.model.engagement
    reply, meeting, visit = e.signals
    assert signal_value(reply, 0) == 10.0 and signal_value(reply, 14) == 5.0 and signal_value(reply, 28) == 2.5
    assert signal_value(meeting, 14) == 12.5  # 2 weeks is 14 days
    assert signal_value(visit, 7) == 2.0 and signal_value(visit, 8) == 0.0
    assert signal_value(reply, -1) == 0.0  # after the as-of date: does not count yet
    assert engagement_score(e, [("email_reply", AS_OF), ("site_visit", AS_OF - dt.timedelta(days=3))], AS_OF) == 12.0
    assert [stage(e, s) for s in (0, 19.99, 20, 49.9, 50, 79.99, 80, 1000)] == [
        "cool", "cool", "warm", "warm", "in_market", "in_market", "hot", "hot"]


@st.composite
def signal_tables(draw, leads: pa.Table, accounts: pa.Table):
    lead_ids = leads.column("lead_id").to_pylist()[:30]
    account_ids = accounts.column("account_id").to_pylist()[:20]
    rows = draw(st.lists(st.tuples(
        st.one_of(st.tuples(st.sampled_from(lead_ids), st.none()), st.tuples(st.none(), st.sampled_from(account_ids))),
        st.sampled_from(["email_reply", "meeting", "site_visit"]),
        st.integers(-10, 120)), max_size=40))
    return pa.table({"lead_id": pa.array([r[0][0] for r in rows], pa.string()),
                     "account_id": pa.array([r[0][1] for r in rows], pa.string()),
                     "signal": [r[1] for r in rows],
                     "timestamp": pa.array([AS_OF - dt.timedelta(days=r[2]) for r in rows], pa.date32())})


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(draw=st.data())
def test_engagement_from_the_kernel_equals_the_reference(rules, data, draw):
    accounts, leads = data
    signals = draw.draw(signal_tables(leads, accounts))
    result = rules.score(accounts, leads, as_of=AS_OF, signals=signals)
    e = rules.model.engagement
    unique = {(r["lead_id"], r["account_id"], r["signal"], r["timestamp"]) for r in signals.to_pylist()}
    lead_account = dict(zip(leads.column("lead_id").to_pylist(), leads.column("account_id").to_pylist()))
    by_lead, by_account = {}, {}
    for lead_id, account_id, kind, day in unique:
        if lead_id is not None:
            by_lead.setdefault(lead_id, []).append((kind, day))
            by_account.setdefault(lead_account[lead_id], []).append((kind, day))
        else:
            by_account.setdefault(account_id, []).append((kind, day))
    for table, key, signals_of in ((result.leads, "lead_id", by_lead), (result.accounts, "account_id", by_account)):
        for row in table.select([key, "engagement_score", "stage"]).to_pylist():
            expected = engagement_score(e, signals_of.get(row[key], []), AS_OF)
            assert row["engagement_score"] == expected  # the same floats, added in the same order
            assert row["stage"] == stage(e, expected)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(draw=st.data())
def test_signals_never_change_a_fit_score(rules, data, draw):
    accounts, leads = data
    fit = ["icp_code", "icp_score", "icp_band", "persona_code", "persona_score", "persona_band"]
    without = rules.score(accounts, leads, as_of=AS_OF)
    signals = draw.draw(signal_tables(leads, accounts))
    scored = rules.score(accounts, leads, as_of=AS_OF, signals=signals)
    assert scored.leads.select(fit).equals(without.leads.select(fit))
    assert scored.accounts.select(fit[:3]).equals(without.accounts.select(fit[:3]))


def test_audiences_read_stage_and_engagement(rules, data):
    accounts, leads = data
    lead_ids = leads.column("lead_id").to_pylist()[:100]
    signals = pa.table({"lead_id": lead_ids * 3, "signal": ["meeting"] * 300,
                        "timestamp": pa.array([AS_OF - dt.timedelta(days=d) for d in (0, 1, 2) for _ in lead_ids],
                                              pa.date32())})
    result = rules.score(accounts, leads, as_of=AS_OF, signals=signals)
    rows = result.leads.to_pylist()
    expected = [evaluate_audience(rules.model, rules.model.audience("engaged"), row, AS_OF) is True for row in rows]
    assert result.audience("engaged").num_rows == sum(expected) > 0


def test_an_audience_asked_before_the_signals_are_scored_is_asked_again_after(rules, data):
    """A result keeps the records its audiences read; signals scored later (as a workspace
    does) change their stages, so the audience is answered from the new ones."""
    accounts, leads = data
    lead_ids = leads.column("lead_id").to_pylist()[:100]
    signals = pa.table({"lead_id": lead_ids * 3, "signal": ["meeting"] * 300,
                        "timestamp": pa.array([AS_OF - dt.timedelta(days=d) for d in (0, 1, 2) for _ in lead_ids],
                                              pa.date32())})
    result = rules.score(accounts, leads, as_of=AS_OF)
    assert result.audience("engaged").num_rows == 0  # no signals: no stage is known
    result.score_engagement(signals)
    assert result.audience("engaged").num_rows == \
        rules.score(accounts, leads, as_of=AS_OF, signals=signals).audience("engaged").num_rows > 0


def test_bad_signals_are_refused_with_the_row(rules, data):
    accounts, leads = data
    lead = leads.column("lead_id")[0].as_py()
    with pytest.raises(DataError, match=r"'newsletter' is not a declared signal type; row 2"):
        rules.score(accounts, leads, as_of=AS_OF, signals=pa.table(
            {"lead_id": [lead, lead], "signal": ["meeting", "newsletter"], "timestamp": ["2026-11-01", "2026-11-02"]}))
    with pytest.raises(DataError, match="expected a date or time; row 1"):
        rules.score(accounts, leads, as_of=AS_OF, signals=pa.table(
            {"lead_id": [lead], "signal": ["meeting"], "timestamp": ["yesterday"]}))


def test_duplicate_signals_count_once(rules, data):
    accounts, leads = data
    lead = leads.column("lead_id")[0].as_py()
    once = rules.score(accounts, leads, as_of=AS_OF, signals=pa.table(
        {"lead_id": [lead], "signal": ["meeting"], "timestamp": ["2026-11-20T09:00:00"]}))
    twice = rules.score(accounts, leads, as_of=AS_OF, signals=pa.table(
        {"lead_id": [lead, lead], "signal": ["meeting", "meeting"],
         "timestamp": ["2026-11-20T09:00:00", "2026-11-20T09:00:00"]}))
    assert once.leads.column("engagement_score")[0].as_py() == twice.leads.column("engagement_score")[0].as_py() > 0


def test_score_command_adds_engagement_columns(tmp_path, data):
    accounts, leads = data
    (tmp_path / "rules.ust").write_text(rules_text())
    import pyarrow.parquet as pq

    pq.write_table(accounts, tmp_path / "a.parquet")
    pq.write_table(leads, tmp_path / "l.parquet")
    (tmp_path / "s.csv").write_text(f"lead_id,signal,timestamp\n{leads.column('lead_id')[0].as_py()},email_reply,2026-11-26\n")
    out = CliRunner().invoke(cli, ["score", str(tmp_path / "rules.ust"), "--accounts", str(tmp_path / "a.parquet"),
                                   "--leads", str(tmp_path / "l.parquet"), "--signals", str(tmp_path / "s.csv"),
                                   "--out", str(tmp_path / "o.csv"), "--as-of", "2026-11-26"])
    assert out.exit_code == 0, out.output
    header = (tmp_path / "o.csv").read_text().splitlines()[0]
    assert header.endswith('"engagement_score","stage"')


def test_explanation_shows_each_signal_and_the_kernels_total(rules, data):
    accounts, leads = data
    lead = leads.column("lead_id")[0].as_py()
    signals = pa.table({"lead_id": [lead, lead, lead], "signal": ["email_reply", "site_visit", "email_reply"],
                        "timestamp": ["2026-11-12", "2026-11-25", "2026-12-01"]})
    result = rules.score(accounts, leads, as_of=AS_OF, signals=signals)
    e = result.explain(lead_id=lead).engagement
    assert [(r.signal, r.age_days, r.counts) for r in e.signals] == [
        ("email_reply", 14, 5.0), ("site_visit", 1, 2.0), ("email_reply", -5, 0.0)]
    assert e.score == result.leads.column("engagement_score")[0].as_py() == 7.0 and e.stage == "cool"
    assert "still counts 5.00" in str(result.explain(lead_id=lead))
