"""The data layer: every input format, typed encoding, nulls, sets of any size, clear errors."""

from __future__ import annotations

import datetime as dt
import json
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import unstuck_dsl
from unstuck_dsl import data
from unstuck_dsl.data import DataError

from cli_support import ROOT

RULES = """
account fields {
  industry: category
  employees: int
  arr_usd: number
  tech_stack: open set
  stage: ordinal("Seed", "Series A", "Series B")
  founded_on: date
  is_competitor: bool
}
lead fields { title: text }
icp saas "SaaS" {
  score 5 "Snowflake": tech_stack has "Snowflake"
  score 3 "Big": employees >= 100
  score 2 "Revenue": arr_usd > 1000000
  score 1 "Late": stage >= "Series A"
  score 1 "Old": founded_on before 2020-01-01
  filter "Industry": industry == "software"
  exclude "Competitor": is_competitor
  persona vp "VP" { score 1 "VP": title like "vp*" }
}
"""

ACCOUNT_ROWS = [
    {"account_id": "a1", "industry": "software", "employees": 240, "arr_usd": 2e6, "tech_stack": ["Snowflake", "Okta"],
     "stage": "Series B", "founded_on": dt.date(2015, 3, 1), "is_competitor": False},
    {"account_id": "a2", "industry": "software", "employees": None, "arr_usd": None, "tech_stack": None,
     "stage": None, "founded_on": None, "is_competitor": None},
    {"account_id": "a3", "industry": "retail", "employees": 5, "arr_usd": 10.5, "tech_stack": [],
     "stage": "Seed", "founded_on": dt.date(2024, 1, 1), "is_competitor": True},
]
LEAD_ROWS = [
    {"lead_id": "l1", "account_id": "a1", "title": "VP Sales"},
    {"lead_id": "l2", "account_id": "a2", "title": None},
    {"lead_id": "l3", "account_id": "missing", "title": "VP"},
]
EXPECTED_SCORES = [100, 0, None]


@pytest.fixture(scope="module")
def rules():
    return unstuck_dsl.compile(RULES)


def _csv_text(rows):
    columns = list(rows[0])
    lines = [",".join(columns)]
    for row in rows:
        cells = []
        for c in columns:
            v = row[c]
            if v is None:
                cells.append("")
            elif isinstance(v, list):
                cells.append(";".join(v) if v else "")
            elif isinstance(v, bool):
                cells.append("true" if v else "false")
            else:
                cells.append(str(v))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def _scores(result):
    return result.accounts.column("icp_score").to_pylist()


def test_list_of_dicts_arrow_pandas_polars_give_the_same_scores(rules):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    table = pa.Table.from_pylist(ACCOUNT_ROWS)
    for source in (ACCOUNT_ROWS, table, table.to_batches()[0], pl.from_arrow(table)):
        assert _scores(rules.score(source, as_of="2026-11-26")) == EXPECTED_SCORES
    frame = pd.DataFrame({"account_id": ["a1"], "industry": ["software"], "employees": [240], "arr_usd": [2e6],
                          "tech_stack": [["Snowflake"]], "stage": ["Series B"],
                          "founded_on": [dt.date(2015, 3, 1)], "is_competitor": [False]})
    assert _scores(rules.score(frame, as_of="2026-11-26")) == [100]


def test_csv_parquet_jsonl_files(rules, tmp_path):
    csv_path = tmp_path / "accounts.csv"
    csv_path.write_text(_csv_text(ACCOUNT_ROWS))
    parquet_path = tmp_path / "accounts.parquet"
    pq.write_table(pa.Table.from_pylist(ACCOUNT_ROWS), parquet_path)
    jsonl_path = tmp_path / "accounts.jsonl"
    jsonl_path.write_text("\n".join(json.dumps(r, default=str) for r in ACCOUNT_ROWS) + "\n")
    for path in (csv_path, parquet_path, jsonl_path):
        assert _scores(rules.score(str(path), as_of="2026-11-26")) == EXPECTED_SCORES, path


def test_csv_empty_set_cell_is_unknown_not_empty(rules, tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("account_id,industry,employees,arr_usd,tech_stack,stage,founded_on,is_competitor\n"
                    "a1,software,10,1,,Seed,2024-01-01,false\n")
    table = rules.load(str(path)).accounts
    assert table.record(0)["tech_stack"] is None


def test_flat_lead_table_carries_account_columns(rules):
    accounts = {r["account_id"]: r for r in ACCOUNT_ROWS}
    flat = [{**accounts[lead["account_id"]], **lead} for lead in LEAD_ROWS[:2]]
    result = rules.score(leads=flat, as_of="2026-11-26")
    assert result.leads.column("icp_score").to_pylist() == [100, 0]
    # A Persona without filters takes every lead of its ICP; an unknown title earns nothing.
    assert result.leads.column("persona_code").to_pylist() == ["vp", "vp"]
    assert result.leads.column("persona_score").to_pylist() == [100, 0]
    assert result.accounts.column("account_id").to_pylist() == ["a1", "a2"]


def test_lead_whose_account_is_missing_has_no_icp(rules):
    result = rules.score(ACCOUNT_ROWS, LEAD_ROWS, as_of="2026-11-26")
    row = result.leads.to_pylist()[2]
    assert row["lead_id"] == "l3" and row["icp_code"] is None and row["persona_code"] is None


def test_nan_number_is_unknown(rules):
    rows = [dict(ACCOUNT_ROWS[0], arr_usd=float("nan"))]
    explanation = rules.score(rows, as_of="2026-11-26").explain(account_id="a1")
    revenue = next(r for r in explanation.icps[0].rows if r.name == "Revenue")
    assert revenue.value == "unknown" and revenue.outcome is None


def test_small_set_dictionary_is_a_bitset_large_one_is_csr(rules):
    small = rules.load(ACCOUNT_ROWS).accounts.columns["tech_stack"]
    assert small.encoding == "bitset"
    many = [dict(ACCOUNT_ROWS[0], account_id=f"x{i}", tech_stack=[f"tool{i}", f"tool{i + 1}"]) for i in range(400)]
    many[123]["tech_stack"].append("Snowflake")
    big = rules.load(many).accounts.columns["tech_stack"]
    assert big.encoding == "csr" and len(big.dictionary) > data.BITSET_MAX_VALUES
    scores = _scores(rules.score(many, as_of="2026-11-26"))
    assert scores[123] == 100 and scores[0] == 58  # without Snowflake: 7 / 12 → 58.33 → 58


def test_bitset_spans_several_words():
    rules = unstuck_dsl.compile(RULES)
    rows = [dict(ACCOUNT_ROWS[0], account_id=f"x{i}", tech_stack=[f"t{i}"]) for i in range(150)]
    rows[149]["tech_stack"] = ["t149", "Snowflake"]  # Snowflake gets code 150: third word
    column = rules.load(rows).accounts.columns["tech_stack"]
    assert column.encoding == "bitset" and column.values.shape[1] == 3
    assert _scores(rules.score(rows, as_of="2026-11-26"))[149] == 100


def test_a_slice_of_a_table_encodes_only_its_own_set_members(rules):
    """A page of a larger table (a slice shares its parent's list members) is encoded as if it
    were copied out: its dictionary holds only its members, and it scores the same."""
    rows = [dict(ACCOUNT_ROWS[0], account_id=f"x{i}", tech_stack=[f"only-in-{i}", "Snowflake"] if i >= 40 else [f"t{i}"])
            for i in range(60)]
    table = pa.Table.from_pylist(rows)
    page = table.slice(40, 20)
    column = rules.load(page).accounts.columns["tech_stack"]
    assert sorted(column.dictionary) == sorted({"Snowflake", *(f"only-in-{i}" for i in range(40, 60))})
    copied = pa.Table.from_pylist(page.to_pylist(), schema=page.schema)
    assert _scores(rules.score(page, as_of="2026-11-26")) == _scores(rules.score(copied, as_of="2026-11-26")) \
        == [100] * 20


@pytest.mark.parametrize("column, value, expected", [
    ("employees", "lots", "column `employees` (int): expected a whole number; row 2 (value 'lots')"),
    ("employees", "12.5", "column `employees` (int): expected a whole number; row 2"),
    ("arr_usd", "1M", "column `arr_usd` (number): expected a number; row 2 (value '1M')"),
    ("founded_on", "31/12/2020", "column `founded_on` (date): expected a date (YYYY-MM-DD); row 2"),
    ("stage", "Series Z", "column `stage` (ordinal(\"Seed\", \"Series A\", \"Series B\")): \"Series Z\" is not a level"),
    ("is_competitor", "maybe", "column `is_competitor` (bool): expected true or false; row 2"),
])
def test_bad_csv_value_names_column_and_row(rules, tmp_path, column, value, expected):
    rows = [dict(ACCOUNT_ROWS[0]), dict(ACCOUNT_ROWS[0], account_id="a2")]
    rows[1][column] = value
    path = tmp_path / "accounts.csv"
    path.write_text(_csv_text(rows))
    with pytest.raises(DataError) as error:
        rules.score(str(path), as_of="2026-11-26")
    assert expected in str(error.value)


def test_wrong_arrow_type_names_expected_and_found(rules):
    rows = [dict(r) for r in ACCOUNT_ROWS]
    table = pa.Table.from_pylist(rows).set_column(3, "arr_usd", pa.array(["a", "b", "c"]))
    with pytest.raises(DataError, match=r"column `arr_usd` \(number\): expected a number; row 1"):
        rules.score(table, as_of="2026-11-26")
    table = pa.Table.from_pylist(rows).set_column(1, "industry", pa.array([1.5, 2.5, 3.5]))
    with pytest.raises(DataError, match=r"column `industry` \(category\): expected category, found double; row 1"):
        rules.score(table, as_of="2026-11-26")


def test_missing_column_is_named(rules):
    rows = [{k: v for k, v in r.items() if k != "employees"} for r in ACCOUNT_ROWS]
    with pytest.raises(DataError, match="missing column `employees`"):
        rules.score(rows, as_of="2026-11-26")


def test_duplicate_ids_are_refused(rules):
    rows = [ACCOUNT_ROWS[0], dict(ACCOUNT_ROWS[1], account_id="a1")]
    with pytest.raises(DataError, match=r"id 'a1' appears more than once \(rows 1 and 2\)"):
        rules.score(rows, as_of="2026-11-26")


@pytest.mark.parametrize("shared_hash", [False, True])
def test_a_repeated_id_is_found_across_pieces_and_told_from_a_shared_hash(monkeypatch, shared_hash):
    """The id index is built on hashes, piece by piece: a repeat in another piece is found with
    both rows, and ids that only share a hash (here every id does) are told apart by value."""
    from unstuck_dsl import keys

    if shared_hash:
        _, build, probe, _ = keys._compiled()

        def one_hash(offsets, data, out):
            out[:] = 7
        monkeypatch.setattr(keys, "_compiled", lambda: (None, build, probe, one_hash))
    pieces = [pa.array(["a1", "a2", "a3"]), pa.array(["a4", "a2", "a1"])]
    assert keys.IdIndex(pa.chunked_array(pieces)).repeated == (1, 4)
    assert keys.IdIndex(pa.chunked_array([pa.array([10, 11]), pa.array([12, 13])])).unique
    with pytest.raises(DataError, match=r"id 'a2' appears more than once \(rows 2 and 5\)"):
        data.check_unique(pa.chunked_array(pieces), "account_id", "accounts")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 420), max_size=600),
       st.sampled_from(["the table's order", "as drawn", "the table's order, then as drawn"]),
       st.sampled_from(["int64", "text"]))
def test_each_id_finds_its_row_whatever_order_the_ids_come_in(draws, order, kind):
    """Ids in the table's order are looked for where that order puts them (the row of the id
    before and the few after it), others through the hash table, switching within a batch once
    too many are elsewhere: either way each id finds its row, and an id the table lacks none."""
    from unstuck_dsl import keys

    stored = list(range(0, 420, 3))  # row k holds 3k: the others are not in the table
    probes = {"the table's order": sorted(draws), "as drawn": draws,
              "the table's order, then as drawn": sorted(draws[:len(draws) // 2]) + draws[len(draws) // 2:]}[order]

    def ids(values):
        return pa.array(values, pa.int64()) if kind == "int64" else pa.array([f"a{v}" for v in values], pa.string())

    row_of = {v: row for row, v in enumerate(stored)}
    assert keys.IdIndex(ids(stored)).rows_of(ids(probes)).tolist() == [row_of.get(v, -1) for v in probes]


@pytest.mark.parametrize("pieces", [
    [["a1", "a2"], ["a3"], ["a4", "a5", "a6"]],
    [["a1", "a2"], ["a3", "a2"], ["a1"]],  # a repeat across pieces, and a later one
    [[10, 11], [12, 13]],
    [[10, 11], [12, 10]],
    [[10, 11], ["12", "13"]],  # numbers, then text: the column is made text (data.id_column)
    [[10, 11], pa.array([12, 13], pa.int32())],  # two kinds of numbers: made text too
    [[], ["b"]],
    [],
])
@pytest.mark.parametrize("told", [0, -1, 1])  # the rows it is told it will be given, off by one or not
def test_an_index_grown_piece_by_piece_is_the_one_built_whole(pieces, told):
    """An account table's index grows as its batches are read (`IdIndex.growing`): once given the
    column whole it finds every id where the index built in one pass does, and the same repeat."""
    from unstuck_dsl import keys

    arrays = [p if isinstance(p, pa.Array) else pa.array(p, pa.int64() if p and isinstance(p[0], int) else pa.string())
              for p in pieces]
    column = data.id_column(arrays)
    grown = keys.IdIndex.growing(max(0, len(column) + told))
    for array in arrays:
        grown.add(array)
    grown = grown.finish(column)
    whole = keys.IdIndex(column)
    assert (grown.repeated, grown.is_number) == (whole.repeated, whole.is_number)
    if whole.unique:
        values = column.to_pylist()
        probes = pa.array(values + ([99] if whole.is_number else ["zz"]), column.type)
        expected = list(range(len(values))) + [-1]
        assert grown.rows_of(probes).tolist() == whole.rows_of(probes).tolist() == expected
        assert grown.row_of(values[-1] if values else "x") == whole.row_of(values[-1] if values else "x")


def test_an_account_file_read_in_batches_is_indexed_as_it_is_read(tmp_path, monkeypatch):
    """Accounts read from Parquet a batch at a time: each lead finds its account, and an id repeated
    in a later batch is refused with both rows."""
    import pyarrow.parquet as pq

    monkeypatch.setattr(data, "PARQUET_BATCH_ROWS", 3)
    path = tmp_path / "accounts.parquet"
    ids = [f"a{k}" for k in range(10)]
    pq.write_table(pa.table({"account_id": ids}), path, row_group_size=4)
    schema = data.Schema(())
    accounts = data.encode(path, schema, "account", [])
    assert accounts.index.rows_of(pa.array(["a9", "a0", "a5", "nope"])).tolist() == [9, 0, 5, -1]
    pq.write_table(pa.table({"account_id": ids + ["a4"]}), path, row_group_size=4)
    with pytest.raises(DataError, match=r"id 'a4' appears more than once \(rows 5 and 11\)"):
        data.encode(path, schema, "account", [])


@pytest.mark.parametrize("values", [[5, 9, 5, 9], ["a", "b", "c"], ["x", "y", "z", "y", "x"], [], [3, 3]])
@pytest.mark.parametrize("dictionary", [False, True])
def test_a_lead_table_is_checked_for_repeats_as_its_index_would_find_them(values, dictionary):
    """A lead table's ids are checked without building its index (a bitmap of hashes, then an
    index of the few ids that share a bit): the repeat found, rows and all, is the index's."""
    from unstuck_dsl import keys

    array = pa.array(values, pa.int64() if values and isinstance(values[0], int) else pa.string())
    array = array.dictionary_encode() if dictionary else array
    for ids in (array, pa.chunked_array([array.slice(0, 2), array.slice(2)], array.type)):
        assert keys.first_repeat(ids) == keys.IdIndex(ids).repeated


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 120), max_size=60), st.sampled_from(["as given", "sorted", "sorted, distinct"]),
       st.sampled_from(["int64", "text", "dictionary text"]), st.integers(1, 6))
def test_the_first_repeated_id_is_found_whatever_order_the_ids_come_in(values, order, kind, pieces):
    """Ids in increasing order repeat none and are only compared side by side; once one is out of
    order (text compares by bytes: "10" before "9"), the check hashes them all: either way the
    repeat found is the first id that repeats an earlier one, with that earlier row."""
    from unstuck_dsl import keys

    values = {"as given": values, "sorted": sorted(values), "sorted, distinct": sorted(set(values))}[order]
    array = pa.array(values, pa.int64()) if kind == "int64" else pa.array([str(v) for v in values], pa.string())
    array = array.dictionary_encode() if kind == "dictionary text" else array
    bounds = sorted({len(values) * k // pieces for k in range(pieces + 1)})
    ids = pa.chunked_array([array.slice(a, b - a) for a, b in zip(bounds, bounds[1:])] or [array], array.type)
    seen, expected = {}, (-1, -1)
    for row, value in enumerate(values):
        if value in seen:
            expected = (seen[value], row)
            break
        seen[value] = row
    assert keys.first_repeat(ids) == expected


@pytest.mark.parametrize("values", [["a", "b", "c"], ["x", "y", "z", "y", "x"], [7, 8, 7], [], ["q"]])
@pytest.mark.parametrize("counted_by_arrow", [0, 65_536])
def test_repeated_ids_are_refused_the_same_however_many_they_are(monkeypatch, values, counted_by_arrow):
    """A few ids are counted by Arrow's hash (no compiled pass to wait for), more by the bitmap
    pass: either way a table is refused exactly when an id repeats, naming its first two rows."""
    monkeypatch.setattr(data, "ARROW_COUNTED_IDS", counted_by_arrow)
    ids = pa.array(values, pa.int64() if values and isinstance(values[0], int) else pa.string())
    repeated = next(((values.index(v), k) for k, v in enumerate(values) if values.index(v) < k), None)
    if repeated is None:
        data.check_unique(ids, "account_id", "accounts")
        return
    with pytest.raises(DataError, match=rf"appears more than once \(rows {repeated[0] + 1} and {repeated[1] + 1}\)"):
        data.check_unique(ids, "account_id", "accounts")


def test_unknown_extension_and_missing_file(rules, tmp_path):
    with pytest.raises(DataError, match="unknown file type `.xlsx`"):
        rules.score(str(tmp_path / "accounts.xlsx"))
    with pytest.raises(DataError, match="no such file"):
        rules.score(str(tmp_path / "nope.csv"))


def test_parquet_is_read_in_batches(rules, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "PARQUET_BATCH_ROWS", 2)
    rows = [dict(ACCOUNT_ROWS[i % 3], account_id=f"a{i}") for i in range(7)]
    path = tmp_path / "accounts.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=2)
    seen = []
    original = data._Encoder.add

    def spy(self, array):
        seen.append(len(array))
        return original(self, array)

    monkeypatch.setattr(data._Encoder, "add", spy)
    result = rules.score(str(path), as_of="2026-11-26")
    assert max(seen) <= 2
    assert _scores(result) == [EXPECTED_SCORES[i % 3] for i in range(7)]


def test_a_lead_file_read_in_batches_finds_repeats_and_accounts_across_batches(rules, tmp_path, monkeypatch):
    """A lead file's ids are marked for the repeat check, and its leads' accounts found, batch by
    batch as it is read (batches of 2 in row groups of 3, each with its own dictionary pages): a
    repeat two batches apart is refused with both rows, and each lead's account row is the one
    found from the whole columns, -1 for an account not in the accounts."""
    monkeypatch.setattr(data, "PARQUET_BATCH_ROWS", 2)
    owners = ["a1", "a2", "missing", "a3", "a1", "a2", "a3", "a1"]
    leads = pa.table({"lead_id": [f"l{i}" for i in range(len(owners))], "account_id": owners,
                      "title": ["VP Sales"] * len(owners)})
    path = tmp_path / "leads.parquet"
    pq.write_table(leads, path, row_group_size=3)
    dataset = rules.load(ACCOUNT_ROWS, str(path))
    assert dataset.lead_account_rows.tolist() == [0, 1, -1, 2, 0, 1, 2, 0]
    assert dataset.lead_account_rows.tolist() == data.account_rows(dataset.leads.account_ids, dataset.accounts.ids).tolist()
    repeated = leads.set_column(0, "lead_id", pa.array(["l0", "l1", "l2", "l3", "l4", "l1", "l6", "l7"]))
    pq.write_table(repeated, path, row_group_size=3)
    with pytest.raises(DataError, match=r"id 'l1' appears more than once \(rows 2 and 6\)"):
        rules.load(ACCOUNT_ROWS, str(path))


def test_encoded_columns_have_the_documented_types(rules):
    table = rules.load(ACCOUNT_ROWS).accounts
    cols = table.columns
    assert cols["industry"].values.dtype == np.int32 and cols["industry"].values.tolist() == [0, 0, 1]
    assert cols["employees"].values.dtype == np.int64 and cols["employees"].valid.tolist() == [1, 0, 1]
    assert cols["arr_usd"].values.dtype == np.float64
    assert cols["stage"].values.tolist() == [2, -1, 0]  # level ranks
    assert cols["founded_on"].values.dtype == np.int32
    assert cols["founded_on"].values[0] == (dt.date(2015, 3, 1) - dt.date(1970, 1, 1)).days
    assert cols["is_competitor"].values.tolist() == [0, -1, 1]
    assert cols["tech_stack"].valid.tolist() == [1, 0, 1]


def test_a_batch_encoded_side_by_side_is_the_batch_encoded_column_by_column(rules, monkeypatch):
    """A large batch's columns, its accounts' index and its leads' accounts are made on several
    threads (`SIDE_BY_SIDE_ROWS`): the encoded tables are the ones made one column at a time, and
    of two bad columns the first is named, whichever thread was quicker."""
    accounts, leads = pa.Table.from_pylist(ACCOUNT_ROWS * 400), pa.Table.from_pylist(LEAD_ROWS * 400)
    accounts = accounts.set_column(0, "account_id", pa.array([f"a{k}" for k in range(accounts.num_rows)]))
    leads = leads.set_column(0, "lead_id", pa.array([f"l{k}" for k in range(leads.num_rows)]))
    made = {}
    for rows in (10 ** 9, 1):
        monkeypatch.setattr(data, "SIDE_BY_SIDE_ROWS", rows)
        made[rows] = rules.load(accounts, leads)
    one, side = made[10 ** 9], made[1]
    assert side.lead_account_rows.tolist() == one.lead_account_rows.tolist()
    for kind in ("accounts", "leads"):
        for name, column in getattr(one, kind).columns.items():
            other = getattr(side, kind).columns[name]
            assert np.array_equal(column.values, other.values) and list(column.dictionary or ()) == list(other.dictionary or ())
            assert column.valid is None or np.array_equal(column.valid, other.valid)
    assert side.accounts.index.rows_of(pa.array(["a7", "a1199", "nope"])).tolist() == [7, 1199, -1]
    bad = accounts.set_column(2, "employees", pa.array(["lots"] * accounts.num_rows))
    bad = bad.set_column(3, "arr_usd", pa.array(["much"] * accounts.num_rows))
    with pytest.raises(DataError, match=r"column `employees` \(int\): expected a whole number; row 1"):
        rules.load(bad)


@pytest.mark.parametrize("layout", ["bitset", "csr"])
def test_a_set_column_read_in_many_batches_is_the_column_read_in_one(rules, tmp_path, monkeypatch, layout):
    """A set column's batches become its bits (or its compacted lists) side by side at the end:
    read from Parquet seven records at a time, the column is the one made from the table whole."""
    if layout == "csr":
        monkeypatch.setattr(data, "BITSET_MAX_VALUES", 0)
    stacks = [["Snowflake", "Okta"], None, [], ["dbt"], ["Okta", None, "AWS"], ["Snowflake"]] * 9 + [["GCP"]]
    table = pa.table({"account_id": [f"a{k}" for k in range(len(stacks))], "tech_stack": stacks})
    path = tmp_path / "accounts.parquet"
    pq.write_table(table, path, row_group_size=10)
    whole = data.encode(table, rules.model.schema, "account", ["tech_stack"]).columns["tech_stack"]
    monkeypatch.setattr(data, "PARQUET_BATCH_ROWS", 7)
    batched = data.encode(path, rules.model.schema, "account", ["tech_stack"]).columns["tech_stack"]
    assert batched.encoding.value == whole.encoding.value == layout
    assert list(batched.dictionary) == list(whole.dictionary) == ["Snowflake", "Okta", "dbt", "AWS", "GCP"]
    assert np.array_equal(batched.values, whole.values) and np.array_equal(batched.valid, whole.valid)
    if layout == "csr":
        assert np.array_equal(batched.offsets, whole.offsets)


def test_calls_made_side_by_side_all_finish_before_the_first_error_in_order_is_raised():
    from unstuck_dsl.ahead import side_by_side

    finished = []

    def call(k: int, fails: bool):
        def run():
            if k == 1:
                threading.Event().wait(0.05)  # fails after call 2 has
            finished.append(k)
            if fails:
                raise ValueError(f"call {k}")
        return run

    with pytest.raises(ValueError, match="call 1"):
        side_by_side([call(0, False), call(1, True), call(2, True)])
    assert sorted(finished) == [0, 1, 2]


def test_calls_made_side_by_side_from_inside_side_by_side_run_one_by_one():
    """A step that makes steps of its own side by side does not wait on the pool it runs on."""
    from unstuck_dsl.ahead import side_by_side

    made = []

    def outer(k: int):
        return lambda: side_by_side([lambda: made.append((k, 0)), lambda: made.append((k, 1))])

    side_by_side([outer(k) for k in range(4)])
    assert sorted(made) == [(k, j) for k in range(4) for j in range(2)]


@pytest.mark.parametrize("maker", ["made_ahead", "made_in_order"])
def test_work_made_ahead_let_go_unfinished_does_not_wait_for_the_item_in_hand(maker):
    """A caller that stops early (an error in a later batch) lets go of its generator, which may
    then be closed by the garbage collector on any thread, inside Python's own thread machinery:
    waiting there for the item being made deadlocked the test suite. Closing it returns at once;
    the item in hand is finished on its own."""
    from unstuck_dsl import ahead

    started, released, done = threading.Event(), threading.Event(), threading.Event()
    safety = threading.Timer(30, released.set)  # (were closing to wait, the test would end, and fail, then)
    safety.start()

    def slow(k: int) -> int:
        if k == 1:
            started.set()
            released.wait()
            done.set()
        return k

    items = ahead.made_ahead(map(slow, range(3)), "test-ahead") if maker == "made_ahead" \
        else ahead.made_in_order(range(3), slow, "test-ahead", workers=1)
    assert next(items) == 0
    assert started.wait(30)  # item 1 is being made
    items.close()
    assert not released.is_set()
    released.set()
    safety.cancel()
    assert done.wait(30)


def test_parquet_with_small_row_groups_and_a_list_column_scores_like_the_table(tmp_path):
    """Row groups smaller than a batch: the set column's dictionary pages differ per row group."""
    from unstuck_dsl import sample

    accounts, leads = sample.generate(200)
    pq.write_table(accounts, tmp_path / "a.parquet", row_group_size=7)
    pq.write_table(leads, tmp_path / "l.parquet", row_group_size=11)
    rules = unstuck_dsl.compile(ROOT / "rules")
    from_files = rules.score(tmp_path / "a.parquet", tmp_path / "l.parquet", as_of="2026-11-26")
    in_memory = rules.score(accounts, leads, as_of="2026-11-26")
    assert from_files.accounts.equals(in_memory.accounts)
    for name in from_files.leads.column_names:
        assert from_files.leads.column(name).to_pylist() == in_memory.leads.column(name).to_pylist(), name
