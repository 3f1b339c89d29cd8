"""The workspace store: records as ingested, their current scores, every ruleset version applied
and the history of score changes, in one embedded DuckDB file.

Ingesting upserts records by id (a file may carry only some columns) and re-scores exactly the
records whose inputs changed, through the compiled kernel; the result equals a full re-score
(SPEC §5 rule 8). Every ingest and rescore is one transaction.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import attrs
import pyarrow as pa
import pyarrow.compute as pc

from . import model
from .data import DataError, check_unique, read_table, typed_column
from .schema import ACCOUNT_KEY, LEAD_KEY

SCHEMA_VERSION = 1
DEFAULT_NAME = "unstuck.duckdb"
BUSY_WAIT_SECONDS = float(os.environ.get("UNSTUCK_BUSY_WAIT", "10"))  # how long to wait for another process

_SQL_TYPES = {"category": "VARCHAR", "text": "VARCHAR", "ordinal": "VARCHAR", "number": "DOUBLE", "int": "BIGINT",
              "bool": "BOOLEAN", "date": "DATE", "set": "VARCHAR[]"}
_SCORE_COLUMNS = {
    "account": ("icp_code", "icp_score", "icp_band"),
    "lead": ("account_id", "icp_code", "icp_score", "icp_band", "persona_code", "persona_score", "persona_band"),
}


class WorkspaceBusy(Exception):
    """Another process holds the workspace."""


def default_path(rules_path: str | Path) -> Path:
    """`unstuck.duckdb` beside the rules: next to the rule file, or next to the rules folder."""
    return Path(rules_path).resolve().parent / DEFAULT_NAME


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@attrs.define
class IngestReport:
    inserted: int = 0
    updated: int = 0
    rescored_accounts: int = 0
    rescored_leads: int = 0
    changed_icp: int = 0
    changed_persona: int = 0
    changed_band: int = 0
    moved_accounts: int = 0  # records whose code or score changed (a history row each)
    moved_leads: int = 0

    def __str__(self) -> str:
        return (f"{self.inserted} inserted, {self.updated} updated; re-scored {self.rescored_accounts} accounts and "
                f"{self.rescored_leads} leads; scores moved for {self.moved_accounts} accounts and "
                f"{self.moved_leads} leads; {self.changed_icp} accounts changed ICP, {self.changed_persona} leads "
                f"changed Persona, {self.changed_band} records changed band")


class Store:
    """One open workspace. Use as a context manager; writes happen inside `transaction()`."""

    def __init__(self, path: str | Path, read_only: bool = False, wait: float = BUSY_WAIT_SECONDS):
        import duckdb

        self.path = Path(path)
        if read_only and not self.path.exists():
            raise DataError(f"{self.path}: no such workspace database; create it with `unstuck ingest`")
        deadline = time.monotonic() + wait
        while True:
            try:
                self.db = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise DataError(f"{self.path}: cannot open the workspace ({str(exc).splitlines()[0]})") from None
                if time.monotonic() > deadline:
                    raise WorkspaceBusy(f"workspace busy: another unstuck process is using {self.path}; "
                                        "try again when it has finished") from None
                time.sleep(0.2)
        if not read_only:
            self._create()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.db.close()

    # ---- schema -------------------------------------------------------------------------------

    def _create(self) -> None:
        self.db.execute("BEGIN TRANSACTION")
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        row = next(iter(self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()), None)
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            self.db.execute("ROLLBACK")
            raise DataError(f"{self.path}: made by a newer unstuck (schema {row[0]}); upgrade unstuck_dsl")
        self.db.execute("CREATE TABLE IF NOT EXISTS accounts (account_id VARCHAR PRIMARY KEY)")
        self.db.execute("CREATE TABLE IF NOT EXISTS leads (lead_id VARCHAR PRIMARY KEY, account_id VARCHAR)")
        self.db.execute("CREATE TABLE IF NOT EXISTS account_scores (account_id VARCHAR PRIMARY KEY, icp_code VARCHAR, "
                        "icp_score INTEGER, icp_band VARCHAR, ruleset VARCHAR, as_of DATE)")
        self.db.execute("CREATE TABLE IF NOT EXISTS lead_scores (lead_id VARCHAR PRIMARY KEY, account_id VARCHAR, "
                        "icp_code VARCHAR, icp_score INTEGER, icp_band VARCHAR, persona_code VARCHAR, "
                        "persona_score INTEGER, persona_band VARCHAR, ruleset VARCHAR, as_of DATE)")
        self.db.execute("CREATE TABLE IF NOT EXISTS rulesets (hash VARCHAR PRIMARY KEY, applied_at TIMESTAMP, "
                        "rules VARCHAR)")
        self.db.execute("CREATE TABLE IF NOT EXISTS score_history (kind VARCHAR, record_id VARCHAR, "
                        "old_icp_code VARCHAR, new_icp_code VARCHAR, old_icp_score INTEGER, new_icp_score INTEGER, "
                        "old_persona_code VARCHAR, new_persona_code VARCHAR, old_persona_score INTEGER, "
                        "new_persona_score INTEGER, ruleset VARCHAR, changed_at TIMESTAMP)")
        self.db.execute("CREATE TABLE IF NOT EXISTS signals (lead_id VARCHAR, account_id VARCHAR, signal VARCHAR, "
                        "timestamp VARCHAR, source VARCHAR)")
        self.db.execute("CREATE TABLE IF NOT EXISTS outcomes (lead_id VARCHAR, outcome VARCHAR, timestamp VARCHAR)")
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
        self.db.execute("COMMIT")

    def _columns(self, table: str) -> dict[str, str]:
        return {r[0]: r[1] for r in self.db.execute(f"DESCRIBE {table}").fetchall()}

    def _ensure_columns(self, table: str, columns: dict[str, str]) -> None:
        existing = self._columns(table)
        for name, sql_type in columns.items():
            if name not in existing:
                self.db.execute(f"ALTER TABLE {table} ADD COLUMN {_quote(name)} {sql_type}")

    def ensure_fields(self, ruleset: model.Ruleset) -> None:
        """Declared fields become typed columns (a rule change may add some)."""
        for kind, table in (("account", "accounts"), ("lead", "leads")):
            self._ensure_columns(table, {f.name: _SQL_TYPES[f.type.name] for f in ruleset.schema.of_kind(kind)})

    # ---- reads --------------------------------------------------------------------------------

    def records(self, kind: str, ids: pa.Array | None = None) -> pa.Table:
        """Stored records of one kind (all, or those ids) as Arrow, straight from DuckDB."""
        table, key = ("accounts", ACCOUNT_KEY) if kind == "account" else ("leads", LEAD_KEY)
        if ids is None:
            return self.db.sql(f"SELECT * FROM {table} ORDER BY {key}").to_arrow_table()
        self.db.register("wanted_ids", pa.table({"id": ids}))
        try:
            return self.db.sql(f"SELECT t.* FROM {table} t JOIN wanted_ids w ON t.{key} = w.id ORDER BY t.{key}").to_arrow_table()
        finally:
            self.db.unregister("wanted_ids")

    def scores(self, kind: str) -> pa.Table:
        table, key = ("account_scores", ACCOUNT_KEY) if kind == "account" else ("lead_scores", LEAD_KEY)
        return self.db.sql(f"SELECT * FROM {table} ORDER BY {key}").to_arrow_table()

    def signals(self) -> pa.Table:
        return self.db.sql("SELECT lead_id, account_id, signal, timestamp FROM signals").to_arrow_table()

    def outcomes(self) -> pa.Table:
        return self.db.sql("SELECT lead_id, outcome, timestamp FROM outcomes").to_arrow_table()

    def append(self, table: str, rows: pa.Table, columns: list[str]) -> int:
        """Append rows that are not there yet (the same values in every column count once)."""
        self.db.register("incoming_rows", rows)
        try:
            listed = ", ".join(columns)
            (added,) = self.db.execute(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM incoming_rows "
                                       f"EXCEPT SELECT {listed} FROM {table}").fetchall()[0]
        finally:
            self.db.unregister("incoming_rows")
        return added

    def latest_rules(self) -> str | None:
        row = next(iter(self.db.execute("SELECT rules FROM rulesets ORDER BY applied_at DESC LIMIT 1").fetchall()), None)
        return row[0] if row else None

    # ---- writes -------------------------------------------------------------------------------

    def transaction(self):
        store = self

        class _Transaction:
            def __enter__(self):
                store.db.execute("BEGIN TRANSACTION")

            def __exit__(self, kind, value, traceback):
                store.db.execute("ROLLBACK" if kind else "COMMIT")

        return _Transaction()

    def record_ruleset(self, ruleset: model.Ruleset) -> str:
        digest = ruleset.content_hash
        self.db.execute("INSERT OR REPLACE INTO rulesets VALUES (?, ?, ?)",
                        [digest, dt.datetime.now(), ruleset.source_text])
        return digest

    def upsert(self, kind: str, incoming: pa.Table) -> tuple[pa.Array, int, int]:
        """Insert new records and update only the columns a file carries. Returns the ids whose
        stored values changed (new ones included), and the counts inserted and updated."""
        table, key = ("accounts", ACCOUNT_KEY) if kind == "account" else ("leads", LEAD_KEY)
        arrow_types = {name: incoming.schema.field(name).type for name in incoming.column_names}
        self.db.register("incoming", incoming)
        try:
            described = {r[0]: r[1] for r in self.db.execute("DESCRIBE incoming").fetchall()}
            self._ensure_columns(table, {c: described[c] for c in arrow_types if c != key})
            columns = [c for c in incoming.column_names if c != key]
            differs = " OR ".join(f"i.{_quote(c)} IS DISTINCT FROM t.{_quote(c)}" for c in columns) or "FALSE"
            changed = self.db.sql(
                f"SELECT i.{key}, t.{key} IS NULL AS new FROM incoming i LEFT JOIN {table} t ON i.{key} = t.{key} "
                f"WHERE t.{key} IS NULL OR {differs}").to_arrow_table()
            inserted = int(pc.sum(changed.column("new").cast(pa.int64())).as_py() or 0)
            listed = ", ".join(_quote(c) for c in [key, *columns])
            self.db.execute(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM incoming "
                            f"WHERE {key} NOT IN (SELECT {key} FROM {table})")
            if columns:
                assignments = ", ".join(f"{_quote(c)} = i.{_quote(c)}" for c in columns)
                self.db.execute(f"UPDATE {table} SET {assignments} FROM incoming i WHERE {table}.{key} = i.{key}")
        finally:
            self.db.unregister("incoming")
        return changed.column(0).combine_chunks(), inserted, changed.num_rows - inserted

    def write_scores(self, result, accounts: pa.Array, leads: pa.Array, ruleset_hash: str,
                     as_of: dt.date, report: IngestReport) -> None:
        """Store the new scores of these records and a history row for every score that moved."""
        now = dt.datetime.now()
        for kind, ids, table in (("account", accounts, result.accounts),
                                 ("lead", leads, result.leads)):
            if table is None or len(ids) == 0:
                continue
            key = ACCOUNT_KEY if kind == "account" else LEAD_KEY
            keep = pc.is_in(table.column(key), value_set=ids)
            new = table.filter(keep).select([key, *_SCORE_COLUMNS[kind]])
            new = pa.table({name: (new.column(name).cast(pa.string()) if pa.types.is_dictionary(new.column(name).type)
                                   else new.column(name)) for name in new.column_names})
            scores = "account_scores" if kind == "account" else "lead_scores"
            persona = ("n.persona_code", "n.persona_score", "o.persona_code", "o.persona_score") if kind == "lead" \
                else ("NULL", "NULL", "NULL", "NULL")
            band = "persona_band" if kind == "lead" else "icp_band"
            self.db.register("new_scores", new)
            try:
                code_moved, band_moved = self.db.execute(
                    f"SELECT count(*) FILTER (WHERE o.{'persona_code' if kind == 'lead' else 'icp_code'} IS DISTINCT FROM "
                    f"n.{'persona_code' if kind == 'lead' else 'icp_code'}), "
                    f"count(*) FILTER (WHERE o.{band} IS DISTINCT FROM n.{band}) "
                    f"FROM new_scores n LEFT JOIN {scores} o USING ({key})").fetchall()[0]
                if kind == "account":
                    report.changed_icp += code_moved
                else:
                    report.changed_persona += code_moved
                report.changed_band += band_moved
                (moved,) = self.db.execute(
                    f"INSERT INTO score_history SELECT ?, n.{key}, o.icp_code, n.icp_code, o.icp_score, n.icp_score, "
                    f"{persona[2]}, {persona[0]}, {persona[3]}, {persona[1]}, ?, ? "
                    f"FROM new_scores n LEFT JOIN {scores} o USING ({key}) "
                    f"WHERE o.icp_code IS DISTINCT FROM n.icp_code OR o.icp_score IS DISTINCT FROM n.icp_score "
                    f"OR {persona[2]} IS DISTINCT FROM {persona[0]} OR {persona[3]} IS DISTINCT FROM {persona[1]}",
                    [kind, ruleset_hash, now]).fetchall()[0]
                if kind == "account":
                    report.moved_accounts += moved
                else:
                    report.moved_leads += moved
                columns = ", ".join([key, *_SCORE_COLUMNS[kind]])
                self.db.execute(f"INSERT OR REPLACE INTO {scores} SELECT {columns}, ?, ? FROM new_scores",
                                [ruleset_hash, as_of])
            finally:
                self.db.unregister("new_scores")


# ---- reading input for the store -------------------------------------------------------------


def typed_input(source, ruleset: model.Ruleset, kind: str) -> pa.Table:
    """An input file for one record kind, checked: ids present and unique, declared fields
    converted to their types (other columns kept as they are). Nothing is applied on error."""
    key = ACCOUNT_KEY if kind == "account" else LEAD_KEY
    table = read_table(source)
    name = str(source)
    if key not in table.column_names:
        raise DataError(f"{name}: missing column `{key}`; every {kind} record needs an id")
    if kind == "lead" and ACCOUNT_KEY not in table.column_names:
        raise DataError(f"{name}: missing column `{ACCOUNT_KEY}`; every lead belongs to an account")
    ids = table.column(key).cast(pa.string())
    nulls = ids.is_null().to_numpy(zero_copy_only=False)
    if nulls.any():
        raise DataError(f"{name}: column `{key}` is empty in row {int(nulls.argmax()) + 1}")
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


def _ids(rows) -> pa.Array:
    return pa.array([r[0] for r in rows], pa.string())


def ingest(store: Store, compiled, accounts=None, leads=None, as_of: dt.date | None = None) -> IngestReport:
    """Upsert the given records and re-score exactly those whose inputs changed: changed
    accounts, their leads, and changed leads. One transaction."""
    as_of = as_of or dt.date.today()
    ruleset = compiled.model
    typed = {kind: typed_input(source, ruleset, kind) for kind, source in (("account", accounts), ("lead", leads))
             if source is not None}  # every file is checked before anything is applied
    report = IngestReport()
    with store.transaction():
        store.ensure_fields(ruleset)
        digest = store.record_ruleset(ruleset)
        changed = {"account": pa.array([], pa.string()), "lead": pa.array([], pa.string())}
        for kind, table in typed.items():
            changed[kind], inserted, updated = store.upsert(kind, table)
            report.inserted += inserted
            report.updated += updated
        store.db.register("changed_accounts", pa.table({"id": changed["account"]}))
        store.db.register("changed_leads", pa.table({"id": changed["lead"]}))
        try:
            affected_leads = _ids(store.db.execute(
                "SELECT lead_id FROM leads WHERE lead_id IN (SELECT id FROM changed_leads) "
                "OR account_id IN (SELECT id FROM changed_accounts)").fetchall())
            needed_accounts = _ids(store.db.execute(
                "SELECT id FROM changed_accounts UNION SELECT account_id FROM leads WHERE lead_id IN "
                "(SELECT id FROM changed_leads) OR account_id IN (SELECT id FROM changed_accounts)").fetchall())
        finally:
            store.db.unregister("changed_accounts")
            store.db.unregister("changed_leads")
        result = compiled.score(store.records("account", needed_accounts), store.records("lead", affected_leads),
                                as_of=as_of)
        store.write_scores(result, changed["account"], affected_leads, digest, as_of, report)
        report.rescored_accounts, report.rescored_leads = len(changed["account"]), len(affected_leads)
    return report


def rescore(store: Store, compiled, as_of: dt.date | None = None) -> IngestReport:
    """Re-score the whole workspace (after a rule change) and record the ruleset version."""
    as_of = as_of or dt.date.today()
    report = IngestReport()
    with store.transaction():
        store.ensure_fields(compiled.model)
        digest = store.record_ruleset(compiled.model)
        accounts, leads = store.records("account"), store.records("lead")
        result = compiled.score(accounts, leads, as_of=as_of)
        store.write_scores(result, accounts.column(ACCOUNT_KEY).combine_chunks(),
                           leads.column(LEAD_KEY).combine_chunks(), digest, as_of, report)
        report.rescored_accounts, report.rescored_leads = accounts.num_rows, leads.num_rows
    return report


OUTCOMES = ("replied", "meeting", "signup")


def ingest_events(store: Store, compiled, signals=None, outcomes=None) -> tuple[int, int]:
    """Append signals and outcomes; a row already there (same record, type, timestamp) is ignored.
    Engagement is computed when scoring, so no fit score is touched."""
    from .engagement import read_signals

    added = [0, 0]
    with store.transaction():
        if signals is not None:
            if compiled.model.engagement is None:
                raise DataError("the rules declare no engagement: add an `engagement { ... }` block to ingest signals")
            read_signals(signals, compiled.model.engagement)  # checks every row before anything is applied
            table = read_table(signals)
            rows = {c: (table.column(c).cast(pa.string()) if c in table.column_names else pa.nulls(table.num_rows, pa.string()))
                    for c in ("lead_id", "account_id", "signal", "timestamp", "source")}
            added[0] = store.append("signals", pa.table(rows), list(rows))
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
            added[1] = store.append("outcomes", pa.table(rows), list(rows))
    return added[0], added[1]
