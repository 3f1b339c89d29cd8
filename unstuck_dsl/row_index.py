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


class _Followed:
    """An index over one table's rows that takes in the rows each committed write appends (see
    `follow`), and is built again when they are not exactly those the write appended (the table
    was numbered anew), when it has taken so many that building is cheaper, or when a read found
    it wrong (`stale`). DuckDB appends a committed transaction's rows after every row it held, and
    numbers rows anew only when a checkpoint compacts deleted ones."""

    table: str
    key: str

    def __init__(self, db):
        self.build(db)

    def build(self, db) -> None:
        found = db.sql(f"SELECT {self.key}, rowid FROM {self.table}").to_arrow_table()
        rows = found.column(1).to_numpy()
        self._built(found.column(0), rows)
        self._last = int(rows.max()) if len(rows) else -1  # the highest row known
        self._taken = 0
        self.stale = False

    def _built(self, ids, rows: np.ndarray) -> None:
        raise NotImplementedError

    def _take(self, ids: list, rows: list) -> None:
        raise NotImplementedError

    def since_last(self) -> str:
        """SQL for the (id, row) of the rows past the last one known."""
        return f"SELECT {self.key}, rowid FROM {self.table} WHERE rowid > {self._last}"

    def take(self, db, found: pa.Table, appended: int) -> None:
        """`found`: `since_last` after a commit that appended `appended` rows to the table."""
        if found.num_rows != appended or self._taken + appended > REBUILD_AFTER:
            self.build(db)
            return
        rows = found.column(1).to_pylist()
        self._take(found.column(0).to_pylist(), rows)
        self._last, self._taken = max(self._last, *rows), self._taken + appended


def follow(db, indexes: list[_Followed], appended: dict[str, int]) -> None:
    """The indexes take in the rows a committed transaction appended (`appended`: per table),
    those past the last row each knows read in one query."""
    due = []
    for index in indexes:
        if index.stale:
            index.build(db)
        elif appended.get(index.table):
            due.append(index)
    if not due:
        return
    found = db.sql(" UNION ALL ".join(f"SELECT {i} AS due, * FROM ({index.since_last()})" for i, index in enumerate(due))
                   ).to_arrow_table()
    due_of = found.column(0).to_numpy()
    for i, index in enumerate(due):
        index.take(db, found.filter(pa.array(due_of == i)).drop_columns(["due"]), appended[index.table])


class RowIndex(_Followed):
    """The row (DuckDB's `rowid`) each id of one table was last stored in. A changed record is
    deleted and appended again, so the row its id was last appended in is the one kept."""

    def __init__(self, db, table: str, key: str):
        self.table, self.key = table, key
        super().__init__(db)

    def _built(self, ids, rows: np.ndarray) -> None:
        from .keys import IdIndex  # (numba: a service has it loaded already)

        self._ids, self._rows = IdIndex(ids), rows
        self._since: dict[str, int] = {}  # id -> row, for rows taken in since the build

    def _take(self, ids: list, rows: list) -> None:
        self._since.update(zip(ids, rows))

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


class HistoryIndex(_Followed):
    """The rows of `score_history` that hold each record's score changes. History is only ever
    appended (never deleted: its rows are never numbered anew), so a record none of whose rows
    the index holds has none. Rows are kept by the hash of their record's id, sorted: a record's
    rows are its hash's run (the read matches the id, which tells apart ids that share a hash)."""

    table, key = "score_history", "record_id"

    def _built(self, ids, rows: np.ndarray) -> None:
        from .keys import hashes_of

        hashes = hashes_of(ids)
        order = np.argsort(hashes, kind="stable")
        self._hashes, self._rows = hashes[order], rows[order]
        self._since: list[tuple[np.ndarray, np.ndarray]] = []  # (hashes, rows) taken in since the build

    def _take(self, ids: list, rows: list) -> None:
        from .keys import hashes_of

        self._since.append((hashes_of(pa.array(ids, pa.string())), np.array(rows, np.int64)))
        if len(self._since) > 32:  # (a lookup compares with each piece)
            self._since = [tuple(np.concatenate(part) for part in zip(*self._since))]

    def rows_of(self, record_id: str) -> list[int]:
        """The rows that may hold this record's changes (none: it has none)."""
        from .keys import hashes_of

        wanted = hashes_of(pa.array([record_id], pa.string()))[0]
        start, end = np.searchsorted(self._hashes, wanted, "left"), np.searchsorted(self._hashes, wanted, "right")
        return [*self._rows[start:end].tolist(), *(row for hashes, rows in self._since
                                                     for row in rows[hashes == wanted].tolist())]
