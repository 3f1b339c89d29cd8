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
in last is its current one. A table changed in another way (a column added or retyped, scores
restamped in place) is marked `stale` and read again, and so is one whose new rows are not
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
    """A table read in pieces (DuckDB hands one per row group), rows taken from it by position:
    each piece is taken from on its own (Arrow's take over a table in pieces joins them first,
    a copy of the whole table on every call), so the table is never joined into one piece."""

    def __init__(self, table: pa.Table):
        self.batches = table.to_batches()
        self.starts = np.cumsum([0, *(len(b) for b in self.batches)])
        self.schema = table.schema

    def take(self, at: np.ndarray) -> pa.Table:
        """The rows at these positions, in one piece (grouped by the piece they were in)."""
        piece = np.searchsorted(self.starts, at, side="right") - 1
        taken = [self.batches[p].take(pa.array(at[piece == p] - self.starts[p])) for p in np.unique(piece)]
        return pa.Table.from_batches(taken, self.schema).combine_chunks()


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
    built, and the pieces appended since, an id's last appended row taking the place of its
    earlier ones."""

    def __init__(self, db, table: str, key: str):
        self.table, self.key = table, key
        super().__init__(db)

    def _read(self, where: str = "TRUE") -> str:
        return f"SELECT *, rowid AS stored_row FROM {self.table} WHERE {where}"

    def _built(self, found: pa.Table) -> None:
        from .keys import IdIndex  # (numba: a service has it loaded already)

        self._rows, self._ids = _Pieces(found), IdIndex(found.column(self.key))
        self._ids.rows_of(found.column(self.key).slice(0, 1))  # (its ids in one piece now, not at the first read)
        self._pieces: list[pa.Table] = []  # rows taken in since the build, as appended
        self._since: dict[str, tuple[int, int]] = {}  # id -> (piece, row in it): its row appended last

    def _take(self, found: pa.Table) -> None:
        piece = len(self._pieces)
        self._pieces.append(found)
        self._since.update((ident, (piece, i)) for i, ident in enumerate(found.column(self.key).to_pylist()))

    @property
    def columns(self) -> list[str]:
        """The table's columns, in order (then `stored_row`)."""
        return self._rows.schema.names

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
        found = self._rows.take(at[at >= 0])
        return (pa.concat_tables([found, *pieces]).combine_chunks() if pieces else found), ids.filter(pa.array(at == -1))


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
        for piece, rows in enumerate(self._pieces):
            at = pc.indices_nonzero(pc.is_in(rows.column(ACCOUNT_KEY), value_set=wanted))
            leads.update(lead for lead, i in zip(rows.column(LEAD_KEY).take(at).to_pylist(), at.to_pylist())
                         if self._since[lead] == (piece, i))
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

    def _read(self, where: str = "TRUE") -> str:
        return f"SELECT kind, record_id, {', '.join(self.COLUMNS)}, rowid AS stored_row FROM {self.table} WHERE {where}"

    def _built(self, found: pa.Table) -> None:

        hashes = _hashes(found.column(self.key))
        self._order = np.argsort(hashes, kind="stable")
        self._rows, self._hashes = _Pieces(found), hashes[self._order]
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
        found = pa.concat_tables([self._rows.take(self._order[start:end]),
                                  *(rows.filter(pa.array(hashes == wanted)) for hashes, rows in self._pieces)])
        found = found.filter(pc.and_(pc.equal(found.column("kind"), kind), pc.equal(found.column(self.key), record_id)))
        return found.sort_by([("changed_at", "ascending"), ("stored_row", "ascending")])
