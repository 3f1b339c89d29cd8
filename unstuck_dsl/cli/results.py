"""The commands that show scoring results on the terminal: explain (the drawer), audience, diff
and demo."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import pyarrow as pa

from .. import pipeline, sample
from ..diff import compare
from ..output import check_destinations, write_table
from ..render import print_composition, print_demo, print_diff, print_explanation, print_members
from ..workspace import engagement_unknown
from .common import (
    ACCOUNTS,
    AS_OF,
    LEADS,
    MISSING_COLUMNS,
    NULL_VALUES,
    RAW_CSV,
    SIGNALS,
    UserError,
    as_of_date,
    reading_options,
    user_errors,
)
from .records import at_workspace_date, inputs, open_workspace, score_run, stages


def _audience_members(result, name: str) -> pa.Table:
    """An audience's members from a scoring run over files; refused when it reads engagement and
    no signals were given (see `workspace.engagement_unknown`)."""
    read = engagement_unknown(result, name)
    if read:
        raise UserError(f"audience `{name}` reads {read}, which is unknown without signals; give --signals FILE, "
                        "or --db with signals ingested")
    return result.audience(name)


@click.command()
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
        with open_workspace(db, rules) as workspace:
            day = at_workspace_date(workspace, as_of)
            members = workspace.audience(name)
    else:
        day = as_of_date(as_of)
        result = score_run(rules, accounts_path, leads_path, day, signals=signals_path, reading=reading)
        members = _audience_members(result, name)
    click.echo(f"as of {day.isoformat()}: {members.num_rows} members in audience `{name}`", err=True)
    if out_path:
        write_table(members, out_path, raw_csv)
    if composition:
        print_composition(members, name)
    elif not out_path:
        print_members(members)


@click.command()
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
        with open_workspace(db, rules) as workspace:
            at_workspace_date(workspace, as_of)
            explanation = workspace.explain(lead=lead_id, account=account_id, preview=preview)
    else:
        if rules is None:
            raise UserError("give RULES (or --db, to explain a record in a workspace)")
        compiled = pipeline.compile_rules(rules)
        accounts, leads = inputs(accounts_path, leads_path, None)
        # Only the record and the records it depends on are read and scored, not every record.
        explanation = compiled.explain_record(accounts, leads, account_id, lead_id, as_of_date(as_of), preview,
                                              signals_path, reading.null_values, reading.missing_columns,
                                              reading.skip_unknown_signals,
                                              on_warning=lambda line: click.echo(f"warning: {line}", err=True))
    if as_json:
        click.echo(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False))
    else:
        print_explanation(explanation)


@click.command()
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

    day = as_of_date(as_of)
    check_destinations({"--out": out_path}, [old_rules, new_rules, accounts_path, leads_path, db])
    old, new = pipeline.compile_rules(old_rules), pipeline.compile_rules(new_rules)
    accounts, leads = inputs(accounts_path, leads_path, db, new.model.schema)
    reading = {"null_values": null_values, "missing_columns": missing_columns}
    report = compare(old.score(accounts, leads, as_of=day, **reading), new.score(accounts, leads, as_of=day, **reading))
    print_diff(report)
    if out_path:
        write_table(report.changes, out_path, raw_csv)


@click.command()
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

    day = as_of_date(as_of)
    with stages(total=4) as stage:
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
