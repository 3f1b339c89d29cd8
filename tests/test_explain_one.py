"""Explaining one record: reading only that record (pick.py) gives the drawer a whole run gives,
and a scored result finds any record by its id through its index."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from unstuck_dsl import api, pick, sample
from unstuck_dsl.data import DataError
from unstuck_dsl.keys import IdIndex

from cli_support import AS_OF, RULES, run


@pytest.fixture(scope="module")
def rules():
    return api.compile(RULES)


@pytest.fixture(scope="module")
def records():
    """Sample accounts and leads in shuffled order (ids unsorted), with some leads whose account
    is not in the accounts."""
    accounts, leads = sample.generate(120)
    rng = np.random.default_rng(3)
    accounts = accounts.take(pa.array(rng.permutation(accounts.num_rows)))
    leads = leads.take(pa.array(rng.permutation(leads.num_rows)))
    dropped = set(accounts.column("account_id").to_pylist()[:5])
    accounts = accounts.slice(5)
    return accounts, leads, dropped, sample.signals(leads)


def _write(table: pa.Table, path, kind: str):
    if kind == "parquet":  # many small row groups: the reader skips those that cannot hold the id
        # (not for the accounts: a full load cannot yet read a list column from such groups)
        pq.write_table(table, path, row_group_size=None if "tech_stack" in table.column_names else 37)
    elif kind == "csv":
        flat = table.set_column(table.column_names.index("tech_stack"), "tech_stack", pa.array(
            [None if v is None else ";".join(v) for v in table.column("tech_stack").to_pylist()], pa.string())) \
            if "tech_stack" in table.column_names else table
        pcsv.write_csv(flat, path)
    return str(path)


def _some(ids: list[str], k: int = 12) -> list[str]:
    return ids[:3] + ids[-3:] + ids[3:-3][:: max(1, (len(ids) - 6) // (k - 6))]


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_explaining_one_record_from_files_equals_the_whole_run(rules, records, tmp_path, kind):
    accounts, leads, dropped, _ = records
    accounts_path = _write(accounts, tmp_path / f"accounts.{kind}", kind)
    leads_path = _write(leads, tmp_path / f"leads.{kind}", kind)
    whole = rules.score(accounts_path, leads_path, as_of=AS_OF)
    lead_ids = leads.column("lead_id").to_pylist()
    orphans = [row["lead_id"] for row in leads.to_pylist() if row["account_id"] in dropped]
    assert orphans
    for lead_id in _some(lead_ids) + orphans[:2]:
        one = rules.explain_record(accounts_path, leads_path, lead_id=lead_id, as_of=AS_OF)
        assert one.to_dict() == whole.explain(lead_id=lead_id).to_dict()
        assert str(one) == str(whole.explain(lead_id=lead_id))
    for account_id in _some(accounts.column("account_id").to_pylist()):
        one = rules.explain_record(accounts_path, leads_path, account_id=account_id, as_of=AS_OF)
        assert one.to_dict() == whole.explain(account_id=account_id).to_dict()


def test_a_flat_lead_table_a_preview_and_signals_explain_as_the_whole_run(rules, records, tmp_path):
    accounts, leads, _, signals = records
    owner = pc.index_in(leads.column("account_id"), value_set=accounts.column("account_id"))
    kept = leads.filter(pc.is_valid(owner))
    rows = accounts.drop_columns(["account_id"]).take(owner.drop_null())
    flat = pa.Table.from_arrays(kept.columns + rows.columns, kept.column_names + rows.column_names)
    flat_path = str(tmp_path / "flat.parquet")
    pq.write_table(flat, flat_path)
    whole = rules.score(None, flat_path, as_of=AS_OF, preview=["ent_finserv"], signals=signals)
    for lead_id in _some(flat.column("lead_id").to_pylist()):
        one = rules.explain_record(None, flat_path, lead_id=lead_id, as_of=AS_OF, preview=["ent_finserv"],
                                   signals=signals)
        assert one.to_dict() == whole.explain(lead_id=lead_id, preview=True).to_dict()
    # An account's engagement counts the signals of its leads: explaining it reads them too.
    for account_id in _some(flat.column("account_id").unique().to_pylist()):
        one = rules.explain_record(None, flat_path, account_id=account_id, as_of=AS_OF, signals=signals)
        assert one.engagement is not None
        assert one.to_dict() == whole.explain(account_id=account_id).to_dict()


def test_integer_ids_are_found_by_their_text(rules, tmp_path):
    accounts, leads = sample.generate(30)
    numbered = {a: 1000 + k for k, a in enumerate(accounts.column("account_id").to_pylist())}
    accounts = accounts.set_column(0, "account_id", pa.array([numbered[a] for a in
                                                              accounts.column("account_id").to_pylist()], pa.int64()))
    leads = leads.set_column(1, "account_id", pa.array([numbered.get(a, 9) for a in  # 9: no such account
                                                        leads.column("account_id").to_pylist()], pa.int64()))
    accounts_path, leads_path = str(tmp_path / "a.parquet"), str(tmp_path / "l.parquet")
    pq.write_table(accounts, accounts_path)
    pq.write_table(leads, leads_path, row_group_size=7)
    whole = rules.score(accounts_path, leads_path, as_of=AS_OF)
    for account_id in ("1000", "1017", 1029):
        assert rules.explain_record(accounts_path, leads_path, account_id=account_id, as_of=AS_OF).to_dict() \
            == whole.explain(account_id=account_id).to_dict()
    lead_id = leads.column("lead_id")[11].as_py()
    assert rules.explain_record(accounts_path, leads_path, lead_id=lead_id, as_of=AS_OF).to_dict() \
        == whole.explain(lead_id=lead_id).to_dict()


def test_unknown_and_repeated_ids_are_refused(rules, records, tmp_path):
    accounts, leads, _, _ = records
    accounts_path = _write(accounts, tmp_path / "accounts.parquet", "parquet")
    leads_path = _write(leads, tmp_path / "leads.parquet", "parquet")
    with pytest.raises(api.ScoringError, match="unknown lead id 'L-nobody'"):
        rules.explain_record(accounts_path, leads_path, lead_id="L-nobody", as_of=AS_OF)
    with pytest.raises(api.ScoringError, match="unknown account id 'A-nobody'"):
        rules.explain_record(accounts_path, leads_path, account_id="A-nobody", as_of=AS_OF)
    with pytest.raises(api.ScoringError, match="no leads were scored"):
        rules.explain_record(accounts_path, None, lead_id="L1", as_of=AS_OF)
    twice = pa.concat_tables([accounts, accounts.slice(40, 1)])
    twice_path = _write(twice, tmp_path / "twice.parquet", "parquet")
    repeated = accounts.column("account_id")[40].as_py()
    with pytest.raises(DataError, match=f"id '{repeated}' appears more than once \\(rows 41 and {twice.num_rows}\\)"):
        rules.explain_record(twice_path, None, account_id=repeated, as_of=AS_OF)


def test_read_rows_returns_the_rows_asked_for_in_their_order(records, tmp_path):
    _, leads, _, _ = records
    path = _write(leads, tmp_path / "leads.parquet", "parquet")
    assert pq.ParquetFile(path).metadata.num_row_groups > 3
    rows = np.array([90, 3, 36, 37, 3, leads.num_rows - 1])
    columns = ["lead_id", "title", "seniority"]
    got = pick.read_rows(path, columns, rows, path)
    assert got.to_pylist() == leads.select(columns).take(pa.array(rows)).to_pylist()
    assert not pa.types.is_dictionary(got.schema.field("title").type)  # one record needs no dictionary
    from_memory = pick.read_rows(leads.select(columns).cast(pa.schema([("lead_id", pa.string()), (
        "title", pa.dictionary(pa.int32(), pa.string())), ("seniority", pa.string())])), columns, rows, "Table")
    assert from_memory.to_pylist() == got.to_pylist()
    assert pick.read_rows(path, columns, np.zeros(0, np.int64), path).num_rows == 0


def test_the_id_index_finds_every_record_and_only_those(records):
    accounts, leads, _, _ = records
    ids = leads.column("lead_id")
    chunked = pa.chunked_array([ids.slice(0, 100), ids.slice(100)])
    for column in (ids, chunked, chunked.dictionary_encode()):
        index = IdIndex(column)
        assert [index.row_of(v) for v in ids.to_pylist()] == list(range(len(ids)))
        assert index.row_of("L-nobody") is None and index.row_of("") is None
    numbers = IdIndex(pa.array([30, 4, 1000, 7]))
    assert [numbers.row_of(v) for v in ("30", 4, "1000", "7", "07")] == [0, 1, 2, 3, None]


def test_explain_command_reads_one_record_from_parquet(records, tmp_path):
    accounts, leads, _, _ = records
    accounts_path = _write(accounts, tmp_path / "accounts.parquet", "parquet")
    leads_path = _write(leads, tmp_path / "leads.parquet", "parquet")
    lead_id = leads.column("lead_id")[77].as_py()
    result = run("explain", RULES, "--accounts", accounts_path, "--leads", leads_path, "--lead", lead_id,
                 "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    whole = api.compile(RULES).score(accounts_path, leads_path, as_of=AS_OF)
    import json

    assert json.loads(result.output) == whole.explain(lead_id=lead_id).to_dict()


def test_row_groups_whose_statistics_exclude_the_id_are_skipped_not_missed(records, tmp_path):
    _, leads, _, _ = records
    ordered = leads.sort_by("lead_id")  # each row group then covers a narrow range of ids
    path = str(tmp_path / "sorted.parquet")
    pq.write_table(ordered, path, row_group_size=10)
    parquet = pq.ParquetFile(path)
    read = list(pick._parquet_id_batches(parquet, "lead_id", ordered.column("lead_id")[55].as_py()))
    assert [base for base, _ in read] == [50]  # one row group of many
    ids = ordered.column("lead_id").to_pylist()
    assert [pick.rows_with_id(path, "lead_id", i, path).tolist() for i in ids[::7]] == [[k] for k in range(0, len(ids), 7)]
    assert pick.rows_with_id(path, "lead_id", "L", path).tolist() == []
