"""`unstuck score`: records in, scores out to files. It prints no tables, so it loads no terminal
rendering (rich): its start-up is part of every batch run."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable, Iterator

import click
import numpy as np
import pyarrow as pa

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
from .process import give_back_freed_memory
from .records import score_run, stages


class _Tally:
    """How many rows hold each combination of codes (`keys`), counted piece by piece as a table
    is written (the lead table is written in pieces, and never whole), on the code columns'
    dictionary indices (each combination of codes is one number), never on the strings."""

    def __init__(self, keys: list[str]):
        self.keys = keys
        self.counts: collections.Counter = collections.Counter()

    def add(self, table: pa.Table) -> None:
        table = table.select(self.keys)
        for i, key in enumerate(self.keys):
            if not pa.types.is_dictionary(table.schema.field(i).type):
                table = table.set_column(i, key, table.column(i).dictionary_encode())
        table = table.unify_dictionaries()  # one dictionary per column, shared by every batch
        batches = table.to_batches(max_chunksize=1 << 20)
        if not batches:
            return
        # The last entry of each key's names is where its nulls count.
        names = [[*batches[0].column(i).dictionary.to_pylist(), None] for i in range(len(self.keys))]
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
        self.counts.update({labels[i]: int(counts[i]) for i in np.flatnonzero(counts)})

    def counted(self, pieces: Iterable[pa.Table]) -> Iterator[pa.Table]:
        """The pieces, each counted as it passes."""
        for piece in pieces:
            self.add(piece)
            yield piece
            del piece  # let go before the next is asked for

    def __str__(self) -> str:
        """`a / b 12, none 3`, most frequent first."""
        rows = sorted((-count, [str(name) for name in label], label) for label, count in self.counts.items())
        return ", ".join(f"{' / '.join(n for n in names if n is not None) or 'none'} {-count:,}"
                         for count, _, names in rows)


def _summary(result, personas: _Tally | None, elapsed: float) -> str:
    """Counts per ICP, per ICP / Persona pair (a Persona code means something only inside its
    ICP; `personas`, counted as the lead table was written), and the leads whose account was not
    in the accounts."""
    accounts = _Tally(["icp_code"])
    accounts.add(pa.table({"icp_code": result.account_icp_codes()}))
    parts = [f"{result.dataset.accounts.n} accounts", f"ICPs: {accounts}"]
    if personas is not None:
        parts.insert(1, f"{result.dataset.leads.n} leads")
        parts.append(f"Personas: {personas}")
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
    started = time.perf_counter()
    with stages() as stage:
        result = score_run(rules, accounts_path, leads_path, day, preview, stage, db, signals_path, reading)
        result.drop_fields()
        give_back_freed_memory()
        stage("writing results")
        personas = _Tally(["icp_code", "persona_code"]) if result.dataset.leads is not None else None
        pieces = result.table_pieces(PIECE_ROWS)
        write_table(personas.counted(pieces) if personas is not None else pieces, out_path, raw_csv)
        if accounts_out:
            write_table(result.accounts, accounts_out, raw_csv)
    click.echo(_summary(result, personas, time.perf_counter() - started), err=True)


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
