"""Rough edges a new user hits at the command line (issue 13): counts that mean what they say,
tables that never cut ids, help for every option."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pyarrow.csv as pcsv
import pytest
from click.testing import CliRunner

from unstuck_dsl.cli import cli

from cli_support import AS_OF, RULES, run


def test_score_summary_counts_each_persona_within_its_icp(sample, tmp_path):
    out = tmp_path / "scores.csv"
    result = run("score", RULES, "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv",
                 "--out", out, "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    scores = pcsv.read_csv(out)
    summary = result.output.strip().splitlines()[-1]
    pairs = {}
    for icp, persona in zip(scores.column("icp_code").to_pylist(), scores.column("persona_code").to_pylist()):
        if icp:  # CSV reads a missing code as an empty string
            pairs[f"{icp} / {persona}"] = pairs.get(f"{icp} / {persona}", 0) + 1
    assert len({key.split(" / ")[1] for key in pairs}) < len(pairs)  # some Persona code is in two ICPs
    for label, count in pairs.items():
        assert f"{label} {count:,}" in summary


def test_piped_member_list_prints_every_id_whole(sample):
    result = run("audience", RULES, "hot", "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv",
                 "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    assert re.search(r"L\d{9}", result.output) and re.search(r"A\d{8}", result.output)


def test_out_dash_writes_csv_to_stdout(sample, tmp_path):
    result = CliRunner().invoke(
        cli, ["audience", str(RULES), "hot", "--accounts", str(sample / "accounts.csv"), "--leads",
              str(sample / "leads.csv"), "--as-of", AS_OF, "--out", "-"])
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith('"lead_id","account_id"')
    assert f"{len(lines) - 1} members" in result.stderr


def _options_without_help(command: click.Command, path: str) -> list[str]:
    missing = [f"{path} {p.opts[0]}" for p in command.params if isinstance(p, click.Option) and not p.help]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            missing += _options_without_help(sub, f"{path} {name}")
    return missing


def test_every_option_of_every_command_has_help():
    assert _options_without_help(cli, "unstuck") == []


def test_top_level_help_does_not_cut_command_descriptions():
    result = run("--help")
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1]
    assert "..." not in commands
    assert len(commands.strip().splitlines()) == len(cli.commands)


def test_audience_over_stage_without_signals_is_refused_not_empty(sample):
    args = ["audience", RULES, "engaged_fit", "--accounts", sample / "accounts.csv", "--leads",
            sample / "leads.csv", "--as-of", AS_OF]
    refused = run(*args)
    assert refused.exit_code == 1
    assert "reads `stage`, which is unknown without signals" in refused.output
    answered = run(*args, "--signals", sample / "signals.csv")
    assert answered.exit_code == 0, answered.output
    assert "members in audience `engaged_fit`" in answered.output


def test_explain_takes_signals_and_says_when_a_record_has_none(sample):
    import pyarrow.csv as csv

    signals = csv.read_csv(sample / "signals.csv")
    leads = csv.read_csv(sample / "leads.csv").column("lead_id").to_pylist()
    with_signals = signals.column("lead_id")[0].as_py()
    without = next(lead for lead in leads if lead not in set(signals.column("lead_id").to_pylist()))
    base = ["explain", RULES, "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv",
            "--as-of", AS_OF, "--signals", sample / "signals.csv"]
    shown = run(*base, "--lead", with_signals, "--json")
    assert shown.exit_code == 0, shown.output
    engagement = json.loads(shown.output)["engagement"]
    assert engagement["signals"] and engagement["stage"]
    empty = run(*base, "--lead", without)
    assert empty.exit_code == 0, empty.output
    assert "no signals" in empty.output


def test_drawer_answers_date_periods_yes_no_and_a_losing_icp_is_hypothetical(tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,industry,employees,arr_usd,country,tech_stack,funding_stage,hired_ciso_on,is_competitor\n"
                        "seed,software,240,,US,Snowflake,Series B,2026-03-01,false\n")
    result = run("explain", RULES, "--accounts", accounts, "--account", "seed", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    drawer = json.loads(result.output)
    assigned = drawer["icps"][0]
    ciso = next(p for p in assigned["parameters"] if p["parameter"] == "Hired a CISO in 12mo")
    assert ciso["value"] == "yes (2026-03-01)"
    text = run("explain", RULES, "--accounts", accounts, "--account", "seed", "--as-of", AS_OF).output
    assert "17 / 20 normalizes to 85 / 100 on the ICP score field." in text
    loser = drawer["icps"][1]
    assert not loser["qualifies"]
    assert f"would score {loser['score']} / 100 if it qualified." in text
    assert text.count("normalizes to") == 1


def test_preview_of_a_live_icp_is_refused(sample, tmp_path):
    result = run("score", RULES, "--accounts", sample / "accounts.csv", "--out", tmp_path / "p.csv",
                 "--preview", "mm_saas")
    assert result.exit_code == 1
    assert "`mm_saas` is live, not a draft" in result.output and "ent_finserv" in result.output
    assert run("score", RULES, "--accounts", sample / "accounts.csv", "--out", tmp_path / "p.csv",
               "--preview", "ent_finserv").exit_code == 0


def test_check_json_gives_every_diagnostic_with_its_place(tmp_path):
    rules = tmp_path / "bad.ust"
    rules.write_text('icp x "X" live {\n  score 1: employes > 3\n}\n')
    result = run("check", rules, "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    [problem] = report["diagnostics"]
    assert (problem["severity"], problem["code"], problem["line"], problem["column"]) == ("error", "E012", 2, 12)
    assert problem["file"] == str(rules) and "employes" in problem["message"]
    good = json.loads(run("check", RULES, "--json").output)
    assert good["ok"] is True and good["icps"] == 3 and good["diagnostics"] == []


def test_diagnostics_show_control_characters_in_rule_text(tmp_path):
    rules = tmp_path / "bad.ust"
    rules.write_text('icp x "X \x1b[2J" live { score 1: employes > 3 }\n')
    result = run("check", rules)
    assert result.exit_code == 1
    assert "\x1b[2J" not in result.output and "\\x1b[2J" in result.output


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """1,000 sample accounts, their leads and signals in a workspace (enough for a stage audience)."""
    import shutil

    folder = tmp_path_factory.mktemp("workspace")
    assert run("demo", "--accounts", 1000, "--out", folder, "--as-of", AS_OF).exit_code == 0
    rules = folder / "rules"
    shutil.copytree(RULES, rules)
    with open(rules / "icps.ust", "a", encoding="utf-8") as out:
        out.write('\naudience warm_fit "Fit and warming" { icp_score >= 50 and stage >= "warm" }\n')
    db = folder / "w.duckdb"
    first = run("ingest", rules, "--accounts", folder / "accounts.csv", "--leads", folder / "leads.csv",
                "--signals", folder / "signals.csv", "--db", db, "--as-of", AS_OF)
    assert first.exit_code == 0, first.output
    return folder, db, first.output


def test_export_of_a_stage_audience_uses_the_stored_signals(workspace, tmp_path):
    folder, db, _ = workspace
    listed = run("audience", folder / "rules", "warm_fit", "--db", db, "--as-of", AS_OF, "--out", tmp_path / "a.csv")
    exported = run("export", "--db", db, "--audience", "warm_fit", "--as-of", AS_OF, "--out", tmp_path / "e.csv")
    assert listed.exit_code == 0 and exported.exit_code == 0, listed.output + exported.output
    members = pcsv.read_csv(tmp_path / "a.csv").column("lead_id").to_pylist()
    assert members, "the sample should put someone in warm_fit"
    assert pcsv.read_csv(tmp_path / "e.csv").column("lead_id").to_pylist() == members


def test_accounts_only_workspace_exports_its_accounts(sample, tmp_path):
    db = tmp_path / "w.duckdb"
    assert run("ingest", RULES, "--accounts", sample / "accounts.csv", "--db", db, "--as-of", AS_OF).exit_code == 0
    result = run("export", "--db", db, "--out", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    table = pcsv.read_csv(tmp_path / "out.csv")
    assert table.num_rows == pcsv.read_csv(sample / "accounts.csv").num_rows
    assert {"account_id", "icp_code", "icp_score", "industry", "tech_stack"} <= set(table.column_names)


def test_export_accounts_out_includes_accounts_without_leads(workspace, tmp_path):
    folder, db, _ = workspace
    result = run("export", "--db", db, "--out", tmp_path / "leads.csv", "--accounts-out", tmp_path / "accounts.csv")
    assert result.exit_code == 0, result.output
    accounts = pcsv.read_csv(tmp_path / "accounts.csv")
    leads = pcsv.read_csv(tmp_path / "leads.csv")
    assert accounts.num_rows == 1000
    assert len(set(accounts.column("account_id").to_pylist()) - set(leads.column("account_id").to_pylist())) > 0


def test_first_ingest_reports_new_records_not_changes(workspace):
    _, _, report = workspace
    assert "scored for the first time" in report
    assert "changed ICP" not in report and "changed Persona" not in report


def test_publish_and_diff_count_band_changes_in_the_same_units(workspace, tmp_path):
    folder, db, _ = workspace
    changed = tmp_path / "rules_new"
    import shutil

    shutil.copytree(RULES, changed)
    icps = changed / "icps.ust"
    icps.write_text(icps.read_text().replace('score 5 "Uses Snowflake"', 'score 9 "Uses Snowflake"'))
    diff = run("diff", RULES, changed, "--db", db, "--as-of", AS_OF)
    assert diff.exit_code == 0, diff.output
    predicted = int(re.search(r"([\d,]+) leads would change band", diff.output).group(1).replace(",", ""))
    copy = tmp_path / "w.duckdb"
    shutil.copy(db, copy)
    published = run("publish", changed, "--db", copy, "--yes")
    assert published.exit_code == 0, published.output
    shown = int(re.search(r"([\d,]+) leads would change band", published.output).group(1).replace(",", ""))
    applied = int(re.search(r"([\d,]+) changed band \(ICP band / Persona band\)", published.output).group(1).replace(",", ""))
    assert applied == shown == predicted > 0


def _on_a_terminal(args: list[str], cwd: Path) -> str:
    """Run the command line with stderr on a pseudo-terminal; what the terminal received."""
    import os
    import pty
    import subprocess
    import sys

    controller, terminal = pty.openpty()
    env = dict(os.environ, COLUMNS="120", TERM="xterm")
    process = subprocess.Popen([sys.executable, "-m", "unstuck_dsl", *map(str, args)], cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=terminal, env=env)
    os.close(terminal)
    received = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        received += chunk
    process.wait(timeout=300)
    os.close(controller)
    assert process.returncode == 0, received.decode(errors="replace")[-2000:]
    return received.decode(errors="replace")


def test_long_commands_show_progress_with_counts_on_a_terminal_only(sample, tmp_path):
    args = ["ingest", RULES, "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv",
            "--db", tmp_path / "w.duckdb", "--as-of", AS_OF]
    shown = _on_a_terminal(args, tmp_path)
    assert "storing 300 accounts" in shown and "scoring 300 accounts and" in shown
    piped = run("refresh", "--db", tmp_path / "w.duckdb", "--as-of", AS_OF)
    assert piped.exit_code == 0
    assert "scoring" not in piped.output and piped.output.count("\n") == 1


def test_every_command_defaults_to_the_same_workspace(sample, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run("ingest", RULES, "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv",
               "--outcomes", sample / "outcomes.csv", "--as-of", AS_OF).exit_code == 0
    assert (tmp_path / "unstuck.duckdb").is_file()
    assert run("export", "--out", tmp_path / "e.csv").exit_code == 0
    assert run("insights", "--json").exit_code == 0
    assert run("refresh", "--as-of", AS_OF).exit_code == 0
    assert "version 1" in run("status").output


def test_missing_columns_unknown_reads_absent_fields_as_unknown_with_a_warning(tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,industry,employees\nseed,software,240\n")
    refused = run("score", RULES, "--accounts", accounts, "--out", tmp_path / "o.csv", "--as-of", AS_OF)
    assert refused.exit_code == 1 and "missing columns" in refused.output
    scored = run("score", RULES, "--accounts", accounts, "--out", tmp_path / "o.csv", "--as-of", AS_OF,
                 "--missing-columns", "unknown")
    assert scored.exit_code == 0, scored.output
    assert "warning:" in scored.output and "`tech_stack`" in scored.output
    assert pcsv.read_csv(tmp_path / "o.csv").num_rows == 1


def test_skip_unknown_signals_counts_what_it_left_out(sample, tmp_path):
    signals = tmp_path / "signals.csv"
    first_lead = pcsv.read_csv(sample / "leads.csv").column("lead_id")[0].as_py()
    signals.write_text(f"lead_id,signal,timestamp\n{first_lead},meeting,2026-11-20\n{first_lead},newsletter,2026-11-21\n")
    base = ["score", RULES, "--accounts", sample / "accounts.csv", "--leads", sample / "leads.csv",
            "--signals", signals, "--out", tmp_path / "o.csv", "--as-of", AS_OF]
    refused = run(*base)
    assert refused.exit_code == 1 and "'newsletter' is not a declared signal type" in refused.output
    kept = run(*base, "--skip-unknown-signals")
    assert kept.exit_code == 0, kept.output
    assert "newsletter 1" in kept.output
    db = tmp_path / "w.duckdb"
    stored = run("ingest", RULES, "--signals", signals, "--db", db, "--skip-unknown-signals")
    assert stored.exit_code == 0, stored.output
    assert "1 signals" in stored.output and "newsletter 1" in stored.output


COUNTRY_RULES = """
account fields { country: category  office_countries: set  hq: text }
icp a "A" live {
  score 1: country == "{country}"
  score 1: office_countries has any {"DE", "{office}"}
}
"""


@pytest.mark.parametrize("country, office, wrong, hint", [
    ("us", "GB", '"us" is not a country code', 'write "US"'),
    ("US", "USA", '"USA" is not a country code', "did you mean `US`?"),
])
def test_conditions_on_country_fields_must_use_country_codes(tmp_path, country, office, wrong, hint):
    rules = tmp_path / "r.ust"
    rules.write_text(COUNTRY_RULES.replace("{country}", country).replace("{office}", office))
    result = run("check", rules)
    assert result.exit_code == 1
    assert "E036" in result.output and wrong in result.output and hint in result.output


def test_country_codes_in_conditions_check_clean(tmp_path):
    rules = tmp_path / "r.ust"
    rules.write_text(COUNTRY_RULES.replace("{country}", "US").replace("{office}", "GB"))
    assert run("check", rules).exit_code == 0


def test_country_values_that_are_not_codes_are_a_warning_once_per_run(tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("account_id,industry,employees,arr_usd,country,tech_stack,funding_stage,hired_ciso_on,"
                        "is_competitor\na1,software,240,,USA,Snowflake,Series B,,false\n"
                        "a2,software,240,,uk,Snowflake,Series B,,false\na3,software,240,,US,,,,false\n")
    result = run("score", RULES, "--accounts", accounts, "--out", tmp_path / "o.csv", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "`country`" in warnings[0] and "'USA'" in warnings[0] and "'uk'" in warnings[0] and "'US'" not in warnings[0]


def test_a_condition_on_an_id_says_what_an_id_is_not_to_declare_it(tmp_path):
    rules = tmp_path / "r.ust"
    rules.write_text('account fields { industry: category }\nicp a "A" live { score 1: account_id == "A1" }\n')
    result = run("check", rules)
    assert result.exit_code == 1
    assert "E012" in result.output and "is the record's id" in result.output
    assert "declare it in `account fields" not in result.output


def test_explain_preview_shows_the_drafts_drawer_as_if_live(sample, tmp_path):
    scored = tmp_path / "p.csv"
    assert run("score", RULES, "--accounts", sample / "accounts.csv", "--out", scored, "--preview", "ent_finserv",
               "--as-of", AS_OF).exit_code == 0
    table = pcsv.read_csv(scored)
    account = next(a for a, code in zip(table.column("account_id").to_pylist(),
                                        table.column("preview_icp_code").to_pylist()) if code == "ent_finserv")
    base = ["explain", RULES, "--accounts", sample / "accounts.csv", "--account", account, "--as-of", AS_OF]
    previewed = json.loads(run(*base, "--preview", "ent_finserv", "--json").output)
    assert previewed["preview"] == ["ent_finserv"] and previewed["icp_code"] == "ent_finserv"
    assert previewed["icps"][0]["code"] == "ent_finserv" and previewed["icps"][0]["verdict"] == "assigned"
    assert "preview of ent_finserv as if live" in run(*base, "--preview", "ent_finserv").output
    live = json.loads(run(*base, "--json").output)
    assert "preview" not in live and all(b["code"] != "ent_finserv" for b in live["icps"])
