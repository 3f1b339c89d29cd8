"""The `unstuck` command line: outputs, the drawer, audiences, and one clear line per bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pcsv
import pytest

from cli_support import run

ROOT = Path(__file__).resolve().parent.parent
RULES = str(ROOT / "rules")
AS_OF = "2026-11-26"

SEED_ACCOUNT = ("account_id,industry,employees,arr_usd,country,tech_stack,funding_stage,hired_ciso_on,is_competitor\n"
                "seed,software,240,,US,Snowflake,Series B,2026-03-01,false\n")






def test_demo_writes_sample_data_and_shows_an_explanation(sample):
    assert (sample / "accounts.csv").is_file() and (sample / "leads.csv").is_file()
    result = run("demo", "--accounts", 300, "--as-of", AS_OF)
    assert result.exit_code == 0
    assert "Why the top lead scored what it did" in result.output
    assert "normalizes to" in result.output


def test_score_with_leads_writes_exactly_the_lead_columns(sample, tmp_path):
    out, accounts_out = tmp_path / "scores.csv", tmp_path / "accounts.parquet"
    result = run("score", RULES, "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv",
                 "--out", out, "--accounts-out", accounts_out, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    table = pcsv.read_csv(out)
    assert table.column_names == ["lead_id", "account_id", "icp_code", "icp_score", "icp_band", "persona_code",
                                  "persona_score", "persona_band"]
    assert accounts_out.is_file()
    assert f"as of {AS_OF}" in result.output
    assert "accounts" in result.output and "leads" in result.output and "ICPs:" in result.output


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_the_lead_table_written_in_pieces_is_the_table_written_whole(sample, tmp_path, monkeypatch, suffix):
    """`unstuck score` builds and writes the lead table a piece at a time (and counts its summary
    so): with pieces of 7 leads, a preview and its columns, the file holds the API's table."""
    import pyarrow.parquet as pq

    import unstuck_dsl
    from unstuck_dsl.cli import scoring
    from unstuck_dsl.output import write_table

    monkeypatch.setattr(scoring, "PIECE_ROWS", 7)
    out, whole = tmp_path / f"pieces{suffix}", tmp_path / f"whole{suffix}"
    result = run("score", RULES, "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv", "--out", out,
                 "--as-of", AS_OF, "--preview", "ent_finserv")
    assert result.exit_code == 0, result.output
    scored = unstuck_dsl.compile(RULES).score(str(sample / "accounts.csv"), str(sample / "leads.csv"), as_of=AS_OF,
                                              preview=["ent_finserv"])
    write_table(scored.leads, whole)
    if suffix == ".parquet":  # (row groups of 7 rows: the same table, not the same bytes)
        assert pq.read_table(out).equals(pq.read_table(whole))
    else:
        assert out.read_bytes() == whole.read_bytes()
    personas = scored.leads.group_by(["icp_code", "persona_code"]).aggregate([([], "count_all")])
    top = max(personas.to_pylist(), key=lambda row: row["count_all"])
    assert f"{top['icp_code'] or 'none'}{' / ' + top['persona_code'] if top['persona_code'] else ''} " \
           f"{top['count_all']:,}" in result.output


def test_the_summarys_counts_are_the_tables_counts(sample):
    """The summary line's counts (made from the kernel's numbers) are the written tables' own:
    per ICP code over accounts, per ICP code and Persona code over leads (none counted too,
    leads without their account among them)."""
    import unstuck_dsl

    result = unstuck_dsl.compile(RULES).score(str(sample / "accounts.csv"), str(sample / "leads.csv"), as_of=AS_OF)
    for kind, table, keys in (("account", result.accounts, ["icp_code"]),
                              ("lead", result.leads, ["icp_code", "persona_code"])):
        grouped = table.group_by(keys).aggregate([([], "count_all")]).to_pylist()
        assert result.code_counts(kind) == {tuple(row[k] for k in keys): row["count_all"] for row in grouped}
    assert (result.dataset.lead_account_rows < 0).any()  # the sample has leads without their account
    assert result.code_counts("lead").get((None, None), 0) > 0


def test_score_accounts_only_and_preview_columns(sample, tmp_path):
    out = tmp_path / "accounts.jsonl"
    result = run("score", RULES, "--accounts", sample / "accounts.csv", "--out", out, "--as-of", AS_OF,
                 "--preview", "ent_finserv")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert list(rows[0]) == ["account_id", "icp_code", "icp_score", "icp_band", "preview_icp_code",
                             "preview_icp_score", "preview_icp_band"]
    assert any(r["preview_icp_code"] == "ent_finserv" for r in rows)
    assert not any(r["icp_code"] == "ent_finserv" for r in rows)


def test_explain_prints_the_seed_drawer(tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(SEED_ACCOUNT)
    result = run("explain", RULES, "--accounts", accounts, "--account", "seed", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    for text in ("Uses Snowflake", "+5 / 5", "Uses Okta", "0 / 3", "Series B", "+4 / 4", "+8 / 8",
                 "17 / 20", "17 / 20 normalizes to 85 / 100", "passed"):
        assert text in result.output
    as_json = run("explain", RULES, "--accounts", accounts, "--account", "seed", "--as-of", AS_OF, "--json")
    document = json.loads(as_json.output)
    assert (document["icp_code"], document["icp_score"]) == ("mm_saas", 85)
    assert document["icps"][0]["earned"] == 17 and document["icps"][0]["possible"] == 20


def test_audience_lists_members_and_composition(sample, tmp_path):
    out = tmp_path / "hot.csv"
    result = run("audience", RULES, "hot", "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv",
                 "--as-of", AS_OF, "--out", out)
    assert result.exit_code == 0, result.output
    members = pcsv.read_csv(out).to_pylist()
    assert members and all(m["icp_score"] >= 60 and m["persona_score"] >= 60 for m in members)
    comp = run("audience", RULES, "hot", "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv",
               "--as-of", AS_OF, "--composition")
    assert f"audience hot: {len(members)} members" in comp.output and "icp_score" in comp.output


def test_compile_prints_what_it_compiled():
    result = run("compile", RULES)
    assert result.exit_code == 0, result.output
    assert "ICP mm_saas" in result.output and "Persona vp_sales" in result.output
    assert "account fields read:" in result.output


BAD_INPUTS = {
    "missing file": (["--accounts", "{tmp}/nope.csv"], "no such file"),
    "unknown extension": (["--accounts", "{tmp}/accounts.xlsx"], "unknown file type `.xlsx`"),
    "missing column": (["--accounts", "{tmp}/no_country.csv"], "missing column `country`"),
    "wrong type": (["--accounts", "{tmp}/bad_employees.csv"], "column `employees` (int): expected a whole number; row 1"),
    "bad date": (["--accounts", "{tmp}/bad_date.csv"], "column `hired_ciso_on` (date): expected a date (YYYY-MM-DD); row 1"),
    "bad --as-of": (["--accounts", "{tmp}/good.csv", "--as-of", "26/11/2026"], "is not a date; write YYYY-MM-DD"),
    "unknown preview code": (["--accounts", "{tmp}/good.csv", "--preview", "ent_finsrv"], "unknown preview code `ent_finsrv`"),
    "unknown output type": (["--accounts", "{tmp}/good.csv", "--out", "{tmp}/out.xlsx"], "unknown output type `.xlsx`"),
}


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "good.csv").write_text(SEED_ACCOUNT)
    (tmp_path / "accounts.xlsx").write_text("x")
    header, row = SEED_ACCOUNT.splitlines()
    (tmp_path / "no_country.csv").write_text(header.replace(",country", "") + "\n" + row.replace(",US", "") + "\n")
    (tmp_path / "bad_employees.csv").write_text(SEED_ACCOUNT.replace(",240,", ",many,"))
    (tmp_path / "bad_date.csv").write_text(SEED_ACCOUNT.replace("2026-03-01", "03/01/2026"))
    return tmp_path


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_clear_line_and_a_failing_exit(case, bad_files):
    args, message = BAD_INPUTS[case]
    args = [a.format(tmp=bad_files) for a in args]
    if "--out" not in args:
        args += ["--out", str(bad_files / "scores.csv")]
    result = run("score", RULES, *args)
    assert result.exit_code != 0
    assert message in result.output
    assert result.output.strip().count("\n") == 0 or result.output.startswith("as of"), result.output


def test_unknown_id_and_unknown_audience(bad_files):
    result = run("explain", RULES, "--accounts", bad_files / "good.csv", "--account", "nobody", "--as-of", AS_OF)
    assert result.exit_code == 1 and "unknown account id 'nobody'" in result.output
    result = run("audience", RULES, "hott", "--accounts", bad_files / "good.csv", "--as-of", AS_OF)
    assert result.exit_code == 1 and "unknown audience `hott`" in result.output and "did you mean `hot`" in result.output


def test_bad_rules_print_diagnostics_not_a_traceback(tmp_path, bad_files):
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in Path(RULES).glob("*.ust"):
        (rules / path.name).write_text(path.read_text().replace("employees between 51", "employes between 51"))
    result = run("score", rules, "--accounts", bad_files / "good.csv", "--out", tmp_path / "s.csv")
    assert result.exit_code == 1
    assert "error[E012]: unknown field `employes`" in result.output and "did you mean `employees`?" in result.output


def test_failed_run_leaves_earlier_output_untouched(bad_files):
    out = bad_files / "scores.csv"
    assert run("score", RULES, "--accounts", bad_files / "good.csv", "--out", out, "--as-of", AS_OF).exit_code == 0
    before = out.read_bytes()
    result = run("score", RULES, "--accounts", bad_files / "bad_date.csv", "--out", out, "--as-of", AS_OF)
    assert result.exit_code == 1
    assert out.read_bytes() == before
    assert [p.name for p in bad_files.iterdir() if p.name.startswith(".")] == []


def test_a_real_process_shows_no_traceback(bad_files):
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "unstuck_dsl", "score", RULES, "--accounts",
                          str(bad_files / "bad_employees.csv"), "--out", str(bad_files / "x.csv")],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr + out.stdout
    assert out.stderr.strip().splitlines()[-1].startswith("error: ")


# Runs `unstuck ARGS` as the console script does, with an exit handler and (with --wait-for-thread)
# a thread that is not a daemon, each leaving a mark in the folder given first.
ENDING = """
import atexit, pathlib, sys, threading, time
marks = pathlib.Path(sys.argv[1])
atexit.register(lambda: (marks / "exit-handler").write_text("ran"))
if sys.argv[2] == "--wait-for-thread":
    threading.Thread(target=lambda: (time.sleep(0.5), (marks / "thread").write_text("done"))).start()
sys.argv = ["unstuck", *sys.argv[3:]]
from unstuck_dsl.cli import main
main()
"""


# The process's kept threads made (as every large batch's encoding and every kernel run makes
# them), then the command's end: it returns only to let Python finalize (tear the modules down).
ENDING_AFTER_KEPT_THREADS = """
import sys
from unstuck_dsl import ahead, execute
from unstuck_dsl.cli.process import end_without_teardown
ahead.side_by_side([lambda: None, lambda: None])
execute.run_parallel(lambda start, stop: None, 10 * execute.PARALLEL_MIN_RECORDS)
end_without_teardown(3)
print("left to Python's teardown")
"""


def test_the_threads_the_process_keeps_do_not_make_it_tear_its_modules_down():
    """The encoding's and the kernels' threads, kept by the process and idle at its end, end
    with it: the process is not left to Python's teardown of every module (tens of milliseconds
    of every scoring command and ingest)."""
    done = subprocess.run([sys.executable, "-c", ENDING_AFTER_KEPT_THREADS], capture_output=True, text=True,
                          timeout=600)
    assert (done.returncode, done.stdout) == (3, ""), done.stderr


@pytest.mark.parametrize("thread", ["--wait-for-thread", "--no-thread"])
def test_the_process_ends_as_python_would_flushing_output_running_exit_handlers(tmp_path, thread):
    """The process ends without tearing its modules down (`end_without_teardown`), yet as a user
    sees Python end: the whole output, the exit handlers run, the command's exit status, and a
    thread that is not a daemon finished first."""
    def unstuck(*args):
        return subprocess.run([sys.executable, "-c", ENDING, str(tmp_path), thread, *args], capture_output=True,
                              text=True, timeout=600)

    done = unstuck("check", RULES, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["files"]  # every line of it, flushed
    assert (tmp_path / "exit-handler").read_text() == "ran"
    assert (tmp_path / "thread").exists() == (thread == "--wait-for-thread")
    (tmp_path / "exit-handler").unlink()
    failed = unstuck("check", str(tmp_path / "missing.ust"))
    assert failed.returncode not in (0, None) and failed.stderr.strip()
    assert (tmp_path / "exit-handler").read_text() == "ran"
