"""`unstuck score`: records in, scores out to files. It prints no tables, so it loads no terminal
rendering (rich): its start-up is part of every batch run."""

from __future__ import annotations

import time
from collections import Counter

import click

from ..output import PIECE_ROWS, STDOUT, check_destinations, write_table
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
from .records import score_chunks_run, score_run, stages


def _tally(counts: dict[tuple, int]) -> str:
    """`a / b 12, none 3`: records per combination of codes, most frequent first."""
    rows = sorted((-count, [str(name) for name in label], label) for label, count in counts.items())
    return ", ".join(f"{' / '.join(n for n in names if n is not None) or 'none'} {-count:,}"
                     for count, _, names in rows)


class _Totals:
    """What the summary line counts, over a run's results: one, or one per chunk of leads
    (`pipeline.score_chunks`, every one over the same accounts): counts per ICP, per ICP /
    Persona pair (a Persona code means something only inside its ICP), and the leads whose
    account was not in the accounts."""

    def __init__(self):
        self.first = None  # the first result: the accounts' scores
        self.leads: int | None = None
        self.pairs: Counter = Counter()
        self.orphans = 0

    def add(self, result) -> None:
        if self.first is None:
            self.first = result
        if result.dataset.leads is not None:
            self.leads = (self.leads or 0) + result.dataset.leads.n
            self.pairs.update(result.code_counts("lead"))
            self.orphans += int((result.dataset.lead_account_rows < 0).sum())

    def summary(self, elapsed: float) -> str:
        parts = [f"{self.first.dataset.accounts.n} accounts", f"ICPs: {_tally(self.first.code_counts('account'))}"]
        if self.leads is not None:
            parts.insert(1, f"{self.leads} leads")
            parts.append(f"Personas: {_tally(self.pairs)}")
            if self.orphans:
                parts.append(f"{count(self.orphans, 'lead')} without their account in the accounts (no ICP)")
        return "; ".join(parts) + f"; {elapsed:.2f}s"


def _pieces(results, totals: _Totals, stage):
    """The results' tables in pieces, in order, each result counted and its encoded fields let go
    once scored (the pieces need only the scores). The writing starts with the first."""
    for result in results:
        totals.add(result)
        result.drop_fields()
        if result is totals.first:
            give_back_freed_memory()
            stage("writing results")
        yield from result.table_pieces(PIECE_ROWS)


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
    totals = _Totals()
    with stages() as stage:
        # Two files scored into a file: the leads a chunk at a time, each chunk's scores written
        # as the next is read (the output is replaced only once whole). On standard output, the
        # rows would be out before a later chunk could still be refused.
        if accounts_path and leads_path and db is None and signals_path is None and out_path != STDOUT:
            results = score_chunks_run(rules, accounts_path, leads_path, day, preview, stage, reading)
        else:
            results = [score_run(rules, accounts_path, leads_path, day, preview, stage, db, signals_path, reading)]
        write_table(_pieces(results, totals, stage), out_path, raw_csv)
        if accounts_out:
            write_table(totals.first.accounts, accounts_out, raw_csv)
    click.echo(totals.summary(time.perf_counter() - started), err=True)


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
