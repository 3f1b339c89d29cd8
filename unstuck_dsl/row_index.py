"""Where a workspace's records lie, kept in memory by a store that a long-running service holds
open (`Store.keep_indexes`, for `unstuck serve`): which leads each account has (`LeadIndex`),
and the row each record's id is stored in, per table (`RowIndex`).

DuckDB keeps no index on ids (see `store._TABLES`): without these, finding a few records among
millions scans every row group their id range can fall in, and a join with a thousand ids scans
them all. Both indexes follow committed writes only (a write rolled back leaves them as they
were). A row number is a hint, never the truth: the store reads the hinted rows and keeps those
that hold a wanted id, and looks up by value any id the index does not place (see
`Store._hinted`). DuckDB numbers rows anew when a checkpoint compacts deleted ones; an index
that notices (below) is built again.
"""

from __future__ import annotations

import bisect
import functools

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import ACCOUNT_KEY, LEAD_KEY

# Up to this many accounts, their leads are found by binary search, each on its own.
_FEW_ACCOUNTS = 32
# Committed rows taken in since a build: past this many, building again is cheaper than keeping them beside it.
REBUILD_AFTER = 250_000


class LeadIndex:
    """Which leads each account has: the leads of a changed account are found here, not by a
    scan of every stored lead's `account_id` (no row group can be skipped by min/max for it:
    leads of unknown accounts give every row group a wide range; 20-70 ms on 3M leads). Built
    from the stored leads (sorted by account), then leads written since are kept beside it
    (`written`) until there are so many that building again is cheaper."""

    def __init__(self, db):
        table = db.sql("SELECT account_id, lead_id FROM leads WHERE account_id IS NOT NULL ORDER BY account_id"
                       ).to_arrow_table().combine_chunks()
        self.accounts, self.leads = table.column(0), table.column(1)
        self.written: dict[str, str | None] = {}  # lead -> its account now, for leads written since the build
        self.joined: dict[str, set[str]] = {}  # account -> leads written to it since the build

    @functools.cached_property
    def _distinct(self) -> tuple[pa.Array, np.ndarray]:
        """Each account once, sorted, and where its leads start and end ([2, n]: start, end):
        many accounts are looked up among 1M distinct ids, not 3M lead rows. Made when first
        needed (not at the server's start)."""
        n = len(self.accounts)
        starts = np.zeros(min(n, 1), np.int64)
        if n > 1:
            changes = pc.not_equal(self.accounts.slice(1), self.accounts.slice(0, n - 1))
            starts = np.concatenate([starts, np.flatnonzero(changes.to_numpy(zero_copy_only=False)) + 1])
        ends = np.append(starts[1:], n)[: len(starts)]
        return self.accounts.take(pa.array(starts, pa.int64())), np.stack([starts, ends]).astype(np.int64)

    def leads_of(self, accounts: pa.Array) -> set[str]:
        """The stored leads of these accounts."""
        wanted = set(accounts.to_pylist()) - {None}
        if len(wanted) <= _FEW_ACCOUNTS:
            keys = _Keys(self.accounts)
            leads = []
            for account in wanted:
                start = bisect.bisect_left(keys, account)
                leads += self.leads.slice(start, bisect.bisect_right(keys, account, lo=start) - start).to_pylist()
        else:
            distinct, spans = self._distinct
            hit = pc.is_in(distinct, value_set=pa.array(wanted, pa.string())).to_numpy(zero_copy_only=False)
            start, end = spans[:, hit]
            # Every position from each start to its end: 0..total, each span shifted to its start.
            lengths = end - start
            at = pa.array(np.arange(lengths.sum()) + np.repeat(start - (np.cumsum(lengths) - lengths), lengths))
            leads = self.leads.take(at).to_pylist()
        found = {lead for lead in leads if lead not in self.written or self.written[lead] in wanted}
        for account in wanted:
            found.update(self.joined.get(account, ()))
        return found

    def wrote(self, leads: pa.Table) -> None:
        """These (lead_id, account_id) pairs are stored now (committed)."""
        for lead, account in zip(leads.column(LEAD_KEY).to_pylist(), leads.column(ACCOUNT_KEY).to_pylist()):
            before = self.written.get(lead)
            if before is not None and before != account:
                self.joined[before].discard(lead)
            self.written[lead] = account
            if account is not None:
                self.joined.setdefault(account, set()).add(lead)


class _Keys:
    """A sorted Arrow string array as `bisect` reads it (one value at a time, no copy)."""

    def __init__(self, values: pa.Array):
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int) -> str:
        return self.values[i].as_py()


class RowIndex:
    """The row (DuckDB's `rowid`) each id of one table was last stored in: built from the table,
    then the rows each committed write appends are taken in (`follow`); a changed record is
    deleted and appended again, so its id's newest row is the one kept.

    DuckDB appends a committed transaction's rows after every row it held, and numbers rows anew
    only when a checkpoint compacts deleted ones: `follow` reads the rows past the last one it
    knows, and builds again when they are not exactly those the transaction appended (the table
    was renumbered) or when a read found a hinted row holding another id (`stale`)."""

    def __init__(self, db, table: str, key: str):
        self.table, self.key = table, key
        self.build(db)

    def build(self, db) -> None:
        from .keys import IdIndex  # (numba: a service has it loaded already)

        found = db.sql(f"SELECT {self.key}, rowid FROM {self.table}").to_arrow_table()
        self._ids = IdIndex(found.column(0))
        self._rows = found.column(1).to_numpy()
        self._last = int(self._rows.max()) if len(self._rows) else -1  # the highest row known
        self._since: dict[str, int] = {}  # id -> row, for rows appended since the build
        self.stale = False

    def rows_of(self, ids: pa.Array) -> np.ndarray:
        """The row each id was last stored in (int64; -1: the index places no such id)."""
        at = self._ids.rows_of(ids)
        rows = np.full(len(at), -1, np.int64)
        placed = at >= 0
        rows[placed] = self._rows[at[placed]]
        if self._since:
            for i, ident in enumerate(ids.to_pylist()):
                rows[i] = self._since.get(ident, rows[i])
        return rows

    def follow(self, db, appended: int) -> None:
        """A transaction that appended this many rows to the table was committed."""
        if self.stale or len(self._since) + appended > REBUILD_AFTER:
            self.build(db)
            return
        if not appended:
            return
        new = db.sql(f"SELECT {self.key}, rowid FROM {self.table} WHERE rowid > $last",
                     params={"last": self._last}).to_arrow_table()
        if new.num_rows != appended:  # numbered anew: rows compacted down, or past the last one known
            self.build(db)
            return
        rows = new.column(1).to_pylist()
        self._since.update(zip(new.column(0).to_pylist(), rows))
        self._last = max(self._last, *rows)
