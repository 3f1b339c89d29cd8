"""`export --audience` and `audience --db` are one code path (`Workspace.audience`): the stored
scores when they are current, the stored signals for engagement."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

import unstuck_dsl
from unstuck_dsl import sample, store
from unstuck_dsl.api import ScoringError, StoredAssignments
from unstuck_dsl.execute import Assignments
from unstuck_dsl.workspace import Workspace

from cli_support import AS_OF, RULES, run


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A workspace scored by the example rules as of AS_OF, with signals."""
    folder = tmp_path_factory.mktemp("export")
    accounts, leads = sample.generate(250, seed=5)
    db = folder / "w.duckdb"
    with Workspace(db) as live:
        live.ingest(accounts, leads, sample.signals(leads), rules=RULES, as_of=dt.date.fromisoformat(AS_OF))
    return db


@pytest.mark.parametrize("audience", ["hot", "strong_accounts", "mm_vp_sales"])
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_export_of_an_audience_writes_what_audience_db_writes(workspace, tmp_path, audience, suffix):
    exported, listed = tmp_path / f"exported.{suffix}", tmp_path / f"listed.{suffix}"
    result = run("export", "--db", workspace, "--audience", audience, "--out", exported)
    assert result.exit_code == 0, result.output
    result = run("audience", RULES, audience, "--db", workspace, "--out", listed, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert exported.read_bytes() == listed.read_bytes()
    assert exported.stat().st_size > 200  # members, not only a header
    if suffix == "csv":  # the stored signals give each member its engagement
        assert exported.read_text().splitlines()[0].endswith('"engagement_score","stage"')


def test_current_stored_scores_are_read_and_stale_ones_scored_again(workspace, tmp_path):
    again = unstuck_dsl.compile(RULES).score(*_records(workspace), as_of=AS_OF, signals=_signals(workspace))
    with Workspace(workspace, read_only=True) as live:
        current = live.scored()
        assert isinstance(current._run, StoredAssignments)
        assert current.audience("hot").equals(again.audience("hot"))
        assert current.table().equals(again.table())
        with pytest.raises(ScoringError, match="read from a workspace"):  # stored scores have no parameter outcomes
            current.explain(lead_id=again.leads.column("lead_id")[0].as_py())
    stale = tmp_path / "stale.duckdb"  # one score from another day: not every score is current
    shutil.copy(workspace, stale)
    with store.Store(stale) as stored:
        stored.db.execute("UPDATE lead_scores SET as_of = DATE '2026-01-01' WHERE lead_id = "
                          "(SELECT min(lead_id) FROM lead_scores)")
    with Workspace(stale, read_only=True) as live:
        assert live.status().off_stamp == 1
        scored = live.scored()
        assert isinstance(scored._run, Assignments)
        assert scored.table().equals(again.table())


def _records(db):
    rules = unstuck_dsl.compile(RULES)
    with store.Store(db, read_only=True) as stored:
        return stored.records("account", schema=rules.model.schema), stored.records("lead", schema=rules.model.schema)


def _signals(db):
    with store.Store(db, read_only=True) as stored:
        return stored.signals()
