"""The `unstuck` command line: every user-facing failure is one clear message, never a traceback."""

from __future__ import annotations

import sys

import click

from .diagnostics import render_all
from .pipeline import check_sources
from .source import SourceError, read_sources


class UserError(click.ClickException):
    """A problem the user can fix; shown as one line and exit code 1 (2 for usage errors)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="unstuck_dsl")
def cli() -> None:
    """unstuck: ICP and Persona scoring rules, compiled."""


@cli.command()
@click.argument("path", type=click.Path())
def check(path: str) -> None:
    """Check the rules in PATH (a .ust file or a directory of them)."""
    try:
        sources = read_sources(path)
    except SourceError as exc:
        raise UserError(str(exc)) from None
    ruleset, diagnostics = check_sources(sources)
    color = sys.stdout.isatty()
    if diagnostics:
        click.echo(render_all(diagnostics, {s.name: s for s in sources}, color=color))
    if ruleset is None:
        sys.exit(1)
    icps = ruleset.icps
    personas = sum(len(i.personas) for i in icps)
    click.echo(f"ok: {len(sources)} file{'s' if len(sources) != 1 else ''}, {len(icps)} ICPs, {personas} Personas")


def main() -> None:
    try:
        cli(standalone_mode=True)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
