"""Rough edges a new user hits at the command line (issue 13): counts that mean what they say,
tables that never cut ids, help for every option."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pyarrow.csv as pcsv
import pytest
from click.testing import CliRunner

from unstuck_dsl.cli import cli

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
AS_OF = "2026-11-26"


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample")
    assert run("demo", "--accounts", 300, "--out", out, "--as-of", AS_OF).exit_code == 0
    return out


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
