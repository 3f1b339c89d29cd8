"""What a store held open by a long-running service keeps in memory (`Store.keep_in_memory`, for
`unstuck serve`): the rows of its records and scores tables (`KeptTable`; the leads also found
by their account, `KeptLeads`) and every record's score history (`KeptHistory`).

DuckDB keeps no index on ids (see `store._TABLES`): reading one record among millions scans the
row groups its id can fall in (a millisecond or more each), and a thousand ids scan them all. A
served store reads records and scores from memory and writes through to DuckDB.

The kept rows stay those of the committed tables because of how the store writes: a changed
record or score row is deleted and its whole new row appended (never updated in place), and
DuckDB appends a committed transaction's rows after every row it held. After each commit every
kept table takes in the rows past the last one it knew (`follow`): the row an id was appended
in last is its current one. A table changed in another way (a column added or retyped, score
stamps rewritten in place) is marked `stale` and read again, and so is one whose new rows are not
exactly those the transaction appended (DuckDB numbered its rows anew: a checkpoint that
compacts deleted rows). A write rolled back leaves them as they were; inside a transaction, a
table it wrote is read from DuckDB (`Store._kept`).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import ACCOUNT_KEY, LEAD_KEY

# Rows taken in since a build: past this many, building again is cheaper than keeping them beside it.
REBUILD_AFTER = 250_000


class _Pieces:
    """A table held in pieces, rows taken from it by position: each piece is taken from on its
    own (Arrow's take over a table in pieces joins them first, a copy of the whole table on every
    call). A table DuckDB read is kept in its pieces (one per row group) and never joined; rows
    appended (`append`, a commit's few) are joined into one piece once there are many, since a
    take visits each piece."""

    JOIN_AFTER = 16  # appended pieces

    def __init__(self, table: pa.Table):
        self.schema = table.schema
        self.batches = table.to_batches()
        self.starts = np.cumsum([0, *(len(b) for b in self.batches)])
        self._appended = 0

    def __len__(self) -> int:
        return int(self.starts[-1])

    def append(self, table: pa.Table) -> None:
        """Rows after the others: their positions follow on (joining pieces moves none)."""
        self.batches += table.to_batches()
        self._appended += 1
        if self._appended > self.JOIN_AFTER:
            self.batches = pa.Table.from_batches(self.batches, self.schema).combine_chunks().to_batches()
            self._appended = 0
        self.starts = np.cumsum([0, *(len(b) for b in self.batches)])

    def table(self) -> pa.Table:
        return pa.Table.from_batches(self.batches, self.schema)

    def take(self, at: np.ndarray) -> pa.Table:
        """The rows at these positions, in one piece (grouped by the piece they were in)."""
        at = np.asarray(at, np.int64)
        piece = np.searchsorted(self.starts, at, side="right") - 1
        taken = [self.batches[p].take(pa.array(at[piece == p] - self.starts[p])) for p in np.unique(piece)]
        return pa.Table.from_batches(taken, self.schema).combine_chunks()


class _Followed:
    """Something kept of one table that takes in the rows each committed write appends (see
    `follow`), built again when they are not exactly those the write appended, when it has taken
    so many that building is cheaper, or when marked `stale`."""

    table: str
    key: str
    selected = "*"  # what is kept of each row (SQL), beside its row number

    def __init__(self, db):
        self.build(db)

    def _read(self, where: str = "TRUE") -> str:
        """SQL for what is kept of the table's rows meeting `where`, each with its row number."""
        return f"SELECT {self.selected}, rowid AS stored_row FROM {self.table} WHERE {where}"

    def build(self, db) -> None:
        found = db.sql(self._read()).to_arrow_table()
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
        found = db.sql(self._read(f"rowid > {self._last}")).to_arrow_table().combine_chunks()  # (a few rows)
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
    built, and those appended since (`_added`), an id's last appended row taking the place of its
    earlier ones."""

    def __init__(self, db, table: str, key: str):
        self.table, self.key = table, key
        super().__init__(db)

    def _built(self, found: pa.Table) -> None:
        from .keys import IdIndex  # (numba: a service has it loaded already)

        self._rows, self._ids = _Pieces(found), IdIndex(found.column(self.key))
        self._ids.rows_of(found.column(self.key).slice(0, 1))  # (its ids in one piece now, not at the first read)
        self._added = _Pieces(found.schema.empty_table())  # rows taken in since the build, in order
        self._since: dict[str, int] = {}  # id -> the position in `_added` of its row appended last

    def _take(self, found: pa.Table) -> None:
        first = len(self._added)
        self._added.append(found)
        self._since.update(zip(found.column(self.key).to_pylist(), range(first, first + found.num_rows)))

    @property
    def columns(self) -> list[str]:
        """The table's columns, in order (then `stored_row`)."""
        return self._rows.schema.names

    def rows(self, ids: pa.Array) -> tuple[pa.Table, pa.Array]:
        """The kept rows of these ids (in no particular order), and the ids of which none is kept."""
        ids = pc.unique(ids.drop_null())
        at = self._ids.rows_of(ids)
        added = []
        if self._since:
            for i, ident in enumerate(ids.to_pylist()):
                if (position := self._since.get(ident)) is not None:
                    added.append(position)
                    at[i] = -2  # (its row appended since replaces the one read at the build)
        found = self._rows.take(at[at >= 0])
        if added:
            found = pa.concat_tables([found, self._added.take(added)]).combine_chunks()
        return found, ids.filter(pa.array(at == -1))


class KeptLeads(KeptTable):
    """The kept leads, also found by their account: the leads of a changed account are found here,
    not by a scan of every stored lead's `account_id` (no row group can be skipped by min/max for
    it: leads of unknown accounts give every row group a wide range). Rows are found by the hash
    of their account id, sorted, then matched by the id itself."""

    def __init__(self, db):
        super().__init__(db, "leads", LEAD_KEY)

    def _built(self, found: pa.Table) -> None:
        super()._built(found)
        hashes = _hashes(found.column(ACCOUNT_KEY))
        self._by_account = np.argsort(hashes, kind="stable")
        self._account_hashes = hashes[self._by_account]

    def leads_of(self, accounts: pa.Array) -> set[str]:
        """The stored leads of these accounts."""
        from .keys import hashes_of

        wanted = pc.unique(accounts.drop_null())
        hashes = hashes_of(wanted)
        start = np.searchsorted(self._account_hashes, hashes, "left")
        lengths = np.searchsorted(self._account_hashes, hashes, "right") - start
        # Every position from each start on for its length: 0..total, each run shifted to its start.
        at = np.arange(lengths.sum()) + np.repeat(start - (np.cumsum(lengths) - lengths), lengths)
        base = self._rows.take(self._by_account[at])
        # A lead's row read at the build counts unless it was appended again since; a row taken
        # in since counts if it is its lead's last.
        hit = pc.is_in(base.column(ACCOUNT_KEY), value_set=wanted)
        leads = {lead for lead in base.column(LEAD_KEY).filter(hit).to_pylist() if lead not in self._since}
        if self._since:
            added = self._added.table()
            at = pc.indices_nonzero(pc.is_in(added.column(ACCOUNT_KEY), value_set=wanted))
            leads.update(lead for lead, i in zip(added.column(LEAD_KEY).take(at).to_pylist(), at.to_pylist())
                         if self._since[lead] == i)
        return leads


def _hashes(ids) -> np.ndarray:
    """Each id's hash, hashed piece by piece where the ids lie."""
    from .keys import hashes_of

    return np.concatenate([hashes_of(piece) for piece in _chunks(ids)] or [np.zeros(0, np.uint64)])


def _chunks(ids) -> list:
    return ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]


class KeptHistory(_Followed):
    """Every record's score changes (`score_history`), found by record. History is only ever
    appended (never deleted: its rows are never numbered anew). Rows are found by the hash of
    their record's id, sorted: a record's rows are its hash's run, told apart from another id's
    with the same hash by the id itself."""

    table, key = "score_history", "record_id"

    # What a record's page shows of each change, and what finds and orders them.
    COLUMNS = ("changed_at", "ruleset_version", "old_icp_code", "new_icp_code", "old_icp_score", "new_icp_score",
               "old_persona_code", "new_persona_code", "old_persona_score", "new_persona_score")

    selected = f"kind, record_id, {', '.join(COLUMNS)}"

    def _built(self, found: pa.Table) -> None:
        hashes = _hashes(found.column(self.key))
        self._order = np.argsort(hashes, kind="stable")
        self._rows, self._hashes = _Pieces(found), hashes[self._order]
        self._added = _Pieces(found.schema.empty_table())  # rows taken in since the build, in order
        self._added_hashes = np.zeros(0, np.uint64)

    def _take(self, found: pa.Table) -> None:
        self._added.append(found)
        self._added_hashes = np.concatenate([self._added_hashes, _hashes(found.column(self.key))])

    def changes(self, kind: str, record_id: str) -> pa.Table:
        """The rows holding this record's changes, oldest first (in the order written, for changes
        made at one time)."""
        from .keys import hashes_of

        wanted = hashes_of(pa.array([record_id], pa.string()))[0]
        start, end = np.searchsorted(self._hashes, wanted, "left"), np.searchsorted(self._hashes, wanted, "right")
        found = pa.concat_tables([self._rows.take(self._order[start:end]),
                                  self._added.take(np.flatnonzero(self._added_hashes == wanted))])
        found = found.filter(pc.and_(pc.equal(found.column("kind"), kind), pc.equal(found.column(self.key), record_id)))
        return found.sort_by([("changed_at", "ascending"), ("stored_row", "ascending")])
