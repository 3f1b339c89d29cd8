"""DuckDB's one-shot query over the Parquet files, as its own process: the whole job a DuckDB
user would run (read, score, write), to time against the `unstuck score` process.

    python benchmarks/duckdb_oneshot.py RULES ACCOUNTS.parquet LEADS.parquet OUT.parquet AS_OF
"""

from __future__ import annotations

import datetime as dt
import sys

import duckdb
from peers import DuckdbPeer

import unstuck_dsl


def main(rules: str, accounts: str, leads: str, out: str, as_of: str) -> None:
    ruleset = unstuck_dsl.compile(rules).model
    peer = DuckdbPeer(ruleset, dt.date.fromisoformat(as_of))
    peer.db = duckdb.connect()
    sources = {"account": f"read_parquet('{accounts}')", "lead": f"read_parquet('{leads}')"}
    peer.categories = {
        f.name: [r[0] for r in peer.db.execute(
            f'SELECT DISTINCT "{f.name}" FROM {sources[f.kind]} WHERE "{f.name}" IS NOT NULL').fetchall()]
        for f in ruleset.schema.fields if f.type.name in ("category", "text", "ordinal")}
    numbered = "(SELECT *, row_number() OVER () AS _row FROM {})"
    peer.db.execute("CREATE TEMP TABLE scored AS " + peer.account_query(numbered.format(sources["account"])))
    query = peer.lead_query(numbered.format(sources["lead"]), "scored")
    peer.db.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet)")


if __name__ == "__main__":
    main(*sys.argv[1:6])
