"""Data safety at the command line: no command writes over what it reads or over its own other
output, outputs are checked before the work starts, CSV output cannot carry spreadsheet
formulas, terminals never receive escape sequences from data, and a broken kernel cache or a
killed run never stops the next one (issue 11, items 1, 9, 16, 18, 19, 20)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from unstuck_dsl.output import OutputError, check_destinations, neutralise_formulas
from unstuck_dsl.terminal import visible

from cli_support import AS_OF, RULES, run

RULE_TEXT = """
account fields { industry: category  employees: int }
lead fields { title: text }
icp saas "SaaS" live {
  score 3 "Big": employees > 50
  filter: industry == "software"
  persona vp "VP" { score 1: title like "vp*" }
}
"""
ESCAPES = "\x1b]0;owned\x07\x1b[2J"




@pytest.fixture()
def files(tmp_path):
    rules = tmp_path / "rules.ust"
    rules.write_text(RULE_TEXT)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,industry,employees\na1,software,60\n=cmd|' /C calc'!A0,software,70\n")
    leads = tmp_path / "leads.csv"
    leads.write_text(f'lead_id,account_id,title\nl1,a1,"vp {ESCAPES} [red]boss"\n@SUM(1+1),a1,+vp\n-l3,a1,vp\n')
    return tmp_path, rules, accounts, leads


def _bytes(*paths: Path) -> list[bytes]:
    return [p.read_bytes() for p in paths]


# ---- item 1: no command writes over its inputs or twice to one path ---------------------------


def test_score_refuses_to_overwrite_its_own_input(files):
    tmp, rules, accounts, leads = files
    before = _bytes(accounts, leads, rules)
    for out, message in ((accounts, "would overwrite"), (leads, "would overwrite"), (rules, "unknown output type")):
        result = run("score", rules, "--accounts", accounts, "--leads", leads, "--out", out, "--as-of", AS_OF)
        assert result.exit_code == 1
        assert message in result.output
    assert _bytes(accounts, leads, rules) == before


def test_score_refuses_an_input_reached_through_a_symlink_or_hard_link(files):
    tmp, rules, accounts, leads = files
    (tmp / "link.csv").symlink_to(accounts)
    os.link(leads, tmp / "hard.csv")
    before = _bytes(accounts, leads)
    for out in (tmp / "link.csv", tmp / "hard.csv", tmp / "." / "sub" / ".." / "accounts.csv"):
        (tmp / "sub").mkdir(exist_ok=True)
        result = run("score", rules, "--accounts", accounts, "--leads", leads, "--out", out)
        assert result.exit_code == 1, result.output
        assert "would overwrite" in result.output
    assert _bytes(accounts, leads) == before


def test_two_outputs_of_one_command_cannot_share_a_file(files):
    tmp, rules, accounts, leads = files
    result = run("score", rules, "--accounts", accounts, "--leads", leads, "--out", tmp / "x.csv",
                 "--accounts-out", f"{tmp}/./x.csv")
    assert result.exit_code == 1
    assert "writes to the same file" in result.output
    assert not (tmp / "x.csv").exists()


def test_insights_html_cannot_replace_the_workspace_or_a_rule_file(files):
    tmp, rules, accounts, leads = files
    db = tmp / "ws.duckdb"
    assert run("ingest", rules, "--accounts", accounts, "--leads", leads, "--db", db).exit_code == 0
    before = _bytes(db, rules)
    for target in (db, rules, tmp / "report.csv"):
        result = run("insights", "--db", db, "--html", target)
        assert result.exit_code == 1
        assert "unknown output type" in result.output
    assert _bytes(db, rules) == before


def test_html_output_named_like_the_workspace_is_refused_by_identity_too(tmp_path):
    db = tmp_path / "ws.html"  # a workspace whose name has the report's extension
    db.write_bytes(b"workspace")
    with pytest.raises(OutputError, match="would overwrite"):
        from unstuck_dsl.output import REPORT_FORMATS
        check_destinations({"--html": db}, [db], REPORT_FORMATS)


def test_export_and_diff_refuse_to_write_over_the_workspace_or_rules(files):
    tmp, rules, accounts, leads = files
    db = tmp / "ws.duckdb"
    assert run("ingest", rules, "--accounts", accounts, "--leads", leads, "--db", db).exit_code == 0
    before = _bytes(db, rules, accounts)
    assert run("export", "--db", db, "--out", db).exit_code == 1
    result = run("diff", rules, rules, "--accounts", accounts, "--leads", leads, "--out", accounts)
    assert result.exit_code == 1 and "would overwrite" in result.output
    assert _bytes(db, rules, accounts) == before


def test_output_problems_are_reported_before_any_work_naming_the_users_path(files):
    tmp, rules, accounts, leads = files
    missing = run("score", rules, "--accounts", accounts, "--out", tmp / "nope" / "s.csv")
    assert missing.exit_code == 1
    assert "as of" not in missing.output  # refused before the run started
    assert f"{tmp / 'nope' / 's.csv'}" in missing.output and "does not exist" in missing.output
    (tmp / "folder.csv").mkdir()
    folder = run("score", rules, "--accounts", accounts, "--out", tmp / "folder.csv")
    assert folder.exit_code == 1 and "is a folder" in folder.output
    assert ".tmp" not in missing.output + folder.output


# ---- item 9: JSON Lines output stays in Arrow -------------------------------------------------


def test_jsonl_output_has_one_object_per_record_with_typed_values(files):
    tmp, rules, accounts, leads = files
    out = tmp / "scores.jsonl"
    result = run("score", rules, "--accounts", accounts, "--leads", leads, "--out", out, "--as-of", AS_OF,
                 "--raw-csv")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["lead_id"] for r in rows] == ["l1", "@SUM(1+1)", "-l3"]  # never neutralised: not CSV
    assert rows[0]["icp_code"] == "saas" and rows[0]["icp_score"] == 100 and rows[0]["persona_score"] == 100
    assert rows[1]["persona_score"] == 0


# ---- item 16: options are validated ----------------------------------------------------------


def test_demo_rejects_a_negative_account_count():
    result = run("demo", "--accounts", -5)
    assert result.exit_code == 2
    assert "-5 is not in the range" in result.output


# ---- item 18: CSV formula injection -----------------------------------------------------------


def test_csv_output_neutralises_formulas_in_every_text_cell(files):
    tmp, rules, accounts, leads = files
    out, accounts_out = tmp / "scores.csv", tmp / "accounts_scores.csv"
    result = run("score", rules, "--accounts", accounts, "--leads", leads, "--out", out,
                 "--accounts-out", accounts_out, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    leads_table = pcsv.read_csv(out)
    assert leads_table.column("lead_id").to_pylist() == ["l1", "'@SUM(1+1)", "'-l3"]
    accounts_table = pcsv.read_csv(accounts_out)
    assert accounts_table.column("account_id").to_pylist() == ["a1", "'=cmd|' /C calc'!A0"]


def test_raw_csv_writes_values_exactly(files):
    tmp, rules, accounts, leads = files
    out = tmp / "scores.csv"
    assert run("score", rules, "--accounts", accounts, "--leads", leads, "--out", out, "--raw-csv").exit_code == 0
    assert pcsv.read_csv(out).column("lead_id").to_pylist() == ["l1", "@SUM(1+1)", "-l3"]


def test_export_of_stored_records_neutralises_record_values(files):
    tmp, rules, accounts, leads = files
    db, out = tmp / "ws.duckdb", tmp / "export.csv"
    assert run("ingest", rules, "--accounts", accounts, "--leads", leads, "--db", db).exit_code == 0
    assert run("export", "--db", db, "--out", out).exit_code == 0
    titles = pcsv.read_csv(out).column("title").to_pylist()
    assert "'+vp" in titles and "+vp" not in titles


def test_neutralising_keeps_numbers_dictionaries_and_nulls():
    table = pa.table({"n": pa.array([-1, 2]), "d": pa.array(["=a", None]).dictionary_encode(),
                      "s": pa.array(["\tx", "ok"]), "r": pa.array(["\rx", "a=b"])})
    safe = neutralise_formulas(table)
    assert safe.column("n").to_pylist() == [-1, 2]
    assert safe.column("d").to_pylist() == ["'=a", None]
    assert pa.types.is_dictionary(safe.column("d").type)
    assert safe.column("s").to_pylist() == ["'\tx", "ok"]
    assert safe.column("r").to_pylist() == ["'\rx", "a=b"]


# ---- item 19: terminal escape sequences -------------------------------------------------------


def test_explain_shows_escape_sequences_from_data_instead_of_sending_them(files):
    tmp, rules, accounts, leads = files
    result = run("explain", rules, "--accounts", accounts, "--leads", leads, "--lead", "l1", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "\\x1b]0;owned\\x07\\x1b[2J" in result.output
    assert "[red]boss" in result.output  # markup in data is text, not a style


def test_compile_shows_control_characters_in_rule_names(tmp_path):
    rules = tmp_path / "r.ust"
    rules.write_text(RULE_TEXT.replace('"SaaS"', f'"SaaS {ESCAPES}"'), encoding="utf-8")
    result = run("compile", rules)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\\x1b]0;owned\\x07" in result.output


def test_visible_escapes_controls_and_bidi_overrides_but_keeps_layout():
    assert visible("a\x1b[2Jb\u202ec\n\td") == "a\\x1b[2Jb\\u202ec\n\td"
    assert visible("Größe — ok") == "Größe — ok"


# ---- item 20: broken kernel cache, stale temporary files ---------------------------------------


def _score_in_subprocess(tmp: Path, rules: Path, accounts: Path, cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, UNSTUCK_CACHE_DIR=str(cache))
    return subprocess.run([sys.executable, "-m", "unstuck_dsl", "score", str(rules), "--accounts", str(accounts),
                           "--out", str(tmp / "out.csv"), "--as-of", AS_OF],
                          env=env, capture_output=True, text=True, timeout=300)


def test_an_unusable_kernel_cache_warns_and_scoring_goes_on(files):
    tmp, rules, accounts, leads = files
    blocker = tmp / "cache-is-a-file"
    blocker.write_text("not a folder")
    result = _score_in_subprocess(tmp, rules, accounts, blocker)
    assert result.returncode == 0, result.stderr
    assert "warning: the kernel cache" in result.stderr and "UNSTUCK_CACHE_DIR" in result.stderr
    assert pcsv.read_csv(tmp / "out.csv").num_rows == 2
    assert blocker.read_text() == "not a folder"


def test_a_cache_entry_replaced_by_a_file_is_repaired(files):
    tmp, rules, accounts, leads = files
    cache = tmp / "cache"
    assert _score_in_subprocess(tmp, rules, accounts, cache).returncode == 0
    entries = [p for p in cache.iterdir() if p.is_dir()]
    assert entries
    for entry in entries:
        import shutil

        shutil.rmtree(entry)
        entry.write_text("junk")
    result = _score_in_subprocess(tmp, rules, accounts, cache)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert all(entry.is_dir() for entry in entries)


def test_temporary_files_left_by_a_killed_run_are_removed_by_the_next(files):
    tmp, rules, accounts, leads = files
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = [tmp / ".scores.csv.abc123.tmp", tmp / f".scores.csv.{dead.stdout.strip()}.k9x2_q.tmp"]
    live = tmp / f".scores.csv.{os.getppid()}.inuse.tmp"  # a process that is still running
    unrelated = tmp / ".other.csv.abc123.tmp"
    for path in (*stale, live, unrelated):
        path.write_text("partial")
    result = run("score", rules, "--accounts", accounts, "--leads", leads, "--out", tmp / "scores.csv")
    assert result.exit_code == 0, result.output
    assert not any(p.exists() for p in stale)
    assert live.exists() and unrelated.exists()
    assert sorted(p.name for p in tmp.glob(".scores.csv.*")) == [live.name]


# ---- item 2: null words are values unless the user names them ----------------------------------


def test_null_values_option_names_the_words_that_mean_unknown(tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,industry,employees,arr_usd,country,tech_stack,funding_stage,hired_ciso_on,"
                        "is_competitor\nna1,software,240,NA,NA,Snowflake,Series B,2026-03-01,false\n")
    refused = run("score", RULES, "--accounts", accounts, "--out", tmp_path / "o.csv", "--as-of", AS_OF)
    assert refused.exit_code == 1 and "expected a number; row 1 (value 'NA')" in refused.output
    for command in (["score", RULES, "--accounts", accounts, "--out", tmp_path / "o.csv"],
                    ["explain", RULES, "--accounts", accounts, "--account", "na1"],
                    ["ingest", RULES, "--accounts", accounts, "--db", tmp_path / "w.duckdb"]):
        result = run(*command, "--as-of", AS_OF, "--null-values", "NA,null")
        assert result.exit_code == 0, result.output


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    """`unstuck score ... --out - | head -1`: when the reader closes the pipe the command stops
    as Unix tools do (the status of SIGPIPE, 141), with no error line."""
    from unstuck_dsl import sample

    sample.write(tmp_path, 3000, formats=("parquet",))  # about 400 KB of scores: more than a pipe holds
    command = [sys.executable, "-m", "unstuck_dsl", "score", str(RULES), "--accounts", str(tmp_path / "accounts.parquet"),
               "--leads", str(tmp_path / "leads.parquet"), "--out", "-", "--as-of", AS_OF]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    header = process.stdout.readline()
    process.stdout.close()  # more than a pipe's buffer is still to come: the next write fails
    errors = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, errors
    assert header.startswith(b'"lead_id"')
    assert "error" not in errors and "Traceback" not in errors and "Exception ignored" not in errors


def test_every_fixable_error_is_named_by_the_module_that_defines_it():
    """The command line recognises a fixable error only once the module named for it is loaded: a
    class named by a module that merely imports it went unrecognised (`unstuck fmt` on a file it
    could not replace said "unexpected failure" unless scoring had loaded `output` before)."""
    import importlib

    from unstuck_dsl.cli.common import FIXABLE_ERRORS

    for module, name in FIXABLE_ERRORS:
        assert getattr(importlib.import_module(module), name).__module__ == module, (module, name)
