"""`unstuck score`: records in, scores out to files. It prints no tables, so it loads no terminal
rendering (rich): its start-up is part of every batch run."""

from __future__ import annotations

import time

import click

from ..output import PIECE_ROWS, check_destinations, write_table
from ..unused import allow
from .common import (
    ACCOUNTS,
    AS_OF,
    LEADS,
    RAW_CSV,
    READ_DB,
    SIGNALS,
    as_of_date,
    count,
    reading_options,
    user_errors,
)
from .process import give_back_freed_memory, reading_inputs
from .records import score_run, stages


def _tally(counts: dict[tuple, int]) -> str:
    """`a / b 12, none 3`: records per combination of codes, most frequent first."""
    rows = sorted((-count, [str(name) for name in label], label) for label, count in counts.items())
    return ", ".join(f"{' / '.join(n for n in names if n is not None) or 'none'} {-count:,}"
                     for count, _, names in rows)


def _summary(result, elapsed: float) -> str:
    """Counts per ICP, per ICP / Persona pair (a Persona code means something only inside its
    ICP), and the leads whose account was not in the accounts."""
    parts = [f"{result.dataset.accounts.n} accounts", f"ICPs: {_tally(result.code_counts('account'))}"]
    if result.dataset.leads is not None:
        parts.insert(1, f"{result.dataset.leads.n} leads")
        parts.append(f"Personas: {_tally(result.code_counts('lead'))}")
        orphans = int((result.dataset.lead_account_rows < 0).sum())
        if orphans:
            parts.append(f"{count(orphans, 'lead')} without their account in the accounts (no ICP)")
    return "; ".join(parts) + f"; {elapsed:.2f}s"


@click.command()
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
    day = as_of_date(as_of)
    if engine == "spark":
        _score_with_spark(rules, accounts_path, leads_path, out_path, accounts_out, day, preview, signals_path, master)
        return
    check_destinations({"--out": out_path, "--accounts-out": accounts_out},
                       [rules, accounts_path, leads_path, db, signals_path])
    click.echo(f"as of {day.isoformat()}", err=True)
    reading_inputs([accounts_path, leads_path])
    started = time.perf_counter()
    with stages() as stage:
        result = score_run(rules, accounts_path, leads_path, day, preview, stage, db, signals_path, reading)
        result.drop_fields()
        give_back_freed_memory()
        stage("writing results")
        write_table(result.table_pieces(PIECE_ROWS), out_path, raw_csv)
        if accounts_out:
            write_table(result.accounts, accounts_out, raw_csv)
    click.echo(_summary(result, time.perf_counter() - started), err=True)


def _score_with_spark(rules, accounts_path, leads_path, out_path, accounts_out, day, preview, signals_path,
                      master) -> None:
    allow("pandas")  # pyspark needs it
    from .. import spark  # imports pyspark (the `spark` extra), which only this engine needs

    started = time.perf_counter()
    click.echo(f"as of {day.isoformat()}; Spark master {master}", err=True)
    written = spark.score_files(rules, accounts_path, leads_path, out_path, accounts_out, day, preview, signals_path,
                                master)
    counts = ", ".join(f"{n:,} {kind}" for kind, n in written.items())
    click.echo(f"{counts} scored with Spark; {time.perf_counter() - started:.2f}s", err=True)
