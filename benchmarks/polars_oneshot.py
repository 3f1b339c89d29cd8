"""Polars' one-shot job over the Parquet files, as its own process: what a Polars user would run
(read, score, write the lead table), to time against the `unstuck score` process on the same files.

    python benchmarks/polars_oneshot.py RULES ACCOUNTS.parquet LEADS.parquet OUT.parquet AS_OF

RULES is a rules folder or the checked ruleset pickled ahead of time (see duckdb_oneshot.py).
The frames are read with `read_parquet`, encoded (Enum columns, set bitmasks), scored with the
Polars peer's expressions (`PolarsPeer.run_table`) and written with `write_parquet`.
"""

from __future__ import annotations

import datetime as dt
import sys

import polars as pl
from oneshot import load_ruleset
from peers import PolarsPeer


def main(rules: str, accounts: str, leads: str, out: str, as_of: str) -> None:
    peer = PolarsPeer(load_ruleset(rules), dt.date.fromisoformat(as_of))
    table = peer.run_table(pl.read_parquet(accounts), pl.read_parquet(leads))
    table.write_parquet(out)


if __name__ == "__main__":
    main(*sys.argv[1:6])
