"""The workspace store under careless and hostile use (issue 11): a rule's type change never
coerces stored values silently, a conflicting column says which one and where, a damaged
workspace is named and left untouched, an unwritable folder and a bad setting are one line."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

import unstuck_dsl
from unstuck_dsl import sample, store
from unstuck_dsl.cli import cli
from unstuck_dsl.data import DataError
from unstuck_dsl.workspace import Workspace
from unstuck_dsl.workspace_file import WorkspaceDamaged, blocks_pass_checksums

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 26)
CONDITION = {"int": "size >= 51", "number": "size >= 51", "category": 'size == "x"', "set": 'size has "x"'}


def rules_text(size_type: str) -> str:
    """One ICP that reads one account field, `size`, declared with the given type."""
    return (f'account fields {{ size: {size_type} }}\n'
            f'icp big "Big" live {{\n  filter "Size": {CONDITION[size_type]}\n}}\n')


def rules_declaring(size_type: str):
    return unstuck_dsl.compile(rules_text(size_type))


def ingest(workspace: store.Store, rules, accounts, leads, as_of: dt.date = AS_OF) -> store.IngestReport:
    """The store's own ingest (what a workspace's runs), scores stamped with these rules as of `as_of`."""
    return store.ingest(workspace, rules, store.Stamp(rules.model.content_hash, None, as_of), accounts, leads)


def rescore(workspace: store.Store, rules, as_of: dt.date = AS_OF) -> store.IngestReport:
    return store.rescore(workspace, rules, store.Stamp(rules.model.content_hash, None, as_of))


def stored(workspace: store.Store, column: str = "size") -> tuple[str, list]:
    """A column of the stored accounts: its DuckDB type and its values by account id."""
    kind = dict(workspace.db.execute("SELECT column_name, data_type FROM information_schema.columns "
                                     "WHERE table_name = 'accounts'").fetchall())[column]
    values = [v for (v,) in workspace.db.execute(f"SELECT {column} FROM accounts ORDER BY account_id").fetchall()]
    return kind, values


# ---- item 4: a rule changes a field's type ---------------------------------------------------


def test_a_value_ingested_after_int_becomes_number_keeps_its_fraction(tmp_path):
    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules_declaring("int"), pa.table({"account_id": ["a1"], "size": [10]}), None, AS_OF)
        ingest(workspace, rules_declaring("number"), pa.table({"account_id": ["a1"], "size": [50.6]}), None,
                     AS_OF)
        assert stored(workspace) == ("DOUBLE", [50.6])
        assert workspace.scores("account").column("icp_code").to_pylist() == [None]  # 50.6 < 51


def test_whole_stored_numbers_become_ints_when_the_rules_say_int(tmp_path):
    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules_declaring("number"),
                     pa.table({"account_id": ["a1", "a2", "a3"], "size": [51.0, 7.0, None]}), None, AS_OF)
        rescore(workspace, rules_declaring("int"), AS_OF)
        assert stored(workspace) == ("BIGINT", [51, 7, None])
        assert workspace.scores("account").column("icp_code").to_pylist() == ["big", None, None]


@pytest.mark.parametrize("before, after, values, record, shown", [
    ("number", "int", [3.0, 50.6], "a2", "50.6"),
    ("int", "number", [1, 2 ** 53 + 1], "a2", str(2 ** 53 + 1)),  # a double cannot hold it
    ("set", "category", [["x"], ["x", "y"]], "a2", "['x', 'y']"),
])
def test_a_type_change_that_would_alter_a_stored_value_is_refused_naming_it(tmp_path, before, after, values,
                                                                             record, shown):
    path = tmp_path / "w.duckdb"
    with store.Store(path) as workspace:
        ingest(workspace, rules_declaring(before), pa.table({"account_id": ["a1", "a2"], "size": values}),
                     None, AS_OF)
        kept = stored(workspace)
        for apply in (lambda rules: rescore(workspace, rules, AS_OF),
                      lambda rules: ingest(workspace, rules, pa.table({"account_id": ["a9"]}), None, AS_OF),
                      lambda rules: workspace.records("account", schema=rules.model.schema)):
            with pytest.raises(DataError) as error:
                apply(rules_declaring(after))
            message = str(error.value)
            assert "\n" not in message
            for part in (str(path), "`size`", f"stored as {kept[0]}", f"declare {after}", f"'{record}'", shown):
                assert part in message
        assert stored(workspace) == kept
        assert workspace.db.execute("SELECT count(*) FROM accounts").fetchall()[0][0] == 2


def test_single_member_sets_become_categories_and_back(tmp_path):
    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules_declaring("set"), pa.table({"account_id": ["a1", "a2"], "size": [["x"], None]}),
                     None, AS_OF)
        rescore(workspace, rules_declaring("category"), AS_OF)
        assert stored(workspace) == ("VARCHAR", ["x", None])
        rescore(workspace, rules_declaring("set"), AS_OF)
        assert stored(workspace) == ("VARCHAR[]", [["x"], None])


def test_text_declared_a_set_reads_as_an_input_file_would(tmp_path):
    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules_declaring("category"),
                     pa.table({"account_id": ["a1", "a2", "a3"], "size": ["x; dbt", "y", None]}), None, AS_OF)
        rescore(workspace, rules_declaring("set"), AS_OF)
        assert stored(workspace) == ("VARCHAR[]", [["x", "dbt"], ["y"], None])
        assert workspace.scores("account").column("icp_code").to_pylist() == ["big", None, None]


def test_reading_with_changed_rules_types_the_columns_without_writing(tmp_path):
    path = tmp_path / "w.duckdb"
    with store.Store(path) as workspace:
        ingest(workspace, rules_declaring("number"), pa.table({"account_id": ["a1", "a2"], "size": [51.0, 3.0]}),
                     None, AS_OF)
    before = path.read_bytes()
    with store.Store(path, read_only=True) as workspace:
        accounts = workspace.records("account", schema=rules_declaring("int").model.schema)
    assert accounts.schema.field("size").type == pa.int64() and accounts.column("size").to_pylist() == [51, 3]
    assert path.read_bytes() == before


# ---- item 15: an undeclared column changes type between files --------------------------------


@pytest.mark.parametrize("value, stored_as, shown", [
    ({"x": 1}, "STRUCT(x BIGINT)", "{'x': 1}"),
    (["p", "q"], "VARCHAR[]", "['p', 'q']"),
])
def test_an_undeclared_column_of_another_type_names_the_column_and_the_file(tmp_path, value, stored_as, shown):
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "rules.ust").write_text(rules_text("int"))
    db = tmp_path / "w.duckdb"
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text(json.dumps({"account_id": "a1", "note": "hello"}) + "\n")
    second.write_text(json.dumps({"account_id": "a2", "note": value}) + "\n")
    runner = CliRunner()
    ingest = ["ingest", str(rules_dir), "--db", str(db), "--as-of", AS_OF.isoformat(), "--accounts"]
    assert runner.invoke(cli, [*ingest, str(first)]).exit_code == 0
    result = runner.invoke(cli, [*ingest, str(second)])
    assert result.exit_code == 1
    message = result.output.strip().splitlines()[-1]
    for part in (str(second), "`note`", "stored as VARCHAR", stored_as, "'a2'", shown):
        assert part in message
    assert "transaction is aborted" not in result.output
    with store.Store(db, read_only=True) as workspace:
        assert workspace.records("account").column("note").to_pylist() == ["hello"]


@pytest.mark.parametrize("empty, first, stored_as", [
    (pa.nulls(1), pa.array(["hello"]), "VARCHAR"),
    (pa.array([[]], pa.list_(pa.null())), pa.array([["hello"]]), "VARCHAR[]"),
])
def test_a_column_first_seen_empty_takes_the_type_of_its_first_values(tmp_path, empty, first, stored_as):
    rules = rules_declaring("int")
    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, rules, pa.table({"account_id": ["a1"], "note": empty}), None, AS_OF)
        ingest(workspace, rules, pa.table({"account_id": ["a2"], "note": first}), None, AS_OF)
        assert stored(workspace, "note") == (stored_as, [empty[0].as_py(), first[0].as_py()])


# ---- item 11: a damaged workspace -------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace_bytes(tmp_path_factory) -> bytes:
    """A real workspace: sample accounts and leads ingested, with outcomes."""
    path = tmp_path_factory.mktemp("good") / "w.duckdb"
    accounts, leads = sample.generate(300, seed=3)
    outcomes = pa.table({"lead_id": leads.column("lead_id")[:20], "outcome": ["replied"] * 20,
                         "timestamp": ["2026-11-20"] * 20})
    with Workspace(path) as workspace:
        workspace.ingest(accounts, leads, outcomes=outcomes, rules=ROOT / "rules", as_of=AS_OF)
    return path.read_bytes()


def _damaged(data: bytes, how: str) -> bytes:
    third = len(data) // 3
    if how == "truncated":
        return data[: len(data) // 2]
    if how == "garbled in the middle":
        return data[:third] + bytes(range(256)) * (third // 256) + data[third + third // 256 * 256:]
    if how == "garbled first block":  # after the three 4 KB headers: the catalog, read on opening
        return data[:12400] + b"\xab" * 64 + data[12464:]
    return b"\x13" * 4096 + data[4096:]  # garbled header


@pytest.mark.parametrize("how", ["truncated", "garbled in the middle", "garbled first block", "garbled header"])
def test_a_damaged_workspace_is_named_and_left_untouched(tmp_path, workspace_bytes, how):
    path = tmp_path / "w.duckdb"
    damaged = _damaged(workspace_bytes, how)
    path.write_bytes(damaged)
    (tmp_path / "a.csv").write_text("account_id,industry\na1,software\n")
    rules, db, when = str(ROOT / "rules"), ["--db", str(path)], ["--as-of", AS_OF.isoformat()]
    runner = CliRunner()
    for command in (["ingest", rules, "--accounts", str(tmp_path / "a.csv"), *db, *when],
                    ["publish", rules, "--yes", *db],
                    ["refresh", *db],
                    ["requalify", "--lead", "l1", *db],
                    ["status", *db],
                    ["history", *db],
                    ["score", rules, "--out", str(tmp_path / "out.csv"), *db, *when],
                    ["export", "--out", str(tmp_path / "export.csv"), *db],
                    ["insights", *db]):
        result = runner.invoke(cli, command)
        assert result.exit_code == 1, (command, result.output)
        message = result.output.strip().splitlines()[-1]
        assert message.startswith(f"error: {path}: the workspace is damaged") and "backup" in message, message
        assert path.read_bytes() == damaged
        assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "w.duckdb"]  # no WAL, no output
    with pytest.raises(WorkspaceDamaged), store.Store(path):
        pass
    assert path.read_bytes() == damaged


def test_the_check_of_every_block_agrees_with_duckdbs_checksums(tmp_path, workspace_bytes):
    """Opening a workspace checks every block's checksum over the file's bytes (DuckDB reads
    every value only when that cannot confirm the file): it confirms a file DuckDB wrote, and
    not one with a byte changed in any block, nor one cut short."""
    import duckdb

    path = tmp_path / "w.duckdb"
    path.write_bytes(workspace_bytes)
    with duckdb.connect(str(path), read_only=True) as db:
        (block_size, blocks), = db.execute("SELECT block_size, total_blocks FROM pragma_database_size()").fetchall()

    def passes(data: bytes) -> bool:
        path.write_bytes(data)
        with path.open("rb", buffering=0) as file:
            return blocks_pass_checksums(file, block_size, blocks)

    assert blocks > 1 and passes(workspace_bytes)
    headers = len(workspace_bytes) - blocks * block_size
    for block, at in ((0, 8), (blocks // 2, block_size // 2), (blocks - 1, block_size - 1), (blocks - 1, 0)):
        changed = bytearray(workspace_bytes)
        changed[headers + block * block_size + at] ^= 0x01
        assert not passes(bytes(changed)), (block, at)
    assert not passes(workspace_bytes[:-block_size])


# ---- item 12: a workspace in a folder that cannot be written ----------------------------------


def _as_unprivileged_user() -> list[str]:
    """The command prefix that drops root's privileges (root ignores folder permissions)."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: root writes into read-only folders")
    prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import unstuck_dsl"], capture_output=True, timeout=60)
    if probe.returncode != 0:  # e.g. a checkout inside a private (0700) temporary folder
        pytest.skip("the unprivileged user cannot read this checkout or its virtualenv")
    return prefix


# The folder is checked on opening; should that check pass, DuckDB's failure to create its log
# file on the first commit says the same.
UNSTUCK = ["-m", "unstuck_dsl"]
UNSTUCK_WITHOUT_OPENING_CHECK = ["-c", "import os, runpy; os.access = lambda *a, **k: True; "
                                       "runpy.run_module('unstuck_dsl', run_name='__main__')"]


@pytest.mark.parametrize("unstuck", [UNSTUCK, UNSTUCK_WITHOUT_OPENING_CHECK], ids=["on opening", "on committing"])
def test_a_workspace_in_a_read_only_folder_says_the_folder_is_not_writable(unstuck):
    prefix = _as_unprivileged_user()
    folder = Path(tempfile.mkdtemp(prefix="unstuck-read-only-")).resolve()  # outside pytest's root-only folders
    try:
        path = folder / "w.duckdb"
        with store.Store(path):
            pass
        outcomes = folder / "outcomes.csv"
        outcomes.write_text("lead_id,outcome,timestamp\nl1,replied,2026-11-20\n")
        caches = folder / "caches"  # numba's and unstuck's, writable by the unprivileged user
        caches.mkdir(mode=0o777)
        caches.chmod(0o777)
        env = dict(os.environ, NUMBA_CACHE_DIR=str(caches), UNSTUCK_CACHE_DIR=str(caches))
        before = path.read_bytes()
        folder.chmod(0o555)
        path.chmod(0o666)  # the workspace itself is writable; its folder is not
        result = subprocess.run([*prefix, sys.executable, *unstuck, "ingest",
                                 str(ROOT / "rules"), "--outcomes", str(outcomes), "--db", str(path)],
                                capture_output=True, text=True, timeout=300, cwd=folder, env=env)
        assert result.returncode == 1, result.stderr
        assert result.stderr.strip().splitlines()[-1] == (
            f"error: {path}: cannot write to the workspace: the folder {folder} is not writable "
            "(DuckDB keeps a log file, w.duckdb.wal, beside the workspace)")
        assert path.read_bytes() == before
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


# ---- item 16: settings ------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-1", "nan", ""])
def test_a_malformed_busy_wait_is_one_line_naming_the_setting(tmp_path, monkeypatch, value):
    db = tmp_path / "w.duckdb"
    with store.Store(db):
        pass
    monkeypatch.setenv("UNSTUCK_BUSY_WAIT", value)
    result = CliRunner().invoke(cli, ["insights", "--db", str(db)])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: UNSTUCK_BUSY_WAIT must be a number of seconds ≥ 0, got {value!r}"


def test_a_malformed_busy_wait_does_not_stop_the_command_line_from_starting(tmp_path):
    db = tmp_path / "w.duckdb"
    with store.Store(db):
        pass
    env = dict(os.environ, UNSTUCK_BUSY_WAIT="abc")
    result = subprocess.run([sys.executable, "-m", "unstuck_dsl", "insights", "--db", str(db)],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == "error: UNSTUCK_BUSY_WAIT must be a number of seconds ≥ 0, got 'abc'"


# ---- item 21: record columns named like score columns ------------------------------------------


@pytest.mark.parametrize("column", ["icp_score", "persona_code", "as_of"])
def test_a_lead_column_named_like_a_score_column_is_refused_at_ingest(tmp_path, column):
    leads = tmp_path / "leads.csv"
    leads.write_text(f"lead_id,account_id,title,{column}\nl1,a1,VP Sales,42\n")
    db = tmp_path / "w.duckdb"
    result = CliRunner().invoke(cli, ["ingest", str(ROOT / "rules"), "--leads", str(leads), "--db", str(db)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"error: {leads}: column `{column}` is reserved for scores (outputs put the scores under that name); "
        "rename it")


def test_an_account_column_named_like_a_score_column_is_refused_at_ingest(tmp_path):
    with store.Store(tmp_path / "w.duckdb") as workspace:
        with pytest.raises(DataError, match="column `icp_code` is reserved for scores"):
            ingest(workspace, rules_declaring("int"), pa.table({"account_id": ["a1"], "icp_code": ["x"]}),
                         None, AS_OF)


def test_exported_leads_never_carry_two_headers_with_one_name(tmp_path):
    accounts, leads = sample.generate(30, seed=4)
    path = tmp_path / "w.duckdb"
    with store.Store(path) as workspace:
        ingest(workspace, unstuck_dsl.compile(ROOT / "rules"), accounts, leads, AS_OF)
        table = workspace.with_scores("lead")
        assert len(table.column_names) == len(set(table.column_names))
        assert table.num_rows == leads.num_rows
        assert {"icp_score", "persona_code", "title"} <= set(table.column_names)
        workspace.db.execute("ALTER TABLE leads ADD COLUMN icp_score INTEGER")  # a workspace made before the rule
    with store.Store(path) as workspace:
        with pytest.raises(DataError, match=f"{path}: the stored leads: column `icp_score` is reserved for scores"):
            workspace.with_scores("lead")


def test_the_leads_a_change_touches_are_the_same_found_one_id_at_a_time_or_by_a_join(tmp_path):
    """`affected_lead_ids` looks up a few ids one equality each and more by a join: both answers
    are `affected_leads`' ids (a changed account's leads and the changed leads)."""
    accounts, leads = sample.generate(60, seed=5)
    with store.Store(tmp_path / "w.duckdb") as workspace:
        ingest(workspace, unstuck_dsl.compile(ROOT / "rules"), accounts, leads, AS_OF)
        none = pa.nulls(0, pa.string())
        for few in (1, 3, store.FEW_IDS + 10):
            changed_accounts = accounts.column("account_id").combine_chunks()[:few]
            changed_leads = leads.column("lead_id").combine_chunks()[-few:]
            for pair in ((changed_accounts, none), (none, changed_leads), (changed_accounts, changed_leads)):
                want = sorted(workspace.affected_leads(*pair).column("lead_id").to_pylist())
                assert want and workspace.affected_lead_ids(*pair) == want
