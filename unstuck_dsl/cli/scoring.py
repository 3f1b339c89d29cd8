"""`unstuck score`: records in, scores out to files. It prints no tables, so it loads no terminal
rendering (rich): its start-up is part of every batch run."""

from __future__ import annotations

import time

import click
import pyarrow as pa

from ..output import check_destinations, write_table
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
from .records import score_run, stages


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
            parts.append(f"{count(orphans, 'lead')} without their account in the accounts (no ICP)")
    return "; ".join(parts) + f"; {elapsed:.2f}s"


def _counts(table: pa.Table, keys: list[str]) -> str:
    """`a / b 12, none 3`, most frequent first, counted on the code columns' dictionary indices
    (each combination of codes is one number), never on the strings, a million rows at a time
    (counted whole, the leads' temporaries were the run's peak at 3M leads)."""
    import numpy as np

    table = table.select(keys)
    for i, key in enumerate(keys):
        if not pa.types.is_dictionary(table.schema.field(i).type):
            table = table.set_column(i, key, table.column(i).dictionary_encode())
    table = table.unify_dictionaries()  # one dictionary per column, shared by every batch
    batches = table.to_batches(max_chunksize=1 << 20)
    if not batches:
        return ""
    # The last entry of each key's names is where its nulls count.
    names = [[*batches[0].column(i).dictionary.to_pylist(), None] for i in range(len(keys))]
    labels = [()]
    for key_names in names:
        labels = [(*label, name) for label in labels for name in key_names]
    counts = np.zeros(len(labels), np.int64)
    for batch in batches:
        combined = np.zeros(batch.num_rows, np.int64)
        for i, key_names in enumerate(names):
            combined *= len(key_names)
            combined += batch.column(i).indices.fill_null(len(key_names) - 1).to_numpy(zero_copy_only=False)
        counts += np.bincount(combined, minlength=len(labels))
    rows = sorted((-int(counts[i]), [str(name) for name in labels[i]], labels[i]) for i in np.flatnonzero(counts))
    return ", ".join(f"{' / '.join(n for n in names if n is not None) or 'none'} {-count:,}" for count, _, names in rows)


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
    started = time.perf_counter()
    with stages() as stage:
        result = score_run(rules, accounts_path, leads_path, day, preview, stage, db, signals_path, reading)
        stage("writing results")
        write_table(result.table(), out_path, raw_csv)
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
