"""Data safety (issue 11): careless or hostile input files are read exactly or refused with one
line naming the file, the column and the row (or line); never a silently different value."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unstuck_dsl
from unstuck_dsl import data
from unstuck_dsl.data import DataError

RULES = """
account fields {
  country: category
  employees: int
  founded_on: date
  tech_stack: set
}
lead fields { title: text }
icp saas "SaaS" {
  score 1 "Namibia": country == "NA"
  score 1 "Huge": employees >= 9007199254740993
  score 1 "Old": founded_on before 2020-01-01
  score 1 "Snowflake": tech_stack has "Snowflake"
  persona vp "VP" { score 1 "VP": title like "vp*" }
}
engagement {
  signal meeting weight 10 half_life 30 days
  stage cold below 5, warm
}
"""
HEADER = "account_id,country,employees,founded_on,tech_stack\n"


@pytest.fixture(scope="module")
def rules():
    return unstuck_dsl.compile(RULES)


def _csv(tmp_path, text: str, name: str = "accounts.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _column(rules, path, name, **options):
    table = rules.load(path, **options).accounts
    return [table.record(i)[name] for i in range(table.n)]


# ---- item 2: only an empty cell is unknown -------------------------------------------------------


def test_null_words_are_values_unless_the_user_names_them(rules, tmp_path):
    path = _csv(tmp_path, HEADER + 'NA,NA,1,,\n"None","NA",2,,\nA3,null,3,,\nA4,"",4,,\nA5,,5,,\n')
    assert _column(rules, path, "account_id") == ["NA", "None", "A3", "A4", "A5"]
    assert _column(rules, path, "country") == ["NA", "NA", "null", None, None]
    assert rules.score(path, as_of="2026-11-26").explain(account_id="NA").icps[0].score == 25
    assert data.read_table(path).column("country").to_pylist() == ["NA", "NA", "null", None, None]
    assert data.read_table(path, null_values=["null"]).column("country").to_pylist() == ["NA", "NA", None, None, None]
    with pytest.raises(DataError, match="column `account_id` is empty in row 1"):  # the user said NA is no value
        rules.load(path, null_values=["NA"])
    path = _csv(tmp_path, HEADER + 'A1,NA,1,,\nA2,"NA",2,,\nA3,null,3,,\nA4,N/A,4,,\n')
    assert _column(rules, path, "country", null_values=["NA", "null"]) == [None, None, None, "N/A"]


# ---- item 3: ints exactly -------------------------------------------------------------------------


def test_int_text_is_read_exactly_beside_decimal_spellings(rules, tmp_path):
    path = _csv(tmp_path, HEADER + "A1,US,9007199254740993,,\nA2,US,1.0,,\nA3,US,1e3,,\nA4,US,-12.000,,\n"
                                   "A5,US,9223372036854775807,,\nA6,US,NaN,,\n")
    assert _column(rules, path, "employees") == [9007199254740993, 1, 1000, -12, 2 ** 63 - 1, None]
    scores = rules.score(path, as_of="2026-11-26").accounts.column("icp_score").to_pylist()
    assert scores[:2] == [25, 0]  # 9007199254740992 (through float64) would not pass


def test_nan_in_an_int_column_is_unknown_alone_too(rules, tmp_path):
    path = _csv(tmp_path, HEADER + "A1,US,NaN,,\nA2,US,7,,\n")
    assert _column(rules, path, "employees") == [None, 7]


def test_int_text_that_is_not_an_exact_whole_number_is_refused(rules, tmp_path):
    for value, problem in [("1.5e0", "expected a whole number"), ("1_000", "expected a whole number"),
                           ("inf", "expected a whole number"), ("9223372036854775808", "whole number out of range"),
                           ("1e999999999", "whole number out of range")]:
        path = _csv(tmp_path, HEADER + "A1,US,1.0,,\nA2,US,2,,\nA3,US," + value + ",,\n")
        with pytest.raises(DataError, match=rf"column `employees` \(int\): {problem}; row 3 \(value '{value}'\)"):
            rules.load(path)


# ---- item 5: duplicate lead ids -------------------------------------------------------------------


def test_duplicate_lead_ids_are_refused_when_scoring(rules):
    accounts = [{"account_id": "A1", "country": "NA", "employees": 1, "founded_on": None, "tech_stack": None}]
    leads = [{"lead_id": "L1", "account_id": "A1", "title": "VP"}, {"lead_id": "L2", "account_id": "A1", "title": "VP"},
             {"lead_id": "L1", "account_id": "A1", "title": "CEO"}]
    with pytest.raises(DataError, match=r"column `lead_id`: id 'L1' appears more than once \(rows 1 and 3\)"):
        rules.score(accounts, leads, as_of="2026-11-26")
    flat = [dict(accounts[0], **lead) for lead in leads]
    with pytest.raises(DataError, match=r"^list: column `lead_id`: id 'L1' appears more than once \(rows 1 and 3\)"):
        rules.score(leads=flat, as_of="2026-11-26")


# ---- item 9: dictionaries stay in Arrow ----------------------------------------------------------


def test_set_dictionary_is_an_arrow_array_read_like_a_list(rules, tmp_path):
    rows = "".join(f"A{i},US,1,,tool{i};shared\n" for i in range(400)) + "A400,US,1,,Snowflake\n"
    path = _csv(tmp_path, HEADER + rows)
    column = rules.load(path).accounts.columns["tech_stack"]
    assert column.encoding == "csr" and isinstance(column.dictionary, data.Dictionary)
    assert isinstance(column.dictionary.values, pa.Array) and len(column.dictionary) == 402
    assert column.dictionary[0] == "tool0" and column.dictionary.index("Snowflake") == 401
    assert list(column.dictionary)[:3] == ["tool0", "shared", "tool1"] and "shared" in column.dictionary
    with pytest.raises(ValueError):
        column.dictionary.index("Okta")
    assert column.python_value(400) == frozenset({"Snowflake"})
    scores = rules.score(path, as_of="2026-11-26").accounts.column("icp_score").to_pylist()
    assert scores[400] == 25 and scores[0] == 0


# ---- item 10: files that are not CSV -------------------------------------------------------------


def test_binary_file_named_csv_is_one_clear_error(rules, tmp_path):
    cases = {"gzip.csv": (gzip.compress(HEADER.encode()), "it is gzip-compressed data"),
             "latin1.csv": ("account_id,pa\xeds\nA1,x\n".encode("latin-1"), "not UTF-8 text"),
             "nul.csv": (b"account_id\x00,country\n", "it is binary data")}
    pq.write_table(pa.table({"account_id": ["A1"]}), tmp_path / "parquet.csv")
    cases["parquet.csv"] = ((tmp_path / "parquet.csv").read_bytes(), "it is a Parquet file")
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        for read in (rules.load, data.read_table):
            with pytest.raises(DataError, match=rf"{name}: not a readable CSV file \({reason}"):
                read(str(path))


# ---- item 13: values beyond what the language knows ----------------------------------------------


def test_uint64_beyond_int64_is_out_of_range(rules):
    table = pa.table({"account_id": ["A1", "A2"], "country": ["US", "US"],
                      "employees": pa.array([5, 2 ** 63], pa.uint64()), "founded_on": pa.array([None, None], pa.date32()),
                      "tech_stack": pa.array([None, None], pa.list_(pa.string()))})
    with pytest.raises(DataError, match=r"column `employees` \(int\): whole number out of range; row 2 "
                                        r"\(value 9223372036854775808\)"):
        rules.load(table)


def test_dates_outside_years_1_to_9999_are_refused_naming_column_and_row(rules, tmp_path):
    path = _csv(tmp_path, HEADER + "A1,US,1,2019-05-01,\nA2,US,1,0000-01-01,\n")
    with pytest.raises(DataError, match=r"accounts.csv: column `founded_on` \(date\): date out of range "
                                        r"\(years 1 to 9999\); row 2 \(value '0000-01-01'\)"):
        rules.load(path)
    table = pa.table({"account_id": ["A1"], "country": ["US"], "employees": [1],
                      "founded_on": pa.array([-719_528], pa.date32()), "tech_stack": pa.array([None], pa.list_(pa.string()))})
    with pytest.raises(DataError, match=r"date out of range \(years 1 to 9999\); row 1"):
        rules.load(table)


# ---- item 14: a column named twice ---------------------------------------------------------------


def test_duplicate_csv_header_is_refused_naming_the_column(rules, tmp_path):
    path = _csv(tmp_path, "account_id,country,employees,founded_on,tech_stack,country\nA1,US,1,,,DE\n")
    for read in (rules.load, data.read_table):
        with pytest.raises(DataError, match="accounts.csv: two columns are named `country`; rename or remove one"):
            read(path)


# ---- item 17: times with a zone ------------------------------------------------------------------


def test_zoned_timestamps_are_read_as_their_utc_day(rules, tmp_path):
    path = _csv(tmp_path, HEADER + "A1,US,1,2019-12-31T23:30:00-05:00,\nA2,US,1,2019-12-31T10:00:00Z,\n"
                                   "A3,US,1,2019-12-31T23:30:00.123456789,\n")
    assert _column(rules, path, "founded_on") == [dt.date(2020, 1, 1), dt.date(2019, 12, 31), dt.date(2019, 12, 31)]
    late_evening_in_new_york = pa.array([dt.datetime(2026, 11, 21, 3, 30, tzinfo=dt.UTC)],
                                        pa.timestamp("s", "America/New_York"))
    table = pa.table({"account_id": ["A1"], "country": ["US"], "employees": [1], "founded_on": late_evening_in_new_york,
                      "tech_stack": pa.array([None], pa.list_(pa.string()))})
    assert _column(rules, table, "founded_on") == [dt.date(2026, 11, 21)]
    signals = _csv(tmp_path, "account_id,signal,timestamp\nA1,meeting,2026-11-20T10:00:00Z\n"
                             "A2,meeting,2026-11-20T23:30:00-05:00\n", "signals.csv")
    result = rules.score(path, as_of="2026-11-21", signals=signals)
    assert [s[1] for s in result.signal_lists[0].of(0)] == [(dt.date(2026, 11, 20) - dt.date(1970, 1, 1)).days]
    assert [s[1] for s in result.signal_lists[0].of(1)] == [(dt.date(2026, 11, 21) - dt.date(1970, 1, 1)).days]


# ---- item 20: where the problem is ----------------------------------------------------------------


def test_jsonl_error_names_the_line_of_the_file(rules, tmp_path):
    lines = [json.dumps({"account_id": f"A{i}", "employees": i}) for i in range(150_000)]
    lines.insert(10, "")  # a blank line: Arrow skips it, but it still is a line of the file
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(lines + ['{"account_id": "Z", "employees": 1']) + "\n")
    with pytest.raises(DataError, match=r"broken.jsonl: line 150002: not valid JSON Lines \(Missing a comma"):
        data.read_table(str(broken))
    retyped = tmp_path / "retyped.jsonl"
    retyped.write_text("\n".join(lines + [json.dumps({"account_id": "Z", "employees": "many"})]) + "\n")
    with pytest.raises(DataError, match=r"retyped.jsonl: line 150002: not valid JSON Lines \(Column\(/employees\) "
                                        r"changed from number to string\)$"):
        data.read_table(str(retyped))


def test_folder_named_like_a_data_file_is_called_a_folder(rules, tmp_path):
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DataError, match=r"dir.csv: is a folder, not a .csv file"):
        rules.load(str(tmp_path / "dir.csv"))


# ---- item 21: stray quotes -----------------------------------------------------------------------


def test_stray_quote_is_refused_naming_the_line(rules, tmp_path):
    for row, problem in [('A1",US,1,,', "line 3: stray quote inside an unquoted value"),
                         ('A1,U"S,1,,', "line 3: stray quote inside an unquoted value"),
                         ('A1,"US"x,1,,', "line 3: stray quote: text follows a closing quote"),
                         ('A1,"US,1,,', "line 3: a quoted value is never closed")]:
        path = _csv(tmp_path, HEADER + "A0,US,1,,\n" + row + "\nA2,US,2,,\n")
        for read in (rules.load, data.read_table):
            with pytest.raises(DataError, match="accounts.csv: " + problem):
                read(path)
    # Quoting as RFC 4180 writes it still reads: doubled quotes, line breaks in a value, a BOM.
    path = _csv(tmp_path, "\ufeff" + HEADER + '"A1","U""S",1,,\n"A2","line\nbreak",2,,"Snowflake;dbt"\n')
    assert _column(rules, path, "country") == ['U"S', "line\nbreak"]
    assert _column(rules, path, "tech_stack") == [None, frozenset({"Snowflake", "dbt"})]
