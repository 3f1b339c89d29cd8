"""Insights: Wilson and Newcombe intervals, jumps only between neighbouring bins and only when
significant, the reply-rate jump the sample data plants at 60 (and no other), the contacted
denominator, signals and outcomes in the workspace store, and the reports (terminal, JSON,
self-contained HTML)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

import unstuck_dsl
from unstuck_dsl import insights, sample, store
from unstuck_dsl.cli import cli
from unstuck_dsl.data import DataError
from unstuck_dsl.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 26)


def test_wilson_interval_matches_known_values():
    assert insights.wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-4)
    assert insights.wilson(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-4)
    assert insights.wilson(50, 100) == pytest.approx((0.40383, 0.59617), abs=1e-4)
    assert insights.wilson(0, 400)[0] == 0.0 and insights.wilson(400, 400)[1] == 1.0  # exact ends, no 3e-17


def test_newcombe_interval_matches_the_published_examples():
    # Newcombe (1998), method 10: 56/70 vs 48/80, and 9/10 vs 3/10 (the difference is second minus first).
    assert insights.newcombe(48, 80, 56, 70) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert insights.newcombe(3, 10, 9, 10) == pytest.approx((0.1705, 0.8090), abs=1e-4)


def _bins(pairs, width=10):
    """Score bins from (records, replied) per bin of `width`, from 0 up."""
    out = []
    for k, (n, replied) in enumerate(pairs):
        low, high = width * k, width * k + width - 1
        out.append(insights.Rate(f"{low}–{high}", n, {"replied": replied}, low, high))
    return out


def test_a_clear_rise_between_neighbouring_bins_is_the_jump_at_the_upper_bins_lower_edge():
    jump = insights.find_jump(_bins([(200, 10), (200, 11), (200, 9), (200, 12), (200, 10), (200, 11),
                                     (200, 70), (200, 72), (200, 69), (200, 71)]))
    assert jump.threshold == 60 and jump.zone == (60, 60)
    assert (jump.below.label, jump.above.label) == ("50–59", "60–69") and jump.difference[0] > 0


def test_a_gentle_slope_is_no_jump_though_far_apart_bins_differ():
    # 4 % more replies every bin: 4 % to 40 % from end to end, but no two neighbours differ reliably.
    jump = insights.find_jump(_bins([(100, 4 * k + 4) for k in range(10)]))
    assert jump.threshold is None and jump.evidence.startswith("the data shows no reliable jump")
    assert jump.difference[0] <= 0 < jump.difference[1]


def test_thin_bins_are_merged_not_skipped():
    # 60–69 holds 8 records: the comparison at 60 merges it with 70–79 and counts its records.
    jump = insights.find_jump(_bins([(100, 5), (100, 6), (100, 5), (100, 4), (100, 6), (100, 5),
                                     (8, 3), (100, 40), (100, 41), (100, 39)]))
    assert jump.threshold == 60 and jump.above.n == 108 and jump.above.label == "60–79"
    assert jump.zone == (60, 70) and "scores 60–69 hold too few records" in jump.evidence
    assert insights.find_jump(_bins([(10, 1), (12, 5)])).threshold is None  # under 30 a side: not enough data


def test_empty_bins_are_hidden_and_their_range_joins_the_bin_above():
    filled = insights.filled_bins(_bins([(50, 2), (0, 0), (0, 0), (40, 20)]))
    assert [(b.label, b.n) for b in filled] == [("0–9", 50), ("10–39", 40)]


def test_flat_rates_rarely_show_a_jump():
    """No planted jump: with 95 % over every edge compared, at most about 1 in 20 data sets
    shows one (comparing each edge at 95 % alone would show one in about 1 in 6)."""
    import numpy as np

    rng = np.random.default_rng(11)
    found = sum(insights.find_jump(_bins([(300, int(rng.binomial(300, 0.1))) for _ in range(10)])).reliable
                for _ in range(200))
    assert found <= 10


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The demo's sample data, with its signals and outcomes, ingested into a store."""
    folder = tmp_path_factory.mktemp("insights")
    rules = unstuck_dsl.compile(ROOT / "rules")
    accounts, leads = sample.generate(6000)
    scored = rules.score(accounts, leads, as_of=AS_OF)
    db = folder / "w.duckdb"
    with Workspace(db) as live:
        live.ingest(accounts, leads, rules=rules, as_of=AS_OF)
        s = live.store
        added = store.ingest_events(s, rules, sample.signals(leads, as_of=AS_OF), sample.outcomes(scored.leads, as_of=AS_OF))
        again = store.ingest_events(s, rules, sample.signals(leads, as_of=AS_OF), sample.outcomes(scored.leads, as_of=AS_OF))
    return folder, db, added, again


def test_signals_and_outcomes_are_appended_once(workspace):
    _, _, added, again = workspace
    assert added.signals > 1000 and added.outcomes > 100
    assert (again.signals, again.outcomes) == (0, 0)


def _planted_jump_holds(report) -> list[str]:
    """Every group large enough (30+ records in the bins either side of 60) finds the jump at
    60; any group that reports a jump places it where the generator planted it (exactly 60, or
    a range holding 60 when thin bins leave the place open). Returns the groups large enough."""
    large = []
    for group in (report.overall, *report.groups):
        bins = {b.low: b for b in group.by_bin}
        below = next((b for b in group.by_bin if b.high == 59), None)
        if below is not None and 60 in bins and min(below.n, bins[60].n) >= report.min_count:
            large.append(group.name)
            assert group.jump.threshold == 60, (group.name, group.jump.evidence)
        if group.jump.reliable:
            low, high = group.jump.zone
            assert low <= 60 <= high and (group.jump.threshold == 60 or low < high), (group.name, group.jump.evidence)
    return large


@pytest.mark.parametrize("denominator", ["scored", "contacted"])
def test_insights_finds_the_planted_jump_and_no_other(workspace, denominator):
    _, db, _, _ = workspace
    with store.Store(db, read_only=True) as s:
        report = insights.analyse(s.scores("lead"), s.outcomes(), "persona", denominator=denominator)
        by_icp = insights.analyse(s.scores("lead"), s.outcomes(), "icp", denominator=denominator)
    large = _planted_jump_holds(report)
    if denominator == "scored":  # contacted leads are half as many: no group is large enough
        assert "All leads" in large and len(large) >= 2  # not vacuous
    assert sum(g.jump.threshold == 60 for g in (report.overall, *report.groups)) >= 4
    jump = report.overall.jump
    assert jump.above.rate("replied") > jump.below.rate("replied") * 2
    # The generator plants nothing on the ICP score.
    assert [g.jump.threshold for g in by_icp.groups] == [None] * len(by_icp.groups)


def test_the_contacted_denominator_divides_by_contacted_leads(workspace):
    _, db, _, _ = workspace
    with store.Store(db, read_only=True) as s:
        leads, outcomes = s.scores("lead"), s.outcomes()
    scored = insights.analyse(leads, outcomes, "decile")
    contacted = insights.analyse(leads, outcomes, "decile", denominator="contacted")
    touched = {r["lead_id"] for r in outcomes.to_pylist()}
    with_score = {r["lead_id"] for r in leads.to_pylist() if r["persona_score"] is not None}
    assert scored.overall.n == len(with_score) and contacted.overall.n == len(with_score & touched)
    # The same replies over fewer leads: every rate is higher.
    for a, b in zip(scored.overall.by_band, contacted.overall.by_band):
        assert a.counts.get("replied", 0) == b.counts.get("replied", 0) and b.rate("replied") >= a.rate("replied")
    assert "per contacted lead" in contacted.headline()[1] and "per scored lead" in scored.headline()[1]


def test_insights_command_prints_json_and_writes_a_self_contained_page(workspace):
    folder, db, _, _ = workspace
    runner = CliRunner()
    out = runner.invoke(cli, ["insights", "--db", str(db), "--by", "icp", "--json"])
    assert out.exit_code == 0, out.output
    assert "e-" not in out.output  # clean numbers: no 3.38e-17
    document = json.loads(out.output)
    headline = document["headline"]
    assert headline["denominator"] == "scored" and headline["threshold"] == 60 and headline["ruleset"]
    assert headline["from"] <= headline["to"] and headline["outcomes"]["replied"] > 100
    assert {g["code"] for g in document["groups"]} >= {"mm_saas", "smb_saas"}
    assert {g["group"] for g in document["groups"]} >= {"Mid-market SaaS", "SMB SaaS"}  # display names
    rates = [r for g in document["groups"] for table in ("by_band", "by_bin") for r in g[table]]
    assert rates and all(r["n"] > 0 for r in rates)  # empty bins hidden
    assert set(rates[0]) >= {"bin", "n", "replied", "meeting", "signup"}
    assert all(0 <= x <= 1 and x == round(x, 4) for r in rates for o in ("replied", "meeting", "signup")
               for x in (r[o]["rate"], *r[o]["ci95"]))
    out = runner.invoke(cli, ["insights", "--db", str(db)])
    assert out.exit_code == 0, out.output
    assert "Suggested audience threshold: persona_score >= 60." in out.output
    assert "Mid-market SaaS / VP Sales" in out.output and "100%)" not in out.output
    page = folder / "report.html"
    out = runner.invoke(cli, ["insights", "--db", str(db), "--denominator", "contacted", "--html", str(page)])
    assert out.exit_code == 0, out.output
    text = page.read_text()
    head = text.split("<h2>")[0]
    assert "persona_score &ge; 60" in head and "per contacted lead" in head and "leads (" in head
    assert text.count("data:image/png;base64,") >= 3 and "Mid-market SaaS / VP Sales" in text
    assert "<caption>by fit band</caption>" in text and "<caption>by persona_score</caption>" in text
    assert "no_persona_fit" not in text and "0.0%–100.0%" not in text
    assert "http://" not in text and "https://" not in text  # viewable offline


def test_min_count_and_bin_width_are_the_users(workspace):
    _, db, _, _ = workspace
    out = CliRunner().invoke(cli, ["insights", "--db", str(db), "--json", "--min-count", "100000"])
    document = json.loads(out.output)
    assert document["headline"]["threshold"] is None and document["headline"]["evidence"].startswith("not enough data")
    out = CliRunner().invoke(cli, ["insights", "--db", str(db), "--json", "--by", "decile", "--bin-width", "20"])
    bins = json.loads(out.output)["overall"]["by_bin"]
    assert [b["bin"] for b in bins] == ["0–19", "20–39", "40–59", "60–79", "80–100"]
    assert json.loads(out.output)["headline"]["threshold"] == 60


def test_the_page_escapes_names_from_the_rules(workspace):
    from types import SimpleNamespace

    _, db, _, _ = workspace
    persona = SimpleNamespace(code="vp_sales", name="<script>alert(1)</script>")
    ruleset = SimpleNamespace(icps=[SimpleNamespace(code="mm_saas", name="A & B", personas=[persona])])
    with store.Store(db, read_only=True) as s:
        report = insights.analyse(s.scores("lead"), s.outcomes(), ruleset=ruleset)
    page = insights.html_report(report)
    assert "<script>" not in page and "A &amp; B / &lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_contacted_needs_contacted_outcomes(tmp_path):
    rules = unstuck_dsl.compile(ROOT / "rules")
    accounts, leads = sample.generate(200)
    db = tmp_path / "w.duckdb"
    with Workspace(db) as live:
        live.ingest(accounts, leads, rules=rules, as_of=AS_OF)
        s = live.store
        first = leads.column("lead_id")[0].as_py()
        store.ingest_events(s, rules, None, pa.table({"lead_id": [first], "outcome": ["replied"],
                                                      "timestamp": ["2026-11-01"]}))
    out = CliRunner().invoke(cli, ["insights", "--db", str(db), "--denominator", "contacted"])
    assert out.exit_code != 0 and "no `contacted` outcomes stored" in out.output


def test_score_from_the_store_uses_its_signals(workspace):
    folder, db, _, _ = workspace
    out = CliRunner().invoke(cli, ["score", str(ROOT / "rules"), "--db", str(db), "--out", str(folder / "s.csv"),
                                   "--as-of", AS_OF.isoformat()])
    assert out.exit_code == 0, out.output
    assert (folder / "s.csv").read_text().splitlines()[0].endswith('"engagement_score","stage"')


def test_bad_events_are_refused(workspace, tmp_path):
    rules = unstuck_dsl.compile(ROOT / "rules")
    with store.Store(tmp_path / "w.duckdb") as s:
        with pytest.raises(DataError, match="'bounced' is not one of contacted, replied, meeting, signup; row 1"):
            store.ingest_events(s, rules, None, pa.table({"lead_id": ["l1"], "outcome": ["bounced"],
                                                          "timestamp": ["2026-11-01"]}))
        with pytest.raises(DataError, match="not a declared signal type"):
            store.ingest_events(s, rules, pa.table({"lead_id": ["l1"], "signal": ["tweet"],
                                                    "timestamp": ["2026-11-01"]}), None)
        assert s.signals().num_rows == 0 and s.outcomes().num_rows == 0
