"""Golden files for diagnostics: `tests/golden/NAME.ust` is checked exactly as
`unstuck check tests/golden/NAME.ust` does it (the CLI, run from the repository root, colour
off), and what it prints must equal `tests/golden/NAME.out`.

After an intended change to a diagnostic, regenerate the expected outputs and review the diff:

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from unstuck_dsl.cli import cli
from unstuck_dsl.diagnostics import CODES, render_all
from unstuck_dsl.pipeline import check_sources
from unstuck_dsl.source import Source

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.ust"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"

SUMMARY = re.compile(r"^(\d+) errors?, (\d+) warnings?$", re.MULTILINE)
HEADER = re.compile(r"^(?P<file>\S+?):(?P<line>\d+):(?P<column>\d+): (?P<severity>error|warning)\[(?P<code>[EW]\d{3})\]: ",
                    re.MULTILINE)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_cli(*args: str):
    """`unstuck ARGS` as a user runs it from the repository root."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        os.chdir(cwd)


def assert_no_crash(result) -> None:
    assert "Traceback" not in result.output
    # sys.exit(1) is how `check` reports errors; anything else escaping is a crash.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


@pytest.fixture(scope="module")
def outputs() -> dict[str, object]:
    return {name: run_cli("check", f"tests/golden/{name}.ust") for name in CASES}


@pytest.mark.parametrize("name", CASES)
def test_output_matches_golden_file(name, outputs):
    result = outputs[name]
    expected = GOLDEN / f"{name}.out"
    if UPDATE:
        expected.write_text(result.output, encoding="utf-8")
    assert expected.exists(), f"no {expected.name}: run with UPDATE_GOLDEN=1 to create it, then review it"
    assert_no_crash(result)
    assert result.output == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", CASES)
def test_exit_code_is_1_exactly_when_there_is_an_error(name, outputs):
    result = outputs[name]
    summary = SUMMARY.findall(result.output)
    errors = int(summary[-1][0]) if summary else 0
    assert result.exit_code == (1 if errors else 0)
    if errors == 0:
        assert result.output.rstrip().splitlines()[-1].startswith("ok: 1 file")


def test_golden_files_have_no_stray_outputs():
    orphans = sorted(p.name for p in GOLDEN.glob("*.out") if p.stem not in CASES)
    assert orphans == []


def test_every_diagnostic_code_has_a_golden_case():
    covered = set()
    for out in GOLDEN.glob("*.out"):
        covered |= {m["code"] for m in HEADER.finditer(out.read_text(encoding="utf-8"))}
    assert set(CODES) - covered == set()


def test_every_registered_code_is_raised_and_every_raised_code_is_registered():
    """A code is raised as `Code.E012`; a misspelt one (`Code.E0l2`) or a bare string fails here,
    before the line that would raise it ever runs."""
    raised, literals = set(), []
    for module in (REPO / "unstuck_dsl").rglob("*.py"):
        if module.name == "diagnostics.py":
            continue
        text = module.read_text(encoding="utf-8")
        raised |= set(re.findall(r"\bCode\.(\w+)", text))
        literals += [f"{module.name}: {code}" for code in re.findall(r'"([EW]\d{3})"', text)]
    assert raised - set(CODES) == set(), "not in diagnostics.Code"
    assert set(CODES) - raised == set(), "registered but never raised"
    assert literals == [], "raise diagnostics with diagnostics.Code, not a string"


def test_every_diagnostic_code_is_documented_with_its_meaning():
    """docs/language.md's table lists exactly the registered codes, each with the registry's
    meaning (a warning's row says so)."""
    rows = re.findall(r"^\| ([EW]\d{3}) \| (.*?) \| .*\|$", (REPO / "docs" / "language.md").read_text(), re.MULTILINE)
    documented = dict(rows)
    assert len(documented) == len(rows)
    assert set(documented) == set(CODES)
    for code, meaning in documented.items():
        entry = CODES[code]
        assert meaning == entry.meaning + (" (warning)" if entry.severity == "warning" else ""), code
        assert entry.severity == ("error" if code.startswith("E") else "warning")


@pytest.mark.parametrize("name", CASES)
def test_blocks_are_ordered_errors_first_then_by_position(name, outputs):
    headers = [m.groupdict() for m in HEADER.finditer(outputs[name].output)]
    keys = [(h["severity"] == "warning", int(h["line"]), int(h["column"])) for h in headers]
    assert keys == sorted(keys)
    assert all(h["file"] == f"tests/golden/{name}.ust" for h in headers)


@pytest.mark.parametrize("name", CASES)
def test_caret_lies_under_the_reported_column(name, outputs):
    """Each block shows the reported source line, and its caret starts at the reported column."""
    text = (GOLDEN / f"{name}.ust").read_text(encoding="utf-8").split("\n")
    blocks = outputs[name].output.split("\n\n")
    for block in blocks:
        head = HEADER.match(block)
        if head is None:
            continue
        line, column = int(head["line"]), int(head["column"])
        source_row, caret_row = block.split("\n")[2:4]
        gutter = len(str(line)) + 3
        assert source_row[gutter:] == text[line - 1]
        assert caret_row[gutter:].index("^") == column - 1


def test_several_errors_are_all_reported_with_a_summary(outputs):
    output = outputs["many_errors"].output
    codes = [m["code"] for m in HEADER.finditer(output)]
    assert codes == ["E040", "E032", "E033", "E012", "E014", "W001"]
    assert output.rstrip().endswith("5 errors, 1 warning")


def test_misspelt_field_gets_did_you_mean(outputs):
    output = outputs["e012_misspelt_field"].output
    assert "tests/golden/e012_misspelt_field.ust:9:28: error[E012]: unknown field `employes`" in output
    assert "= hint: did you mean `employees`?" in output


def test_warnings_only_exit_0_and_the_ruleset_is_usable(outputs):
    result = outputs["w001_no_score_parameters"]
    assert result.exit_code == 0
    assert "warning[W001]" in result.output and "error[" not in result.output


def test_colour_is_only_ansi_codes_around_the_same_text():
    source = Source("tests/golden/many_errors.ust", (GOLDEN / "many_errors.ust").read_text(encoding="utf-8"))
    _, diagnostics = check_sources([source])
    plain = render_all(diagnostics, {source.name: source}, color=False)
    coloured = render_all(diagnostics, {source.name: source}, color=True)
    assert "\x1b[" not in plain and "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain


def test_example_workspace_checks_clean():
    result = run_cli("check", "rules")
    assert_no_crash(result)
    assert result.exit_code == 0
    assert result.output.startswith("ok: 5 files, 3 ICPs, 4 Personas")  # three of rules, two of rule tests


# ---- the CLI's other failures: one clear line, exit 1, no traceback -----------------------------


def test_missing_path(tmp_path):
    result = run_cli("check", str(tmp_path / "nope.ust"))
    assert_no_crash(result)
    assert result.exit_code == 1
    assert "no such file or directory" in result.output


def test_directory_without_rule_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not rules")
    result = run_cli("check", str(tmp_path))
    assert_no_crash(result)
    assert result.exit_code == 1
    assert "no .ust rule files" in result.output


def test_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.ust"
    path.write_bytes('region europe "Europe" { GB }  # Zürich\n'.encode("latin-1"))
    result = run_cli("check", str(path))
    assert_no_crash(result)
    assert result.exit_code == 1
    assert "not UTF-8" in result.output


def test_directory_with_errors_in_several_files_reports_each_file(tmp_path):
    (tmp_path / "a.ust").write_text('account fields {\n  employees: int\n}\nicp a {\n  score 1: employes > 5\n}\n')
    (tmp_path / "b.ust").write_text('icp b {\n  score 0: employees > 5\n}\n')
    result = run_cli("check", str(tmp_path))
    assert_no_crash(result)
    assert result.exit_code == 1
    assert f"{tmp_path / 'a.ust'}:5:12: error[E012]" in result.output
    assert f"{tmp_path / 'b.ust'}:2:3: error[E040]" in result.output
    assert result.output.rstrip().endswith("2 errors, 0 warnings")


def test_shown_source_line_is_the_reported_line_when_a_comment_holds_a_line_separator():
    text = "account fields {\n  employees: int  # from the CRM\u2028export\n}\nicp a {\n  score 1: employes > 1\n}\n"
    source = Source("t.ust", text)
    _, diagnostics = check_sources([source])
    assert str(diagnostics[0].span) == "t.ust:5:12"
    assert "5 |   score 1: employes > 1" in render_all(diagnostics, {"t.ust": source})
