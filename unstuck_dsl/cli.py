"""The `unstuck` command line: every user-facing failure is one clear message, never a traceback."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import os
import sys
import time
import warnings
from pathlib import Path

import attrs
import click
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from . import insights as analysis
from . import pipeline, sample
from .data import DataError
from .diagnostics import RuleError, json_report, render_all, sarif_report
from .diff import compare
from .kernel import KernelCacheWarning
from .output import REPORT_FORMATS, OutputError, check_destinations, write_table, write_text
from .printer import quote as ast_quote
from .render import print_composition, print_demo, print_diff, print_explanation, print_insights, print_members
from .service.client import open_store, open_workspace
from .source import SourceError, read_sources
from .store import WorkspaceBusy
from .terminal import visible
from .workspace import Workspace, engagement_unknown

# The scoring engine (.api, .engagement) imports numba, which costs most of a second; the pipeline
# loads it only when rules are compiled, so `unstuck check` and `--help` start at once.


class UserError(click.ClickException):
    """A problem the user can fix: one message, exit code 1."""
    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def user_errors(fn):
    """Turn every expected failure (rules, data, ids, dates) into one clear line."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from .api import ScoringError

        try:
            return fn(*args, **kwargs)
        except RuleError as exc:
            click.echo(render_all(exc.diagnostics, exc.sources, color=sys.stderr.isatty()), err=True)
            sys.exit(1)
        except (SourceError, DataError, ScoringError, WorkspaceBusy, OutputError) as exc:
            raise UserError(str(exc)) from None
        except OSError as exc:
            raise UserError(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")) from None

    return wrapper


def _as_of(value: str | None) -> dt.date:
    if value is None:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--as-of {value!r} is not a date; write YYYY-MM-DD") from None


# Options that several commands share, each defined once.
DEFAULT_WORKSPACE = "unstuck.duckdb"
ACCOUNTS = click.option("--accounts", "accounts_path", type=click.Path(),
                        help="Accounts file (.csv, .parquet or .jsonl), one row per account_id.")
LEADS = click.option("--leads", "leads_path", type=click.Path(),
                     help="Leads file (.csv, .parquet or .jsonl); alone, a flat table that also carries the account columns.")
AS_OF = click.option("--as-of", "as_of", help="The date `within` and `ago` count from (YYYY-MM-DD); default today.")
SIGNALS = click.option("--signals", "signals_path", type=click.Path(),
                       help="Signals (lead_id or account_id, signal, timestamp) for engagement and stage; "
                            "with --db, the stored signals are used unless this is given.")
WORKSPACE = click.option("--db", type=click.Path(), default=DEFAULT_WORKSPACE, show_default=True,
                         help="The workspace store (the same default for every command: in the current folder).")
NULL_VALUES = click.option("--null-values", "null_values", default="", callback=lambda _c, _p, v: tuple(
    word for word in v.split(",") if word), help="Comma-separated CSV cells that mean unknown, e.g. NA,null "
    "(by default only an empty cell does: `NA` is Namibia's country code).")
MISSING_COLUMNS = click.option("--missing-columns", type=click.Choice(["error", "unknown"]), default="error",
                               show_default=True, help="A declared column the input lacks: refuse the file, or read "
                               "it as unknown in every record (with a warning naming it).")
SKIP_UNKNOWN_SIGNALS = click.option("--skip-unknown-signals", is_flag=True, help="Leave out signals of types the "
                                    "rules do not declare (counted in a warning) instead of refusing the file.")


@attrs.frozen
class Reading:
    """How a command reads its inputs: the options every scoring command shares, as one value."""
    null_values: tuple[str, ...] = ()
    missing_columns: str = "error"
    skip_unknown_signals: bool = False


def reading_options(command):
    """Add --null-values, --missing-columns and --skip-unknown-signals; the command receives
    them as one `reading` argument."""
    @functools.wraps(command)
    def with_reading(*args, null_values, missing_columns, skip_unknown_signals, **kwargs):
        return command(*args, reading=Reading(null_values, missing_columns, skip_unknown_signals), **kwargs)

    for option in (SKIP_UNKNOWN_SIGNALS, MISSING_COLUMNS, NULL_VALUES):
        with_reading = option(with_reading)
    return with_reading
READ_DB = click.option("--db", type=click.Path(), help="Read the records from a workspace store instead of files.")
RAW_CSV = click.option("--raw-csv", is_flag=True, help="Write CSV cells exactly as they are (by default a text cell "
                       "starting with =, +, -, @, tab or CR gets a leading ' so spreadsheets show it as text).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="unstuck_dsl")
def cli() -> None:
    """unstuck: ICP and Persona scoring rules, compiled."""


@cli.command()
@click.argument("path", type=click.Path())
@click.option("--format", "output_format", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="text for people; json (docs/diagnostics.schema.json) for editors and "
              "scripts; sarif (SARIF 2.1.0) for code-scanning services that annotate pull requests.")
@click.option("--json", "as_json", is_flag=True, help="The same as --format json.")
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too, lint findings included.")
def check(path: str, output_format: str, as_json: bool, strict: bool) -> None:
    """Check and lint the rules in PATH (a .ust file or a folder).

    Lint warnings are about rules that are legal but almost certainly not what was meant; the
    check exits 0 with warnings unless --strict."""
    if as_json and output_format not in ("text", "json"):
        raise UserError(f"--json and --format {output_format} ask for two formats; give one")
    output_format = "json" if as_json else output_format
    try:
        sources = read_sources(path)
    except SourceError as exc:
        if output_format == "text":
            raise UserError(str(exc)) from None
        _print_report(output_format, [], error=str(exc))
        sys.exit(1)
    ruleset, diagnostics = pipeline.check_sources(sources, lint=True)
    failed = ruleset is None or (strict and bool(diagnostics))
    counts = None
    if ruleset is not None:
        counts = {"files": len(sources), "icps": len(ruleset.icps), "personas": sum(len(i.personas) for i in ruleset.icps)}
    if output_format != "text":
        _print_report(output_format, diagnostics, counts, ok=not failed)
    else:
        if diagnostics:
            click.echo(render_all(diagnostics, {s.name: s for s in sources}, color=sys.stdout.isatty()))
        if ruleset is not None and failed:
            click.echo("failed: --strict makes warnings fail the check")
        elif ruleset is not None:
            click.echo(f"ok: {_count(counts['files'], 'file')}, {_count(counts['icps'], 'ICP')}, "
                       f"{_count(counts['personas'], 'Persona')}")
    if failed:
        sys.exit(1)


def _print_report(output_format: str, diagnostics, counts: dict | None = None, error: str | None = None,
                  ok: bool | None = None) -> None:
    from importlib.metadata import version

    if output_format == "json":
        report = json_report(diagnostics, counts, error)
        if ok is not None:  # --strict: warnings fail the check too
            report["ok"] = report["ok"] and ok
    else:
        report = sarif_report(diagnostics, version("unstuck_dsl"), error)
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@cli.command(name="fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--check", "check_only", is_flag=True, help="Write nothing; list the files that would change and "
              "exit 1 if there are any.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print what would change as a unified diff.")
@user_errors
def fmt_command(paths: tuple[str, ...], check_only: bool, show_diff: bool) -> None:
    """Format rule files, keeping every comment.

    PATHS are .ust files or directories of them, put in the one canonical layout. A file with a
    syntax error stops the run before anything is written."""
    import difflib
    import re

    from .fmt import format_source, write_formatted

    sources = list({s.name: s for path in paths for s in read_sources(path)}.values())
    formatted, errors = {}, []
    for source in sources:
        text, diagnostics = format_source(source)
        errors += diagnostics
        formatted[source.name] = text
    if errors:
        click.echo(render_all(errors, {s.name: s for s in sources}, color=sys.stderr.isatty()), err=True)
        sys.exit(1)
    changed = [s for s in sources if formatted[s.name] != s.text]
    for source in changed:
        if show_diff:
            # Lines end at "\n" only, as the parser counts them; on a terminal, control characters
            # from the rules are shown as escapes (a pipe gets the exact patch).
            lines = difflib.unified_diff(re.findall(r"[^\n]*\n|[^\n]+$", source.text),
                                         re.findall(r"[^\n]*\n|[^\n]+$", formatted[source.name]),
                                         source.name, source.name, "(original)", "(formatted)")
            patch = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                            for line in lines)
            click.echo(visible(patch) if sys.stdout.isatty() else patch, nl=False)
        elif not check_only:
            write_formatted(source.name, formatted[source.name])
        verb = "would reformat" if check_only or show_diff else "reformatted"
        click.echo(visible(f"{verb} {source.name}"), err=True)
    done = "would be reformatted" if check_only or show_diff else "reformatted"
    click.echo(f"{_count(len(changed), 'file')} {done}, {len(sources) - len(changed)} unchanged", err=True)
    if check_only and changed:
        sys.exit(1)


@cli.command(name="test")
@click.argument("rules", type=click.Path())
@click.option("--coverage", "show_coverage", is_flag=True, help="Print what the tests saw of each ICP, Persona and "
              "parameter: qualify / not qualify, true / false / unknown.")
@click.option("--coverage-json", "coverage_json", type=click.Path(), help="Write the coverage (and each test's "
              "result) as JSON to this file.")
@click.option("--min-coverage", type=click.FloatRange(0, 100), help="Fail (exit 1) when coverage is below this "
              "percentage.")
@user_errors
def test_command(rules: str, show_coverage: bool, coverage_json: str | None, min_coverage: float | None) -> None:
    """Run the rule tests in RULES, with coverage.

    The tests are `test` blocks in *.test.ust files, run through the compiled rules. Each failure is printed with the expectation it broke, where the test is, and the drawer of
    its record; the exit code is 1 when any test fails (or coverage is below --min-coverage)."""
    from .output import replacing
    from .ruletests import coverage_lines, run_tests

    compiled = pipeline.compile_rules(rules)
    if not compiled.model.tests:
        raise UserError(f"{rules}: no tests; write `test \"name\" {{ ... }}` blocks in *.test.ust files "
                        "beside the rules (docs/authoring.md)")
    report = run_tests(compiled)
    for verdict in report.failed:
        click.echo(visible(f"FAIL {verdict.test.span}: test {ast_quote(verdict.test.name)}"))
        for failure in verdict.failures:
            click.echo(visible(f"  {failure.expectation.span}: expected {failure.expected}"))
            click.echo(visible(f"    got {failure.got}"))
        print_explanation(verdict.explanation)
        click.echo("")
    if show_coverage:
        click.echo("\n".join(visible(line) for line in coverage_lines(report.coverage)))
    if coverage_json:
        with replacing(coverage_json) as temporary, open(temporary, "w", encoding="utf-8") as out:
            json.dump(report.to_dict(), out, indent=2, ensure_ascii=False)
    passed = len(report.outcomes) - len(report.failed)
    click.echo(f"{_count(len(report.outcomes), 'test')}: {passed} passed, {len(report.failed)} failed")
    too_low = min_coverage is not None and report.coverage.percent < min_coverage
    if too_low:
        click.echo(f"failed: coverage {report.coverage.percent:.1f}% is below --min-coverage {min_coverage:g}%")
    if report.failed or too_low:
        sys.exit(1)


@cli.command(name="lsp")
@click.option("--stdio", is_flag=True, help="Speak over stdin / stdout (the only way; accepted because editors pass it).")
@click.option("--sample", "sample_path", type=click.Path(exists=True, dir_okay=False),
              help="A sample of records (.csv, .parquet, .jsonl) whose category values completion offers.")
@user_errors
def lsp_command(stdio: bool, sample_path: str | None) -> None:
    """The language server for editors, over stdio.

    Diagnostics, hover, definitions, references, completion, formatting and rename for rule
    files; editors start it."""
    from .lsp import serve

    serve(sample_path)


@cli.command(name="compile")
@click.argument("path", type=click.Path())
@user_errors
def compile_command(path: str) -> None:
    """Compile the rules in PATH and warm the kernel cache."""

    started = time.perf_counter()
    rules = pipeline.compile_rules(path)
    rules.warm()
    elapsed = time.perf_counter() - started
    for icp in rules.model.icps:
        click.echo(visible(f"ICP {icp.code} \"{icp.name}\" ({icp.status}): {len(icp.params)} parameters"))
        for persona in icp.personas:
            click.echo(visible(f"  Persona {persona.code} \"{persona.name}\" ({persona.status}): "
                               f"{len(persona.params)} parameters"))
    click.echo("account fields read: " + ", ".join(s.field for s in rules.program.account_columns))
    click.echo("lead fields read: " + ", ".join(s.field for s in rules.program.lead_columns))
    click.echo(f"compiled in {elapsed:.2f}s (kernels cached)")


def _summary(result, elapsed: float) -> str:
    """Counts per ICP, per ICP / Persona pair (a Persona code means something only inside its
    ICP), and the leads whose account was not in the accounts."""
    parts = [f"{result.accounts.num_rows} accounts"]
    parts.append("ICPs: " + _counts(result.accounts, ["icp_code"]))
    if result.leads is not None:
        parts.insert(1, f"{result.leads.num_rows} leads")
        parts.append("Personas: " + _counts(result.leads, ["icp_code", "persona_code"]))
        orphans = int((result.dataset.lead_account_rows < 0).sum())
        if orphans:
            parts.append(f"{_count(orphans, 'lead')} without their account in the accounts (no ICP)")
    return "; ".join(parts) + f"; {elapsed:.2f}s"


def _counts(table: pa.Table, keys: list[str]) -> str:
    """`a / b 12, none 3`, most frequent first, counted on the code columns' dictionary indices
    (each combination of codes is one number), never on the strings."""
    import numpy as np

    combined, labels = np.zeros(table.num_rows, np.int64), [()]
    for key in keys:
        column = table.column(key).combine_chunks()
        if not pa.types.is_dictionary(column.type):
            column = column.dictionary_encode()
        names = [*column.dictionary.to_pylist(), None]  # the last entry is where null counts
        codes = column.indices.fill_null(len(names) - 1).to_numpy(zero_copy_only=False)
        combined = combined * len(names) + codes
        labels = [(*label, name) for label in labels for name in names]
    counts = np.bincount(combined, minlength=len(labels))
    rows = sorted((-int(counts[i]), [str(name) for name in labels[i]], labels[i]) for i in np.flatnonzero(counts))
    return ", ".join(f"{' / '.join(n for n in names if n is not None) or 'none'} {-count:,}" for count, _, names in rows)


@contextlib.contextmanager
def _stages(total: int = 5):
    """Progress on stderr, only on a terminal (nothing when piped): each stage of the run by
    name, with its record counts, a bar over the `total` stages and the time elapsed."""
    if not sys.stderr.isatty():
        yield lambda description: None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("starting", total=total)

        def advance(description: str) -> None:
            progress.update(task, description=description, advance=1, refresh=True)

        yield advance


def _inputs(accounts_path, leads_path, db, schema=None):
    """Accounts and leads from files, or from a workspace store (read through Arrow, typed by
    `schema`, the rules' declared fields, with the store's exact conversions)."""
    if db is not None:
        if accounts_path or leads_path:
            raise UserError("give either --db or input files, not both")
        with open_store(db) as workspace:
            return workspace.records("account", schema=schema), workspace.records("lead", schema=schema)
    if accounts_path is None and leads_path is None:
        raise UserError("give --accounts, --leads, or both (or --db)")
    return accounts_path, leads_path


def _stored_signals(db, signals_path):
    """Signals from a file, else those stored in the workspace (when there are any)."""
    if signals_path is not None or db is None:
        return signals_path
    with open_store(db) as workspace:
        table = workspace.signals()
    return table if table.num_rows else None


def _score_run(rules, accounts_path, leads_path, as_of, preview=(), on_stage=lambda _: None, db=None, signals=None,
               reading: Reading = Reading()):
    """Compile, then read and score through the pipeline, saying on stderr what the reading
    options left out."""
    on_stage("checking and compiling rules")
    compiled = pipeline.compile_rules(rules)
    accounts, leads = _inputs(accounts_path, leads_path, db, compiled.model.schema)
    return pipeline.score(compiled, accounts, leads, as_of, preview, _stored_signals(db, signals),
                          reading.null_values, reading.missing_columns, reading.skip_unknown_signals,
                          on_stage=on_stage, on_warning=lambda line: click.echo(f"warning: {line}", err=True))


@cli.command()
@click.argument("rules", type=click.Path())
@ACCOUNTS
@LEADS
@click.option("--out", "out_path", required=True, type=click.Path(), help="Where to write the scores.")
@click.option("--accounts-out", type=click.Path(), help="Also write the account-level scores here.")
@AS_OF
@click.option("--preview", multiple=True, help="Score a draft ICP (or ICP.persona) as if live, in preview_* columns.")
@READ_DB
@SIGNALS
@RAW_CSV
@reading_options
@click.option("--engine", type=click.Choice(["local", "spark"]), default="local", show_default=True,
              help="spark: score with Apache Spark (Parquet in, a directory of Parquet files out; docs/spark.md).")
@click.option("--master", default="local[*]", show_default=True, help="With --engine spark: the Spark master URL.")
@user_errors
def score(rules, accounts_path, leads_path, out_path, accounts_out, as_of, preview, db, signals_path, raw_csv,
          reading, engine, master) -> None:
    """Score accounts (and leads) with RULES."""
    day = _as_of(as_of)
    if engine == "spark":
        _score_with_spark(rules, accounts_path, leads_path, out_path, accounts_out, day, preview, signals_path, master)
        return
    check_destinations({"--out": out_path, "--accounts-out": accounts_out},
                       [rules, accounts_path, leads_path, db, signals_path])
    click.echo(f"as of {day.isoformat()}", err=True)
    started = time.perf_counter()
    with _stages() as stage:
        result = _score_run(rules, accounts_path, leads_path, day, preview, stage, db, signals_path, reading)
        stage("writing results")
        write_table(result.table(), out_path, raw_csv)
        if accounts_out:
            write_table(result.accounts, accounts_out, raw_csv)
    click.echo(_summary(result, time.perf_counter() - started), err=True)


def _score_with_spark(rules, accounts_path, leads_path, out_path, accounts_out, day, preview, signals_path,
                      master) -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _NoPandas)]  # pyspark needs pandas
    from . import spark  # imports pyspark (the `spark` extra), which only this engine needs

    started = time.perf_counter()
    click.echo(f"as of {day.isoformat()}; Spark master {master}", err=True)
    written = spark.score_files(rules, accounts_path, leads_path, out_path, accounts_out, day, preview, signals_path,
                                master)
    counts = ", ".join(f"{n:,} {kind}" for kind, n in written.items())
    click.echo(f"{counts} scored with Spark; {time.perf_counter() - started:.2f}s", err=True)


def _audience_members(result, name: str) -> pa.Table:
    """An audience's members from a scoring run over files; refused when it reads engagement and
    no signals were given (see `workspace.engagement_unknown`)."""
    read = engagement_unknown(result, name)
    if read:
        raise UserError(f"audience `{name}` reads {read}, which is unknown without signals; give --signals FILE, "
                        "or --db with signals ingested")
    return result.audience(name)


def _open_workspace(db, rules=None, read_only: bool = True) -> Workspace:
    """The workspace at `db`. RULES given to a command that reads it must be its published
    version (one line naming both otherwise)."""
    workspace = open_workspace(db, read_only=read_only)  # through `unstuck serve` while one holds it
    try:
        if rules is not None:
            workspace.check_rules(rules)
    except BaseException:
        workspace.close()
        raise
    return workspace


def _at_workspace_date(workspace: Workspace, as_of: str | None) -> dt.date:
    """The workspace's date; an --as-of that is not it is refused (the stored scores are as of it)."""
    day = workspace.as_of
    if as_of is not None and day is not None and _as_of(as_of) != day:
        raise UserError(f"{workspace.path}: the workspace's scores are as of {day.isoformat()}; leave out --as-of, "
                        f"or move the workspace: `unstuck refresh --db {workspace.path} --as-of {as_of}`")
    return day


@cli.command()
@click.argument("args", nargs=-1, required=True, metavar="[RULES] NAME")
@ACCOUNTS
@LEADS
@click.option("--out", "out_path", type=click.Path(), help="Write the members here instead of listing them.")
@AS_OF
@click.option("--composition", is_flag=True, help="Member count and score distribution per ICP and Persona.")
@click.option("--db", type=click.Path(), help="The members in a workspace store, by its published rules "
              "(RULES may then be left out) and stored scores and signals.")
@SIGNALS
@RAW_CSV
@reading_options
@user_errors
def audience(args, accounts_path, leads_path, out_path, as_of, composition, db, signals_path, raw_csv,
             reading) -> None:
    """List the members of audience NAME (declared in RULES).

    With --db, the members in the workspace: the same as `export --audience NAME`."""
    if len(args) > 2 or (len(args) == 1 and db is None):
        raise UserError("give RULES and NAME (RULES may be left out with --db)")
    rules, name = (None, args[0]) if len(args) == 1 else args
    check_destinations({"--out": out_path}, [rules, accounts_path, leads_path, db, signals_path])
    if db is not None:
        if accounts_path or leads_path or signals_path:
            raise UserError("give either --db or input files, not both")
        with _open_workspace(db, rules) as workspace:
            day = _at_workspace_date(workspace, as_of)
            members = workspace.audience(name)
    else:
        day = _as_of(as_of)
        result = _score_run(rules, accounts_path, leads_path, day, signals=signals_path, reading=reading)
        members = _audience_members(result, name)
    click.echo(f"as of {day.isoformat()}: {members.num_rows} members in audience `{name}`", err=True)
    if out_path:
        write_table(members, out_path, raw_csv)
    if composition:
        print_composition(members, name)
    elif not out_path:
        print_members(members)


@cli.command()
@click.argument("rules", type=click.Path(), required=False)
@ACCOUNTS
@LEADS
@click.option("--account", "account_id", help="Explain this account.")
@click.option("--lead", "lead_id", help="Explain this lead.")
@AS_OF
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@click.option("--preview", multiple=True, help="Explain as if this draft ICP (or ICP.persona) were live.")
@click.option("--db", type=click.Path(), help="Explain a record's stored scores in a workspace store: its published "
              "rules (RULES may then be left out) at its date, with the stored signals.")
@SIGNALS
@reading_options
@user_errors
def explain(rules, accounts_path, leads_path, account_id, lead_id, as_of, as_json, preview, db, signals_path,
            reading) -> None:
    """The drawer: why a record scored what it did.

    Every parameter of its ICP and Persona with the value it read, then why every rival lost."""
    if (account_id is None) == (lead_id is None):
        raise UserError("give exactly one of --account ID or --lead ID")
    if db is not None:
        if accounts_path or leads_path or signals_path:
            raise UserError("give either --db or input files, not both")
        with _open_workspace(db, rules) as workspace:
            _at_workspace_date(workspace, as_of)
            explanation = workspace.explain(lead=lead_id, account=account_id, preview=preview)
    else:
        if rules is None:
            raise UserError("give RULES (or --db, to explain a record in a workspace)")
        compiled = pipeline.compile_rules(rules)
        accounts, leads = _inputs(accounts_path, leads_path, None)
        # Only the record and the records it depends on are read and scored, not every record.
        explanation = compiled.explain_record(accounts, leads, account_id, lead_id, _as_of(as_of), preview,
                                              signals_path, reading.null_values, reading.missing_columns,
                                              reading.skip_unknown_signals,
                                              on_warning=lambda line: click.echo(f"warning: {line}", err=True))
    if as_json:
        click.echo(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_explanation(explanation)


@contextlib.contextmanager
def _writing(db, rules=None, progress: bool = True):
    """The workspace to write, with progress (unless the command will ask a question). A new
    workspace is created only once RULES check, so that rules with errors leave no empty
    workspace behind."""
    with (_stages(total=8) if progress else contextlib.nullcontext(lambda _: None)) as stage:
        if rules is not None and not Path(db).exists():
            stage("checking rules")
            pipeline.load_ruleset(rules)
        stage(f"opening {db}")
        with Workspace(db) as workspace:
            yield workspace, stage


def _confirmed(yes: bool, question: str) -> bool:
    """Ask on a terminal; elsewhere --yes must have been given (checked before any work)."""
    return yes or click.confirm(question, default=False, err=True)


def _require_yes_off_terminal(yes: bool, dry_run: bool, command: str) -> None:
    if not (yes or dry_run or sys.stdin.isatty()):
        raise UserError(f"{command} re-scores every record: confirm with --yes (standard input is not a terminal "
                        "to ask on), or see what would move with --dry-run")


@cli.command()
@click.argument("rules", type=click.Path())
@WORKSPACE
@click.option("-m", "--message", default="", help="Why: kept with the version (`unstuck history`).")
@click.option("--yes", is_flag=True, help="Publish without asking (required when standard input is not a terminal).")
@click.option("--dry-run", is_flag=True, help="Show what would move; publish nothing.")
@click.option("--as-of", "as_of", help="Also move the workspace to this date (YYYY-MM-DD); default: its date.")
@user_errors
def publish(rules, db, message, yes, dry_run, as_of) -> None:
    """Publish RULES: every record re-scored with them.

    Checks RULES, shows what would move (the `diff` summary over the stored records), asks for
    confirmation, then re-scores everything in one transaction and records the next version
    (its hash, its text with comments, the time and -m MESSAGE)."""
    _require_yes_off_terminal(yes, dry_run, "publish")
    day = _as_of(as_of) if as_of is not None else None
    with _writing(db, rules, progress=yes or dry_run) as (workspace, stage):
        def confirm(report) -> bool:
            if report.diff is not None:
                print_diff(report.diff)
            if report.unchanged:  # the rules in force, at a new date
                return _confirmed(yes, f"Re-score every record of {db} with {report.previous} as of "
                                       f"{report.as_of.isoformat()}?")
            number = (report.previous.number if report.previous else 0) + 1
            return _confirmed(yes, f"Publish {rules} as version {number} of {db}?")

        report = workspace.publish(rules, message, day, dry_run=dry_run, confirm=None if dry_run else confirm,
                                   on_stage=stage)
    if dry_run and report.diff is not None:
        print_diff(report.diff)
    if report.unchanged or report.version is not None:
        click.echo(visible(f"{db}: {report}"))
    elif not dry_run:
        click.echo("not published", err=True)
        sys.exit(1)


@cli.command()
@click.argument("version", type=click.IntRange(1, None))
@WORKSPACE
@click.option("-m", "--message", default="", help="Why (default: `rollback to version N`).")
@click.option("--yes", is_flag=True, help="Roll back without asking (required when standard input is not a terminal).")
@user_errors
def rollback(version, db, message, yes) -> None:
    """Publish an earlier VERSION again, as a new version.

    Nothing is rewritten: the versions between stay in the history."""
    _require_yes_off_terminal(yes, False, "rollback")
    with _writing(db, progress=yes) as (workspace, stage):
        def confirm(report) -> bool:
            if report.diff is not None:
                print_diff(report.diff)
            return _confirmed(yes, f"Publish version {version} again as version {report.previous.number + 1} of {db}?")

        report = workspace.rollback(version, message, confirm=confirm, on_stage=stage)
    if report.version is None and not report.unchanged:
        click.echo("not published", err=True)
        sys.exit(1)
    click.echo(visible(f"{db}: {report}"))


@cli.command()
@WORKSPACE
@click.option("--as-of", "as_of", help="The workspace's new date (YYYY-MM-DD); default today.")
@user_errors
def refresh(db, as_of) -> None:
    """Move the workspace to a new date (default today).

    Every record is re-scored as of it, in one transaction: the daily job that keeps `within 12 months` true."""
    day = _as_of(as_of)
    with _writing(db) as (workspace, stage):
        report = workspace.refresh(day, on_stage=stage)
    click.echo(f"{db} (as of {day.isoformat()}): {report}")


@cli.command()
@WORKSPACE
@click.option("--lead", "lead_ids", multiple=True, help="Re-score this lead (repeatable).")
@click.option("--account", "account_ids", multiple=True, help="Re-score this account and its leads (repeatable).")
@click.option("--audience", "audience_name", help="Re-score the members of this audience.")
@click.option("--where", "where", help="Re-score the records meeting this condition, written as an audience's "
              "(e.g. 'icp_code == \"mm_saas\" and employees > 500'); checked like the rules, never run as code.")
@user_errors
def requalify(db, lead_ids, account_ids, audience_name, where) -> None:
    """Re-score some records, saying what moved.

    With the published rules at the workspace's date. For an enrichment that landed outside `ingest`, or a repair."""
    if not (lead_ids or account_ids or audience_name or where):
        raise UserError("give --lead ID, --account ID, --audience NAME or --where CONDITION")
    with _writing(db) as (workspace, stage):
        report = workspace.requalify(lead_ids, account_ids, audience_name, where, on_stage=stage)
        day = workspace.as_of
    click.echo(f"{db} (as of {day.isoformat()}): {report}")


@cli.command()
@WORKSPACE
@click.option("--lead", "lead_id", help="This lead's score changes, with the version that made each.")
@click.option("--account", "account_id", help="This account's score changes, with the version that made each.")
@user_errors
def history(db, lead_id, account_id) -> None:
    """The published versions; or one record's score changes."""
    if lead_id is not None and account_id is not None:
        raise UserError("give at most one of --lead ID or --account ID")
    with _open_workspace(db) as workspace:
        published = workspace.published
        if lead_id is None and account_id is None:
            for version in workspace.versions():
                mark = "*" if version == published else " "
                click.echo(visible(f"{mark} {version.number:>3}  {version.published_at:%Y-%m-%d %H:%M:%S}  "
                                   f"{version.short_hash}  {version.message}"))
            if published is None:
                click.echo(f"{db}: nothing published yet", err=True)
            return
        kind, record = ("lead", lead_id) if lead_id is not None else ("account", account_id)
        changes = workspace.record_history(kind, record)
    if not changes.num_rows:
        click.echo(visible(f"{kind} {record}: no score changes recorded"))
    for row in changes.to_pylist():
        icp = f"ICP {_code_score(row['old_icp_code'], row['old_icp_score'])} → " \
              f"{_code_score(row['new_icp_code'], row['new_icp_score'])}"
        persona = f"; Persona {_code_score(row['old_persona_code'], row['old_persona_score'])} → " \
                  f"{_code_score(row['new_persona_code'], row['new_persona_score'])}" if kind == "lead" else ""
        version = row["ruleset_version"]
        click.echo(visible(f"{row['changed_at']:%Y-%m-%d %H:%M:%S}  version {version if version is not None else '?'}"
                           f"  {icp}{persona}"))


def _code_score(code, score) -> str:
    return "none" if code is None else f"{code} {score}" if score is not None else code


@cli.command()
@WORKSPACE
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@user_errors
def status(db, as_json) -> None:
    """The published version, the date and the counts.

    Warns when the workspace's date is before today (`refresh` moves it)."""
    with _open_workspace(db) as workspace:
        state = workspace.status()
    if as_json:
        click.echo(json.dumps(state.to_dict(), indent=2, ensure_ascii=False))
        return
    version = state.version
    click.echo(visible(f"{db}: " + (f"{version}, published {version.published_at:%Y-%m-%d %H:%M:%S}"
                                    + (f": {version.message}" if version.message else "")
                                    if version is not None else "nothing published")))
    click.echo(f"as of {state.as_of.isoformat() if state.as_of else '—'} (today {state.today.isoformat()})")
    click.echo(f"{state.accounts:,} accounts, {state.leads:,} leads, {state.signals:,} signals, "
               f"{state.outcomes:,} outcomes")
    for line in state.warnings():
        click.echo(visible(f"warning: {line}"), err=True)


@cli.command()
@click.argument("rules", type=click.Path(), required=False)
@ACCOUNTS
@LEADS
@click.option("--signals", "signals_path", type=click.Path(), help="Signals to append (lead_id or account_id, signal, timestamp).")
@click.option("--outcomes", "outcomes_path", type=click.Path(), help="Outcomes to append (lead_id, outcome, timestamp).")
@WORKSPACE
@click.option("--as-of", "as_of", help="A new workspace's date (YYYY-MM-DD; default today); an existing one scores "
              "at its own date (`unstuck refresh` moves it).")
@NULL_VALUES
@SKIP_UNKNOWN_SIGNALS
@user_errors
def ingest(rules, accounts_path, leads_path, signals_path, outcomes_path, db, as_of, null_values,
           skip_unknown_signals) -> None:
    """Add or update records in the workspace store.

    Upserts records by id and re-scores exactly the records whose inputs changed, with the
    published rules at the workspace's date; appends signals and outcomes (a row already stored
    counts once). RULES may be left out; given, they must be the published version. In a new
    workspace, RULES are published as version 1."""
    if not any((accounts_path, leads_path, signals_path, outcomes_path)):
        raise UserError("give --accounts, --leads, --signals or --outcomes")
    day = _as_of(as_of) if as_of is not None else None
    with _writing(db, rules) as (workspace, stage):
        report = workspace.ingest(accounts_path, leads_path, signals_path, outcomes_path, rules, day,
                                  null_values=null_values, skip_unknown_signals=skip_unknown_signals,
                                  on_stage=stage)
        day = workspace.as_of
    if report.published is not None:
        click.echo(visible(f"{db}: a new workspace: published {rules} as {report.published}"))
    if accounts_path or leads_path:
        click.echo(f"{db} (as of {day.isoformat()}): {report}")
    if report.events is not None:
        click.echo(f"{db}: {report.events}")


@cli.command()
@click.argument("old_rules", type=click.Path())
@click.argument("new_rules", type=click.Path())
@ACCOUNTS
@LEADS
@click.option("--db", type=click.Path(), help="Compare over the records of a workspace store.")
@click.option("--out", "out_path", type=click.Path(), help="Write the per-record changes here.")
@AS_OF
@RAW_CSV
@NULL_VALUES
@MISSING_COLUMNS
@user_errors
def diff(old_rules, new_rules, accounts_path, leads_path, db, out_path, as_of, raw_csv, null_values,
         missing_columns) -> None:
    """What NEW_RULES would move; applies nothing.

    Compares NEW_RULES with OLD_RULES over the same records: ICP and Persona transitions, band
    changes, score deltas and the records that moved most."""

    day = _as_of(as_of)
    check_destinations({"--out": out_path}, [old_rules, new_rules, accounts_path, leads_path, db])
    old, new = pipeline.compile_rules(old_rules), pipeline.compile_rules(new_rules)
    accounts, leads = _inputs(accounts_path, leads_path, db, new.model.schema)
    reading = {"null_values": null_values, "missing_columns": missing_columns}
    report = compare(old.score(accounts, leads, as_of=day, **reading), new.score(accounts, leads, as_of=day, **reading))
    print_diff(report)
    if out_path:
        write_table(report.changes, out_path, raw_csv)


@cli.command()
@WORKSPACE
@click.option("--out", "out_path", required=True, type=click.Path(), help="Where to write the records (.csv, .parquet or .jsonl).")
@click.option("--table", "table_kind", type=click.Choice(["leads", "accounts"]), help="What --out gets: every lead, or "
              "every account (those without leads included); default the leads, or the accounts when there are none.")
@click.option("--accounts-out", type=click.Path(), help="Also write every account with its scores here.")
@click.option("--with", "extras", default="", callback=lambda _c, _p, v: tuple(w.strip() for w in v.split(",") if w.strip()),
              help="Add to each record: `fields` (a lead's account fields), `engagement` (engagement_score, stage), "
                   "comma-separated.")
@click.option("--audience", "audience_name", help="Only the members of this audience (the same as `audience --db`).")
@AS_OF
@RAW_CSV
@user_errors
def export(db, out_path, table_kind, accounts_out, extras, audience_name, as_of, raw_csv) -> None:
    """Write stored records with their current scores.

    Each record carries its scores, the ruleset and version that made them and the date they
    are as of, then its own columns. --out gets the leads (the accounts when the workspace has
    no leads, or with --table accounts); --accounts-out also writes every account. With
    --audience, only that audience's members, as `audience --db` lists them."""
    check_destinations({"--out": out_path, "--accounts-out": accounts_out}, [db])
    if audience_name is not None and (table_kind or accounts_out or extras):
        raise UserError("--audience writes the audience's members as `audience --db` lists them; "
                        "leave out --table, --accounts-out and --with")
    with _open_workspace(db) as workspace:
        _at_workspace_date(workspace, as_of)
        if audience_name is not None:
            outputs = [(f"members of `{audience_name}`", out_path, workspace.audience(audience_name))]
        else:
            kind = {"leads": "lead", "accounts": "account"}.get(table_kind) or (
                "lead" if workspace.store.count("lead") else "account")
            outputs = [(f"{kind}s", out_path, workspace.export(kind, extras))]
            if accounts_out:
                outputs.append(("accounts", accounts_out, workspace.export("account", extras)))
    for what, path, table in outputs:
        write_table(table, path, raw_csv)
        click.echo(f"{table.num_rows:,} {what} written to {path}", err=True)


@cli.command()
@WORKSPACE
@click.option("--by", type=click.Choice(["persona", "icp", "band", "decile"]), default="persona", show_default=True,
              help="persona: each ICP / Persona on the persona score; icp: each ICP on the ICP score; "
                   "band: all leads, rates by fit band; decile: all leads, by band and score bin.")
@click.option("--denominator", type=click.Choice(list(analysis.DENOMINATORS)), default="scored", show_default=True,
              help="What rates divide by: every scored lead, or the leads contacted (a `contacted` outcome, "
                   "or any later one).")
@click.option("--min-count", type=click.IntRange(1, None), default=analysis.MIN_COUNT, show_default=True,
              help="Fewest records on each side of a comparison: thinner score bins are merged with their neighbours.")
@click.option("--bin-width", type=click.IntRange(1, 50), default=analysis.WIDTH, show_default=True,
              help="The width of the score bins.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_path", type=click.Path(), help="Also write a self-contained HTML page with the charts.")
@user_errors
def insights(db, by, denominator, min_count, bin_width, as_json, html_path) -> None:
    """Outcome rates by score, and where replies jump.

    A headline (leads, outcomes, dates, ruleset), then reply, meeting and signup rates by fit
    band and score bin with 95 % intervals, and the score where the reply rate jumps between
    neighbouring bins, when the jump is significant, as a suggested audience threshold."""
    check_destinations({"--html": html_path}, [db], REPORT_FORMATS)
    with open_store(db) as workspace:
        leads, outcomes = workspace.scores("lead"), workspace.outcomes()
        versions = workspace.versions()
        rules_text = versions[-1][2] if versions else None
    if not outcomes.num_rows:
        raise UserError(f"{db}: no outcomes yet; add them with `unstuck ingest RULES --outcomes FILE`")
    if denominator == "contacted" and not pc.any(pc.equal(outcomes.column("outcome"), "contacted")).as_py():
        raise UserError(f"{db}: no `contacted` outcomes stored, so no contacted leads to divide by; add them "
                        "with `unstuck ingest RULES --outcomes FILE` or use --denominator scored")
    ruleset = None
    if rules_text is not None:
        try:
            ruleset = pipeline.load_ruleset(rules_text)  # display names; codes when the rules no longer check
        except RuleError:
            ruleset = None
    report = analysis.analyse(leads, outcomes, by, denominator=denominator, width=bin_width, min_count=min_count,
                              ruleset=ruleset)
    if html_path:  # first: a reader that stops reading the terminal report (`| head`) must not lose the file
        write_text(analysis.html_report(report), html_path)
        click.echo(f"report written to {html_path}", err=True)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_insights(report, by)


@cli.command()
@WORKSPACE
@click.option("--out", "out_dir", type=click.Path(), help="Write the suggested rules into this new folder "
              "(formatted, each change with its evidence as a comment).")
@click.option("--min-count", type=click.IntRange(1, None), default=analysis.MIN_COUNT, show_default=True,
              help="Fewest records a parameter must be true in, and not true in, to be assessed.")
@click.option("--json", "as_json", is_flag=True, help="Print the evidence, the proposals and the diff as JSON.")
@user_errors
def suggest(db, out_dir, min_count, as_json) -> None:
    """Refine the published rules from outcomes; applies nothing.

    Per parameter: the reply rate when true, false and unknown, and its effect beside the others
    (a regularised logistic regression). Then proposals, each with its evidence: raise or lower a
    weight, drop a parameter with no measurable effect, review a filter that excludes records
    that reply well, the audience threshold; and what publishing them would move."""
    from . import suggest as suggestions

    if not Path(db).exists():
        raise UserError(f"{db}: no such workspace")
    with _open_workspace(db) as workspace:
        if workspace.published is None:
            raise UserError(f"{db}: nothing published yet; publish rules first: `unstuck publish RULES --db {db}`")
        if not workspace.store.outcomes().num_rows:
            raise UserError(f"{db}: no outcomes yet; add them with `unstuck ingest --outcomes FILE --db {db}`")
        compiled, found = suggestions.analyse(workspace, min_count)
        files = suggestions.suggested_files(workspace.published.text, compiled.model, found.proposals)
        moved = workspace.publish("\n".join(text for _, text in files), dry_run=True).diff
    if out_dir:
        suggestions.write_rules(out_dir, files)
        click.echo(f"suggested rules written to {out_dir}", err=True)
    if as_json:
        out = found.to_dict()
        out["diff"] = None if moved is None else {"records": moved.records, "changed": moved.changed,
                                                  "icp_transitions": _pairs(moved.icp_transitions),
                                                  "persona_transitions": _pairs(moved.persona_transitions)}
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    suggestions.print_suggestions(found)
    if moved is not None:
        click.echo("\nWhat publishing them would move:")
        print_diff(moved)


def _pairs(transitions: dict) -> list[dict]:
    return [{"old": old, "new": new, "records": n} for (old, new), n in sorted(transitions.items())]


@cli.command()
@click.option("--rules", "rules_path", default="rules", type=click.Path(), show_default=True,
              help="The rules to score the sample data with.")
@click.option("--accounts", "n_accounts", default=3000, show_default=True, type=click.IntRange(1, 10_000_000),
              help="How many sample accounts.")
@click.option("--out", "out_dir", type=click.Path(), help="Also write the sample data here (accounts, leads, signals, outcomes .csv).")
@click.option("--as-of", "as_of", default="2026-11-26", show_default=True,
              help="The date `within` and `ago` count from (fixed, so the demo prints the same numbers any day).")
@user_errors
def demo(rules_path, n_accounts, out_dir, as_of) -> None:
    """Score generated sample data with the example rules.

    Shows what came out: assignments, top leads, stages, the reply-rate jump, one drawer."""

    day = _as_of(as_of)
    with _stages(total=4) as stage:
        stage(f"generating {n_accounts:,} sample accounts and their leads")
        accounts, leads = sample.generate(n_accounts)
        signals = sample.signals(leads, as_of=day)
        started = time.perf_counter()
        stage("checking and compiling rules")
        compiled = pipeline.compile_rules(rules_path)
        engaged = compiled.model.engagement is not None
        stage(f"scoring {accounts.num_rows:,} accounts and {leads.num_rows:,} leads")
        result = compiled.score(accounts, leads, as_of=day, signals=signals if engaged else None)
        outcomes = sample.outcomes(result.leads, as_of=day, accounts=accounts, leads=leads)
        elapsed = time.perf_counter() - started
        if out_dir:
            stage(f"writing the sample data to {out_dir}")
            written = sample.write(out_dir, n_accounts)
    print_demo(result, elapsed, outcomes)
    if out_dir:
        for name, table in (("signals", signals), ("outcomes", outcomes)):
            path = Path(out_dir) / f"{name}.csv"
            write_table(table, str(path))
            written[f"{name}.csv"] = str(path)
        click.echo("sample data written: " + ", ".join(written.values()))


@cli.command()
@WORKSPACE
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; anything but loopback needs --token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="The port to listen on (0: any free one; the address is in DB.serve.json).")
@click.option("--token", envvar="UNSTUCK_TOKEN", help="The token writes need (Authorization: Bearer TOKEN); "
              "default: a new random one, printed and kept in DB.token (mode 0600) while serving. Env: UNSTUCK_TOKEN.")
@click.option("--max-body", default=50, show_default=True, type=click.IntRange(1, 4096),
              help="The largest request body taken, in MB.")
@user_errors
def serve(db, host, port, token, max_body) -> None:
    """Serve a workspace over HTTP (score, ingest, lists).

    The endpoints and their schema: /api/openapi.json; docs/serve.md. While it runs, other unstuck
    commands on the workspace are told the server's address (DuckDB lets one process hold it)."""
    from .serve import run  # starlette and uvicorn: loaded by this command only

    run(db, host=host, port=port, token=token, max_body=max_body * 1024 * 1024, say=click.echo)


def _keep_freed_memory() -> None:
    """glibc hands large freed blocks back to the system at once, so the next array of that size
    faults its pages in again: a 1M-account run spent about a second of system time so. Keep
    freed memory for reuse instead (numpy's arrays; Arrow has its own pool). Linux glibc only."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not sys.platform.startswith("linux") or not name:
        return
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest: blocks below it come from the heap
        libc.mallopt(m_trim_threshold, 1 << 30)
        libc.mallopt(m_top_pad, 256 << 20)
    except (OSError, AttributeError):
        pass


def _lean_memory_pool() -> None:
    """In the command-line process, Arrow's jemalloc pool: on a 1M-account run it peaked ~15 %
    lower and ran faster than the default pool. ARROW_DEFAULT_MEMORY_POOL still decides."""
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, pa.ArrowNotImplementedError):
        pass


def _show_warnings() -> None:
    """Our warnings (e.g. an unusable kernel cache) as one `warning:` line on stderr."""
    default = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, KernelCacheWarning):
            click.echo(f"warning: {message}", err=True)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show


class _NoPandas:
    """An import finder that says pandas is not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError("the unstuck command does not use pandas", name=name)
        return None


def _without_pandas() -> None:
    """pyarrow imports pandas, when it is installed, the first time it converts a Python value
    (half a second); no command needs it, so a command runs as it does where pandas is not
    installed. (Only the command: the Python API leaves pandas alone.)"""
    if "pandas" not in sys.modules:
        sys.meta_path.insert(0, _NoPandas())


def main() -> None:
    _without_pandas()
    _keep_freed_memory()
    _lean_memory_pool()
    _show_warnings()
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # a bug, not bad input: still one line (UNSTUCK_DEBUG=1 shows the traceback)
        if os.environ.get("UNSTUCK_DEBUG"):
            raise
        click.echo(f"error: unexpected failure ({type(exc).__name__}: {exc}); rerun with UNSTUCK_DEBUG=1 "
                   "to see where, and please report it", err=True)
        sys.exit(2)
