"""The workspace store: incremental re-scoring equals a full re-score, transactions, busy
workspaces, bad files rejected whole, and `diff` predicting what `rescore` changes."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import unstuck_dsl
from unstuck_dsl import sample, store
from unstuck_dsl.cli import cli
from unstuck_dsl.data import DataError
from unstuck_dsl.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 26)
SCORE_COLUMNS = ["icp_code", "icp_score", "persona_code", "persona_score"]


@pytest.fixture(scope="module")
def rules():
    return unstuck_dsl.compile(ROOT / "rules")


def ingest(workspace: store.Store, rules, accounts, leads, as_of: dt.date = AS_OF) -> store.IngestReport:
    """The store's own ingest (what a workspace's runs), scores stamped with these rules as of `as_of`."""
    return store.ingest(workspace, rules, store.Stamp(rules.model.content_hash, None, as_of), accounts, leads)


def rescore(workspace: store.Store, rules, as_of: dt.date = AS_OF) -> store.IngestReport:
    return store.rescore(workspace, rules, store.Stamp(rules.model.content_hash, None, as_of))


def _plain(table: pa.Table, key: str, columns: list[str]) -> dict:
    table = table.sort_by(key)
    out = {}
    for row in zip(*(table.column(c).cast(pa.string()).to_pylist() for c in [key, *columns])):
        out[row[0]] = row[1:]
    return out


def assert_each_id_stored_once(workspace: store.Store) -> None:
    """No table holds an id twice (the store keeps ids unique without key indexes)."""
    for table, key in (("accounts", "account_id"), ("leads", "lead_id"), ("account_scores", "account_id"),
                       ("lead_scores", "lead_id")):
        rows, ids = workspace.db.execute(f"SELECT count(*), count(DISTINCT {key}) FROM {table}").fetchall()[0]
        assert rows == ids, table


def assert_equals_full_rescore(workspace: store.Store, rules) -> None:
    """SPEC §5 rule 8: the stored scores are what scoring everything now gives."""
    assert_each_id_stored_once(workspace)
    full = rules.score(workspace.records("account"), workspace.records("lead"), as_of=AS_OF)
    assert _plain(workspace.scores("lead"), "lead_id", SCORE_COLUMNS) == _plain(full.leads, "lead_id", SCORE_COLUMNS)
    assert _plain(workspace.scores("account"), "account_id", ["icp_code", "icp_score"]) == _plain(
        full.accounts, "account_id", ["icp_code", "icp_score"])


def test_enrichment_rescores_only_the_touched_accounts_and_their_leads(rules, tmp_path):
    accounts, leads = sample.generate(600, seed=5)
    with Workspace(tmp_path / "w.duckdb") as live:
        workspace = live.store
        first = live.ingest(accounts, leads, rules=rules, as_of=AS_OF)
        assert first.inserted == accounts.num_rows + leads.num_rows
        before = _plain(workspace.scores("account"), "account_id", ["icp_score"])
        mm = [a for a, (code, _) in _plain(workspace.scores("account"), "account_id", ["icp_code", "icp_score"]).items()
              if code == "mm_saas"][:10]
        enrichment = pa.table({"account_id": pa.array(mm), "tech_stack": pa.array([["Snowflake", "Okta"]] * len(mm))})
        report = live.ingest(enrichment)
        touched_leads = workspace.db.execute(
            f"SELECT count(*) FROM leads WHERE account_id IN ({', '.join(repr(a) for a in mm)})").fetchall()[0][0]
        assert (report.updated, report.rescored_accounts, report.rescored_leads) == (len(mm), len(mm), touched_leads)
        after = _plain(workspace.scores("account"), "account_id", ["icp_score"])
        assert all(int(after[a][0]) >= int(before[a][0]) for a in mm)
        assert any(int(after[a][0]) > int(before[a][0]) for a in mm)
        assert {a: v for a, v in after.items() if a not in mm} == {a: v for a, v in before.items() if a not in mm}
        # the enrichment kept every other column of those accounts
        row = workspace.db.execute(f"SELECT industry, tech_stack FROM accounts WHERE account_id = '{mm[0]}'").fetchall()[0]
        assert row[0] is not None and sorted(row[1]) == ["Okta", "Snowflake"]
        assert_equals_full_rescore(workspace, rules)
        assert workspace.db.execute("SELECT count(*) FROM score_history").fetchall()[0][0] > 0
        assert workspace.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()[0][0] == str(store.SCHEMA_VERSION)
        assert [v.number for v in live.versions()] == [1]
        assert set(workspace.scores("lead").column("ruleset_version").to_pylist()) == {1}


ACCOUNT_IDS = ["a1", "a2", "a3", "a4"]
LEAD_IDS = ["l1", "l2", "l3", "l4", "l5"]
ACCOUNT_VALUES = {
    "industry": st.sampled_from(["software", "saas", "retail", None]),
    "employees": st.sampled_from([10, 51, 240, 2000, 5000, None]),
    "arr_usd": st.sampled_from([None, 5e5, 2e6]),
    "country": st.sampled_from(["US", "CA", "DE", None]),
    "tech_stack": st.sampled_from([None, [], ["Snowflake"], ["Okta", "dbt"], ["Snowflake", "Okta"]]),
    "funding_stage": st.sampled_from([None, "Seed", "Series A", "Series B", "Public"]),
    "hired_ciso_on": st.sampled_from([None, dt.date(2026, 3, 1), dt.date(2020, 1, 1)]),
    "is_competitor": st.sampled_from([None, False, True]),
}
LEAD_VALUES = {
    "account_id": st.sampled_from(ACCOUNT_IDS + ["missing"]),
    "title": st.sampled_from([None, "VP Sales", "Founder", "Engineer"]),
    "seniority": st.sampled_from([None, "IC", "VP", "C-suite"]),
    "function": st.sampled_from([None, "Sales", "Exec"]),
    "years_experience": st.sampled_from([None, 3.0, 12.0]),
    "years_in_role": st.sampled_from([None, 1.0, 5.0]),
}
TYPES = {"employees": pa.int64(), "arr_usd": pa.float64(), "tech_stack": pa.list_(pa.string()),
         "hired_ciso_on": pa.date32(), "is_competitor": pa.bool_(), "years_experience": pa.float64(),
         "years_in_role": pa.float64()}


@st.composite
def upserts(draw, kind: str):
    """One partial file: some ids, some columns (the key always; leads always carry account_id
    when they are new, so give it always)."""
    values = ACCOUNT_VALUES if kind == "account" else LEAD_VALUES
    key, pool = ("account_id", ACCOUNT_IDS) if kind == "account" else ("lead_id", LEAD_IDS)
    ids = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    optional = [c for c in values if c != "account_id"]
    columns = draw(st.lists(st.sampled_from(optional), unique=True, max_size=len(optional)))
    if kind == "lead":
        columns = ["account_id", *columns]
    table = {key: pa.array(ids, pa.string())}
    for column in columns:
        table[column] = pa.array([draw(values[column]) for _ in ids], TYPES.get(column, pa.string()))
    return kind, pa.table(table)


@settings(max_examples=int(os.environ.get("STORE_EXAMPLES", "25")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(steps=st.lists(st.one_of(upserts("account"), upserts("lead")), min_size=1, max_size=6))
def test_incremental_rescoring_equals_a_full_rescore(rules, tmp_path_factory, steps):
    path = tmp_path_factory.mktemp("store") / "w.duckdb"
    with store.Store(path) as workspace:
        for kind, table in steps:
            ingest(workspace, rules, table if kind == "account" else None, table if kind == "lead" else None)
            assert_equals_full_rescore(workspace, rules)


def test_a_bad_file_is_rejected_whole(rules, tmp_path):
    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules, pa.table({"account_id": ["a1"], "industry": ["software"]}), None, AS_OF)
        for bad, message in (
            (pa.table({"account_id": ["a2", "a2"], "industry": ["x", "y"]}), "id 'a2' appears more than once"),
            (pa.table({"account_id": ["a3", "a4"], "hired_ciso_on": ["2024-01-01", "31/12/2024"]}),
             "column `hired_ciso_on` (date): expected a date (YYYY-MM-DD); row 2"),
            (pa.table({"account_id": ["a5"], "employees": ["many"]}), "column `employees` (int): expected a whole number"),
        ):
            with pytest.raises(DataError) as error:
                ingest(workspace, rules, bad, None)
            assert message in str(error.value)
        assert workspace.db.execute("SELECT list(account_id) FROM accounts").fetchall()[0][0] == ["a1"]


def test_a_second_writer_gets_workspace_busy(rules, tmp_path):
    path = tmp_path / "w.duckdb"
    accounts = tmp_path / "a.csv"
    accounts.write_text("account_id,industry\na1,software\n")
    with store.Store(path):
        env = dict(os.environ, UNSTUCK_BUSY_WAIT="0.5")
        out = subprocess.run([sys.executable, "-m", "unstuck_dsl", "ingest", str(ROOT / "rules"), "--accounts",
                              str(accounts), "--db", str(path)], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 1
    assert "workspace busy" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "unstuck_dsl", "ingest", str(ROOT / "rules"), "--accounts",
                          str(accounts), "--db", str(path), "--as-of", "2026-11-26"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "1 inserted" in out.stdout


KILLED_INGEST = r"""
import sys, time
from unstuck_dsl import store
import unstuck_dsl

def stall(*args, **kwargs):  # the records are upserted, the transaction is still open
    print("ready", flush=True)
    time.sleep(600)

store.Store.write_scores = stall
from unstuck_dsl.workspace import Workspace
with Workspace(sys.argv[2]) as workspace:
    workspace.ingest(sys.argv[3], rules=sys.argv[1])
"""


def test_a_killed_ingest_leaves_the_workspace_as_it_was(rules, tmp_path):
    path = tmp_path / "w.duckdb"
    with Workspace(path) as workspace:
        workspace.ingest(pa.table({"account_id": ["a1"], "industry": ["software"]}), rules=ROOT / "rules", as_of=AS_OF)
        before = workspace.store.records("account").to_pylist()
    update = tmp_path / "update.csv"
    update.write_text("account_id,industry\na1,retail\na2,saas\n")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_INGEST, str(ROOT / "rules"), str(path), str(update)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    with store.Store(path) as workspace:
        assert workspace.records("account").to_pylist() == before
        assert_equals_full_rescore(workspace, rules)


def test_diff_predicts_what_publish_changes(rules, tmp_path):
    accounts, leads = sample.generate(400, seed=9)
    db = tmp_path / "w.duckdb"
    with Workspace(db) as workspace:
        workspace.ingest(accounts, leads, rules=ROOT / "rules", as_of=AS_OF)
    new_rules = tmp_path / "rules"
    new_rules.mkdir()
    for path in (ROOT / "rules").glob("*.ust"):
        (new_rules / path.name).write_text(path.read_text().replace('score 5 "Uses Snowflake"', 'score 9 "Uses Snowflake"'))
    runner = CliRunner()
    out = tmp_path / "changes.csv"
    diff = runner.invoke(cli, ["diff", str(ROOT / "rules"), str(new_rules), "--db", str(db), "--out", str(out),
                               "--as-of", AS_OF.isoformat()])
    assert diff.exit_code == 0, diff.output
    predicted = pcsv.read_csv(out).num_rows
    assert f"{predicted} of {leads.num_rows} leads would change" in diff.output
    assert "Uses Snowflake" in diff.output and "+9 / 9" in diff.output
    published = runner.invoke(cli, ["publish", str(new_rules), "--db", str(db), "--yes", "-m", "Snowflake: 9"])
    assert published.exit_code == 0, published.output
    assert f"{predicted} of {leads.num_rows} leads would change" in published.output  # the same diff, shown first
    assert f"and {predicted} leads" in published.output and predicted > 0
    with store.Store(db) as workspace:
        assert_equals_full_rescore(workspace, unstuck_dsl.compile(new_rules))


def test_score_explain_audience_and_export_read_the_store(rules, tmp_path):
    accounts, leads = sample.generate(200, seed=2)
    db = tmp_path / "w.duckdb"
    with Workspace(db) as workspace:
        workspace.ingest(accounts, leads, rules=ROOT / "rules", as_of=AS_OF)
    runner = CliRunner()
    rules_dir, when = str(ROOT / "rules"), AS_OF.isoformat()
    scored = runner.invoke(cli, ["score", rules_dir, "--db", str(db), "--out", str(tmp_path / "s.csv"), "--as-of", when])
    assert scored.exit_code == 0, scored.output
    assert pcsv.read_csv(tmp_path / "s.csv").num_rows == leads.num_rows
    lead_id = leads.column("lead_id")[0].as_py()
    explained = runner.invoke(cli, ["explain", rules_dir, "--db", str(db), "--lead", lead_id, "--as-of", when])
    assert explained.exit_code == 0 and lead_id in explained.output
    exported = runner.invoke(cli, ["export", "--db", str(db), "--out", str(tmp_path / "all.parquet")])
    assert exported.exit_code == 0, exported.output
    hot = runner.invoke(cli, ["export", "--db", str(db), "--audience", "hot", "--out", str(tmp_path / "hot.csv"),
                              "--as-of", when])
    assert hot.exit_code == 0, hot.output
    members = pcsv.read_csv(tmp_path / "hot.csv").to_pylist()
    assert all(m["icp_score"] >= 60 and m["persona_score"] >= 60 for m in members)


def test_a_rescore_replaces_every_score_and_keeps_one_row_per_record(rules, tmp_path):
    accounts, leads = sample.generate(300, seed=6)
    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules, accounts, leads)
        report = rescore(workspace, rules)
        assert (report.rescored_accounts, report.rescored_leads) == (accounts.num_rows, leads.num_rows)
        assert (report.new_accounts, report.new_leads, report.moved_accounts, report.moved_leads) == (0, 0, 0, 0)
        assert_equals_full_rescore(workspace, rules)
        later = AS_OF + dt.timedelta(days=400)  # `within 12 months` conditions expire: some scores move
        moved = rescore(workspace, rules, later)
        assert moved.moved_accounts > 0
        full = rules.score(workspace.records("account"), workspace.records("lead"), as_of=later)
        assert _plain(workspace.scores("lead"), "lead_id", SCORE_COLUMNS) == _plain(full.leads, "lead_id",
                                                                                    SCORE_COLUMNS)
        assert_each_id_stored_once(workspace)
        assert set(workspace.scores("account").column("as_of").to_pylist()) == {later}


def _as_schema_3(path: Path) -> None:
    """Turn a workspace into one made by unstuck before schema 4: every score stores its stamp (the
    version that made it, its hash, the date), those of the workspace's own stamp too."""
    import duckdb

    db = duckdb.connect(str(path))
    (number, digest), = db.execute("SELECT number, hash FROM versions ORDER BY number DESC LIMIT 1").fetchall()
    (day,), = db.execute("SELECT value FROM meta WHERE key = 'as_of'").fetchall()
    for table in ("account_scores", "lead_scores"):
        db.execute(f"UPDATE {table} SET ruleset = ?, ruleset_version = ?, as_of = ? WHERE as_of IS NULL",
                   [digest, number, day])
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.close()


def _as_schema_2(path: Path) -> None:
    """Turn a workspace into one made by unstuck before schema 3: no versions (the rules applied
    last in `rulesets`), no version on scores and history, no workspace date."""
    import duckdb

    _as_schema_3(path)
    db = duckdb.connect(str(path))
    (digest, text, published_at), = db.execute("SELECT hash, text, published_at FROM versions "
                                                "ORDER BY number DESC LIMIT 1").fetchall()
    db.execute("CREATE TABLE rulesets (hash VARCHAR PRIMARY KEY, applied_at TIMESTAMP, rules VARCHAR)")
    db.execute("INSERT INTO rulesets VALUES (?, ?, ?)", [digest, published_at, text])
    db.execute("DROP TABLE versions")
    for table in ("account_scores", "lead_scores", "score_history"):
        db.execute(f"ALTER TABLE {table} DROP COLUMN ruleset_version")
    db.execute("DELETE FROM meta WHERE key = 'as_of'")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.close()


def _as_schema_1(path: Path) -> None:
    """Turn a workspace into one made by unstuck before schema 2: records and scores keyed by a
    PRIMARY KEY, schema_version 1."""
    import duckdb

    _as_schema_2(path)
    db = duckdb.connect(str(path))
    for table, key in (("accounts", "account_id"), ("leads", "lead_id"), ("account_scores", "account_id"),
                       ("lead_scores", "lead_id")):
        columns = ", ".join(f'"{name}" {kind}{" PRIMARY KEY" if name == key else ""}'
                            for name, kind in db.execute(f"SELECT column_name, data_type FROM "
                                                         f"information_schema.columns WHERE table_name = '{table}' "
                                                         "ORDER BY ordinal_position").fetchall())
        db.execute(f"CREATE TABLE {table}_v1 ({columns})")
        db.execute(f"INSERT INTO {table}_v1 SELECT * FROM {table}")
        db.execute(f"DROP TABLE {table}")
        db.execute(f"ALTER TABLE {table}_v1 RENAME TO {table}")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.close()


def _published(path: Path, accounts, leads) -> None:
    with Workspace(path) as workspace:
        workspace.ingest(accounts, leads, rules=ROOT / "rules", as_of=AS_OF)


@pytest.mark.parametrize("made_by", [_as_schema_1, _as_schema_2, _as_schema_3])
def test_an_older_workspace_is_upgraded_keeping_every_record_and_score(rules, tmp_path, made_by):
    path = tmp_path / "w.duckdb"
    accounts, leads = sample.generate(200, seed=8)
    _published(path, accounts, leads)
    with store.Store(path, read_only=True) as workspace:
        before = [(workspace.records(kind), workspace.scores(kind).drop_columns(["ruleset_version"]))
                  for kind in ("account", "lead")]
    made_by(path)
    with Workspace(path, read_only=True) as old:  # readable as it is, not upgraded
        assert old.published.number == 1 and old.as_of == AS_OF
        assert old.audience("hot").num_rows > 0
    with Workspace(path) as live:
        workspace = live.store
        keyed = workspace.db.execute("SELECT count(*) FROM duckdb_constraints() "
                                     "WHERE constraint_type = 'PRIMARY KEY' AND table_name NOT IN "
                                     "('meta', 'rulesets', 'versions')").fetchall()[0][0]
        assert keyed == 0
        assert workspace.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()[0][0] == str(store.SCHEMA_VERSION)
        assert [(workspace.records(kind), workspace.scores(kind).drop_columns(["ruleset_version"]))
                for kind in ("account", "lead")] == before
        # the rules it was last scored with are version 1, every score carries it, at the scores' date
        assert [v.number for v in live.versions()] == [1] and live.as_of == AS_OF
        assert live.status().off_stamp == 0
        assert set(workspace.scores("lead").column("ruleset_version").to_pylist()) == {1}
        first = accounts.column("account_id")[0].as_py()
        live.ingest(pa.table({"account_id": [first], "tech_stack": [["Snowflake"]]}), rules=ROOT / "rules")
        assert_equals_full_rescore(workspace, rules)


def test_reading_an_older_workspace_changes_nothing(rules, tmp_path):
    path = tmp_path / "w.duckdb"
    accounts, leads = sample.generate(50, seed=8)
    _published(path, accounts, leads)
    _as_schema_1(path)
    before = path.read_bytes()
    with store.Store(path, read_only=True) as workspace:
        assert workspace.records("lead").num_rows == leads.num_rows
    with Workspace(path, read_only=True) as workspace:
        assert workspace.export("lead").num_rows == leads.num_rows
        assert workspace.status().version.number == 1
    assert path.read_bytes() == before


def test_columns_the_rules_do_not_declare_are_kept_and_scoring_is_unchanged(rules, tmp_path):
    accounts, leads = sample.generate(120, seed=12)
    accounts = accounts.append_column("crm_owner", pa.array([f"owner {k % 7}" for k in range(accounts.num_rows)]))
    leads = leads.append_column("linkedin", pa.array([f"https://example.com/{k}" for k in range(leads.num_rows)]))
    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules, accounts, leads)
        assert_equals_full_rescore(workspace, rules)
        first = accounts.column("account_id")[0].as_py()
        ingest(workspace, rules, pa.table({"account_id": [first], "employees": [5000]}), None, AS_OF)
        assert_equals_full_rescore(workspace, rules)
        rescore(workspace, rules)
        assert_equals_full_rescore(workspace, rules)
        stored = workspace.records("account")
        assert stored.column("crm_owner").to_pylist() == accounts.sort_by("account_id").column("crm_owner").to_pylist()
        assert workspace.records("lead").column("linkedin").null_count == 0


def test_a_served_store_writes_what_one_asking_duckdb_writes(tmp_path, rules, monkeypatch):
    """A store that keeps its tables in memory (as `unstuck serve` does) finds the records an
    upsert changes and the scores that moved in memory; it reports and stores exactly what a store
    asking DuckDB does: the same counts, records, scores with their stamps and history rows,
    through new records, moved scores, a lead moved to another account, records that did not
    change, scores of another date restamped, and a write of more rows than go as parameters.
    Either store also writes the same with no score change lined up in memory (`ALIGNED_IN_MEMORY`
    0: every comparison a DuckDB join, as for more than that many records)."""
    accounts, leads = sample.generate(90, seed=21)
    account_ids, lead_ids = accounts.column("account_id"), leads.column("lead_id")
    many = account_ids[: store.FEW_ROWS + 8]
    steps = [
        (pa.table({"account_id": [*account_ids[:4].to_pylist(), "A-NEW"], "employees": [5, 5_000, 50_000, None, 40],
                   "tech_stack": [["Snowflake"], [], None, ["Okta", "dbt"], ["Snowflake"]]}),
         pa.table({"lead_id": [lead_ids[0].as_py(), "L-NEW"], "account_id": ["A-NEW", account_ids[1].as_py()],
                   "title": ["VP Sales", "CTO"]}), AS_OF),
        (pa.table({"account_id": account_ids[4:6], "employees": [7, 7]}), None, AS_OF),
        (pa.table({"account_id": account_ids[11:31], "tech_stack": [["Snowflake", "Okta", "dbt"]] * 20}), None, AS_OF),
        (accounts.slice(6, 3), None, AS_OF),  # as stored: nothing changes
        (pa.table({"account_id": account_ids[9:11], "employees": [80, 90]}), None, AS_OF + dt.timedelta(days=30)),
        (pa.table({"account_id": many, "employees": list(range(len(many)))}), None, AS_OF),
    ]

    def tables(workspace: store.Store) -> dict:
        history = workspace.db.sql("SELECT * EXCLUDE (changed_at) FROM score_history").to_arrow_table()
        return {"history": history.sort_by([(c, "ascending") for c in history.column_names]),
                **{kind: (workspace.records(kind), workspace.scores(kind)) for kind in ("account", "lead")}}

    written = []
    for served, aligned in ((False, store.ALIGNED_IN_MEMORY), (True, store.ALIGNED_IN_MEMORY), (False, 0), (True, 0)):
        monkeypatch.setattr(store, "ALIGNED_IN_MEMORY", aligned)
        with store.Store(tmp_path / f"served-{served}-{aligned}.duckdb") as workspace:
            ingest(workspace, rules, accounts, leads)
            if served:
                workspace.keep_in_memory()
            written.append([(ingest(workspace, rules, *step), tables(workspace)) for step in steps])
    assert written[0] == written[1] == written[2] == written[3]
    assert any(report.moved_accounts > report.changed_icp for report, _ in written[0])  # a score moved, not its ICP


def test_the_kept_leads_find_what_the_store_does_through_writes_and_rollbacks(tmp_path, rules):
    """A store that keeps its leads in memory (as `unstuck serve` does) finds the same leads for changed
    accounts as one that asks DuckDB, after leads are added or moved to
    another, and after a write that was rolled back (which the index must not have taken)."""
    accounts, leads = sample.generate(60, seed=5)
    account_ids = accounts.column("account_id").combine_chunks()
    none = pa.nulls(0, pa.string())

    def agree(workspace: store.Store) -> None:
        for few in (1, 3, store.FEW_IDS + 10, len(account_ids)):
            for pair in ((account_ids[:few], none), (account_ids[-few:], leads.column("lead_id").combine_chunks()[:2])):
                kept, workspace.kept = workspace.kept, {}
                want = sorted(workspace.affected_leads(*pair).column("lead_id").to_pylist())
                assert workspace.affected_lead_ids(*pair) == want
                workspace.kept = kept
                assert sorted(workspace.affected_leads(*pair).column("lead_id").to_pylist()) == want
                assert workspace.affected_lead_ids(*pair) == want

    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules, accounts, leads)
        workspace.keep_in_memory()
        agree(workspace)
        first = leads.column("lead_id")[0].as_py()
        moved = pa.table({"lead_id": [first, leads.column("lead_id")[1].as_py(), "NEW-1", "NEW-2"],
                          "account_id": [account_ids[-1].as_py(), account_ids[3].as_py(), account_ids[0].as_py(),
                                         account_ids[-1].as_py()]})
        ingest(workspace, rules, None, moved)
        agree(workspace)
        with pytest.raises(RuntimeError), workspace.transaction():
            workspace.upsert("lead", pa.table({"lead_id": [first], "account_id": [account_ids[5].as_py()]}))
            raise RuntimeError("the write fails")
        agree(workspace)
        assert first in workspace.affected_lead_ids(account_ids[-1:], none)
        assert first not in workspace.affected_lead_ids(account_ids[5:6], none)
        many = account_ids[: store.FEW_IDS + 10]
        kept, workspace.kept = workspace.kept, {}
        want = workspace.affected_leads(many, none, read_by=rules.model.schema).sort_by("lead_id")
        workspace.kept = kept
        assert workspace.affected_leads(many, none, read_by=rules.model.schema).sort_by("lead_id").equals(want)


def test_kept_counts_and_records_as_written_equal_duckdb_through_writes_and_a_rollback(tmp_path, rules):
    """A served store keeps each table's row count (moved by the rows a write adds, not read
    again) and re-scores records read before an upsert as `as_written` says they are after it:
    both equal what DuckDB answers, through upserts of new, changed and unchanged records, score
    writes, appended signals, and a write that was rolled back."""
    accounts, leads = sample.generate(80, seed=9)
    tables = ("accounts", "leads", "account_scores", "lead_scores", "signals", "outcomes")

    def counts_agree(workspace: store.Store) -> None:
        kept = {t: workspace._count(t) for t in tables}  # kept when asked before, read when not
        assert kept == {t: workspace.db.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}

    with store.Store(tmp_path / "w.duckdb") as workspace:
        counts_agree(workspace)
        ingest(workspace, rules, accounts, leads)
        counts_agree(workspace)
        ids = accounts.column("account_id").combine_chunks()
        read_by = rules.model.schema
        before = workspace.records("account", ids[:5], read_by=read_by)
        change = pa.table({"account_id": [ids[0].as_py(), ids[1].as_py(), "A-NEW"],
                           "employees": [before.column("employees")[0].as_py(), 123_456, 40]})
        with workspace.transaction():
            upserted = workspace.upsert("account", change, keep_rows=True)
            assert sorted(upserted.ids.to_pylist()) == sorted([ids[1].as_py(), "A-NEW"])  # ids[0] kept its value
            written = workspace.as_written("account", before, upserted, read_by)
            wanted = pa.array([*ids[:5].to_pylist(), "A-NEW"], pa.string())
            assert written.sort_by("account_id").equals(workspace.records("account", wanted, read_by=read_by))
        counts_agree(workspace)
        rescore(workspace, rules)  # (the upsert alone re-scored nothing)
        counts_agree(workspace)
        ingest(workspace, rules, pa.table({"account_id": [ids[2].as_py(), "A-NEW-2"], "employees": [7, 8]}),
               pa.table({"lead_id": ["L-NEW"], "account_id": ["A-NEW-2"], "title": ["VP Sales"]}))
        counts_agree(workspace)
        workspace.append("signals", pa.table({"lead_id": ["L-NEW"], "signal": ["demo_request"]}), ["lead_id", "signal"])
        counts_agree(workspace)
        with pytest.raises(RuntimeError), workspace.transaction():
            ingest(workspace, rules, pa.table({"account_id": ["A-GONE"], "employees": [9]}), None)
            assert workspace.count("account") == accounts.num_rows + 3
            raise RuntimeError("the write fails")
        counts_agree(workspace)
        assert workspace.count("account") == accounts.num_rows + 2
        assert_equals_full_rescore(workspace, rules)


def test_what_a_served_store_keeps_in_memory_is_what_duckdb_holds_through_writes_rollbacks_and_renumbering(
        tmp_path, rules):
    """A store that keeps its tables in memory (as `unstuck serve` does) reads records, scores
    and history from there: after every committed write each kept table holds exactly the rows
    DuckDB holds (with their row numbers), and every record's history rows; a write rolled back
    changes nothing kept; a table whose rows were numbered anew (as a checkpoint that compacts
    deleted rows does) or that was changed in place is read again; inside a transaction, a table
    it wrote is read from DuckDB; and every read equals the same read without what is kept."""
    accounts, leads = sample.generate(70, seed=13)
    account_ids = accounts.column("account_id").combine_chunks()
    lead_ids = leads.column("lead_id").combine_chunks()
    read_by = rules.model.schema

    def exact(workspace: store.Store) -> None:
        for table, key in store._KEPT:
            truth = workspace.db.sql(f"SELECT *, rowid AS stored_row FROM {table}").to_arrow_table().sort_by(key)
            kept, missing = workspace.kept[table].rows(pa.array([*truth.column(key).to_pylist(), "nobody"], pa.string()))
            assert kept.sort_by(key).equals(truth), table
            assert missing.to_pylist() == ["nobody"]
        changes = workspace.db.execute("SELECT kind, record_id, list(rowid ORDER BY changed_at, rowid) "
                                       "FROM score_history GROUP BY ALL").fetchall()
        assert len(changes) > 50
        for kind, record, rows in [*changes, ("lead", "nobody", [])]:
            assert workspace.kept_history.changes(kind, record).column("stored_row").to_pylist() == rows

    def reads_agree(workspace: store.Store) -> None:
        wanted = {"account": [account_ids[:1], account_ids[3:9], pa.array(["A-NEW", "nobody"]), account_ids],
                  "lead": [lead_ids[-1:], lead_ids[:40], pa.array(["L-NEW", "nobody"], pa.string())]}

        def reads(kind: str, ids: pa.Array) -> list:
            key = store._TABLE_OF[kind][1]
            return [workspace.records(kind, ids), workspace.records(kind, ids, schema=read_by),
                    workspace.records(kind, ids, ordered=False, read_by=read_by).sort_by(key),
                    sorted(workspace.existing_ids(kind, ids).to_pylist()),
                    [workspace.scores_of(kind, i) for i in ids.to_pylist()[:5]],
                    [workspace.history(kind, i) for i in ids.to_pylist()[:5]],
                    workspace.affected_lead_ids(ids, pa.nulls(0, pa.string())) if kind == "account" else None]

        kept = workspace.kept, workspace.kept_history
        workspace.kept, workspace.kept_history = {}, None
        expected = {kind: [reads(kind, ids) for ids in sets] for kind, sets in wanted.items()}
        workspace.kept, workspace.kept_history = kept
        assert {kind: [reads(kind, ids) for ids in sets] for kind, sets in wanted.items()} == expected

    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules, accounts, leads)
        workspace.keep_in_memory()
        exact(workspace)
        reads_agree(workspace)
        changed = pa.table({"account_id": [*account_ids[3:9].to_pylist(), "A-NEW"], "employees": [5, 50, 500, 5000,
                                                                                                   50_000, 7, 12]})
        moved = pa.table({"lead_id": [lead_ids[0].as_py(), "L-NEW"], "account_id": ["A-NEW", account_ids[4].as_py()]})
        ingest(workspace, rules, changed, moved)
        exact(workspace)
        reads_agree(workspace)
        with pytest.raises(RuntimeError), workspace.transaction():
            ingest(workspace, rules, pa.table({"account_id": [account_ids[3].as_py(), "A-GONE"],
                                               "employees": [1, 2]}), None)
            # Inside the transaction, what it wrote is read from DuckDB, not from what is kept.
            assert workspace.records("account", account_ids[3:4]).column("employees").to_pylist() == [1]
            assert workspace.existing_ids("account", pa.array(["A-GONE"])).to_pylist() == ["A-GONE"]
            raise RuntimeError("the write fails")
        exact(workspace)
        reads_agree(workspace)
        # Many small commits: the rows each appends are joined into one piece now and then.
        for k in range(20):
            ingest(workspace, rules, pa.table({"account_id": account_ids[k:k + 1], "employees": [10 + 900 * k]}),
                   pa.table({"lead_id": lead_ids[k:k + 1], "account_id": account_ids[(k + 7) % 20:(k + 7) % 20 + 1]}))
        exact(workspace)
        reads_agree(workspace)
        # Rows numbered anew: the rows past the last one known are not those a commit appended.
        workspace.kept["lead_scores"]._last = -1
        workspace.kept["accounts"]._last = 10**9
        ingest(workspace, rules, pa.table({"account_id": account_ids[:2], "employees": [3, 30_000]}), None)
        exact(workspace)
        # Changed in place: every score restamped (a rescore at another date), a column added.
        store.rescore(workspace, rules, store.Stamp(rules.model.content_hash, None, AS_OF + dt.timedelta(days=40)))
        with workspace.transaction():
            workspace.upsert("account", pa.table({"account_id": account_ids[5:6], "crm_owner": ["Ana"]}))
        exact(workspace)
        reads_agree(workspace)
