"""`export --audience` uses the stored scores when they are current, and writes what scoring
again (`audience --db`) writes."""

from __future__ import annotations

import datetime as dt

import pytest

import unstuck_dsl
from unstuck_dsl import cli as cli_module
from unstuck_dsl import sample, store
from unstuck_dsl.api import ScoringError, StoredAssignments
from unstuck_dsl.execute import Assignments

from cli_support import AS_OF, RULES, run


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A workspace scored by the example rules as of AS_OF, with signals."""
    folder = tmp_path_factory.mktemp("export")
    accounts, leads = sample.generate(250, seed=5)
    db = folder / "w.duckdb"
    rules = unstuck_dsl.compile(RULES)
    with store.Store(db) as stored:
        store.ingest(stored, rules, accounts, leads, dt.date.fromisoformat(AS_OF))
        store.ingest_events(stored, rules, sample.signals(leads))
    return db


@pytest.mark.parametrize("audience", ["hot", "strong_accounts", "mm_vp_sales"])
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_export_of_an_audience_writes_what_scoring_again_writes(workspace, tmp_path, audience, suffix):
    exported, scored = tmp_path / f"exported.{suffix}", tmp_path / f"scored.{suffix}"
    result = run("export", "--db", workspace, "--audience", audience, "--out", exported, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    result = run("audience", RULES, audience, "--db", workspace, "--out", scored, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert exported.read_bytes() == scored.read_bytes()
    assert exported.stat().st_size > 200  # members, not only a header
    if suffix == "csv":  # the stored signals give each member its engagement
        assert exported.read_text().splitlines()[0].endswith('"engagement_score","stage"')


def test_current_stored_scores_are_read_and_stale_ones_scored_again(workspace):
    with store.Store(workspace, read_only=True) as stored:
        rules_text = stored.latest_rules()
    current = cli_module._stored_run(rules_text, dt.date.fromisoformat(AS_OF), workspace)
    assert isinstance(current._run, StoredAssignments)
    stale = cli_module._stored_run(rules_text, dt.date(2026, 12, 1), workspace)  # scores are as of AS_OF
    assert isinstance(stale._run, Assignments)
    again = unstuck_dsl.compile(rules_text).score(*_records(workspace), as_of=AS_OF, signals=_signals(workspace))
    assert current.audience("hot").equals(again.audience("hot"))
    assert current.table().equals(again.table())
    with pytest.raises(ScoringError, match="read from a workspace"):  # stored scores have no parameter outcomes
        current.explain(lead_id=again.leads.column("lead_id")[0].as_py())


def _records(db):
    rules = unstuck_dsl.compile(RULES)
    with store.Store(db, read_only=True) as stored:
        return stored.records("account", schema=rules.model.schema), stored.records("lead", schema=rules.model.schema)


def _signals(db):
    with store.Store(db, read_only=True) as stored:
        return stored.signals()
