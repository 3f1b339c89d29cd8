"""Leads scored a chunk at a time (`pipeline.score_chunks`, what `unstuck score` writes its files
from): the same lead table as scoring every lead at once, row for row and in order, the same
warnings, and the same refusals, naming rows of the whole file."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import unstuck_dsl
from unstuck_dsl import data, pipeline
from unstuck_dsl.data import DataError

from cli_support import run

AS_OF = "2026-11-26"
RULES = """
account fields {
  industry: category
  employees: int
  tech_stack: open set
  hq_country: category
}
lead fields {
  title: text
  seniority: ordinal("IC", "Manager", "VP")
  country: category
  skills: open set
}
icp saas "SaaS" {
  filter "Software": industry == "software"
  score 5 "Snowflake": tech_stack has "Snowflake"
  score 3 "Big": employees >= 100
  persona vp "VP" {
    score 3 "VP": seniority >= "VP"
    score 2 "Sales": title like "*sales*"
    score 1 "Python": skills has "python"
  }
  persona us "US lead" {
    score 2 "US": country == "US"
    score 1 "Manager": seniority == "Manager"
  }
}
icp draft_big "Big accounts" draft {
  score 3 "Big": employees >= 1000
  persona anyone "Anyone" { score 1 "Known": seniority is known }
}
"""
ACCOUNTS = pa.table({
    "account_id": [f"a{i}" for i in range(12)],
    "industry": ["software", "retail", "software", None] * 3,
    "employees": [50, 200, 1500, 120, None, 90, 2000, 10, 300, 400, 5, 1200],
    "tech_stack": [["Snowflake"], [], ["Okta", "Snowflake"], None] * 3,
    "hq_country": ["US", "GB", "United Kingdom", None] * 3,
})
TITLES = ["VP Sales", "Sales Manager", "Engineer", None, "Head of Sales", "CTO"]
SENIORITY = ["VP", "Manager", "IC", None, "Manager", "VP"]
SKILLS = [["python"], [], ["go", "python"], None, ["sql"], ["rust", "python", "sql"]]


def leads(n: int, country=lambda i: ["US", "DE", None][i % 3], lead_id=lambda i: f"l{i}") -> pa.Table:
    """`n` leads over the accounts, one of every seven without its account among them."""
    return pa.table({
        "lead_id": [lead_id(i) for i in range(n)],
        "account_id": [f"a{i % 12}" if i % 7 else "gone" for i in range(n)],
        "title": [TITLES[i % 6] for i in range(n)],
        "seniority": [SENIORITY[i % 6] for i in range(n)],
        "country": [country(i) for i in range(n)],
        "skills": [SKILLS[i % 6] for i in range(n)],
    })


@pytest.fixture(scope="module")
def rules():
    return unstuck_dsl.compile(RULES)


@pytest.fixture
def lead_file(tmp_path, monkeypatch):
    """A Parquet lead file read in batches of 4 rows (row groups of 6: batches of 4 and 2)."""
    monkeypatch.setattr(data, "PARQUET_BATCH_ROWS", 4)

    def write(table: pa.Table):
        path = tmp_path / "leads.parquet"
        pq.write_table(table, path, row_group_size=6)
        return path
    return write


def plain(table: pa.Table) -> pa.Table:
    """A table's values, whatever dictionaries hold them (each chunk's account ids are its own)."""
    return pa.table({name: column.combine_chunks().dictionary_decode()
                     if pa.types.is_dictionary(column.type) else column.combine_chunks()
                     for name, column in zip(table.column_names, table.columns)})


# The file's batches (row groups of 6 read 4 rows at a time: 4 and 2), gathered into chunks of
# up to so many rows; a batch larger than a chunk is a chunk of its own.
CHUNKS = {1: [4, 2] * 6 + [4], 4: [4, 2] * 6 + [4], 9: [6] * 6 + [4], 1000: [40]}


@pytest.mark.parametrize("chunk_rows", list(CHUNKS))
@pytest.mark.parametrize("preview", [(), ("draft_big",)])
def test_leads_scored_a_chunk_at_a_time_are_the_leads_scored_at_once(rules, lead_file, chunk_rows, preview):
    """Chunks of whole batches, in the file's order: their lead tables, one after another, are the
    lead table of the leads scored at once (with a preview's columns too), and every chunk's
    accounts are scored the same."""
    path = lead_file(leads(40))
    whole = rules.score(ACCOUNTS, str(path), as_of=AS_OF, preview=preview)
    chunks = list(pipeline.score_chunks(rules, ACCOUNTS, str(path), AS_OF, preview, lead_chunk_rows=chunk_rows))
    assert [chunk.dataset.leads.n for chunk in chunks] == CHUNKS[chunk_rows]
    # Leads' account ids are read as text (not coded through the file's dictionary pages), however chunked.
    assert all(pa.types.is_string(chunk.dataset.leads.account_ids.type) for chunk in chunks)
    assert plain(pa.concat_tables(chunk.leads for chunk in chunks)) == plain(whole.leads)
    assert all(chunk.accounts.equals(whole.accounts) for chunk in chunks)


def test_a_set_column_may_change_layout_from_chunk_to_chunk(rules, lead_file, monkeypatch):
    """A set column is a bitset when its chunk holds few distinct members, else lists (csr): the
    chunks then run the kernels of different layouts, and still score as the whole file does."""
    monkeypatch.setattr(data, "BITSET_MAX_VALUES", 2)
    table = leads(24)
    skills = [["python"]] * 8 + [["go", "python", "sql", "rust"]] * 8 + [[]] * 8
    table = table.set_column(table.column_names.index("skills"), "skills", pa.array(skills))
    path = lead_file(table)
    chunks = list(pipeline.score_chunks(rules, ACCOUNTS, str(path), AS_OF, lead_chunk_rows=8))
    assert [chunk.dataset.leads.columns["skills"].encoding for chunk in chunks] == ["bitset", "csr", "csr", "bitset"]
    assert plain(pa.concat_tables(chunk.leads for chunk in chunks)) == \
        plain(rules.score(ACCOUNTS, str(path), as_of=AS_OF).leads)


def test_odd_countries_of_every_chunk_are_warned_of_as_for_the_whole_file(rules, lead_file):
    """A country column's values that are not codes, some only in a later chunk, make the one
    warning line the whole file makes: the accounts' once the first chunk is read, the leads'
    once the last one is, in the order the whole file says them."""
    odd = {13: "USA", 30: "uk", 31: "USA", 35: "Germany"}
    path = lead_file(leads(40, country=lambda i: odd.get(i, "US")))
    heard, heard_by_chunk = [], []
    for _ in pipeline.score_chunks(rules, ACCOUNTS, str(path), AS_OF, lead_chunk_rows=8, on_warning=heard.append):
        heard_by_chunk.append(len(heard))
    whole = rules.load(ACCOUNTS, str(path)).warnings()
    assert heard == whole and len(whole) == 2
    assert heard_by_chunk == [1] * len(heard_by_chunk) and len(heard_by_chunk) > 1
    assert "'United Kingdom'" in whole[0] and "accounts" not in whole[1]
    assert "3 distinct values" in whole[1] and "'USA', 'uk', 'Germany'" in whole[1]


def test_a_repeated_id_in_a_later_chunk_is_refused_with_its_rows_in_the_file(rules, lead_file):
    path = lead_file(leads(40, lead_id=lambda i: "l3" if i == 33 else f"l{i}"))
    chunks = pipeline.score_chunks(rules, ACCOUNTS, str(path), AS_OF, lead_chunk_rows=8)
    with pytest.raises(DataError, match=r"id 'l3' appears more than once \(rows 4 and 34\)"):
        list(chunks)


def test_a_bad_value_in_a_later_chunk_names_its_row_in_the_file(rules, lead_file):
    table = leads(40)
    seniority = table.column("seniority").to_pylist()
    seniority[29] = "Boss"
    path = lead_file(table.set_column(table.column_names.index("seniority"), "seniority", pa.array(seniority)))
    with pytest.raises(DataError) as whole:
        rules.score(ACCOUNTS, str(path), as_of=AS_OF)
    assert "row 30" in str(whole.value)
    with pytest.raises(DataError) as chunked:
        list(pipeline.score_chunks(rules, ACCOUNTS, str(path), AS_OF, lead_chunk_rows=8))
    assert str(chunked.value) == str(whole.value)


def test_unstuck_score_writes_the_chunks_as_one_file_or_nothing(rules, lead_file, tmp_path, monkeypatch):
    """`unstuck score` of an accounts and a leads file scores the leads a chunk at a time, every
    chunk with the kernels the accounts were scored with (their set a list, not a bitset: the
    layout is the accounts', though their fields are let go after the first chunk): the file
    holds the table of every lead scored at once, and the summary counts all chunks. A repeat
    found in the last chunk leaves the output as it was: no file, or the one before."""
    monkeypatch.setattr(pipeline, "LEAD_CHUNK_ROWS", 8)
    monkeypatch.setattr(data, "BITSET_MAX_VALUES", 1)
    scored, score_dataset = [], pipeline.score_dataset
    monkeypatch.setattr(pipeline, "score_dataset",
                        lambda *args, **kw: scored.append(score_dataset(*args, **kw)) or scored[-1])
    accounts = tmp_path / "accounts.parquet"
    pq.write_table(ACCOUNTS, accounts)
    path = lead_file(leads(40))
    out, accounts_out = tmp_path / "scores.parquet", tmp_path / "accounts_out.parquet"
    result = run("score", RULES_DIR(tmp_path), "--accounts", accounts, "--leads", path, "--out", out,
                 "--accounts-out", accounts_out, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    scored = [chunk for chunk in scored if chunk.dataset.accounts.n == ACCOUNTS.num_rows]  # (not the kernels' warming)
    assert len(scored) == 7 and scored[0]._kernels.layouts["tech_stack"] == "csr"
    assert all(chunk._kernels is scored[0]._kernels for chunk in scored)
    whole = rules.score(str(accounts), str(path), as_of=AS_OF)
    assert plain(pq.read_table(out)) == plain(whole.leads)
    assert pq.read_table(accounts_out).equals(whole.accounts)
    # The summary counts every chunk: the line of the file scored in one chunk, but the time.
    monkeypatch.setattr(pipeline, "LEAD_CHUNK_ROWS", 1000)
    at_once = run("score", RULES_DIR(tmp_path), "--accounts", accounts, "--leads", path, "--out", out, "--as-of", AS_OF)
    summary = [line.rsplit(";", 1)[0] for line in (result.output, at_once.output)]
    assert summary[0] == summary[1] and "12 accounts; 40 leads;" in summary[0]
    monkeypatch.setattr(pipeline, "LEAD_CHUNK_ROWS", 8)
    written = out.read_bytes()
    path = lead_file(leads(40, lead_id=lambda i: "l0" if i == 39 else f"l{i}"))
    for target in (out, tmp_path / "new.parquet"):
        result = run("score", RULES_DIR(tmp_path), "--accounts", accounts, "--leads", path, "--out", target,
                     "--as-of", AS_OF)
        assert result.exit_code != 0 and "id 'l0' appears more than once (rows 1 and 40)" in result.output
    assert out.read_bytes() == written and not (tmp_path / "new.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accounts.parquet", "accounts_out.parquet", "leads.parquet",
                                                          "rules.ust", "scores.parquet"]


def RULES_DIR(folder) -> str:  # noqa: N802 - the rules as a file, for the command line
    path = folder / "rules.ust"
    path.write_text(RULES)
    return str(path)


def test_a_lead_column_missing_is_unknown_in_every_chunk(rules, lead_file, tmp_path, monkeypatch):
    """`--missing-columns unknown`: a declared lead field the file lacks reads as unknown in
    every chunk, as in the whole file, with one warning naming it."""
    monkeypatch.setattr(pipeline, "LEAD_CHUNK_ROWS", 8)
    accounts = tmp_path / "accounts.parquet"
    pq.write_table(ACCOUNTS, accounts)
    path = lead_file(leads(40).drop_columns(["seniority"]))
    out = tmp_path / "scores.parquet"
    result = run("score", RULES_DIR(tmp_path), "--accounts", accounts, "--leads", path, "--out", out, "--as-of", AS_OF,
                 "--missing-columns", "unknown")
    assert result.exit_code == 0, result.output
    assert result.output.count("missing column `seniority`") == 1
    whole = rules.score(str(accounts), str(path), as_of=AS_OF, missing_columns="unknown")
    assert plain(pq.read_table(out)) == plain(whole.leads)
