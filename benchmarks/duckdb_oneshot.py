"""DuckDB's one-shot job over the Parquet files, as its own process: what a DuckDB user would run
(read, score, write the lead table), to time against the `unstuck score` process on the same files.

    python benchmarks/duckdb_oneshot.py RULES ACCOUNTS.parquet LEADS.parquet OUT.parquet AS_OF

RULES is a rules folder, or (as `benchmarks/run.py` passes it) the checked ruleset pickled ahead
of time: the query is then "written" before the process starts, as a hand-written SQL file would
be, and the process imports neither the rules compiler nor numba. The string conditions' truths
are decided on this run's distinct values (the reference predicate, once per value), the ENUM
types made from the data, and one statement reads both files, scores, joins the matched leads and
COPYs the lead table (unstuck score's columns) to Parquet.
"""

from __future__ import annotations

import datetime as dt
import sys

from oneshot import load_ruleset
from peers import DuckdbPeer


def main(rules: str, accounts: str, leads: str, out: str, as_of: str) -> None:
    peer = DuckdbPeer(load_ruleset(rules), dt.date.fromisoformat(as_of))
    peer.connect()
    sources = {"account": f"read_parquet('{accounts}')", "lead": f"read_parquet('{leads}')"}
    peer.cats = peer.enum_types(sources)
    peer.db.execute(f"COPY ({peer.table_query(sources['account'], sources['lead'])}) TO '{out}' (FORMAT parquet)")


if __name__ == "__main__":
    main(*sys.argv[1:6])
