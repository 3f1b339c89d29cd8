"""The authoring commands: check, fmt, test, lsp and compile.

`check` (and `--help`) must start at once: this module and what it imports at the top stay clear of
pyarrow, numpy, numba and duckdb; the commands that score load them when they run."""

from __future__ import annotations

import json
import sys
import time

import click

from .. import pipeline
from ..diagnostics import json_report, render_all, sarif_report
from ..printer import quote as ast_quote
from ..source import SourceError, read_sources
from ..terminal import visible
from .common import UserError, count, user_errors


@click.command()
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
    ruleset, diagnostics = pipeline.check_sources(sources, lint=True, keep_parsed=True)
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
            click.echo(f"ok: {count(counts['files'], 'file')}, {count(counts['icps'], 'ICP')}, "
                       f"{count(counts['personas'], 'Persona')}")
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



@click.command(name="fmt")
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

    from ..fmt import format_source, write_formatted

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
    click.echo(f"{count(len(changed), 'file')} {done}, {len(sources) - len(changed)} unchanged", err=True)
    if check_only and changed:
        sys.exit(1)


@click.command(name="test")
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
    from ..files import replacing
    from ..render import print_explanation  # pyarrow and rich, which `check` (this module too) does without
    from ..ruletests import coverage_lines, run_tests

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
    click.echo(f"{count(len(report.outcomes), 'test')}: {passed} passed, {len(report.failed)} failed")
    too_low = min_coverage is not None and report.coverage.percent < min_coverage
    if too_low:
        click.echo(f"failed: coverage {report.coverage.percent:.1f}% is below --min-coverage {min_coverage:g}%")
    if report.failed or too_low:
        sys.exit(1)


@click.command(name="lsp")
@click.option("--stdio", is_flag=True, help="Speak over stdin / stdout (the only way; accepted because editors pass it).")
@click.option("--sample", "sample_path", type=click.Path(exists=True, dir_okay=False),
              help="A sample of records (.csv, .parquet, .jsonl) whose category values completion offers.")
@user_errors
def lsp_command(stdio: bool, sample_path: str | None) -> None:
    """The language server for editors, over stdio.

    Diagnostics, hover, definitions, references, completion, formatting and rename for rule
    files; editors start it."""
    from ..lsp import serve

    serve(sample_path)


@click.command(name="compile")
@click.argument("path", type=click.Path())
@user_errors
def compile_command(path: str) -> None:
    """Compile the rules in PATH and warm the kernel cache."""

    started = time.perf_counter()
    rules = pipeline.compile_rules(path)
    rules.warm()
    rules.warm(outcomes=True)  # the drawer's kernels (`unstuck explain`, a record's page)
    elapsed = time.perf_counter() - started
    for icp in rules.model.icps:
        click.echo(visible(f"ICP {icp.code} \"{icp.name}\" ({icp.status}): {len(icp.params)} parameters"))
        for persona in icp.personas:
            click.echo(visible(f"  Persona {persona.code} \"{persona.name}\" ({persona.status}): "
                               f"{len(persona.params)} parameters"))
    click.echo("account fields read: " + ", ".join(s.field for s in rules.program.account_columns))
    click.echo("lead fields read: " + ", ".join(s.field for s in rules.program.lead_columns))
    click.echo(f"compiled in {elapsed:.2f}s (kernels cached)")

