"""What the scoring and workspace commands share: progress on stderr, records read from files
or a workspace store, a scoring run, and a workspace opened to read or to write."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from .common import DEFAULT_READING, Reading, UserError, as_of_date

if TYPE_CHECKING:
    from ..workspace import Workspace


@contextlib.contextmanager
def stages(total: int = 5):
    """Progress on stderr, only on a terminal (nothing when piped): each stage of the run by
    name, with its record counts, a bar over the `total` stages and the time elapsed."""
    if not sys.stderr.isatty():
        yield lambda description: None
        return
    # Only here: a piped run (every batch job) never loads rich.
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("starting", total=total)

        def advance(description: str) -> None:
            progress.update(task, description=description, advance=1, refresh=True)

        yield advance


def inputs(accounts_path, leads_path, db, schema=None):
    """Accounts and leads from files, or from a workspace store (read through Arrow, typed by
    `schema`, the rules' declared fields, with the store's exact conversions)."""
    if db is not None:
        if accounts_path or leads_path:
            raise UserError("give either --db or input files, not both")
        from ..service import client  # (the store and the workspace: a scoring run from files never loads them)

        with client.open_store(db) as workspace:  # through `unstuck serve` while one holds it
            return workspace.records("account", schema=schema), workspace.records("lead", schema=schema)
    if accounts_path is None and leads_path is None:
        raise UserError("give --accounts, --leads, or both (or --db)")
    return accounts_path, leads_path


def stored_signals(db, signals_path):
    """Signals from a file, else those stored in the workspace (when there are any)."""
    if signals_path is not None or db is None:
        return signals_path
    from ..service import client

    with client.open_store(db) as workspace:  # through `unstuck serve` while one holds it
        table = workspace.signals()
    return table if table.num_rows else None


def score_run(rules, accounts_path, leads_path, as_of, preview=(), on_stage=lambda _: None, db=None, signals=None,
              reading: Reading = DEFAULT_READING):
    """Compile, then read and score through the pipeline, saying on stderr what the reading
    options left out."""
    from .. import pipeline

    on_stage("checking and compiling rules")
    compiled = pipeline.compile_rules(rules)
    accounts, leads = inputs(accounts_path, leads_path, db, compiled.model.schema)
    return pipeline.score(compiled, accounts, leads, as_of, preview, stored_signals(db, signals),
                          reading.null_values, reading.missing_columns, reading.skip_unknown_signals,
                          on_stage=on_stage, on_warning=_warn)


def _warn(line: str) -> None:
    click.echo(f"warning: {line}", err=True)


def score_chunks_run(rules, accounts_path, leads_path, as_of, preview=(), on_stage=lambda _: None,
                     reading: Reading = DEFAULT_READING):
    """`score_run` of an accounts file and a leads file, the leads a chunk at a time
    (`pipeline.score_chunks`: a result per chunk, made as it is asked for). The rules are
    compiled now."""
    from .. import pipeline

    on_stage("checking and compiling rules")
    compiled = pipeline.compile_rules(rules)
    return pipeline.score_chunks(compiled, accounts_path, leads_path, as_of, preview, reading.null_values,
                                 reading.missing_columns, on_stage, _warn)


def open_workspace(db, rules=None, read_only: bool = True) -> Workspace:
    """The workspace at `db`. RULES given to a command that reads it must be its published
    version (one line naming both otherwise)."""
    from ..service import client

    workspace = client.open_workspace(db, read_only=read_only)  # through `unstuck serve` while one holds it
    try:
        if rules is not None:
            workspace.check_rules(rules)
    except BaseException:
        workspace.close()
        raise
    return workspace


def at_workspace_date(workspace: Workspace, as_of: str | None) -> dt.date:
    """The workspace's date; an --as-of that is not it is refused (the stored scores are as of it)."""
    day = workspace.as_of
    if as_of is not None and day is not None and as_of_date(as_of) != day:
        raise UserError(f"{workspace.path}: the workspace's scores are as of {day.isoformat()}; leave out --as-of, "
                        f"or move the workspace: `unstuck refresh --db {workspace.path} --as-of {as_of}`")
    return day


@contextlib.contextmanager
def writing(db, rules=None, progress: bool = True):
    """The workspace to write, with progress (unless the command will ask a question). A new
    workspace is created only once RULES check, so that rules with errors leave no empty
    workspace behind. The workspace is opened before the rules' front end (the parser, the
    checks) and the data layer load: its reading through starts that much earlier."""
    with (stages(total=8) if progress else contextlib.nullcontext(lambda _: None)) as stage:
        if rules is not None and not Path(db).exists():
            from .. import pipeline

            stage("checking rules")
            pipeline.load_ruleset(rules)
        stage(f"opening {db}")
        from ..workspace_file import WorkspaceFile

        # Opened first, the workspace is read through (`WorkspaceFile`) while the store, pyarrow
        # and the rest load: about 0.4 s of DuckDB's reading beside the imports, not after them.
        file = WorkspaceFile(db)
        try:
            from ..store import Store
            from ..workspace import Workspace
        except BaseException:
            file.close()
            raise
        with Workspace(db, store=Store(db, file=file)) as workspace:
            yield workspace, stage
