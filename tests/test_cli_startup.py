"""`unstuck --help` and `unstuck check` start at once: they never load the scoring engine's
libraries (numba, pyarrow, numpy, duckdb...), and the help lists every command as click would.
Behaviour, not timing: each test looks at which modules a real `unstuck` process imported."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from unstuck_dsl import sample
from unstuck_dsl.cli import COMMANDS, cli
from unstuck_dsl.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
AS_OF = dt.date(2026, 11, 26)

# What neither --help nor check needs: the engine (numba, numpy, pyarrow), the store (duckdb),
# the server and its pages (starlette, uvicorn, jinja2), Spark, the language server, pandas,
# scikit-learn and scipy (suggest), matplotlib (insights), polars.
HEAVY = ("numba", "numpy", "pyarrow", "duckdb", "starlette", "uvicorn", "jinja2", "pyspark", "pygls", "pandas",
         "sklearn", "scipy", "matplotlib", "polars")

# The parser generated from the grammar: what parses a rule file, without Lark itself.
PARSER = "unstuck_dsl.grammar.lalr"

# Runs `unstuck ARGS` as the console script does, then prints the top-level modules it imported.
PROBE = """
import atexit, json, sys
atexit.register(lambda: print("\\nMODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["unstuck", *sys.argv[1:]]
from unstuck_dsl.cli import main
main()
"""


def _modules_of(*args: str, cwd: Path = ROOT, cache: Path | None = None,
                ) -> tuple[subprocess.CompletedProcess, set[str]]:
    """The process, and the modules it imported: each by its full name and by its top package."""
    env = {**os.environ, "COLUMNS": "80", **({"UNSTUCK_CACHE_DIR": str(cache)} if cache else {})}
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)
    line = done.stderr.rpartition("\nMODULES ")[2]
    names = set(json.loads(line))
    return done, names | {name.split(".")[0] for name in names}


def test_help_lists_every_command_without_loading_any():
    done, modules = _modules_of("--help")
    assert done.returncode == 0, done.stderr
    for name in COMMANDS:
        assert f"\n  {name} " in done.stdout
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
    assert not modules & {"lark", PARSER} and "rich" not in modules  # not even the parser: nothing is checked
    assert "attr" not in modules  # nor the syntax tree's classes (attrs: a fifth of the listing's time)


def test_check_loads_only_the_front_end():
    done, modules = _modules_of("check", str(RULES))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_fmt_loads_only_the_front_end(tmp_path):
    ugly = tmp_path / "ugly.ust"
    ugly.write_text((RULES / "fields.ust").read_text(encoding="utf-8").replace("\n", "\n\n\n", 3), encoding="utf-8")
    done, modules = _modules_of("fmt", str(ugly))
    assert done.returncode == 0, done.stderr
    assert ugly.read_text(encoding="utf-8") == (RULES / "fields.ust").read_text(encoding="utf-8")
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_check_finds_its_kept_trees_without_the_kernel_machinery():
    """The kept syntax trees live in the kernels' folder; finding them loads neither the kernels'
    module (subprocess, tempfile, hashing) nor importlib's resource readers (zipfile)."""
    done, modules = _modules_of("check", str(RULES))
    assert done.returncode == 0, done.stderr
    assert "unstuck_dsl.cache" in modules
    assert not modules & {"unstuck_dsl.kernel", "unstuck_dsl.id_hash", "importlib.readers", "zipfile", "subprocess",
                          "tempfile", "hashlib"}


def test_check_of_files_it_parsed_before_loads_no_parser(tmp_path):
    """The second check of the same files reads their kept syntax trees: no parser, and the same
    report, warnings and their places included; a changed file is parsed again. No check loads
    Lark itself or analyses the grammar: the parser's tables ship with the package, so the first
    check, of an empty cache folder, parses with them too and keeps nothing but the trees and the
    parser they built."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for source in RULES.glob("*.ust"):
        (rules / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    icps = rules / "icps.ust"
    icps.write_text(icps.read_text(encoding="utf-8") + 'audience never "Never" { icp_score > 100 }\n', encoding="utf-8")
    runs = [_modules_of("check", str(rules), cache=tmp_path / "cache") for _ in range(2)]
    (first, first_modules), (second, second_modules) = runs
    assert first.returncode == second.returncode == 0, first.stderr
    assert "W003" in first.stdout and "ok: 5 files" in first.stdout
    assert (second.stdout, second.stderr.partition("\nMODULES ")[0]) == (first.stdout, first.stderr.partition("\nMODULES ")[0])
    assert PARSER in first_modules and PARSER not in second_modules
    kept = sorted(path.name for path in (tmp_path / "cache").iterdir())
    assert len(kept) == 2 and kept[0] == "parsed" and kept[1].startswith("parser-")
    icps.write_text(icps.read_text(encoding="utf-8").replace("> 100", "> 101"), encoding="utf-8")
    changed, changed_modules = _modules_of("check", str(rules), cache=tmp_path / "cache")
    assert PARSER in changed_modules and "`icp_score > 101` is never true" in changed.stdout
    assert "lark" not in first_modules | second_modules | changed_modules


@pytest.mark.parametrize("args", [("--format", "json"), ("--format", "sarif"), ("--strict",)])
def test_check_reports_and_failures_load_only_the_front_end(tmp_path, args):
    broken = tmp_path / "broken.ust"
    broken.write_text('icp "x" {\n  filter employees >\n}\n', encoding="utf-8")
    done, modules = _modules_of("check", str(broken), *args)
    assert done.returncode == 1
    assert done.stdout or done.stderr
    assert "Traceback" not in done.stderr
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_check_of_a_missing_path_is_one_line_without_the_engine(tmp_path):
    done, modules = _modules_of("check", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: ")
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_a_scoring_command_still_loads_the_engine_when_it_runs(sample, tmp_path):
    out = tmp_path / "scores.csv"
    done, modules = _modules_of("score", str(RULES), "--accounts", str(sample / "accounts.csv"), "--out", str(out),
                                "--as-of", AS_OF.isoformat())
    assert done.returncode == 0, done.stderr
    assert {"numba", "pyarrow"} <= modules
    # Installed, but kept out by the command: pyarrow would load pandas, numba scipy.linalg.
    assert "pandas" not in modules and "scipy" not in modules


def test_an_ingest_reads_the_rules_it_parsed_before_and_shows_no_diff(sample, tmp_path):
    """Every ingest checks the rules given and the published ones: from their kept syntax trees
    once earlier runs have parsed both (no parser), and it shows no diff (no rich tables)."""
    db = tmp_path / "w.duckdb"
    ingest = ("ingest", str(RULES), "--accounts", str(sample / "accounts.csv"), "--db", str(db),
              "--as-of", AS_OF.isoformat())
    runs = [_modules_of(*ingest, cache=tmp_path / "cache") for _ in range(3)]
    assert [done.returncode for done, _ in runs] == [0, 0, 0], [done.stderr for done, _ in runs]
    assert "a new workspace: published" in runs[0][0].stdout and "0 inserted, 0 updated" in runs[2][0].stdout
    assert PARSER in runs[0][1] and PARSER not in runs[2][1]
    assert not any("rich" in modules for _, modules in runs)


def test_an_ingest_refusing_its_file_says_why_without_loading_the_kernels(sample, tmp_path):
    """The files an ingest is given are read and checked before the kernels load (numba's
    start-up, most of a second): a file refused is said at once, and the workspace keeps its
    records."""
    db = tmp_path / "w.duckdb"
    with Workspace(db) as workspace:
        workspace.ingest(accounts=sample / "accounts.csv", rules=RULES, as_of=AS_OF)
    bad = tmp_path / "bad.csv"
    bad.write_text("account_id,employees\nA-1,many\n")
    done, modules = _modules_of("ingest", str(RULES), "--accounts", str(bad), "--db", str(db))
    assert done.returncode == 1
    assert done.stderr.startswith(f"error: {bad}: column `employees`"), done.stderr
    assert "numba" not in modules
    with Workspace(db, read_only=True) as workspace:
        assert workspace.store.count("account") == 300


def test_a_command_that_loads_pyarrow_gets_the_lean_memory_pool(sample, tmp_path):
    """Arrow's jemalloc pool is set when the command loads pyarrow, as it was when the command
    line imported pyarrow up front (ARROW_DEFAULT_MEMORY_POOL still decides)."""
    import pyarrow as pa

    try:
        pa.jemalloc_memory_pool()
    except NotImplementedError:
        pytest.skip("this pyarrow is built without jemalloc")
    report = ("import atexit, sys; atexit.register(lambda: print('POOL', sys.modules['pyarrow']"
              ".default_memory_pool().backend_name, file=sys.stderr))\n")
    args = ["score", str(RULES), "--accounts", str(sample / "accounts.csv"), "--out", str(tmp_path / "s.csv"),
            "--as-of", AS_OF.isoformat()]
    unset = {name: value for name, value in os.environ.items() if name != "ARROW_DEFAULT_MEMORY_POOL"}
    for environment, pool in (({}, "jemalloc"), ({"ARROW_DEFAULT_MEMORY_POOL": "system"}, "system")):
        done = subprocess.run([sys.executable, "-c", report + PROBE, *args], capture_output=True, text=True,
                              cwd=ROOT, env={**unset, **environment}, timeout=120)
        assert done.returncode == 0, done.stderr
        assert f"POOL {pool}" in done.stderr


def test_only_large_inputs_are_read_with_numpys_arrays_without_huge_pages(tmp_path):
    """Inputs of `LARGE_INPUT_BYTES` or more turn numpy's transparent huge pages off for the
    command (their first touch is slow on a virtual machine); smaller ones leave numpy as it was."""
    pytest.importorskip("numpy._core.multiarray", reason="numpy 2's module for the switch")
    from numpy._core import multiarray

    if not hasattr(multiarray, "_set_madvise_hugepage"):
        pytest.skip("this numpy has no huge-page switch")
    small = tmp_path / "accounts.csv"
    small.write_text("account_id\nA-1\n")
    script = ("import sys\nimport unstuck_dsl.cli.process as process\n"
              "from numpy._core.multiarray import _set_madvise_hugepage as huge\n"
              "started = huge(True); huge(started)\n"  # (the switch answers with its state before)
              "process.reading_inputs([sys.argv[1], None]); small = huge(started)\n"
              "process.LARGE_INPUT_BYTES = 1; process.reading_inputs([sys.argv[1], None]); large = huge(started)\n"
              "print(started, small, large)\n")
    done = subprocess.run([sys.executable, "-c", script, str(small)], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    started, small_input, large_input = done.stdout.split()
    assert small_input == started
    assert large_input == "False"


def _set_aside(args: list[str], modules: tuple[str, ...]) -> dict[str, bool]:
    """Run `unstuck ARGS`; per module, whether its namespace was set aside from the cycle collector
    (gc.freeze) as the command ended, before it sets everything aside for its exit."""
    report = ("import gc, json, sys\nimport unstuck_dsl.cli as cli\nat_exit = cli.set_aside_at_exit\n"
              "def report():\n"
              "    tracked = {id(o) for o in gc.get_objects()}\n"
              f"    print('SET ASIDE', json.dumps({{m: id(vars(sys.modules[m])) not in tracked for m in {modules!r}}}),"
              " file=sys.stderr)\n"
              "    at_exit()\n"
              "cli.set_aside_at_exit = report\n")
    done = subprocess.run([sys.executable, "-c", report + PROBE, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.rpartition("SET ASIDE ")[2].splitlines()[0])


def test_a_scoring_command_sets_the_engine_and_the_kernels_it_loaded_aside_from_the_collector(sample, tmp_path):
    """What loading the engine and the kernels makes (pyarrow, the back end; numba's modules and
    types, the kernels: ~100,000 objects) lives until the command ends: each loads without cycle
    collection and is set aside (gc.freeze), as the command's own modules are, so that no
    collection walks it again (an ingest of 1,000 accounts into 1M: some 290 collections, two
    full, 0.15-0.3 s)."""
    args = ["score", str(RULES), "--accounts", str(sample / "accounts.csv"), "--leads", str(sample / "leads.csv"),
            "--out", str(tmp_path / "s.csv"), "--as-of", AS_OF.isoformat()]
    _set_aside(args, ("numba",))  # (the first run may compile the kernels; the second loads them)
    assert _set_aside(args, ("numba", "pyarrow.compute", "unstuck_dsl.api")) == dict.fromkeys(
        ("numba", "pyarrow.compute", "unstuck_dsl.api"), True)


def test_a_workspace_command_sets_the_store_it_loaded_aside_from_the_collector(sample, tmp_path):
    db = tmp_path / "w.duckdb"
    with Workspace(db) as workspace:
        workspace.ingest(accounts=sample / "accounts.csv", rules=RULES, as_of=AS_OF)
    modules = ("duckdb", "unstuck_dsl.store", "unstuck_dsl.workspace")
    assert _set_aside(["status", "--db", str(db)], modules) == dict.fromkeys(modules, True)


def test_suggest_still_gets_scipy_for_its_regression(tmp_path):
    accounts, leads = sample.generate(2000)
    db = tmp_path / "w.duckdb"
    with Workspace(db) as workspace:
        workspace.ingest(accounts=accounts, leads=leads, rules=RULES, as_of=AS_OF)
        scored = workspace.compiled.score(accounts, leads, as_of=AS_OF)
        workspace.ingest(outcomes=sample.outcomes(scored.leads, as_of=AS_OF, accounts=accounts, leads=leads))
    done, modules = _modules_of("suggest", "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    assert {"sklearn", "scipy"} <= modules
    assert json.loads(done.stdout)["leads"] == scored.leads.num_rows


@pytest.mark.parametrize("width", [40, 60, 80, 200])
def test_help_lists_each_command_as_its_own_help_says(width):
    """The lazy listing equals click's own, which loads every command and reads its help."""
    lazy = click.HelpFormatter(width=width)
    eager = click.HelpFormatter(width=width)
    with click.Context(cli, info_name="unstuck") as ctx:
        cli.format_commands(ctx, lazy)
        click.Group.format_commands(cli, ctx, eager)
    assert lazy.getvalue() == eager.getvalue()
    assert eager.getvalue().count("\n") == len(COMMANDS) + 1


def test_every_command_is_found_where_the_table_says():
    for name, entry in COMMANDS.items():
        command = cli.commands[name]
        assert isinstance(command, click.Command)
        assert command.name == name
        assert command.callback.__module__ == f"unstuck_dsl.cli.{entry.module}"


@pytest.mark.parametrize("module", ["unstuck_dsl", "unstuck_dsl.cli"])
def test_python_dash_m_is_the_same_command(module):
    done = subprocess.run([sys.executable, "-m", module, "check", str(RULES)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: ")


def test_every_command_the_readme_tour_does_not_run_works_as_the_console_script_runs_it(sample, tmp_path):
    """The CLI tests call click in-process, where pandas and scipy are already loaded; the console
    script hides both (`process.without_unused`). Each command the README tour leaves out runs
    here as a real `unstuck` process: it succeeds without them and never loads them."""
    import shutil

    rules = tmp_path / "rules"  # the example rules with one weight changed: version 2
    shutil.copytree(RULES, rules)
    icps = rules / "icps.ust"
    icps.write_text(icps.read_text(encoding="utf-8").replace('score 5 "Uses Snowflake"', 'score 6 "Uses Snowflake"', 1),
                    encoding="utf-8")
    db = tmp_path / "w.duckdb"
    accounts, leads = sample / "accounts.csv", sample / "leads.csv"
    with Workspace(db) as workspace:
        workspace.ingest(accounts=str(accounts), leads=str(leads), rules=RULES, as_of=AS_OF)
        workspace.publish(str(rules), message="Snowflake weighs more", as_of=AS_OF)
    lead = "L000000001"
    commands = [
        ("compile", str(RULES)),
        ("test", str(RULES)),
        ("fmt", "--check", str(rules)),
        ("diff", str(RULES), str(rules), "--accounts", str(accounts), "--leads", str(leads), "--as-of", AS_OF.isoformat()),
        ("export", "--db", str(db), "--out", str(tmp_path / "leads.parquet"), "--with", "fields"),
        ("export", "--db", str(db), "--table", "accounts", "--out", str(tmp_path / "accounts.csv")),
        ("explain", "--db", str(db), "--lead", lead),
        ("audience", "hot", "--db", str(db), "--composition"),
        ("requalify", "--db", str(db), "--lead", lead),
        ("rollback", "1", "--db", str(db), "--yes"),
        ("history", "--db", str(db)),
    ]
    assert 'score 6 "Uses Snowflake"' in icps.read_text(encoding="utf-8")
    for args in commands:
        done, modules = _modules_of(*args)
        assert done.returncode == 0, (args, done.stdout[-500:], done.stderr[-2000:])
        assert "Traceback" not in done.stderr
        assert not modules & {"pandas", "scipy"}, (args, sorted(modules & {"pandas", "scipy"}))
    assert (tmp_path / "leads.parquet").stat().st_size and (tmp_path / "accounts.csv").stat().st_size
    lines = done.stdout.splitlines()  # history: a version a line, "*" before the published one
    assert [line.replace("*", "").split()[0] for line in lines] == ["1", "2", "3"]
    assert lines[-1].startswith("*")  # the rollback published version 1's rules again as version 3
