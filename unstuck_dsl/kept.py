"""What a store held open by a long-running service keeps in memory (`Store.keep_in_memory`, for
`unstuck serve`): the rows of its records and scores tables (`KeptTable`), which leads each
account has (`LeadIndex`), and every record's score history (`KeptHistory`).

DuckDB keeps no index on ids (see `store._TABLES`): reading one record among millions scans the
row groups its id can fall in (a millisecond or more each), and a thousand ids scan them all. A
served store reads records and scores from memory and writes through to DuckDB.

The kept rows stay those of the committed tables because of how the store writes: a changed
record or score row is deleted and its whole new row appended (never updated in place), and
DuckDB appends a committed transaction's rows after every row it held. After each commit every
kept table takes in the rows past the last one it knew (`follow`): the row an id was appended
in last is its current one. A table changed in another way (a column added or retyped, scores
restamped in place) is marked `stale` and read again, and so is one whose new rows are not
exactly those the transaction appended (DuckDB numbered its rows anew: a checkpoint that
compacts deleted rows). A write rolled back leaves them as they were; inside a transaction, a
table it wrote is read from DuckDB (`Store._kept`).
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
    """Something kept of one table that takes in the rows each committed write appends (see
    `follow`), built again when they are not exactly those the write appended, when it has taken
    so many that building is cheaper, or when marked `stale`."""

    table: str
    key: str

    def __init__(self, db):
        self.build(db)

    def _read(self, where: str = "TRUE") -> str:
        """SQL for what is kept of the table's rows meeting `where`, each with its row number."""
        return f"SELECT {self.key}, rowid AS stored_row FROM {self.table} WHERE {where}"

    def build(self, db) -> None:
        found = db.sql(self._read()).to_arrow_table().combine_chunks()
        self._built(found)
        rows = found.column("stored_row")
        self._last = pc.max(rows).as_py() if len(rows) else -1  # the highest row known
        self._taken = 0
        self.stale = False

    def _built(self, found: pa.Table) -> None:
        raise NotImplementedError

    def _take(self, found: pa.Table) -> None:
        raise NotImplementedError

    def take(self, db, appended: int) -> None:
        """Take in the rows past the last one known, after a commit that appended `appended` rows."""
        if self.stale or self._taken + appended > REBUILD_AFTER:
            self.build(db)
            return
        found = db.sql(self._read(f"rowid > {self._last}")).to_arrow_table().combine_chunks()
        if found.num_rows != appended:  # numbered anew: rows compacted down, or past the last one known
            self.build(db)
            return
        self._take(found)
        self._last, self._taken = max(self._last, pc.max(found.column("stored_row")).as_py()), self._taken + appended


def follow(db, kept: list[_Followed], appended: dict[str, int]) -> None:
    """What is kept takes in the rows a committed transaction appended (`appended`: per table)."""
    for part in kept:
        if part.stale or appended.get(part.table):
            part.take(db, appended.get(part.table, 0))


class KeptTable(_Followed):
    """One table's rows, each with its row number (`stored_row`), found by id: those read when
    built, and the pieces appended since, an id's last appended row taking the place of its
    earlier ones."""

    def __init__(self, db, table: str, key: str):
        self.table, self.key = table, key
        super().__init__(db)

    def _read(self, where: str = "TRUE") -> str:
        return f"SELECT *, rowid AS stored_row FROM {self.table} WHERE {where}"

    def _built(self, found: pa.Table) -> None:
        from .keys import IdIndex  # (numba: a service has it loaded already)

        self._rows, self._ids = found, IdIndex(found.column(self.key))
        self._pieces: list[pa.Table] = []  # rows taken in since the build, as appended
        self._since: dict[str, tuple[int, int]] = {}  # id -> (piece, row in it): its row appended last

    def _take(self, found: pa.Table) -> None:
        piece = len(self._pieces)
        self._pieces.append(found)
        self._since.update((ident, (piece, i)) for i, ident in enumerate(found.column(self.key).to_pylist()))

    @property
    def columns(self) -> list[str]:
        """The table's columns, in order (then `stored_row`)."""
        return self._rows.column_names

    def rows(self, ids: pa.Array) -> tuple[pa.Table, pa.Array]:
        """The kept rows of these ids (in no particular order), and the ids of which none is kept."""
        ids = pc.unique(ids.drop_null())
        at = self._ids.rows_of(ids)
        pieces = []
        if self._since:
            in_pieces: dict[int, list[int]] = {}
            for i, ident in enumerate(ids.to_pylist()):
                found = self._since.get(ident)
                if found is not None:
                    in_pieces.setdefault(found[0], []).append(found[1])
                    at[i] = -2  # (its row appended since replaces the one read at the build)
            pieces = [self._pieces[piece].take(pa.array(rows, pa.int64())) for piece, rows in in_pieces.items()]
        found = self._rows.take(pa.array(at[at >= 0]))
        return (pa.concat_tables([found, *pieces]) if pieces else found), ids.filter(pa.array(at == -1))


class KeptHistory(_Followed):
    """Every record's score changes (`score_history`), found by record. History is only ever
    appended (never deleted: its rows are never numbered anew). Rows are found by the hash of
    their record's id, sorted: a record's rows are its hash's run, told apart from another id's
    with the same hash by the id itself."""

    table, key = "score_history", "record_id"

    def _read(self, where: str = "TRUE") -> str:
        return f"SELECT *, rowid AS stored_row FROM {self.table} WHERE {where}"

    def _built(self, found: pa.Table) -> None:
        from .keys import hashes_of

        hashes = hashes_of(found.column(self.key))
        self._order = np.argsort(hashes, kind="stable")
        self._rows, self._hashes = found, hashes[self._order]
        self._pieces: list[tuple[np.ndarray, pa.Table]] = []  # (hashes, rows) taken in since the build

    def _take(self, found: pa.Table) -> None:
        from .keys import hashes_of

        self._pieces.append((hashes_of(found.column(self.key)), found))

    def changes(self, kind: str, record_id: str) -> pa.Table:
        """The rows holding this record's changes, oldest first (in the order written, for changes
        made at one time)."""
        from .keys import hashes_of

        wanted = hashes_of(pa.array([record_id], pa.string()))[0]
        start, end = np.searchsorted(self._hashes, wanted, "left"), np.searchsorted(self._hashes, wanted, "right")
        found = pa.concat_tables([self._rows.take(pa.array(self._order[start:end])),
                                  *(rows.filter(pa.array(hashes == wanted)) for hashes, rows in self._pieces)])
        found = found.filter(pc.and_(pc.equal(found.column("kind"), kind), pc.equal(found.column(self.key), record_id)))
        return found.sort_by([("changed_at", "ascending"), ("stored_row", "ascending")])
