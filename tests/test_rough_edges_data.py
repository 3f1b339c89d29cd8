"""Inputs that offer a choice where a user expects one (absent columns, undeclared signal types)
and data errors a user can read (issue 13, items 11 and 13)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unstuck_dsl
from unstuck_dsl import engagement
from unstuck_dsl.data import DataError

AS_OF = "2026-11-26"
RULES = """
account fields {
  industry: category
  employees: int
  tech_stack: open set
}
lead fields { title: text }
icp saas "SaaS" {
  score 5 "Snowflake": tech_stack has "Snowflake"
  score 3 "Big": employees >= 100
  filter "Industry": industry == "software"
  persona vp "VP" { score 1 "VP": title like "vp*" }
}
engagement {
  signal email_reply weight 10 half_life 14 days
  signal meeting weight 25 half_life 2 weeks
  stage cool below 20, warm below 50, hot
}
"""
ACCOUNTS_CSV = ("account_id,industry,employees,tech_stack\n"
                "a1,software,240,Snowflake; dbt\n"
                "a2,software,5,Okta\n"
                "a3,retail,900,\n")
LEADS_CSV = "lead_id,account_id,title\nl1,a1,VP Sales\nl2,a2,Engineer\n"


@pytest.fixture(scope="module")
def rules():
    return unstuck_dsl.compile(RULES)


def _write(path, text):
    path.write_text(text)
    return str(path)


def _scores(result):
    return result.accounts.column("icp_score").to_pylist(), result.leads.column("persona_score").to_pylist()


# ---- item 11: a declared column the input lacks ----------------------------------------------


def _without(csv_text: str, column: str) -> str:
    """The CSV with one column taken out."""
    rows = [line.split(",") for line in csv_text.splitlines()]
    at = rows[0].index(column)
    return "\n".join(",".join(cells[:at] + cells[at + 1:]) for cells in rows) + "\n"


def _emptied(csv_text: str, column: str) -> str:
    """The CSV with one column's cells emptied (unknown in every record)."""
    rows = [line.split(",") for line in csv_text.splitlines()]
    at = rows[0].index(column)
    return "\n".join(",".join(c if i != at or n == 0 else "" for i, c in enumerate(cells))
                     for n, cells in enumerate(rows)) + "\n"


def test_absent_declared_columns_are_refused_unless_asked_to_read_them_as_unknown(rules, tmp_path):
    accounts = _write(tmp_path / "accounts.csv", _without(_without(ACCOUNTS_CSV, "employees"), "tech_stack"))
    leads = _write(tmp_path / "leads.csv", _without(LEADS_CSV, "title"))
    with pytest.raises(DataError, match=r"accounts.csv: missing columns `employees`, `tech_stack` \(the rules read them\)"):
        rules.score(accounts, leads, as_of=AS_OF)
    result = rules.score(accounts, leads, as_of=AS_OF, missing_columns="unknown")
    empty = rules.score(_write(tmp_path / "empty_accounts.csv", _emptied(_emptied(ACCOUNTS_CSV, "employees"), "tech_stack")),
                        _write(tmp_path / "empty_leads.csv", _emptied(LEADS_CSV, "title")), as_of=AS_OF)
    assert _scores(result) == _scores(empty)
    assert result.dataset.missing_columns == {"account": ("employees", "tech_stack"), "lead": ("title",)}
    assert result.dataset.missing_column_warnings() == [
        f"{accounts}: missing columns `employees`, `tech_stack`; the rules read them as unknown in every record",
        f"{leads}: missing column `title`; the rules read it as unknown in every record"]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "arrow"])
def test_absent_columns_read_as_unknown_in_every_format(rules, tmp_path, fmt):
    table = pa.table({"account_id": ["a1", "a2"], "industry": ["software", "software"], "employees": [240, 5]})
    source = table
    if fmt == "parquet":
        source = str(tmp_path / "accounts.parquet")
        pq.write_table(table, source)
    elif fmt == "jsonl":
        source = _write(tmp_path / "accounts.jsonl", "".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    result = rules.score(source, as_of=AS_OF, missing_columns="unknown")
    assert result.dataset.missing_columns == {"account": ("tech_stack",)}
    assert result.accounts.column("icp_score").to_pylist() == [
        rules.score(table.append_column("tech_stack", pa.nulls(2, pa.list_(pa.string()))),
                    as_of=AS_OF).accounts.column("icp_score")[i].as_py() for i in range(2)]


def test_a_flat_lead_file_lacking_columns_is_named_once(rules, tmp_path):
    flat = _write(tmp_path / "flat.csv", "lead_id,account_id,industry\nl1,a1,software\nl2,a1,software\n")
    dataset = rules.load(leads=flat, missing_columns="unknown")
    assert dataset.missing_columns == {"account": ("employees", "tech_stack"), "lead": ("title",)}
    assert dataset.missing_column_warnings() == [
        f"{flat}: missing columns `employees`, `tech_stack`, `title`; the rules read them as unknown in every record"]


def test_ids_stay_required_when_absent_columns_read_as_unknown(rules, tmp_path):
    no_account_id = _write(tmp_path / "accounts.csv", "industry\nsoftware\n")
    with pytest.raises(DataError, match="missing column `account_id`"):
        rules.load(no_account_id, missing_columns="unknown")
    accounts = _write(tmp_path / "ok.csv", ACCOUNTS_CSV)
    with pytest.raises(DataError, match="missing column `account_id`"):
        rules.load(accounts, _write(tmp_path / "leads.csv", "lead_id,title\nl1,VP\n"), missing_columns="unknown")
    with pytest.raises(DataError, match="missing column `lead_id`"):
        rules.load(accounts, _write(tmp_path / "leads2.csv", "account_id,title\na1,VP\n"), missing_columns="unknown")


def test_a_complete_input_reports_no_missing_columns(rules, tmp_path):
    dataset = rules.load(_write(tmp_path / "a.csv", ACCOUNTS_CSV), _write(tmp_path / "l.csv", LEADS_CSV),
                         missing_columns="unknown")
    assert dataset.missing_columns == {} and dataset.missing_column_warnings() == []


def test_an_unknown_missing_columns_mode_is_refused(rules, tmp_path):
    with pytest.raises(ValueError, match="missing_columns is 'skip'; use one of: error, unknown"):
        rules.load(_write(tmp_path / "a.csv", ACCOUNTS_CSV), missing_columns="skip")


# ---- item 11: signals of undeclared types ----------------------------------------------------

SIGNALS = pa.table({
    "lead_id": ["l1", "l1", "l1", "l2", "l1", None],
    "account_id": [None, None, None, None, None, "a2"],
    "signal": ["meeting", "newsletter", "webinar", "newsletter", "email_reply", "meeting"],
    "timestamp": ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24", "2026-11-25"],
})
DECLARED_ROWS = [0, 4, 5]


def test_undeclared_signal_types_are_left_out_and_counted_when_asked(rules, tmp_path):
    accounts, leads = _write(tmp_path / "a.csv", ACCOUNTS_CSV), _write(tmp_path / "l.csv", LEADS_CSV)
    skipped = rules.score(accounts, leads, as_of=AS_OF, signals=SIGNALS, skip_unknown_signals=True)
    declared = rules.score(accounts, leads, as_of=AS_OF, signals=SIGNALS.take(DECLARED_ROWS))
    for table in ("accounts", "leads"):
        assert getattr(skipped, table).column("engagement_score").to_pylist() == \
            getattr(declared, table).column("engagement_score").to_pylist()
    assert skipped.skipped_signals == {"newsletter": 2, "webinar": 1}
    assert declared.skipped_signals == {}
    assert engagement.skipped_signals_warning(skipped.skipped_signals) == \
        "skipped 3 signals of undeclared types: newsletter 2, webinar 1"


def test_undeclared_signal_types_are_refused_by_default_with_every_undeclared_row_counted(rules, tmp_path):
    path = tmp_path / "signals.csv"
    SIGNALS.to_pandas().to_csv(path, index=False)
    with pytest.raises(DataError, match=r"signals.csv: column `signal`: 'newsletter' is not a declared signal type; "
                                        r"row 2 \(declared: email_reply, meeting\); "
                                        r"in all 3 signals of undeclared types: newsletter 2, webinar 1$"):
        engagement.read_signals(str(path), rules.model.engagement)


def test_errors_after_skipped_signals_name_the_row_in_the_file(rules):
    signals = pa.table({"lead_id": ["l1", "l1", "l1"], "signal": ["newsletter", "meeting", "meeting"],
                        "timestamp": ["2026-11-20", "2026-11-21", "yesterday"]})
    with pytest.raises(DataError, match=r"column `timestamp`: expected a date or time; row 3 \(value 'yesterday'\)"):
        engagement.read_signals(signals, rules.model.engagement, skip_unknown_signals=True)
    no_id = pa.table({"lead_id": ["l1", None], "signal": ["newsletter", "meeting"], "timestamp": ["2026-11-20"] * 2})
    with pytest.raises(DataError, match="row 2 names neither a lead_id nor an account_id"):
        engagement.read_signals(no_id, rules.model.engagement, skip_unknown_signals=True)


def test_a_signal_without_a_type_is_refused_even_when_skipping(rules):
    signals = pa.table({"lead_id": ["l1", "l1"], "signal": ["meeting", None], "timestamp": ["2026-11-20"] * 2})
    with pytest.raises(DataError, match="column `signal` is empty in row 2; every signal has a type"):
        engagement.read_signals(signals, rules.model.engagement, skip_unknown_signals=True)


def test_read_signals_gives_a_workspace_the_declared_rows_as_read(rules):
    read = engagement.read_signals(SIGNALS.append_column("source", pa.array(list("abcdef"))),
                                   rules.model.engagement, skip_unknown_signals=True)
    assert read.rows.column_names == [*SIGNALS.column_names, "source"]
    assert read.rows.column("source").to_pylist() == ["a", "e", "f"]
    assert read.checked.num_rows == 3 and read.skipped == {"newsletter": 2, "webinar": 1}


# ---- item 13: error text ---------------------------------------------------------------------


def test_data_errors_show_plain_python_values_not_numpy(rules, tmp_path):
    path = str(tmp_path / "accounts.parquet")
    for employees, problem in ((10.5, "expected a whole number"), (1e19, "whole number out of range")):
        pq.write_table(pa.table({"account_id": ["a1"], "industry": ["software"], "employees": [employees],
                                 "tech_stack": [["dbt"]]}), path)
        with pytest.raises(DataError) as error:
            rules.load(path)
        assert str(error.value) == f"{path}: column `employees` (int): {problem}; row 1 (value {employees!r})"
        assert "np." not in str(error.value)


def _tech_stacks(dataset):
    column = dataset.accounts.columns["tech_stack"]
    return [column.python_value(i) for i in range(dataset.accounts.n)]


def test_set_columns_read_semicolon_text_in_every_format(rules, tmp_path):
    rows = {"account_id": ["a1", "a2", "a3"], "industry": ["software"] * 3, "employees": [1, 2, 3],
            "tech_stack": ["Snowflake; dbt", " Okta ;", None]}
    expected = [frozenset({"Snowflake", "dbt"}), frozenset({"Okta"}), None]
    csv_path = _write(tmp_path / "a.csv", "account_id,industry,employees,tech_stack\n"
                                          "a1,software,1,Snowflake; dbt\na2,software,2, Okta ;\na3,software,3,\n")
    parquet_path = str(tmp_path / "a.parquet")  # read dictionary-encoded: each distinct text split once
    pq.write_table(pa.table(rows), parquet_path)
    jsonl_path = _write(tmp_path / "a.jsonl", "".join(json.dumps(r) + "\n" for r in pa.table(rows).to_pylist()))
    for source in (csv_path, parquet_path, jsonl_path, pa.table(rows)):
        assert _tech_stacks(rules.load(source)) == expected, source


def test_a_set_column_of_another_type_says_what_a_set_is(rules, tmp_path):
    path = str(tmp_path / "a.parquet")
    pq.write_table(pa.table({"account_id": ["a1"], "industry": ["software"], "employees": [1], "tech_stack": [7]}), path)
    with pytest.raises(DataError) as error:
        rules.load(path)
    assert str(error.value) == (f"{path}: column `tech_stack` (open set): expected set, found int64 (a set is a list "
                                "column, or text with members separated by `;`); row 1 (value 7)")
