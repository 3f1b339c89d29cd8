"""The workspace commands: ingest, publish, rollback, refresh, requalify, history, status,
audience, export and serve."""

from __future__ import annotations

import json
import sys

import click

from ..terminal import visible
from .common import (
    ACCOUNTS,
    AS_OF,
    LEADS,
    NULL_VALUES,
    RAW_CSV,
    SKIP_UNKNOWN_SIGNALS,
    WORKSPACE,
    UserError,
    as_of_date,
    user_errors,
)
from .process import reading_inputs
from .records import at_workspace_date, open_workspace, writing


def _print_diff(diff) -> None:
    from ..render import print_diff  # (rich: loaded by the commands that show a diff, not by every one here)

    print_diff(diff)


def _confirmed(question: str) -> bool:
    """Ask on a terminal (without --yes; elsewhere --yes must have been given, checked before any
    work). With --yes nothing is asked, and what would move is shown once published: the diff is
    found while the scores are written (`Workspace.publish` without `confirm`)."""
    return click.confirm(question, default=False, err=True)


def _require_yes_off_terminal(yes: bool, dry_run: bool, command: str) -> None:
    if not (yes or dry_run or sys.stdin.isatty()):
        raise UserError(f"{command} re-scores every record: confirm with --yes (standard input is not a terminal "
                        "to ask on), or see what would move with --dry-run")


@click.command()
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
    day = as_of_date(as_of) if as_of is not None else None
    with writing(db, rules, progress=yes or dry_run) as (workspace, stage):
        def confirm(report) -> bool:
            if report.diff is not None:
                _print_diff(report.diff)
            if report.unchanged:  # the rules in force, at a new date
                return _confirmed(f"Re-score every record of {db} with {report.previous} as of "
                                       f"{report.as_of.isoformat()}?")
            number = (report.previous.number if report.previous else 0) + 1
            return _confirmed(f"Publish {rules} as version {number} of {db}?")

        report = workspace.publish(rules, message, day, dry_run=dry_run, confirm=None if dry_run or yes else confirm,
                                   on_stage=stage)
    if (dry_run or yes) and report.diff is not None:
        _print_diff(report.diff)
    if report.unchanged or report.version is not None:
        click.echo(visible(f"{db}: {report}"))
    elif not dry_run:
        click.echo("not published", err=True)
        sys.exit(1)


@click.command()
@click.argument("version", type=click.IntRange(1, None))
@WORKSPACE
@click.option("-m", "--message", default="", help="Why (default: `rollback to version N`).")
@click.option("--yes", is_flag=True, help="Roll back without asking (required when standard input is not a terminal).")
@user_errors
def rollback(version, db, message, yes) -> None:
    """Publish an earlier VERSION again, as a new version.

    Nothing is rewritten: the versions between stay in the history."""
    _require_yes_off_terminal(yes, False, "rollback")
    with writing(db, progress=yes) as (workspace, stage):
        def confirm(report) -> bool:
            if report.diff is not None:
                _print_diff(report.diff)
            return _confirmed(f"Publish version {version} again as version {report.previous.number + 1} of {db}?")

        report = workspace.rollback(version, message, confirm=None if yes else confirm, on_stage=stage)
    if yes and report.diff is not None:
        _print_diff(report.diff)
    if report.version is None and not report.unchanged:
        click.echo("not published", err=True)
        sys.exit(1)
    click.echo(visible(f"{db}: {report}"))


@click.command()
@WORKSPACE
@click.option("--as-of", "as_of", help="The workspace's new date (YYYY-MM-DD); default today.")
@user_errors
def refresh(db, as_of) -> None:
    """Move the workspace to a new date (default today).

    Every record is re-scored as of it, in one transaction: the daily job that keeps `within 12 months` true."""
    day = as_of_date(as_of)
    with writing(db) as (workspace, stage):
        report = workspace.refresh(day, on_stage=stage)
    click.echo(f"{db} (as of {day.isoformat()}): {report}")


@click.command()
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
    with writing(db) as (workspace, stage):
        report = workspace.requalify(lead_ids, account_ids, audience_name, where, on_stage=stage)
        day = workspace.as_of
    click.echo(f"{db} (as of {day.isoformat()}): {report}")


@click.command()
@WORKSPACE
@click.option("--lead", "lead_id", help="This lead's score changes, with the version that made each.")
@click.option("--account", "account_id", help="This account's score changes, with the version that made each.")
@user_errors
def history(db, lead_id, account_id) -> None:
    """The published versions; or one record's score changes."""
    if lead_id is not None and account_id is not None:
        raise UserError("give at most one of --lead ID or --account ID")
    with open_workspace(db) as workspace:
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


@click.command()
@WORKSPACE
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@user_errors
def status(db, as_json) -> None:
    """The published version, the date and the counts.

    Warns when the workspace's date is before today (`refresh` moves it)."""
    with open_workspace(db) as workspace:
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


@click.command()
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
    day = as_of_date(as_of) if as_of is not None else None
    with writing(db, rules) as (workspace, stage):
        reading_inputs([accounts_path, leads_path, signals_path, outcomes_path])
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


@click.command()
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
    from ..output import check_destinations, write_table  # (pyarrow: not before a writing command opens its workspace)

    check_destinations({"--out": out_path, "--accounts-out": accounts_out}, [db])
    if audience_name is not None and (table_kind or accounts_out or extras):
        raise UserError("--audience writes the audience's members as `audience --db` lists them; "
                        "leave out --table, --accounts-out and --with")
    with open_workspace(db) as workspace:
        at_workspace_date(workspace, as_of)
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


@click.command()
@WORKSPACE
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to listen on; anything but loopback needs --token.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535),
              help="The port to listen on (0: any free one; the address is in DB.serve.json).")
@click.option("--token", envvar="UNSTUCK_TOKEN", help="The token writes need (Authorization: Bearer TOKEN); "
              "default: a new random one, printed and kept in DB.token (mode 0600) while serving. Env: UNSTUCK_TOKEN.")
@click.option("--max-body", default=50, show_default=True, type=click.IntRange(1, 4096),
              help="The largest request body taken, in MB.")
@click.option("--in-memory/--no-in-memory", default=True, show_default=True,
              help="Keep the workspace's records, scores and history in memory (about 1.5 GB for 1M accounts "
              "with 3M leads): record pages and ingests then read nothing from DuckDB. --no-in-memory reads "
              "them from DuckDB: slower, and little memory.")
@user_errors
def serve(db, host, port, token, max_body, in_memory) -> None:
    """Serve a workspace over HTTP (score, ingest, lists).

    The endpoints and their schema: /api/openapi.json; docs/serve.md. While it runs, other unstuck
    commands on the workspace are told the server's address (DuckDB lets one process hold it)."""
    from ..serve import run  # starlette and uvicorn: loaded by this command only

    run(db, host=host, port=port, token=token, max_body=max_body * 1024 * 1024, say=click.echo, in_memory=in_memory)
