"""The `unstuck` command line: every user-facing failure is one clear message, never a traceback.

The commands live in modules by concern (authoring, scoring, results, workspace, outcomes); this
module knows each command's name, module and one-line help, and imports a command's module only
when that command runs, so that `unstuck --help` and `unstuck check` start without pyarrow, numba
or duckdb (tests/test_cli_startup.py)."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

import click

from .process import (
    collect_once_loaded,
    end_without_teardown,
    for_large_arrays,
    one_blas_thread,
    set_aside_at_exit,
    set_aside_loaded_kernels,
    set_aside_the_engine,
    set_aside_what_is_loaded,
    show_warnings,
    when_imported,
    without_unused,
)


class Entry(NamedTuple):
    """Where a command is defined, and its help's first sentence, shown by `unstuck --help`
    (the same as the command's own; a test holds them equal). A named tuple, not an attrs
    class: `--help` uses nothing else of attrs, whose import is a fifth of its time."""
    module: str
    function: str
    summary: str

    def short_help(self, limit: int) -> str:
        """The summary cut to `limit` characters as click cuts a command's help."""
        return click.Command(None, help=self.summary).get_short_help_str(limit)


COMMANDS = {
    "audience": Entry("results", "audience", "List the members of audience NAME (declared in RULES)."),
    "check": Entry("authoring", "check", "Check and lint the rules in PATH (a .ust file or a folder)."),
    "compile": Entry("authoring", "compile_command", "Compile the rules in PATH and warm the kernel cache."),
    "demo": Entry("results", "demo", "Score generated sample data with the example rules."),
    "diff": Entry("results", "diff", "What NEW_RULES would move; applies nothing."),
    "explain": Entry("results", "explain", "The drawer: why a record scored what it did."),
    "export": Entry("workspace", "export", "Write stored records with their current scores."),
    "fmt": Entry("authoring", "fmt_command", "Format rule files, keeping every comment."),
    "history": Entry("workspace", "history", "The published versions; or one record's score changes."),
    "ingest": Entry("workspace", "ingest", "Add or update records in the workspace store."),
    "insights": Entry("outcomes", "insights", "Outcome rates by score, and where replies jump."),
    "lsp": Entry("authoring", "lsp_command", "The language server for editors, over stdio."),
    "publish": Entry("workspace", "publish", "Publish RULES: every record re-scored with them."),
    "refresh": Entry("workspace", "refresh", "Move the workspace to a new date (default today)."),
    "requalify": Entry("workspace", "requalify", "Re-score some records, saying what moved."),
    "rollback": Entry("workspace", "rollback", "Publish an earlier VERSION again, as a new version."),
    "score": Entry("scoring", "score", "Score accounts (and leads) with RULES."),
    "serve": Entry("workspace", "serve", "Serve a workspace over HTTP (score, ingest, lists)."),
    "status": Entry("workspace", "status", "The published version, the date and the counts."),
    "suggest": Entry("outcomes", "suggest", "Refine the published rules from outcomes; applies nothing."),
    "test": Entry("authoring", "test_command", "Run the rule tests in RULES, with coverage."),
}


class LazyCommands(Mapping[str, click.Command]):
    """The commands by name; a command's module is imported the first time it is looked up."""

    def __init__(self, entries: Mapping[str, Entry]):
        self.entries = entries

    def __getitem__(self, name: str) -> click.Command:
        entry = self.entries[name]
        return getattr(importlib.import_module(f"{__name__}.{entry.module}"), entry.function)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


class LazyGroup(click.Group):
    """A group whose commands load when they run (click's lazy group): the listing in `--help`
    comes from the entries' summaries, without importing any command."""

    def __init__(self, *args, entries: Mapping[str, Entry], **kwargs):
        super().__init__(*args, commands=LazyCommands(entries), **kwargs)
        self.entries = entries
        self.after_loading: Callable[[], None] | None = None  # the process's, once a command has loaded

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None and self.after_loading is not None:
            self.after_loading()
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)  # as click.Group lays it out
        with formatter.section("Commands"):
            formatter.write_dl([(name, self.entries[name].short_help(limit)) for name in names])


@click.group(cls=LazyGroup, entries=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="unstuck_dsl")
def cli() -> None:
    """unstuck: ICP and Persona scoring rules, compiled."""


def main() -> None:
    without_unused()
    one_blas_thread()
    when_imported("pyarrow", for_large_arrays)
    show_warnings()
    collect_once_loaded()
    cli.after_loading = set_aside_what_is_loaded
    set_aside_the_engine()
    when_imported("unstuck_dsl.pipeline", set_aside_loaded_kernels)
    try:
        _run()
    except SystemExit as done:  # (how every command ends: click's, or ours below)
        end_without_teardown(done.code)
        raise


def _run() -> None:
    """The command, every failure one line."""
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
    finally:
        set_aside_at_exit()
