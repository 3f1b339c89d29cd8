"""Insights: Wilson intervals, the reply-rate jump the sample data plants at 60, signals and
outcomes in the workspace store, and the reports (terminal, JSON, self-contained HTML)."""

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

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 26)


def test_wilson_interval_matches_known_values():
    assert insights.wilson(0, 10) == pytest.approx((0.0, 0.27753), abs=1e-4)
    assert insights.wilson(5, 10) == pytest.approx((0.23659, 0.76341), abs=1e-4)
    assert insights.wilson(50, 100) == pytest.approx((0.40383, 0.59617), abs=1e-4)


def test_jump_is_the_largest_rise_between_filled_deciles():
    def rate(label, n, replied):
        return insights.Rate(label, n, {"replied": replied})

    deciles = [rate("40–49", 100, 5), rate("50–59", 100, 6), rate("60–69", 10, 9), rate("70–79", 100, 30),
               rate("80–89", 100, 33)]
    jump = insights.find_jump(deciles)
    assert jump.threshold == 60 and "do not overlap" in jump.evidence
    assert insights.find_jump([rate("0–9", 10, 1), rate("10–19", 12, 5)]).threshold is None


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """The demo's sample data, with its signals and outcomes, ingested into a store."""
    folder = tmp_path_factory.mktemp("insights")
    rules = unstuck_dsl.compile(ROOT / "rules")
    accounts, leads = sample.generate(6000)
    scored = rules.score(accounts, leads, as_of=AS_OF)
    db = folder / "w.duckdb"
    with store.Store(db) as s:
        store.ingest(s, rules, accounts, leads, AS_OF)
        added = store.ingest_events(s, rules, sample.signals(leads, as_of=AS_OF), sample.outcomes(scored.leads, as_of=AS_OF))
        again = store.ingest_events(s, rules, sample.signals(leads, as_of=AS_OF), sample.outcomes(scored.leads, as_of=AS_OF))
    return folder, db, added, again


def test_signals_and_outcomes_are_appended_once(workspace):
    _, _, added, again = workspace
    assert added.signals > 1000 and added.outcomes > 100
    assert (again.signals, again.outcomes) == (0, 0)


def test_insights_finds_the_planted_jump(workspace):
    _, db, _, _ = workspace
    with store.Store(db, read_only=True) as s:
        groups = insights.analyse(s.scores("lead"), s.outcomes(), "decile")
    jump = groups[0].jump
    assert jump.threshold is not None and abs(jump.threshold - 60) <= 10
    assert jump.above.rate("replied") > jump.below.rate("replied") * 2


def test_insights_command_prints_json_and_writes_a_self_contained_page(workspace):
    folder, db, _, _ = workspace
    runner = CliRunner()
    out = runner.invoke(cli, ["insights", "--db", str(db), "--by", "icp", "--json"])
    assert out.exit_code == 0, out.output
    document = json.loads(out.output)
    assert {g["group"] for g in document} >= {"ICP mm_saas", "ICP smb_saas"}
    assert set(document[0]["by_band"][0]) == {"bin", "n", "replied", "meeting", "signup"}
    page = folder / "report.html"
    out = runner.invoke(cli, ["insights", "--db", str(db), "--html", str(page)])
    assert out.exit_code == 0, out.output
    text = page.read_text()
    assert text.count("data:image/png;base64,") >= 2 and "suggested audience threshold" in text
    assert "http://" not in text and "https://" not in text  # viewable offline


def test_score_from_the_store_uses_its_signals(workspace):
    folder, db, _, _ = workspace
    out = CliRunner().invoke(cli, ["score", str(ROOT / "rules"), "--db", str(db), "--out", str(folder / "s.csv"),
                                   "--as-of", AS_OF.isoformat()])
    assert out.exit_code == 0, out.output
    assert (folder / "s.csv").read_text().splitlines()[0].endswith('"engagement_score","stage"')


def test_bad_events_are_refused(workspace, tmp_path):
    rules = unstuck_dsl.compile(ROOT / "rules")
    with store.Store(tmp_path / "w.duckdb") as s:
        with pytest.raises(DataError, match="'bounced' is not one of replied, meeting, signup; row 1"):
            store.ingest_events(s, rules, None, pa.table({"lead_id": ["l1"], "outcome": ["bounced"],
                                                          "timestamp": ["2026-11-01"]}))
        with pytest.raises(DataError, match="not a declared signal type"):
            store.ingest_events(s, rules, pa.table({"lead_id": ["l1"], "signal": ["tweet"],
                                                    "timestamp": ["2026-11-01"]}), None)
        assert s.signals().num_rows == 0 and s.outcomes().num_rows == 0
