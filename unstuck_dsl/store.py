"""The workspace store: records as ingested, their current scores, every ruleset version applied
and the history of score changes, in one embedded DuckDB file.

Ingesting upserts records by id (a file may carry only some columns) and re-scores exactly the
records whose inputs changed, through the compiled kernel; the result equals a full re-score
(SPEC §5 rule 8). Every ingest and rescore is one transaction. Records and scores move between
Arrow and DuckDB as whole tables, in a few set statements per step (no statement per record: a
few rows go as one statement's parameters), and only what changed is rewritten.

Stored values are never coerced silently: when the rules change a field's type, or a file brings
a column stored with another type, the values are converted only when every one converts
exactly, else nothing is applied and one line names the column and a record. A damaged
workspace is named and left exactly as it is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from pathlib import Path

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import model
from .data import SET_SEPARATOR, DataError, _check_columns, _describe, check_unique, read_table, typed_column
from .kept import KeptHistory, KeptLeads, KeptTable, follow
from .pipeline import kernels_loading
from .schema import ACCOUNT_KEY, LEAD_KEY, OUTCOMES, REPRESENTATIONS, SCORE_FIELDS, Schema
from .workspace_file import WorkspaceFile
from .workspace_file import quote as _quote

# 2: records and scores without primary-key indexes (ids are kept unique by ingest);
# 3: published ruleset versions (`versions`), each score and history row carries its version, and
#    the workspace's as-of date is kept in `meta`.
# Up to this many ids, records are found one equality per id (see `affected_lead_ids`).
FEW_IDS = 32
# Up to this many rows are written as a statement's parameters, more through a registered Arrow
# table (registering one costs half a millisecond, as does DuckDB's reading a few rows of it).
FEW_ROWS = 32
# Up to this many records, new scores are compared with the stored ones in memory, lined up by id:
# Arrow's lookup by id costs about 0.7 µs a record (2 s for 3M leads, a served publish), DuckDB's
# join a few milliseconds and less a record. Up to as many, their stored rows are found through
# the id column alone (`Store._rows_by_ids`).
ALIGNED_IN_MEMORY = 10_000
_IDS_ONLY = Schema(())  # as `read_by`: read the ids of records and no field

SCHEMA_VERSION = 4
AS_OF_KEY = "as_of"  # in `meta`: the workspace's date, which every stored score is as of
SCORES_STAMP_KEY = "scores_stamp"  # in `meta`: the stamp of every score that stores none (`_SCORE_STAMP`)

# Records and scores carry no PRIMARY KEY: DuckDB's index on a string key made bulk loads and
# re-scores several times slower and held every key in memory. Their ids stay unique because every
# write is set-based and keyed: an input file's ids are checked unique, `upsert` inserts only ids not
# stored yet, and `write_scores` deletes a record's scores before inserting its new ones.
# Id columns are stored uncompressed: every ingest joins on them, and short ids (up to 12 bytes sit
# inside DuckDB's string header) are written in half the time and scanned a third faster than
# compressed ones, for a larger file.
_ID = "VARCHAR USING COMPRESSION uncompressed"
_TABLES = {
    "meta": "key VARCHAR PRIMARY KEY, value VARCHAR",
    "accounts": f"account_id {_ID}",
    "leads": f"lead_id {_ID}, account_id {_ID}",
    "account_scores": f"account_id {_ID}, icp_code VARCHAR, icp_score INTEGER, icp_band VARCHAR, "
                      "ruleset VARCHAR, as_of DATE, ruleset_version INTEGER",
    "lead_scores": f"lead_id {_ID}, account_id {_ID}, icp_code VARCHAR, icp_score INTEGER, "
                   "icp_band VARCHAR, persona_code VARCHAR, persona_score INTEGER, persona_band VARCHAR, "
                   "ruleset VARCHAR, as_of DATE, ruleset_version INTEGER",
    # The published rulesets, one row per version (1, 2, ...): never rewritten, the last is the one in force.
    "versions": "number INTEGER PRIMARY KEY, hash VARCHAR, text VARCHAR, published_at TIMESTAMP, message VARCHAR",
    "score_history": f"kind VARCHAR, record_id {_ID}, old_icp_code VARCHAR, new_icp_code VARCHAR, "
                     "old_icp_score INTEGER, new_icp_score INTEGER, old_persona_code VARCHAR, "
                     "new_persona_code VARCHAR, old_persona_score INTEGER, new_persona_score INTEGER, "
                     "ruleset VARCHAR, changed_at TIMESTAMP, ruleset_version INTEGER",
    "signals": "lead_id VARCHAR, account_id VARCHAR, signal VARCHAR, timestamp VARCHAR, source VARCHAR",
    "outcomes": "lead_id VARCHAR, outcome VARCHAR, timestamp VARCHAR",
}
_SCORE_COLUMNS = {
    "account": ("icp_code", "icp_score", "icp_band"),
    "lead": ("account_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score", "persona_band"),
}
# Which rules scored a record (their hash and published version), and as of when: read and exported
# beside its scores. A score the workspace's own stamp made (the last published version, at the
# workspace's date), which is every score written now, stores none (NULL in all three): a publish or
# a refresh then rewrites the scores that moved, not a stamp on every row (at 1M accounts that
# restamp took 1.7-2.5 s and 600 MB of a 4M-row publish). A score stores its stamp only when an
# earlier unstuck made it with other rules or at another date (`status` counts those; a refresh
# re-scores them). The workspace's stamp is kept in `meta` (`SCORES_STAMP_KEY`, `Store.scores_stamp`);
# scores are read with it by `Store.stamp_select`.
_SCORE_STAMP = ("ruleset", "ruleset_version", "as_of")
# Names a record's own columns may not take: outputs put the scores under them.
RESERVED_COLUMNS = tuple(f.name for f in SCORE_FIELDS) + _SCORE_STAMP


# A history row: what changed, then what made the change and when.
_HISTORY_CHANGE = ("kind", "record_id", "old_icp_code", "new_icp_code", "old_icp_score", "new_icp_score",
                   "old_persona_code", "new_persona_code", "old_persona_score", "new_persona_score")
_HISTORY_COLUMNS = (*_HISTORY_CHANGE, "ruleset", "changed_at", "ruleset_version")
# The change columns as Arrow holds them once found (`Store._score_changes`): one type for both kinds.
_HISTORY_SCHEMA = pa.schema([(c, pa.int32() if c.endswith("_score") else pa.string()) for c in _HISTORY_CHANGE])
# The scores a history row holds the old and new values of (a kind without one holds none).
_LOGGED_SCORES = ("icp_code", "icp_score", "persona_code", "persona_score")
# How a record's new scores may differ from its stored ones, each by the score columns whose values
# differ: `moved` (a history row is written), `code_moved` (ICP for an account, Persona for a lead)
# and `band_moved`, as the report counts them.
_MOVES = {
    "account": {"moved": ("icp_code", "icp_score"), "code_moved": ("icp_code",), "band_moved": ("icp_band",)},
    "lead": {"moved": _LOGGED_SCORES, "code_moved": ("persona_code",), "band_moved": ("icp_band", "persona_band")},
}
# A stored score that keeps a stamp of its own: made by an earlier unstuck with other rules, another
# version of them, or at another date (`_SCORE_STAMP`; `{}`: a table alias).
_OWN_STAMP = "{0}as_of IS NOT NULL"


@attrs.frozen
class Stamp:
    """What the scores written in one step were made with: the ruleset's hash, its published
    version, and the date scoring counted from (kept once for the workspace: `_SCORE_STAMP`)."""

    ruleset: str
    version: int | None
    as_of: dt.date

    def by_column(self) -> dict:
        """The stamp as the stored columns that hold it (`_SCORE_STAMP`)."""
        return {"ruleset": self.ruleset, "ruleset_version": self.version, "as_of": self.as_of}


_TABLE_OF = {"account": ("accounts", ACCOUNT_KEY), "lead": ("leads", LEAD_KEY)}


def columns_read(kind: str, read_by) -> set[str]:
    """The stored columns records of `kind` are read with for scoring by `read_by` (a ruleset's
    schema): the record's id, its account's id, and the fields `read_by` declares."""
    return {_TABLE_OF[kind][1], ACCOUNT_KEY, *(f.name for f in read_by.of_kind(kind))}
_SCORES_OF = {"account": "account_scores", "lead": "lead_scores"}
# The tables a served store keeps in memory (`KeptTable`), with their id column.
_KEPT = (("accounts", ACCOUNT_KEY), ("leads", LEAD_KEY), ("account_scores", ACCOUNT_KEY),
         ("lead_scores", LEAD_KEY))


def _untyped(sql_type: str) -> bool:
    """DuckDB's type for a column made from an all-empty one (or lists of nothing): no value is lost
    when it takes another type."""
    return '"NULL"' in sql_type


def _is_nested(sql_type: str) -> bool:
    return sql_type.endswith("]") or sql_type.startswith(("STRUCT", "MAP", "UNION"))


def _converted(value: str, source: str, target: str) -> str:
    """SQL for `value`, of DuckDB type `source`, as `target`: NULL where it has no such value.
    Text reads as a set as in an input file (members split at `;`, trimmed); another single
    value and a set of exactly that one member stand for each other; other nested values
    (structs, maps) convert only to nested types."""
    if source == target:
        return value
    if target.endswith("[]") and source == "VARCHAR":
        members = f"list_transform(string_split({value}, '{SET_SEPARATOR}'), lambda m: trim(m))"
        return f"TRY_CAST(list_filter({members}, lambda m: m <> '') AS {target})"
    if target.endswith("[]") and not _is_nested(source):
        return f"CASE WHEN {value} IS NOT NULL THEN [TRY_CAST({value} AS {target[:-2]})] END"
    if source.endswith("[]") and not _is_nested(target):
        return f"CASE WHEN len({value}) = 1 THEN TRY_CAST({value}[1] AS {target}) END"
    if _is_nested(source) != _is_nested(target):
        return f"CAST(NULL AS {target})"
    return f"TRY_CAST({value} AS {target})"


def _exact(value: str, source: str, target: str) -> str:
    """SQL, true where `value` converts exactly from `source` to `target`: text when it reads as
    the target type (as it would in an input file), anything else when converting it back gives
    it again (so 50.6 is no int, and 2^53 + 1 no number)."""
    converted = _converted(value, source, target)
    if source == "VARCHAR":
        return f"{value} IS NULL OR {converted} IS NOT NULL"
    return (f"{value} IS NULL OR ({converted} IS NOT NULL AND "
            f"{_converted(converted, target, source)} IS NOT DISTINCT FROM {value})")


def _refuse_reserved(columns, where: str) -> None:
    """A record's own column may not take a score column's name: outputs would carry it twice."""
    taken = next((c for c in columns if c in RESERVED_COLUMNS), None)
    if taken is not None:
        raise DataError(f"{where}: column `{taken}` is reserved for scores (outputs put the scores under that name); "
                        "rename it")


@attrs.define
class IngestReport:
    """What an ingest or rescore did. Records scored for the first time are `new`; every other
    count is of records that had scores before, per record kind, in the units `diff` uses: an
    account's band is its ICP band, a lead's is the pair (ICP band, Persona band)."""

    inserted: int = 0
    updated: int = 0
    rescored_accounts: int = 0
    rescored_leads: int = 0
    new_accounts: int = 0
    new_leads: int = 0
    moved_accounts: int = 0  # code or score changed
    moved_leads: int = 0
    changed_icp: int = 0  # accounts
    changed_persona: int = 0  # leads
    changed_band_accounts: int = 0
    changed_band_leads: int = 0
    events: EventsReport | None = None  # signals and outcomes appended in the same step
    published: object | None = None  # workspace.Version: rules published as version 1 by a first ingest

    def add_moves(self, kind: str, first: int, moved: int, code_moved: int, band_moved: int) -> None:
        """Count records of one kind scored for the first time, and those scored before whose scores
        moved, whose code did, whose band did."""
        if kind == "account":
            self.new_accounts += first
            self.moved_accounts += moved
            self.changed_icp += code_moved
            self.changed_band_accounts += band_moved
        else:
            self.new_leads += first
            self.moved_leads += moved
            self.changed_persona += code_moved
            self.changed_band_leads += band_moved

    def __str__(self) -> str:
        text = (f"{self.inserted:,} inserted, {self.updated:,} updated; re-scored {self.rescored_accounts:,} accounts "
                f"and {self.rescored_leads:,} leads")
        if self.new_accounts or self.new_leads:
            text += f" ({self.new_accounts:,} accounts and {self.new_leads:,} leads scored for the first time)"
        if self.rescored_accounts > self.new_accounts or self.rescored_leads > self.new_leads:
            text += (f"; of those scored before, scores moved for {self.moved_accounts:,} accounts and "
                     f"{self.moved_leads:,} leads: {self.changed_icp:,} accounts changed ICP and "
                     f"{self.changed_band_accounts:,} changed band, {self.changed_persona:,} leads changed Persona "
                     f"and {self.changed_band_leads:,} changed band (ICP band / Persona band)")
        return text


@attrs.frozen
class Upserted:
    """What an upsert changed: the ids of the records it inserted or whose values changed, how
    many were inserted and updated, and (when asked for) those records as now stored, whole."""

    ids: pa.Array
    inserted: int
    updated: int
    rows: pa.Table | None = None


class Store:
    """One open workspace. Use as a context manager; writes happen inside `transaction()`.

    A DuckDB failure that says the file is damaged, or that its folder is not writable, comes out
    as one line naming the workspace, wherever it happens while the store is open. `file`: the
    workspace file opened already (`WorkspaceFile`, being read through), else it is opened here."""

    def __init__(self, path: str | Path, read_only: bool = False, wait: float | None = None,
                 file: WorkspaceFile | None = None):
        self.path = Path(path)
        self.read_only = read_only
        self.file = file if file is not None else WorkspaceFile(path, read_only, wait)
        self.db = self.file.db
        self._in_transaction = False
        self._read_once: dict[tuple, object] = {}  # see `_kept`
        self.kept: dict[str, KeptTable] = {}  # table -> its rows, see `keep_in_memory`
        self.kept_history: KeptHistory | None = None  # see `keep_in_memory`
        self._appended: dict[str, int] = {}  # table -> rows appended to it in the open transaction
        try:
            if not read_only:
                self._create()
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        try:
            if value is None:
                self.verified()  # a command that wrote nothing still hears that the workspace is damaged
        finally:
            self.file.close()
        if value is not None:
            import duckdb

            if isinstance(value, duckdb.Error) and (error := self.file.error_of(value)) is not None:
                raise error from None

    def verified(self) -> None:
        """Wait until every stored block has been read (`WorkspaceFile.verified`); a damaged
        workspace raises WorkspaceDamaged."""
        self.file.verified()

    # ---- schema -------------------------------------------------------------------------------

    def _create(self) -> None:
        """Create what is missing; a current workspace is left as it is (not even rewritten)."""
        present = {r[0] for r in self.db.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        version = None
        if "meta" in present:
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
            version = int(row[0][0]) if row else None
        if version is not None and version > SCHEMA_VERSION:
            raise DataError(f"{self.path}: made by a newer unstuck (schema {version}); upgrade unstuck_dsl")
        missing = [table for table in _TABLES if table not in present]
        if not missing and version == SCHEMA_VERSION:
            return
        with self.transaction():
            for table in missing:
                self.db.execute(f"CREATE TABLE {table} ({_TABLES[table]})")
            self._read_once.clear()  # (the catalogue changed)
            if version == 1:
                self._drop_key_indexes()
            if version is not None and version < 3:
                self._number_versions("rulesets" in present)
            if version is not None and version < 4:
                self._stamp_once()
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            self._read_once.clear()

    def _number_versions(self, has_rulesets: bool) -> None:
        """Schema 2 to 3: the rules a workspace was last scored with become version 1, published
        when they were applied; the scores and history rows they made carry version 1, and the
        latest date scores were computed at becomes the workspace's date. Scores another ruleset
        or another date made keep no version (`status` counts them; `refresh` re-scores them)."""
        for table in ("account_scores", "lead_scores", "score_history"):
            self._ensure_columns(table, {"ruleset_version": "INTEGER"})
        last = self.db.execute("SELECT hash, applied_at, rules FROM rulesets ORDER BY applied_at DESC LIMIT 1"
                               ).fetchall() if has_rulesets else []
        if last:
            digest, applied_at, text = last[0]
            self.db.execute("INSERT INTO versions VALUES (1, ?, ?, ?, ?)",
                            [digest, text, applied_at, "the rules last applied (numbered when versions began)"])
            for table in ("account_scores", "lead_scores", "score_history"):
                self.db.execute(f"UPDATE {table} SET ruleset_version = 1 WHERE ruleset = ?", [digest])
        (day,) = self.db.execute("SELECT max(as_of) FROM (SELECT as_of FROM account_scores UNION ALL "
                                 "SELECT as_of FROM lead_scores)").fetchall()[0]
        if day is not None:
            self.set_meta(AS_OF_KEY, day.isoformat())

    def _stamp_once(self) -> None:
        """Schema 3 to 4: the scores the workspace's own stamp made (the last published version, at
        the workspace's date) store none (see `_SCORE_STAMP`); others keep theirs."""
        self._read_once.clear()  # (the versions and the date, as upgraded)
        last, day = self.versions(last=True), self.stored_as_of()
        if not last or day is None:
            return
        stamp = Stamp(last[-1][1], last[-1][0], day)
        self._set_scores_stamp(stamp)
        for table in ("account_scores", "lead_scores"):
            self.db.execute(f"UPDATE {table} SET ruleset = NULL, ruleset_version = NULL, as_of = NULL "
                            "WHERE ruleset = $ruleset AND ruleset_version = $ruleset_version AND as_of = $as_of",
                            stamp.by_column())

    def _drop_key_indexes(self) -> None:
        """Schema 1 to 2: records and scores lose their PRIMARY KEY (see `_TABLES`). DuckDB cannot
        drop a constraint, so each such table is copied whole, with its columns and values as they
        are, inside the transaction that records the new schema version."""
        keyed = {r[0] for r in self.db.execute("SELECT table_name FROM duckdb_constraints() "
                                               "WHERE constraint_type = 'PRIMARY KEY'").fetchall()}
        for table in ("accounts", "leads", "account_scores", "lead_scores"):
            if table in keyed:
                self.db.execute(f"CREATE TABLE {table}_v2 ({_TABLES[table]})")
                self._ensure_columns(f"{table}_v2", self._columns(table))  # the same columns in the same order
                self.db.execute(f"INSERT INTO {table}_v2 BY NAME SELECT * FROM {table}")
                self.db.execute(f"DROP TABLE {table}")
                self.db.execute(f"ALTER TABLE {table}_v2 RENAME TO {table}")
                self._read_once.clear()

    def _columns(self, table: str) -> dict[str, str]:
        return dict(self._kept(("columns", table), lambda: {
            r[0]: r[1] for r in self.db.execute(f"DESCRIBE {table}").fetchall()}))

    def _ensure_columns(self, table: str, columns: dict[str, str]) -> None:
        existing = self._columns(table)
        for name, sql_type in columns.items():
            if name not in existing:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {_quote(name)} {sql_type}")
                self._read_once.clear()
                self._changed_in_place(table)

    def _type_changes(self, kind: str, schema) -> list[tuple[str, str, str]]:
        """Declared fields stored with another type, as (column, stored, declared), once every
        stored value is known to convert exactly; else a DataError naming a value that does not."""
        table, key = _TABLE_OF[kind]
        stored = self._columns(table)
        changes = []
        for field in schema.of_kind(kind):
            source, target = stored.get(field.name), REPRESENTATIONS[field.type.name].sql
            if source is None or source == target:
                continue
            found = self._inexact(table, key, field.name, source, target)
            if found is not None:
                record, value = found
                raise DataError(f"{self.path}: column `{field.name}` is stored as {source}, the rules declare "
                                f"{field.type.name} ({target}); {kind} {record!r} holds {value!r}, which does not "
                                "convert exactly (correct or clear that value, or declare the type it had)")
            changes.append((field.name, source, target))
        return changes

    def stored_as_declared(self, kind: str, schema) -> bool:
        """Every declared field of `kind` that is stored is stored with its declared type:
        `records` reads the same with `schema` and without."""
        stored = self._columns(_TABLE_OF[kind][0])
        return all(stored.get(f.name, REPRESENTATIONS[f.type.name].sql) == REPRESENTATIONS[f.type.name].sql
                   for f in schema.of_kind(kind))

    def _inexact(self, relation: str, key: str, column: str, source: str, target: str) -> tuple[str, object] | None:
        """The first record (id, value) whose `column` does not convert exactly from `source` to `target`."""
        value = f"{relation}.{_quote(column)}"
        row = self.db.execute(f"SELECT {relation}.{key}, {value} FROM {relation} "
                              f"WHERE NOT ({_exact(value, source, target)}) LIMIT 1").fetchall()
        return row[0] if row else None

    def _retype(self, table: str, column: str, source: str, target: str) -> None:
        """Store `column` as `target` from now on, its values converted (checked to be exact)."""
        self.db.execute(f"ALTER TABLE {table} ALTER COLUMN {_quote(column)} SET DATA TYPE {target} "
                        f"USING {_converted(_quote(column), source, target)}")
        self._changed_in_place(table)
        self._read_once.clear()

    def ensure_fields(self, ruleset: model.Ruleset) -> None:
        """Declared fields become typed columns: a rule change may add some, or change the type of
        some (the stored values are converted when every one converts exactly, else nothing is)."""
        for kind in ("account", "lead"):
            table, _ = _TABLE_OF[kind]
            for column, source, target in self._type_changes(kind, ruleset.schema):
                self._retype(table, column, source, target)
            self._ensure_columns(table, {f.name: REPRESENTATIONS[f.type.name].sql for f in ruleset.schema.of_kind(kind)})

    def keep_in_memory(self) -> None:
        """Keep, in memory from now on, the rows of the records and scores tables (the leads also
        found by account) and every record's score history (`kept`): for a service that
        holds the workspace open and reads and changes a few records at a time."""
        self.kept = {table: KeptLeads(self.db) if table == "leads" else KeptTable(self.db, table, key)
                     for table, key in _KEPT}
        self.kept_history = KeptHistory(self.db)

    def _kept_table(self, table: str) -> KeptTable | None:
        """The kept rows of `table` when they are its rows now: not when none are kept, nor inside
        a transaction that changed the table (what is kept takes in committed writes only)."""
        kept = self.kept.get(table)
        if kept is None or table in self._appended:
            return None
        if kept.stale:
            if self._in_transaction:
                return None
            kept.build(self.db)
        return kept

    def _changed_in_place(self, table: str) -> None:
        """`table` was changed otherwise than by appending rows: what is kept of it is read again."""
        if table in self.kept:
            self.kept[table].stale = True

    # ---- reads --------------------------------------------------------------------------------

    def records(self, kind: str, ids: pa.Array | None = None, schema=None, ordered: bool = True,
                read_by=None, known: pa.Table | None = None) -> pa.Table:
        """Stored records of one kind (all, or those ids) as Arrow, straight from DuckDB, in id
        order unless `ordered` is false. With the schema of a ruleset, a declared field stored
        with another type is read as the declared type when every value converts exactly (as
        `ensure_fields` would store it), else a DataError. With `read_by`, a ruleset's schema,
        only the ids and the fields it declares are read (what scoring needs). `known`: records
        of this kind as they are stored now, read so (`as_written`): those of `ids` it holds are
        taken from it, only the others read (unordered)."""
        if known is not None and ids is not None:
            key = _TABLE_OF[kind][1]
            found = known.filter(pc.is_in(known.column(key), value_set=ids))
            missing = pc.filter(ids, pc.invert(pc.is_in(ids, value_set=found.column(key))))
            if not len(missing):
                return found
            return pa.concat_tables([found, self.records(kind, missing, schema, False, read_by)]).combine_chunks()
        if ids is None:
            return self._select(kind, "TRUE", schema, ordered, read_by)
        table, key = _TABLE_OF[kind]
        kept = self._kept_table(table)
        if kept is None or (schema is not None and not self.stored_as_declared(kind, schema)):
            return self._by_ids(kind, ids, schema, ordered, read_by)
        found, _ = kept.rows(ids)  # (an id none of whose rows is kept is not stored)
        wanted = columns_read(kind, read_by) if read_by is not None else None
        found = found.select([c for c in kept.columns if c != "stored_row" and (wanted is None or c in wanted)])
        return found.sort_by(key) if ordered and found.num_rows > 1 else found

    def _by_ids(self, kind: str, ids: pa.Array, schema=None, ordered: bool = True, read_by=None) -> pa.Table:
        """`records` of these ids, found by their values."""
        if len(ids) == 1 and ids[0].is_valid:  # DuckDB skips row groups by min/max for an equality, not for a join
            # (and one id has no order to keep: a sort of its row was a third of reading it)
            return self._select(kind, f"t.{_TABLE_OF[kind][1]} = $id", schema, False, read_by, {"id": ids[0].as_py()})
        key = _TABLE_OF[kind][1]
        bounds = pc.min_max(ids).as_py()
        if len(ids) <= FEW_IDS:  # a list parameter: no table to register (half a millisecond each way)
            return self._select(kind, f"t.{key} = ANY($ids) AND t.{key} BETWEEN $lo AND $hi", schema, ordered, read_by,
                                {"ids": ids.to_pylist(), "lo": bounds["min"], "hi": bounds["max"]})
        with self.registered("wanted_ids", pa.table({"id": ids})):
            # The range as well: DuckDB skips the row groups outside it by min/max (not for the join alone).
            return self._select(kind, f"t.{key} IN (SELECT id FROM wanted_ids) AND t.{key} BETWEEN $lo AND $hi",
                                schema, ordered, read_by, {"lo": bounds["min"], "hi": bounds["max"]})

    def _select(self, kind: str, where: str, schema=None, ordered: bool = True, read_by=None,
                params: dict | None = None) -> pa.Table:
        table, key = _TABLE_OF[kind]
        changed = {column: (source, target) for column, source, target in
                   (self._type_changes(kind, schema) if schema is not None else ())}
        columns = list(self._columns(table))
        if read_by is not None:
            wanted = columns_read(kind, read_by)
            columns = [c for c in columns if c in wanted]
        listed = ", ".join(f"{_converted(f't.{_quote(c)}', *changed[c])} AS {_quote(c)}" if c in changed
                           else f"t.{_quote(c)}" for c in columns)
        order = f" ORDER BY t.{key}" if ordered else ""
        # One chunk per column: DuckDB hands over many small ones, and encoding for the kernel
        # costs per chunk (scoring 4M records took 1.8 times as long from DuckDB's chunks).
        return self.db.sql(f"SELECT {listed} FROM {table} t WHERE {where}{order}", params=params).to_arrow_table(
        ).combine_chunks()

    def affected_leads(self, accounts: pa.Array, leads: pa.Array, read_by=None, schema=None,
                       known: pa.Table | None = None) -> pa.Table:
        """The stored leads scoring must see when these accounts and leads changed: the changed
        leads and every lead of a changed account (in no particular order; `read_by`, `schema`
        and `known` as in `records`; `known` serves only with kept leads)."""
        if (kept := self._kept_table("leads")) is not None:
            wanted = pa.array(sorted(kept.leads_of(accounts) | set(leads.to_pylist())), pa.string())
            return self.records("lead", wanted, schema, ordered=False, read_by=read_by, known=known)
        with self.registered("changed_accounts", pa.table({"id": accounts})), \
                self.registered("changed_leads", pa.table({"id": leads})):
            # Each column filtered on its own, then the rows by number: DuckDB plans `a IN (...) OR
            # b IN (...)` as a scan of every lead (140 ms on 3M leads for one changed account, 13 ms so).
            return self._select("lead", "t.rowid IN (SELECT rowid FROM leads WHERE lead_id IN (SELECT id FROM changed_leads) "
                                        "UNION ALL SELECT rowid FROM leads WHERE account_id IN "
                                        "(SELECT id FROM changed_accounts))", schema, ordered=False, read_by=read_by)

    def affected_lead_ids(self, accounts: pa.Array, leads: pa.Array) -> list[str]:
        """The ids of `affected_leads`, sorted. The leads of the accounts come from the kept
        leads when there are. A few ids are looked up one equality each, which DuckDB
        answers from the row groups whose min/max can hold the id (1-2 ms on 3M leads); more, by
        `affected_leads`' filter over registered id tables."""
        if (kept := self._kept_table("leads")) is not None:
            return sorted(kept.leads_of(accounts) | self._stored("lead", leads))
        if len(accounts) + len(leads) > FEW_IDS:
            found = self.affected_leads(accounts, leads, read_by=_IDS_ONLY)
            return sorted(found.column(LEAD_KEY).to_pylist())
        return sorted(self._stored("lead", accounts, ACCOUNT_KEY) | self._stored("lead", leads))

    def _stored(self, kind: str, ids: pa.Array, column: str | None = None) -> set[str]:
        """The ids of the stored records of `kind` whose `column` (default: their id) is one of `ids`."""
        table, key = _TABLE_OF[kind]
        if column is None:
            return set(self.existing_ids(kind, ids).to_pylist()) if len(ids) else set()
        found = set()
        for ident in ids.to_pylist():
            found.update(r[0] for r in self.db.execute(f"SELECT {key} FROM {table} WHERE {column or key} = ?",
                                                       [ident]).fetchall())
        return found

    def existing_ids(self, kind: str, ids: pa.Array) -> pa.Array:
        """Those of `ids` that are stored records of `kind`."""
        return self.records(kind, ids, ordered=False, read_by=_IDS_ONLY).column(_TABLE_OF[kind][1])

    @contextlib.contextmanager
    def _stored_rows(self, table: str, key: str, ids: pa.Array):
        """The rows of `table` a join on `key` with these ids meets, each with its row number as
        `stored_row`: (SQL for them, its parameters), for use inside the block. With kept rows,
        exactly the rows holding these ids, from memory; else `_rows_by_ids`."""
        kept = self._kept_table(table)
        if kept is None:
            with self._rows_by_ids(table, key, ids) as found:
                yield found
            return
        with self.registered(f"stored_{table}", self._kept_rows(kept, table, key, ids)):
            yield f"stored_{table}", {}

    def _kept_rows(self, kept: KeptTable, table: str, key: str, ids: pa.Array) -> pa.Table:
        """The rows of `table` holding these ids, each with its row number (`stored_row`): those
        kept, and those DuckDB holds of the ids none of whose rows is kept (asked of DuckDB too: a
        write must never store an id twice)."""
        found, missing = kept.rows(ids)
        if not len(missing):
            return found
        with self._rows_by_ids(table, key, missing) as (rows, params):
            if len(missing) <= ALIGNED_IN_MEMORY:  # exactly their rows
                rest = self.db.sql(f"SELECT * FROM {rows} t", params=params).to_arrow_table()
            else:
                with self.registered("missing_ids", pa.table({"id": missing})):
                    rest = self.db.sql(f"SELECT * FROM {rows} t WHERE t.{key} IN (SELECT id FROM missing_ids)",
                                       params=params).to_arrow_table()
        return pa.concat_tables([found, rest])

    @contextlib.contextmanager
    def _rows_by_ids(self, table: str, key: str, ids: pa.Array):
        """`_stored_rows` found in DuckDB: the rows a join on `key` with these ids meets, exactly
        theirs for up to `ALIGNED_IN_MEMORY` ids. A few ids are looked for by a list (DuckDB skips
        the row groups outside their range by min/max, not for a join: a join with one id scanned
        all 3M lead ids). More are joined with the id column alone, then the rows taken by
        number: DuckDB reads every column of every row a join meets (the scores of 3,123 leads
        among 3M, their blocks not read yet: 240 ms of CPU, 150 ms so). Many more meet every
        row: narrowing them first cost twice the join (3M leads: 1.4 s, 0.7 s)."""
        if len(ids) <= FEW_IDS and not ids.null_count:
            bounds = pc.min_max(ids).as_py()
            yield (f"(SELECT *, rowid AS stored_row FROM {table} WHERE {key} = ANY($few_ids) AND {key} BETWEEN "
                   "$few_lo AND $few_hi)", {"few_ids": ids.to_pylist(), "few_lo": bounds["min"], "few_hi": bounds["max"]})
        elif len(ids) <= ALIGNED_IN_MEMORY:
            with self.registered(f"{table}_wanted", pa.table({"id": ids})):
                yield (f"(SELECT *, rowid AS stored_row FROM {table} WHERE rowid IN "
                       f"(SELECT rowid FROM {table} WHERE {key} IN (SELECT id FROM {table}_wanted)))", {})
        else:
            yield f"(SELECT *, rowid AS stored_row FROM {table})", {}

    def signals_of(self, accounts, leads) -> pa.Table:
        """The stored signals of these accounts (directly) and these leads."""
        if not self._count("signals"):  # (every column of `signals` is text)
            return pa.table({c: pa.array([], pa.string()) for c in ("lead_id", "account_id", "signal", "timestamp")})
        with self.registered("signal_accounts", pa.table({"id": accounts})), \
                self.registered("signal_leads", pa.table({"id": leads})):
            return self.db.sql("SELECT lead_id, account_id, signal, timestamp FROM signals WHERE rowid IN ("
                               "SELECT rowid FROM signals WHERE account_id IN (SELECT id FROM signal_accounts) UNION ALL "
                               "SELECT rowid FROM signals WHERE lead_id IN (SELECT id FROM signal_leads))").to_arrow_table()

    def event_counts(self) -> dict[str, int]:
        return {table: self._count(table) for table in ("signals", "outcomes")}

    def scores(self, kind: str) -> pa.Table:
        """Every stored score of one kind with its stamp, in id order."""
        table, key = _SCORES_OF[kind], _TABLE_OF[kind][1]
        columns, params = self._stamped_columns(table)
        return self.db.sql(f"SELECT {columns} FROM {table} ORDER BY {key}", params=params).to_arrow_table()

    def scores_of(self, kind: str, record_id: str) -> dict | None:
        """The stored scores of one record with their stamp (None: it has none)."""
        table, key = _SCORES_OF[kind], _TABLE_OF[kind][1]
        kept = self._kept_table(table)
        if kept is not None:
            rows = kept.rows(pa.array([record_id], pa.string()))[0].drop_columns(["stored_row", key]).to_pylist()
            stamp = self.scores_stamp()
            if rows and "as_of" in rows[0] and rows[0]["as_of"] is None and stamp is not None:  # (`_SCORE_STAMP`)
                rows[0].update({c: v for c, v in stamp.by_column().items() if c in rows[0]})
        else:
            columns, params = self._stamped_columns(table)
            rows = self.db.sql(f"SELECT {columns} FROM {table} WHERE {key} = $id",
                               params={"id": record_id} | params).to_arrow_table().drop_columns([key]).to_pylist()
        return rows[0] if rows else None

    def _stamped_columns(self, scores: str) -> tuple[str, dict]:
        """A scores table's columns as SQL select items, its stamp as `stamp_select` reads it, and
        the parameters they take."""
        columns = self._columns(scores)
        stamp, params = self.stamp_select(present=[c for c in _SCORE_STAMP if c in columns])
        return ", ".join(stamp.get(c, _quote(c)) for c in columns), params

    def stamp_select(self, alias: str = "", present=_SCORE_STAMP) -> tuple[dict[str, str], dict]:
        """The stamp columns in `present` as SQL select items, by name, and the parameters they
        take: each score's own stamp where it stores one, else the workspace's (`_SCORE_STAMP`)."""
        stamp = self.scores_stamp()
        values = stamp.by_column() if stamp is not None else dict.fromkeys(_SCORE_STAMP)
        return ({c: f"CASE WHEN {alias}as_of IS NULL THEN $stamp_{c} ELSE {alias}{c} END AS {c}" for c in present},
                {f"stamp_{c}": values[c] for c in present})

    def scores_stamp(self) -> Stamp | None:
        """The stamp of every score that stores none (`_SCORE_STAMP`); None in a workspace with no
        scores yet."""
        value = self.meta(SCORES_STAMP_KEY)
        if value is None:
            return None
        ruleset, version, day = json.loads(value)
        return Stamp(ruleset, version, dt.date.fromisoformat(day))

    def _set_scores_stamp(self, stamp: Stamp) -> None:
        self.set_meta(SCORES_STAMP_KEY, json.dumps([stamp.ruleset, stamp.version, stamp.as_of.isoformat()]))

    def _take_stamp(self, stamp: Stamp, every_record: bool) -> bool:
        """Make `stamp` the one of every score that stores none, before scores made with it are
        written. Unless every record is re-scored with it, the scores made with the one before keep
        theirs: written on them first (a workspace writes some records only with its own stamp,
        which costs nothing here). Whether any stored score took its own stamp so."""
        before = self.scores_stamp()
        if before == stamp:
            return False
        self._set_scores_stamp(stamp)
        if every_record or before is None:
            return False
        for table in ("account_scores", "lead_scores"):
            self.db.execute(f"UPDATE {table} SET ruleset = $ruleset, ruleset_version = $ruleset_version, "
                            f"as_of = $as_of WHERE as_of IS NULL", before.by_column())
            self._changed_in_place(table)
        return True

    def with_scores(self, kind: str, account_fields: bool = False) -> pa.Table:
        """Every stored record of one kind with its current scores, in id order: the score columns
        and their stamp, then the record's own (a record not scored yet has empty scores). With
        `account_fields`, each lead also carries its account's own columns (named `account_NAME`
        where the lead has a column NAME too). No header appears twice: ingest refuses record
        columns named like score columns (`RESERVED_COLUMNS`), and a workspace that has one
        anyway is refused here."""
        table, key = _TABLE_OF[kind]
        scores = _SCORES_OF[kind]
        own = [c for c in self._columns(table) if c not in (LEAD_KEY, ACCOUNT_KEY)]
        _refuse_reserved(own, f"{self.path}: the stored {table}")
        stored_stamp, params = self.stamp_select("s.", [c for c in _SCORE_STAMP if c in self._columns(scores)])
        stamp = [stored_stamp.get(c, f"CAST(NULL AS INTEGER) AS {c}") for c in _SCORE_STAMP]
        listed = [f"r.{key}", *(f"r.{c}" if c == ACCOUNT_KEY else f"s.{c}" for c in _SCORE_COLUMNS[kind]), *stamp,
                  *(f"r.{_quote(c)}" for c in own)]
        joined = ""
        if account_fields and kind == "lead":
            taken = {key, *_SCORE_COLUMNS[kind], *_SCORE_STAMP, *own}
            listed += [f"a.{_quote(c)} AS {_quote('account_' + c if c in taken else c)}"
                       for c in self._columns("accounts") if c != ACCOUNT_KEY]
            joined = " LEFT JOIN accounts a ON a.account_id = r.account_id"
        return self.db.sql(f"SELECT {', '.join(listed)} FROM {table} r LEFT JOIN {scores} s ON s.{key} = r.{key}"
                           f"{joined} ORDER BY r.{key}", params=params).to_arrow_table()

    def count(self, kind: str) -> int:
        return self._count(_TABLE_OF[kind][0])

    def _count(self, table: str) -> int:
        """Rows in `table`, kept and moved by the rows each write adds (`_inserted`): rows are
        never deleted but to be inserted again in the same statement sequence."""
        return self._kept(("count", table), lambda: self.db.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])

    def _inserted(self, table: str, rows: int | None = None) -> None:
        """`rows` rows were added to `table` (net of those deleted to be inserted again): a kept
        count moves by as many (a count of 3M scores costs a few ms to read again). None: not
        known, read again when next asked for. A transaction rolled back forgets every count."""
        key = ("count", table)
        if rows is None or key not in self._read_once:
            self._read_once.pop(key, None)
        else:
            self._read_once[key] += rows

    def signals(self) -> pa.Table:
        return self.db.sql("SELECT lead_id, account_id, signal, timestamp FROM signals").to_arrow_table()

    def outcomes(self) -> pa.Table:
        return self.db.sql("SELECT lead_id, outcome, timestamp FROM outcomes").to_arrow_table()

    def append(self, table: str, rows: pa.Table, columns: list[str]) -> int:
        """Append rows that are not there yet (the same values in every column count once)."""
        listed = ", ".join(columns)
        with self.registered("incoming_rows", rows):
            (added,) = self.db.execute(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM incoming_rows "
                                       f"EXCEPT SELECT {listed} FROM {table}").fetchall()[0]
        self._inserted(table, added)
        return added

    def meta(self, key: str) -> str | None:
        row = self._kept(("meta", key), lambda: self.db.execute(
            "SELECT value FROM meta WHERE key = ?", [key]).fetchall() if self._has("meta") else [])
        return row[0][0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, value])
        self._read_once.clear()

    def _kept(self, key: tuple, read):
        """`read()`, kept until what it read changes. The catalogue, the published versions and
        the meta values are asked for several times by every request of a long-running service
        (a DuckDB query each); no other process writes a workspace this one has open, and the
        statements here that change them (`set_meta`, `add_version`, a column added or retyped,
        tables created) forget what was kept, as does a transaction rolled back."""
        if key not in self._read_once:
            self._read_once[key] = read()
        return self._read_once[key]

    def _has(self, table: str) -> bool:
        names = self._kept(("tables",), lambda: frozenset(
            r[0] for r in self.db.execute("SELECT table_name FROM duckdb_tables()").fetchall()))
        return table in names

    def versions(self, last: bool = False) -> list[tuple]:
        """The published versions, oldest first (with `last`, only the last), as (number, hash,
        text, published_at, message). A workspace of schema 2 opened read-only (not upgraded)
        shows the rules it was last scored with as version 1, as the upgrade will number them."""
        return list(self._kept(("versions", last), lambda: self._read_versions(last)))

    def _read_versions(self, last: bool) -> list[tuple]:
        if self._has("versions"):
            return self.db.execute("SELECT * FROM (SELECT number, hash, text, published_at, message FROM versions "
                                   f"ORDER BY number DESC{' LIMIT 1' if last else ''}) ORDER BY number").fetchall()
        if self._has("rulesets"):
            return self.db.execute("SELECT 1, hash, rules, applied_at, 'the rules last applied' FROM rulesets "
                                   "ORDER BY applied_at DESC LIMIT 1").fetchall()
        return []

    def add_version(self, digest: str, text: str, message: str) -> tuple:
        """Record a new published version (the next number) and return it as `versions` does."""
        (number,) = self.db.execute("SELECT coalesce(max(number), 0) + 1 FROM versions").fetchall()[0]
        row = (number, digest, text, dt.datetime.now(), message)
        self.db.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?)", list(row))
        self._read_once.clear()
        return row

    def stored_as_of(self) -> dt.date | None:
        """The workspace's date: every stored score is as of it (the latest score's date in a
        workspace of schema 2 opened read-only)."""
        value = self.meta(AS_OF_KEY)
        if value is not None:
            return dt.date.fromisoformat(value)
        (day,) = self.db.execute("SELECT max(as_of) FROM (SELECT as_of FROM account_scores UNION ALL "
                                 "SELECT as_of FROM lead_scores)").fetchall()[0]
        return day

    def stamps(self, kind: str) -> list[tuple]:
        """How many stored scores of one kind each (version, as-of date) made, as (version, as_of, count)."""
        scores = _SCORES_OF[kind]
        stamp, params = self.stamp_select(present=[c for c in ("ruleset_version", "as_of") if c in self._columns(scores)])
        version = stamp.get("ruleset_version", "NULL")
        return self.db.execute(f"SELECT {version}, {stamp['as_of']}, count(*) FROM {scores} GROUP BY ALL ORDER BY ALL",
                               params).fetchall()

    def history(self, kind: str, record_id: str) -> pa.Table:
        """One record's score changes, oldest first, each with the version that made it."""
        version = "ruleset_version" if "ruleset_version" in self._columns("score_history") else \
            "CAST(NULL AS INTEGER) AS ruleset_version"
        columns = list(KeptHistory.COLUMNS)
        if self.kept_history is not None and not self._in_transaction and not self.kept_history.stale \
                and version == "ruleset_version":
            return self.kept_history.changes(kind, record_id).select(columns)
        return self.db.sql(f"SELECT {', '.join(columns).replace('ruleset_version', version)} FROM score_history "
                           "WHERE kind = $kind AND record_id = $id ORDER BY changed_at, rowid",
                           params={"kind": kind, "id": record_id}).to_arrow_table()

    @contextlib.contextmanager
    def registered(self, name: str, table: pa.Table):
        """`table` readable as `name` in SQL inside the block."""
        import duckdb

        self.db.register(name, table)
        try:
            yield
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # an aborted transaction refuses even this: keep the real error
                self.db.unregister(name)
            raise
        self.db.unregister(name)

    # ---- writes -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self):
        """One transaction: committed when the block ends, rolled back when it raises. A block
        inside another is part of the outer one (a workspace step made of several steps)."""
        import duckdb

        if self._in_transaction:
            yield
            return
        # The block runs while the workspace is still being read through (`_verify`): what it
        # writes stays in the transaction, and nothing is committed to a workspace not known to
        # be whole. A block that fails on a damaged workspace fails as `WorkspaceDamaged`.
        self.db.execute("BEGIN TRANSACTION")
        self._in_transaction = True
        try:
            yield
            self.verified()
        except BaseException:
            self._read_once.clear()  # (what the block changed is undone)
            with contextlib.suppress(duckdb.Error):  # a failed rollback must not hide why the block failed
                self.db.execute("ROLLBACK")
            self.verified()
            raise
        finally:
            self._in_transaction = False
            appended, self._appended = self._appended, {}
        try:
            self.db.execute("COMMIT")
        except BaseException:
            self._read_once.clear()
            raise
        kept = [*self.kept.values(), *([self.kept_history] if self.kept_history else [])]
        try:
            follow(self.db, kept, appended)
        except BaseException:
            for part in kept:
                part.stale = True  # (read again before its next use: never left half-updated)
            raise

    def _append(self, table: str, insert: str, params: dict | None = None) -> None:
        """Run an INSERT into `table`, counting the rows it appended (the kept indexes take them in
        once committed)."""
        (rows,) = self.db.execute(insert, params).fetchall()[0]
        self._appended[table] = self._appended.get(table, 0) + rows

    def _append_rows(self, table: str, rows: pa.Table, constants: dict) -> None:
        """Append these rows to `table` (columns by name), each with the `constants` (column ->
        value) beside them. A few rows of plain values go as parameters of the statement, others
        as a registered table."""
        if not rows.num_rows:
            return
        listed = ", ".join(_quote(c) for c in [*rows.column_names, *constants])
        selected = ", ".join(["*", *(f"${c}" for c in constants)])
        if rows.num_rows > FEW_ROWS or not all(_binds_as_parameter(t) for t in rows.schema.types):
            with self.registered("appended_rows", rows):
                self._append(table, f"INSERT INTO {table} ({listed}) SELECT {selected} FROM appended_rows", constants)
            return
        values = [value for row in zip(*(column.to_pylist() for column in rows.columns)) for value in row]
        width = rows.num_columns
        tuples = ", ".join("(" + ", ".join(f"$v{at + k}" for k in range(width)) + ")"
                           for at in range(0, len(values), width))
        names = ", ".join(_quote(c) for c in rows.column_names)
        self._append(table, f"INSERT INTO {table} ({listed}) SELECT {selected} FROM (VALUES {tuples}) AS given({names})",
                     {f"v{k}": value for k, value in enumerate(values)} | constants)

    def _delete_rows(self, table: str, rows: pa.Array) -> None:
        """Delete these rows of `table`, by row number (a few as parameters, more as a registered table)."""
        if not len(rows):
            return
        if len(rows) <= FEW_ROWS:
            self.db.execute(f"DELETE FROM {table} WHERE rowid IN ({', '.join('?' * len(rows))})", rows.to_pylist())
            return
        with self.registered("deleted_rows", pa.table({"row": rows})):
            self.db.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT row FROM deleted_rows)")

    def _delete_ids(self, table: str, key: str, ids: pa.Array) -> None:
        """Delete the rows of `table` whose `key` is one of these ids (as a registered table)."""
        if not len(ids):
            return
        with self.registered("deleted_ids", pa.table({"id": ids})):
            self.db.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT id FROM deleted_ids)")

    def upsert(self, kind: str, incoming: pa.Table, name: str = "input", keep_rows: bool = False) -> Upserted:
        """Insert new records and update only the columns a file carries: what changed (see
        `Upserted`; with `keep_rows`, the changed records as now stored). A column already stored
        with another type takes the file's values when each converts exactly; else a DataError
        names the file, the column and a record (`name` is the file)."""
        table, key = _TABLE_OF[kind]
        with self.registered("incoming", incoming):
            # DuckDB's types for an Arrow schema: the same for every body of the same shape.
            described = self._kept(("described", incoming.schema), lambda: {
                r[0]: r[1] for r in self.db.execute("DESCRIBE incoming").fetchall()})
            columns = [c for c in incoming.column_names if c != key]
            stored = self._columns(table)
            for column in columns:
                if column in stored and _untyped(stored[column]) and not _untyped(described[column]):
                    # Made from a file whose column was all empty, it holds nothing: it takes this file's type.
                    self._retype(table, column, stored[column], described[column])
                elif column in stored and described[column] != stored[column]:
                    found = self._inexact("incoming", key, column, described[column], stored[column])
                    if found is not None:
                        record, value = found
                        raise DataError(f"{name}: column `{column}` is stored as {stored[column]} in {self.path}, "
                                        f"this file has {described[column]}; {kind} {record!r} holds {value!r}, "
                                        "which does not convert exactly")
            self._ensure_columns(table, {c: described[c] for c in columns})
            stored = self._columns(table)
            value_of = {c: _converted(f"i.{_quote(c)}", described[c], stored[c]) for c in columns}
            listed = ", ".join(_quote(c) for c in [key, *columns])
            values = ", ".join([f"i.{key}", *value_of.values()])
            if not self.count(kind):  # the first load: every record is new
                self._append(table, f"INSERT INTO {table} ({listed}) SELECT {values} FROM incoming i")
                self._inserted(table, incoming.num_rows)
                return Upserted(incoming.column(key).combine_chunks(), incoming.num_rows, 0)
            differs = " OR ".join(f"{value_of[c]} IS DISTINCT FROM t.{_quote(c)}" for c in columns) or "FALSE"
            # The records that are new or whose values change, whole: the file's columns over the
            # stored ones. Changed records are deleted and inserted again rather than updated in
            # place: DuckDB rewrites every row group an update touched when it next checkpoints,
            # while a delete only marks the rows (an ingest of 1,000 scattered accounts touches
            # most row groups).
            merged = ", ".join(f"{value_of[c]} AS {_quote(c)}" if c in value_of else f"t.{_quote(c)}"
                               for c in stored if c != key)
            with self._stored_rows(table, key, incoming.column(key).combine_chunks()) as (rows, few):
                # As Arrow: a few rows go back as parameters (no table in DuckDB to make, read and drop).
                changed = self.db.sql(f"SELECT t.{key} IS NULL AS new, t.stored_row, i.{key}, {merged} FROM incoming i "
                                      f"LEFT JOIN {rows} t ON i.{key} = t.{key} WHERE t.{key} IS NULL OR {differs}",
                                      params=few).to_arrow_table()
        new = changed.column("new")
        inserted = _count_true(new)
        self._delete_rows(table, changed.column("stored_row").filter(pc.invert(new)))  # by row number: no look at ids
        records = changed.drop_columns(["new", "stored_row"])
        self._append_rows(table, records, {})
        self._inserted(table, inserted)
        return Upserted(records.column(key).combine_chunks(), inserted, changed.num_rows - inserted,
                        records if keep_rows else None)

    def as_written(self, kind: str, before: pa.Table | None, upserted: Upserted | None, read_by) -> pa.Table | None:
        """Records read before an upsert (`before`, as `records(read_by=read_by)` read them; None:
        none), as they are stored after it (`upserted` None: no upsert of this kind): the changed
        ones replaced by their stored rows, the new ones added. None when what `records` would
        read now has other columns or types (a column added or retyped since): read them again."""
        if upserted is not None and upserted.rows is None:
            return None
        table, key = _TABLE_OF[kind]
        wanted = columns_read(kind, read_by)
        names = [c for c in self._columns(table) if c in wanted]
        if before is None:
            return upserted.rows.select(names)
        if names != before.column_names:
            return None
        if upserted is None:
            return before
        rows = upserted.rows.select(names)
        if rows.schema != before.schema:
            return None
        kept = before.filter(pc.invert(pc.is_in(before.column(key), value_set=upserted.ids)))
        return pa.concat_tables([kept, rows]).combine_chunks()

    def write_scores(self, result, accounts: pa.Array, leads: pa.Array, stamp: Stamp, report: IngestReport,
                     every_record: bool = False, stored=None, stored_rows: dict | None = None) -> None:
        """Store the new scores of these records (ids among those scored) and a history row for
        every score that moved: a few set statements per kind over the result's Arrow columns.
        Only what differs is rewritten: the scores that moved, the records scored for the first
        time, and those that stored a stamp of their own (`_SCORE_STAMP`: new scores store none,
        the workspace's being `stamp`). `every_record` says these are all
        the stored records (a rescore). `stored`, with `every_record`: a result over the same
        records, row for row, whose scores are the stored ones (the published rules' own scoring
        of a workspace every score of which they made at its date): what moved is found by
        comparing the two results' numbers, not by joining 4M stored scores in DuckDB.
        `stored_rows`, per kind, the stored scores of these records as `stored_scores` read them,
        read before (while the kernels loaded)."""
        if self._take_stamp(stamp, every_record):
            stored_rows = None  # (read before their stamp was written on them)
        logged_stamp = {"ruleset": stamp.ruleset, "changed_at": dt.datetime.now(), "ruleset_version": stamp.version}
        logged = []  # per kind, the history rows of the scores that moved: appended in one statement
        for kind, ids, table in (("account", accounts, result.accounts),
                                 ("lead", leads, result.leads)):
            if table is None or len(ids) == 0:
                continue
            key = ACCOUNT_KEY if kind == "account" else LEAD_KEY
            columns = _SCORE_COLUMNS[kind]
            new = table.select([key, *columns])
            if len(ids) != new.num_rows:  # some records were scored only to score others
                wanted = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
                new = new.filter(pc.is_in(new.column(key), value_set=wanted))
            scores = _SCORES_OF[kind]
            if not self._count(scores):  # none stored yet: every record is scored for the first time
                with self.registered("new_scores", new):
                    self._append("score_history", f"INSERT INTO score_history ({', '.join(_HISTORY_COLUMNS)}) "
                                 f"SELECT {', '.join(_HISTORY_CHANGE)}, $ruleset, $changed_at, $ruleset_version "
                                 f"FROM ({_changes_sql(kind, 'new_scores', f'(SELECT *, rowid AS stored_row FROM {scores})')}) "
                                 "WHERE moved", logged_stamp)
                    self._append_rows(scores, new, {})
                self._inserted(scores, new.num_rows)
                report.add_moves(kind, new.num_rows, 0, 0, 0)
                continue
            # The records whose stored scores differ (or, unless every record is re-scored, that
            # store a stamp of their own), and those scored for the first time: usually few. They
            # are deleted and inserted again (see `upsert`: cheaper than an update).
            if stored is not None:
                found = _aligned_changes(kind, new, result, stored)
                self._delete_ids(scores, key, found.column(key))
            else:
                found = self._score_changes(kind, new, not every_record, (stored_rows or {}).get(kind))
                self._delete_rows(scores, found.column("stored_row").filter(pc.invert(found.column("first"))))
            earlier = pc.invert(found.column("first"))  # scored before: their stored rows went
            first = found.num_rows - _count_true(earlier)
            report.add_moves(kind, first, *(_count_true(pc.and_(earlier, found.column(move))) for move in _MOVES[kind]))
            logged.append(found.filter(found.column("moved")).select(_HISTORY_CHANGE).cast(_HISTORY_SCHEMA))
            self._append_rows(scores, found.select([key, *columns]), {})
            self._inserted(scores, first)
            if every_record:  # the others keep their scores, now under the workspace's stamp
                (restamped,) = self.db.execute(f"UPDATE {scores} SET ruleset = NULL, ruleset_version = NULL, "
                                               f"as_of = NULL WHERE {_OWN_STAMP.format('')}").fetchall()[0]
                if restamped:
                    self._changed_in_place(scores)
        if logged:
            self._append_rows("score_history", pa.concat_tables(logged), logged_stamp)

    def stored_scores(self, kind: str, ids: pa.Array) -> pa.Table | None:
        """The stored scores of these records of `kind`, each with the row number of its stored
        row (`stored_row`), from the kept rows or from DuckDB: what their new scores are compared
        with, lined up by id in memory. None when there are none to read, or too many to line up
        so (see `ALIGNED_IN_MEMORY`): then they are compared in DuckDB."""
        if not len(ids) or len(ids) > ALIGNED_IN_MEMORY:
            return None
        ids = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        scores, key = _SCORES_OF[kind], _TABLE_OF[kind][1]
        kept = self._kept_table(scores)
        if kept is not None:
            return self._kept_rows(kept, scores, key, ids)
        with self._rows_by_ids(scores, key, ids) as (rows, params):
            return self.db.sql(f"SELECT * FROM {rows} t", params=params).to_arrow_table()

    def _score_changes(self, kind: str, new: pa.Table, own_stamp: bool, stored_rows: pa.Table | None = None
                       ) -> pa.Table:
        """The new scores (`new`, one row per record) that differ from the stored ones, or (with
        `own_stamp`) whose stored ones store a stamp of their own, or that have none stored: each
        with the row number of its stored row (`stored_row`), its history row's columns
        (`_HISTORY_CHANGE`) and the `_MOVES` it makes, and `first` (none stored). Found in
        memory, against `stored_rows` (`stored_scores`, read here when not given), when the records
        are few enough to line up by id: a statement joining Arrow tables costs milliseconds,
        even for one row. Else by one join in DuckDB."""
        scores, key = _SCORES_OF[kind], _TABLE_OF[kind][1]
        ids = new.column(key).combine_chunks()
        if stored_rows is None:
            stored_rows = self.stored_scores(kind, ids)
        if stored_rows is not None:
            aligned = stored_rows.take(pc.index_in(ids, value_set=stored_rows.column(key)))
            return _changes_in_memory(kind, new, aligned, own_stamp)
        restamp = f" OR {_OWN_STAMP.format('o.')}" if own_stamp else ""
        with self._stored_rows(scores, key, ids) as (rows, few), self.registered("new_scores", new):
            return self.db.sql(_changes_sql(kind, "new_scores", rows) + restamp, params=few).to_arrow_table()


def _changes_sql(kind: str, new: str, stored: str) -> str:
    """SQL for `Store._score_changes` of the new scores in relation `new` against the stored rows
    in `stored` (each with `stored_row`), before the condition on the stamp."""
    key = _TABLE_OF[kind][1]

    def differs(columns) -> str:
        return " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in columns)

    logged = [f"'{kind}' AS kind", f"n.{key} AS record_id"]
    for column in _LOGGED_SCORES:
        held = column in _SCORE_COLUMNS[kind]
        logged += [f"{'o.' + column if held else 'NULL'} AS old_{column}", f"{'n.' + column if held else 'NULL'} AS new_{column}"]
    moves = ", ".join(f"({differs(columns)}) AS {move}" for move, columns in _MOVES[kind].items())
    return (f"SELECT n.*, o.stored_row, {', '.join(logged)}, o.{key} IS NULL AS first, {moves} "
            f"FROM {new} n LEFT JOIN {stored} o USING ({key}) WHERE o.{key} IS NULL OR {differs(_SCORE_COLUMNS[kind])}")


def _changes_in_memory(kind: str, new: pa.Table, stored: pa.Table, own_stamp: bool) -> pa.Table:
    """`_changes_sql`'s rows (and its condition on the stamp) found in memory: `stored` holds each
    new row's stored row, in the same order (a row of nulls where none is stored)."""
    key = _TABLE_OF[kind][1]

    def differs(columns, old: pa.Table, values: dict) -> pa.Array:
        return functools.reduce(pc.or_, (_distinct(old.column(c), values[c]) for c in columns))

    # (The new values as the stored ones are typed: codes come dictionary-encoded from scoring.)
    values = {c: new.column(c).cast(stored.schema.field(c).type) for c in _SCORE_COLUMNS[kind]}
    wanted = pc.or_(pc.is_null(stored.column(key)), differs(_SCORE_COLUMNS[kind], stored, values))
    if own_stamp:
        wanted = pc.or_(wanted, pc.is_valid(stored.column("as_of")))
    new, stored, values = new.filter(wanted), stored.filter(wanted), {c: v.filter(wanted) for c, v in values.items()}
    found = {**dict(zip(new.column_names, new.columns)), "stored_row": stored.column("stored_row"),
             "kind": pa.array([kind] * new.num_rows, pa.string()), "record_id": new.column(key)}
    for column in _LOGGED_SCORES:
        held = column in _SCORE_COLUMNS[kind]
        found[f"old_{column}"] = stored.column(column) if held else pa.nulls(new.num_rows)
        found[f"new_{column}"] = values[column] if held else pa.nulls(new.num_rows)
    found["first"] = pc.is_null(stored.column(key))
    found.update({move: differs(columns, stored, values) for move, columns in _MOVES[kind].items()})
    return pa.table(found)


def _aligned_changes(kind: str, new: pa.Table, result, stored) -> pa.Table:
    """`Store._score_changes`' rows (but `stored_row`: none is looked up) from two results over
    the same records, row for row: `result` (whose scores of `kind` are `new`) and `stored`, whose
    scores are the stored ones. Compared as the kernels' numbers; only the records whose scores
    moved become rows (none is scored for the first time)."""
    from .tables import (  # (what scores imports: not every command)
        ComparedScores,
        band_codes,
        codes_column,
        score_column,
    )

    after = result.score_numbers(kind)
    compared = ComparedScores.of(stored.score_numbers(kind), after)
    codes, scores, differs = compared.codes, compared.scores, compared.moved
    rows = np.flatnonzero(functools.reduce(np.logical_or, (differs[c] for c in _MOVES[kind]["moved"])))
    # A band follows from its score: compared only where a score moved.
    differs = {c: moved[rows] for c, moved in differs.items()}
    differs |= {f"{c[:-len('_score')]}_band": band_codes(old[rows]) != band_codes(now[rows])
                for c, (old, now) in scores.items()}
    found = {**dict(zip(new.column_names, new.take(rows).columns)),
             "kind": pa.array([kind] * len(rows), pa.string()), "record_id": pc.take(after.ids, rows)}
    for column in _LOGGED_SCORES:
        held = column in _SCORE_COLUMNS[kind]
        for side, name in ((0, "old"), (1, "new")):
            if not held:
                found[f"{name}_{column}"] = pa.nulls(len(rows))
            elif column in codes:
                found[f"{name}_{column}"] = codes_column(codes[column].names, (codes[column].old, codes[column].new)[side][rows])
            else:
                found[f"{name}_{column}"] = score_column(scores[column][side][rows])
    found["first"] = pa.array(np.zeros(len(rows), bool))
    found.update({move: pa.array(functools.reduce(np.logical_or, (differs[c] for c in columns)))
                  for move, columns in _MOVES[kind].items()})
    return pa.table(found)


def _distinct(old, new):
    """SQL's `old IS DISTINCT FROM new`, element by element (`new` may be a scalar): never null."""
    return pc.or_(pc.fill_null(pc.not_equal(old, new), False), pc.not_equal(pc.is_null(old), pc.is_null(new)))


def _binds_as_parameter(arrow_type: pa.DataType) -> bool:
    """Whether Python's values of an Arrow type, as statement parameters, are DuckDB's same values:
    text, numbers, truth values, dates, timestamps to the microsecond, and lists of those (as
    declared fields and scores are)."""
    if pa.types.is_list(arrow_type):
        return not pa.types.is_list(arrow_type.value_type) and _binds_as_parameter(arrow_type.value_type)
    if pa.types.is_dictionary(arrow_type):
        return _binds_as_parameter(arrow_type.value_type)
    return (pa.types.is_null(arrow_type) or pa.types.is_boolean(arrow_type) or pa.types.is_integer(arrow_type)
            or pa.types.is_floating(arrow_type) or pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
            or pa.types.is_string_view(arrow_type) or pa.types.is_date32(arrow_type)
            or (pa.types.is_timestamp(arrow_type) and arrow_type.tz is None and arrow_type.unit != "ns"))


def _count_true(mask) -> int:
    return pc.sum(mask).as_py() or 0


# ---- reading input for the store -------------------------------------------------------------


def _read_input(source, null_values=()) -> pa.Table:
    """`data.read_table`, but a Parquet file is read with `ParquetFile`: `pq.read_table` goes
    through pyarrow.dataset, whose import brings pandas (half a second of an ingest of 1,000 rows)."""
    if isinstance(source, (str, Path)) and Path(source).suffix.lower() == ".parquet" and Path(source).is_file():
        import pyarrow.parquet as pq

        try:
            table = pq.ParquetFile(source).read()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{source}: not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        _check_columns(table.column_names, [], str(source))  # as read_table checks them
        return table
    return read_table(source, null_values)


def typed_input(source, ruleset: model.Ruleset, kind: str, null_values=()) -> pa.Table:
    """An input file for one record kind, checked: ids present and unique, declared fields
    converted to their types (other columns kept as they are). Nothing is applied on error.
    `null_values` are CSV cells that mean unknown besides the empty one."""
    key = ACCOUNT_KEY if kind == "account" else LEAD_KEY
    table = _read_input(source, null_values)
    name = _describe(source)
    _refuse_reserved(table.column_names, name)
    if key not in table.column_names:
        raise DataError(f"{name}: missing column `{key}`; every {kind} record needs an id")
    if kind == "lead" and ACCOUNT_KEY not in table.column_names:
        raise DataError(f"{name}: missing column `{ACCOUNT_KEY}`; every lead belongs to an account")
    ids = table.column(key).cast(pa.string())
    if ids.null_count:  # (a chunked array's to_numpy would import pandas)
        row = pc.index(ids.is_null(), True).as_py()
        raise DataError(f"{name}: column `{key}` is empty in row {row + 1}")
    check_unique(ids, key, name)
    fields = {f.name: f for f in ruleset.schema.of_kind(kind)}
    columns = {}
    for column in table.column_names:
        array = table.column(column)
        if column in (key, ACCOUNT_KEY):
            columns[column] = array.cast(pa.string())
        elif column in fields:
            columns[column] = typed_column(fields[column], array, name)
        else:
            columns[column] = array.cast(pa.string()) if pa.types.is_dictionary(array.type) else array
    return pa.table({c: (a.cast(pa.string()) if pa.types.is_dictionary(a.type) else a) for c, a in columns.items()})


# ---- the two ways scores change ---------------------------------------------------------------


def _quiet(description: str) -> None:
    """The default progress callback: says nothing."""


def ingest(store: Store, compiled, stamp: Stamp, accounts=None, leads=None, on_stage=_quiet,
           null_values=(), on_rescored=None, read_before=None) -> IngestReport:
    """Upsert the given records and re-score exactly those whose inputs changed: changed
    accounts, their leads, and changed leads; the new scores carry `stamp`. One transaction (or
    part of the caller's). `on_stage` hears each step; `on_rescored`, the records re-scored (see
    `rescore_records`). `read_before`, per kind, stored records read (`records(read_by=` the
    rules' schema`)`) since the last write: the re-scoring takes them, with this ingest's
    changes, from there rather than reading them again."""
    ruleset = compiled.model
    sources = {kind: source for kind, source in (("account", accounts), ("lead", leads)) if source is not None}
    typed = {}
    for kind, source in sources.items():  # every file checked before anything is applied
        on_stage(f"reading {_describe(source)}")
        typed[kind] = typed_input(source, ruleset, kind, null_values)
    # The kernels load (numba's start-up, most of a second holding the GIL) from here: beside the
    # set statements and reads below, which leave the GIL to it while DuckDB works, rather than
    # beside the reading above, whose imports and conversions need the GIL themselves (an ingest
    # of 1,000 accounts into 1M reached its first statement only once numba had loaded). A file
    # refused above has loaded nothing.
    with kernels_loading(compiled) as kernels_loaded:
        return _ingest(store, compiled, stamp, typed, sources, on_stage, kernels_loaded, on_rescored, read_before)


def _ingest(store: Store, compiled, stamp, typed: dict, sources: dict, on_stage, kernels_loaded, on_rescored=None,
            read_before=None) -> IngestReport:
    """`ingest` of the files read and checked (`typed`, per kind, from `sources`)."""
    ruleset = compiled.model
    report = IngestReport()
    with store.transaction():
        store.ensure_fields(ruleset)
        none = pa.nulls(0, pa.string())  # (pa.array of a list would import pandas)
        changed = {"account": none, "lead": none}
        # A file of a kind none of which is stored yet (a first ingest) is, once stored, exactly
        # the stored records of that kind: it is scored as it is, not read back.
        as_stored = {}
        read_before, known, typed_kinds = dict(read_before or {}), {}, set(typed)
        for kind in list(typed):
            table = typed.pop(kind)
            on_stage(f"storing {table.num_rows:,} {kind}s")
            declared = {f.name for f in ruleset.schema.of_kind(kind)}
            if not store.count(kind) and declared <= set(table.column_names):
                as_stored[kind] = table
            # The accounts re-scored are the changed ones (and those of the changed leads): as the
            # upsert stored them, they are not read back. The leads re-scored are looked up by
            # account (in the store, or in a service's kept rows, which `read_before` comes with).
            keep_rows = kind == "account" or kind in read_before
            upserted = store.upsert(kind, table, _describe(sources[kind]), keep_rows=keep_rows)
            changed[kind] = upserted.ids
            report.inserted += upserted.inserted
            report.updated += upserted.updated
            if keep_rows:
                known[kind] = store.as_written(kind, read_before.get(kind), upserted, ruleset.schema)
            del table
        for kind in read_before.keys() - typed_kinds:  # records of a kind this ingest left as they were
            known[kind] = store.as_written(kind, read_before[kind], None, ruleset.schema)
        rescore_records(store, compiled, stamp, changed["account"], changed["lead"], report, on_stage,
                        kernels_loaded, as_stored, on_rescored, known)
    return report


def rescore_records(store: Store, compiled, stamp: Stamp, accounts: pa.Array, leads: pa.Array,
                    report: IngestReport, on_stage=_quiet, kernels_loaded=lambda: None, as_stored=None,
                    on_rescored=None, known=None) -> None:
    """Re-score these accounts (and their leads) and these leads, reading only them and the
    accounts their leads belong to; inside the caller's transaction. `as_stored` holds, per
    kind, a table that is every stored record of that kind (a first ingest: not read back);
    `known`, per kind, records as they are stored now (see `Store.records`): not read again.
    `on_rescored(result, accounts)`, when given, hears the scoring of the records read (an
    api.ScoreResult: these accounts and leads and the accounts of the leads) and the accounts
    re-scored, once stored: what a service reports the moves of without reading them again."""
    ruleset, as_stored, known = compiled.model, dict(as_stored or {}), {k: t for k, t in (known or {}).items()
                                                                       if t is not None}
    on_stage("reading the records to re-score")
    # Every record of a kind when every one changed (a first ingest): read whole, not through a join.
    if "lead" in as_stored:
        lead_records = as_stored.pop("lead")
    elif len(leads) == store.count("lead"):
        lead_records = store.records("lead", ordered=False, read_by=ruleset.schema)
    else:
        lead_records = store.affected_leads(accounts, leads, read_by=ruleset.schema, known=known.get("lead"))
    affected_leads = lead_records.column(LEAD_KEY)
    if "account" in as_stored:
        account_records = as_stored.pop("account")
    elif len(accounts) == store.count("account"):
        account_records = store.records("account", ordered=False, read_by=ruleset.schema)
    else:  # the changed accounts, and those of the leads scored
        needed = pa.chunked_array([accounts, *lead_records.column(ACCOUNT_KEY).drop_null().chunks],
                                  pa.string()).unique()
        account_records = store.records("account", needed, ordered=False, read_by=ruleset.schema,
                                        known=known.get("account"))
    # What the new scores are compared with does not depend on them: read while the kernels load.
    stored_rows = {kind: store.stored_scores(kind, ids) for kind, ids in (("account", accounts), ("lead", affected_leads))}
    on_stage(f"scoring {account_records.num_rows:,} accounts and {lead_records.num_rows:,} leads")
    kernels_loaded()
    result = compiled.score(account_records, lead_records, as_of=stamp.as_of)
    del account_records, lead_records
    on_stage("storing scores")
    store.write_scores(result, accounts, affected_leads, stamp, report, stored_rows=stored_rows)
    if on_rescored is not None:
        on_rescored(result, accounts)
    report.rescored_accounts += len(accounts)
    report.rescored_leads += len(affected_leads)


def rescore(store: Store, compiled, stamp: Stamp, on_stage=_quiet, scored=None, stored=None) -> IngestReport:
    """Re-score the whole workspace (a rule change, a new date), every score stamped with
    `stamp`. One transaction (or part of the caller's). `scored`, when given, is every stored
    record scored already by `compiled` at the stamp's date: (result, account ids, lead ids);
    `stored`, with it, a result over the same records whose scores are the stored ones (see
    `Store.write_scores`)."""
    report = IngestReport()
    with store.transaction():
        store.ensure_fields(compiled.model)
        if scored is None:
            on_stage("reading the stored records")
            with kernels_loading(compiled):  # joined at the block's end
                accounts, leads = (store.records(kind, ordered=False, read_by=compiled.model.schema)
                                   for kind in ("account", "lead"))
            on_stage(f"scoring {accounts.num_rows:,} accounts and {leads.num_rows:,} leads")
            scored = (compiled.score(accounts, leads, as_of=stamp.as_of), accounts.column(ACCOUNT_KEY),
                      leads.column(LEAD_KEY))
            del accounts, leads
        result, account_ids, lead_ids = scored
        on_stage("storing scores")
        store.write_scores(result, account_ids, lead_ids, stamp, report, every_record=True, stored=stored)
        report.rescored_accounts, report.rescored_leads = len(account_ids), len(lead_ids)
    return report


@attrs.define
class EventsReport:
    signals: int = 0  # rows added
    outcomes: int = 0
    skipped_signals: dict = attrs.Factory(dict)  # undeclared type: rows left out (skip_unknown_signals)

    def __str__(self) -> str:
        from .engagement import skipped_signals_warning

        text = f"{self.signals:,} signals and {self.outcomes:,} outcomes added (repeats ignored)"
        return text + (f"; {skipped_signals_warning(self.skipped_signals)}" if self.skipped_signals else "")


def ingest_events(store: Store, compiled, signals=None, outcomes=None, skip_unknown_signals: bool = False) -> EventsReport:
    """Append signals and outcomes; a row already there (same record, type, timestamp) is ignored.
    Engagement is computed when scoring, so no fit score is touched. Signals of undeclared types
    are refused, or with `skip_unknown_signals` left out and counted."""
    from .engagement import read_signals

    report = EventsReport()
    with store.transaction():
        if signals is not None:
            if compiled.model.engagement is None:
                raise DataError("the rules declare no engagement: add an `engagement { ... }` block to ingest signals")
            read = read_signals(signals, compiled.model.engagement, skip_unknown_signals)  # every row checked first
            table, report.skipped_signals = read.rows, read.skipped
            rows = {c: (table.column(c).cast(pa.string()) if c in table.column_names else pa.nulls(table.num_rows, pa.string()))
                    for c in ("lead_id", "account_id", "signal", "timestamp", "source")}
            report.signals = store.append("signals", pa.table(rows), list(rows))
        if outcomes is not None:
            table = read_table(outcomes)
            for column in ("lead_id", "outcome", "timestamp"):
                if column not in table.column_names:
                    raise DataError(f"{outcomes}: missing column `{column}`; outcomes have lead_id, outcome, timestamp")
            kinds = table.column("outcome").cast(pa.string())
            bad = pc.invert(pc.is_in(kinds, value_set=pa.array(OUTCOMES))).to_numpy(zero_copy_only=False)
            if bad.any():
                row = int(bad.argmax())
                raise DataError(f"{outcomes}: column `outcome`: {kinds[row].as_py()!r} is not one of "
                                f"{', '.join(OUTCOMES)}; row {row + 1}")
            rows = {c: table.column(c).cast(pa.string()) for c in ("lead_id", "outcome", "timestamp")}
            report.outcomes = store.append("outcomes", pa.table(rows), list(rows))
    return report
