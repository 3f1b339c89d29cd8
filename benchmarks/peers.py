"""The same scoring job written the way each peer's users would write it (benchmark code, not
product code): Polars expressions, DuckDB SQL, a plain Python loop over dict records, and the
true floor (every encoded input byte the kernel reads read once, the outputs written once).

Each peer is generated from the checked ruleset, so peer and product answer the same question,
and each is written the way a competent user who cares about speed would write it:

- string columns (category, text, ordinal) are Enum (Polars) / ENUM (DuckDB) columns; each
  string condition is decided once per distinct value with the project's own reference
  predicate (fair: that is what unstuck_dsl does too) into a lookup table, kept per
  (condition, dictionary) as unstuck_dsl's lookup tables are, and applied by physical code
  (Polars: `is_in` over the Enum's codes, a bitmap, 2-4x faster than a gather from the table by
  physical code, which is used when a value is unknown; DuckDB: the table as a 64-bit constant
  shifted by `enum_code(col)`, or a list indexed by it beyond 64 values, 2-4x faster than
  `enum_code(col) IN (codes)`);
- sets (tech_stack) are tested on codes: one UInt64 bitmask per record over the items the rules
  name, tests are `mask & bits`;
- only live rules are evaluated; only the leads whose account matched an ICP are joined; each
  Persona is evaluated only on its ICP's leads (Polars: one filtered frame per ICP; DuckDB: a
  CASE per ICP, which DuckDB evaluates only on the rows of that branch); no ORDER BY / sort.

Two footings, each compared with unstuck_dsl on the same footing:

- **kernel** (`prepare` untimed, then `run` timed) — unstuck_dsl: `score_dataset` on an already
  loaded Dataset (columns encoded, lead→account resolved to row numbers at load), no output
  table. Peers: the inputs are already encoded (Enum/ENUM columns, set bitmasks) and each lead
  already carries its account's row number (`_arow`, resolved in `prepare` as unstuck_dsl's load
  resolves it); timed: score the accounts, look each lead's ICP up by that row (Polars: a
  gather; DuckDB: an integer equi-join, matched accounts only), score Personas, and return the
  four arrays (icp, icp_score per account; persona, persona_score per lead), scattered into
  NumPy arrays by row number instead of sorted.
- **whole** (`run_table`, timed from in-memory Arrow tables) — unstuck_dsl: `score(accounts,
  leads)` (load and encode, resolve lead→account on the string ids, score) and build the lead
  table (`result.leads`: lead_id, account_id, icp_code, icp_score, icp_band, persona_code,
  persona_score, persona_band, code columns dictionary-encoded). Peers: from the same Arrow
  tables, encode (distinct values, Enum/ENUM casts, bitmasks), score, join the leads to the
  matched accounts on the string account_id, score Personas and build the same lead table
  (Polars: codes as Enum columns; DuckDB: as VARCHAR, its fastest), in any row order (compared
  by lead_id after sorting, untimed).

Every peer's answer is compared with unstuck_dsl's on every record before any timing
(`run.agree`, `run.agree_tables`).
"""

from __future__ import annotations

import datetime as dt
from functools import reduce

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from unstuck_dsl import ast, dates
from unstuck_dsl.model import NO_PERSONA_FIT, Ruleset
from unstuck_dsl.reference import Context, evaluate_predicate
from unstuck_dsl.schema import BAND_LEVELS, BANDS

KEY = 64  # assignment keys: score * KEY + (KEY - 1 - rule index), so ties go to the first
STRINGS = ("category", "text", "ordinal")
BAND_OF_SCORE = np.searchsorted([top for _, top in BANDS], np.arange(101)).astype(np.int64)  # score -> band index


def _scale(ruleset: Ruleset) -> int:
    rules = [*ruleset.icps, *(p for i in ruleset.icps for p in i.personas)]
    decimals = max((-p.weight.as_tuple().exponent for r in rules for p in r.params if p.weight is not None), default=0)
    return 10 ** max(decimals, 0)


def _window(c: ast.Within, as_of: dt.date) -> tuple[dt.date, dt.date]:
    return dates.window(as_of, c.amount, c.unit, c.future)


def _bound(c: ast.DateBound, as_of: dt.date) -> dt.date:
    if isinstance(c.bound, ast.RelativeDate):
        return dates.shift(as_of, -c.bound.amount, c.bound.unit)
    return c.bound.value


def persona_names(ruleset: Ruleset) -> list[str]:
    return sorted({p.code for i in ruleset.icps for p in i.personas}) + [NO_PERSONA_FIT]


def live(rules) -> list[tuple[int, object]]:
    """(index among all the rules, rule) of the live ones: keys keep the declared index."""
    return [(k, r) for k, r in enumerate(rules) if r.status == "live"]


def set_items(ruleset: Ruleset) -> dict[str, list[str]]:
    """Per set field: the items the live rules test, each one bit of the record's mask."""
    items: dict[str, list[str]] = {}
    rules = [r for _, i in live(ruleset.icps) for r in [i, *(p for _, p in live(i.personas))]]
    for rule in rules:
        for p in rule.params:
            for leaf in ast.predicates(p.condition):
                if isinstance(leaf, ast.Has):
                    bucket = items.setdefault(leaf.field.name, [])
                    bucket += [i.value for i in leaf.items if i.value not in bucket]
    if any(len(v) > 64 for v in items.values()):
        raise NotImplementedError("more than 64 set items in one field")
    return items


class Luts:
    """String conditions decided once per distinct value by the reference predicate, kept per
    (condition, dictionary): computed on first use, reused by later runs on the same values."""

    def __init__(self, ctx: Context):
        self.ctx, self.memo = ctx, {}

    def truths(self, c, values) -> list:
        key = (id(c), tuple(values))
        if key not in self.memo:
            name = c.field.name
            self.memo[key] = (c, [evaluate_predicate(c, {name: v}, self.ctx) for v in values])
        return self.memo[key][1]


# ---- Polars --------------------------------------------------------------------------------------


class PolarsPeer:
    """Polars: Enum columns, lookup tables gathered by physical code, set bitmasks, live rules
    only, matched leads only, each ICP's Personas on a frame of that ICP's leads."""

    name = "polars"

    def __init__(self, ruleset: Ruleset, as_of: dt.date):
        self.ruleset, self.as_of = ruleset, as_of
        self.luts = Luts(Context(ruleset.schema, as_of))
        self.scale = _scale(ruleset)
        self.set_items = set_items(ruleset)
        self.names = persona_names(ruleset)
        self.icp_codes = [i.code for i in ruleset.icps]

    # -- encoding (untimed for the kernel footing, timed in run_table)
    def encode(self, table, kind: str):
        """Enum string columns and set bitmasks; returns the frame and the Enum categories."""
        import polars as pl

        df = pl.from_arrow(table) if isinstance(table, pa.Table) else table
        fields = [f for f in self.ruleset.schema.of_kind(kind) if f.name in df.columns]
        strings = [f.name for f in fields if f.type.name in STRINGS]
        uniques = df.lazy().select([pl.col(c).unique().drop_nulls().implode() for c in strings]).collect() \
            if strings else None
        cats = {c: uniques[c][0].to_list() for c in strings}
        casts = [pl.col(c).cast(pl.Enum(cats[c])) for c in strings]
        masks = [pl.col(f).list.eval(pl.element().replace_strict({v: 1 << b for b, v in enumerate(items)}, default=0,
                                                                 return_dtype=pl.UInt64)).list.sum().alias(f)
                 for f, items in self.set_items.items() if f in df.columns]
        return df.with_columns(casts + masks), cats

    def prepare(self, accounts: pa.Table, leads: pa.Table):
        """The kernel footing's encoded inputs: Enum columns, bitmasks, each lead's account row."""
        self.accounts, self.account_cats = self.encode(accounts, "account")
        leads_df, self.lead_cats = self.encode(leads, "lead")
        rows = self.accounts.select("account_id").with_row_index("_arow")
        self.leads = leads_df.join(rows, on="account_id", how="left", maintain_order="left").with_row_index("_row")
        self.lead_count = len(self.leads)

    # -- conditions
    def condition(self, c, cats: dict):
        import polars as pl

        if isinstance(c, ast.Not):
            return ~self.condition(c.operand, cats)
        if isinstance(c, ast.And):
            return reduce(lambda a, b: a & b, (self.condition(o, cats) for o in c.operands))
        if isinstance(c, ast.Or):
            return reduce(lambda a, b: a | b, (self.condition(o, cats) for o in c.operands))
        name = c.field.name
        col = pl.col(name)
        kind = self.ruleset.schema.get(name).type
        if isinstance(c, ast.IsKnown):
            return col.is_not_null() if c.known else col.is_null()
        if kind.name in STRINGS:
            values = cats[name]
            truths = self.luts.truths(c, values)
            if not truths:
                return pl.lit(None, pl.Boolean)
            if None in truths:  # a value the predicate leaves unknown: gather from the table by code
                return pl.lit(pl.Series(truths, dtype=pl.Boolean)).gather(col.to_physical())
            # Membership of the Enum's codes in the true ones (a bitmap over the codes): the same
            # lookup table, and 2-4x faster in Polars than a gather by physical code.
            true = pl.Series([v for v, t in zip(values, truths) if t], dtype=pl.Enum(values))
            return col.is_in(true.implode())
        if kind.name == "bool":
            truths = self.luts.truths(c, [False, True])
            return pl.lit(pl.Series(truths, dtype=pl.Boolean)).gather(col.cast(pl.UInt8))
        if kind.name == "set":
            items = self.set_items[name]
            bits = reduce(lambda a, b: a | b, (1 << items.index(i.value) for i in c.items))
            mask = pl.lit(bits, pl.UInt64)
            hit = (col & mask) == mask if c.quantifier == "all" else (col & mask) != 0
            return pl.when(hit).then(pl.lit(True)).otherwise(pl.lit(None, pl.Boolean)) if kind.open else hit
        if isinstance(c, ast.Within):
            low, high = _window(c, self.as_of)
            return col.is_between(pl.lit(low), pl.lit(high))
        if isinstance(c, ast.DateBound):
            return col < pl.lit(_bound(c, self.as_of)) if c.side == "before" else col > pl.lit(_bound(c, self.as_of))

        def lit(v):
            if isinstance(v, ast.DateValue):
                return pl.lit(v.value)
            return pl.lit(float(v.value)) if kind.name == "number" else pl.lit(int(v.value) if v.value == int(v.value) else float(v.value))

        ops = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
               "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
        if isinstance(c, ast.Compare):
            return ops[c.op](col, lit(c.value))
        if isinstance(c, ast.Between):
            return (col >= lit(c.low)) & (col <= lit(c.high))
        if isinstance(c, ast.In):
            member = col.is_in([lit_value(v, kind) for v in c.items])
            return ~member if c.negated else member
        raise TypeError(c)

    def best(self, rules, cats: dict):
        """The assignment key of the best live rule: score * KEY + (KEY - 1 - index), or -1."""
        import polars as pl

        keys = []
        for k, rule in live(rules):
            qualifies, earned = [], []
            for p in rule.params:
                value = self.condition(p.condition, cats)
                if p.mode == "filter":
                    qualifies.append(value.fill_null(p.unknown == "passes"))
                elif p.mode == "exclude":
                    qualifies.append(~value.fill_null(p.unknown == "excludes"))
                else:
                    earned.append(pl.when(value).then(int(p.weight * self.scale)).otherwise(0))
            possible = int(rule.possible * self.scale)
            total = reduce(lambda a, b: a + b, earned) if earned else pl.lit(0)
            score = pl.lit(100) if possible == 0 else (200 * total + possible) // (2 * possible)
            key = score * KEY + (KEY - 1 - k)
            keys.append(pl.when(reduce(lambda a, b: a & b, qualifies)).then(key).otherwise(-1) if qualifies else key)
        return pl.max_horizontal(keys) if len(keys) > 1 else (keys[0] if keys else pl.lit(-1))

    def account_columns(self, cats: dict):
        import polars as pl

        key = self.best(self.ruleset.icps, cats)
        return [pl.when(key >= 0).then(KEY - 1 - key % KEY).otherwise(-1).alias("icp"),
                pl.when(key >= 0).then(key // KEY).otherwise(-1).alias("icp_score")]

    def persona_columns(self, icp, cats: dict):
        """(persona name index, persona score) of one ICP's leads: no_persona_fit, -1 when none fits."""
        import polars as pl

        if not live(icp.personas):
            return [pl.lit(self.names.index(NO_PERSONA_FIT), pl.Int64).alias("persona"),
                    pl.lit(-1, pl.Int64).alias("persona_score")]
        key = self.best(icp.personas, cats)
        name_of = pl.Series([self.names.index(p.code) for p in icp.personas] + [0] * (KEY - len(icp.personas)))
        return [pl.when(key >= 0).then(pl.lit(name_of).gather(KEY - 1 - key % KEY))
                .otherwise(self.names.index(NO_PERSONA_FIT)).cast(pl.Int64).alias("persona"),
                pl.when(key >= 0).then(key // KEY).otherwise(-1).cast(pl.Int64).alias("persona_score")]

    # -- the kernel footing
    def run(self):
        import polars as pl

        scored = self.accounts.lazy().select(self.account_columns(self.account_cats)).collect()
        icp = scored["icp"]
        keyed = self.leads.with_columns(pl.lit(icp).gather(pl.col("_arow")).alias("_icp"))
        groups = pl.collect_all([keyed.lazy().filter(pl.col("_icp") == k)
                                 .select("_row", *self.persona_columns(rule, self.lead_cats))
                                 for k, rule in live(self.ruleset.icps)])
        persona = np.full(self.lead_count, -1, np.int64)
        persona_score = np.full(self.lead_count, -1, np.int64)
        for group in groups:
            rows = group["_row"].to_numpy()
            persona[rows] = group["persona"].to_numpy()
            persona_score[rows] = group["persona_score"].to_numpy()
        return icp.to_numpy(), scored["icp_score"].to_numpy(), persona, persona_score

    # -- the whole footing: Arrow tables in, the lead table out
    def run_table(self, accounts, leads):
        """The lead table (unstuck score's output columns), from Arrow tables or Polars frames."""
        import polars as pl

        accounts, account_cats = self.encode(accounts, "account")
        matched = accounts.lazy().select("account_id", *self.account_columns(account_cats)).filter(pl.col("icp") >= 0)
        leads, lead_cats = self.encode(leads, "lead")
        joined = leads.lazy().join(matched, on="account_id", how="left").collect()
        keep = ["lead_id", "account_id", "icp", "icp_score"]
        parts = [joined.lazy().filter(pl.col("icp") == k).select(*keep, *self.persona_columns(rule, lead_cats))
                 for k, rule in live(self.ruleset.icps)]
        parts.append(joined.lazy().filter(pl.col("icp").is_null())
                     .select(*keep, pl.lit(None, pl.Int64).alias("persona"), pl.lit(None, pl.Int64).alias("persona_score")))
        icp_enum, name_enum, band_enum = pl.Enum(self.icp_codes), pl.Enum(self.names), pl.Enum(list(BAND_LEVELS))
        icp_codes = pl.lit(pl.Series(self.icp_codes, dtype=icp_enum))
        names = pl.lit(pl.Series(self.names, dtype=name_enum))
        bands = pl.lit(pl.Series([BAND_LEVELS[b] for b in BAND_OF_SCORE], dtype=band_enum))
        score = pl.col("persona_score")
        out = pl.concat(pl.collect_all(parts)).select(
            "lead_id", "account_id",
            icp_codes.gather(pl.col("icp")).alias("icp_code"),
            pl.col("icp_score").cast(pl.Int32),
            bands.gather(pl.col("icp_score")).alias("icp_band"),
            names.gather(pl.col("persona")).alias("persona_code"),
            pl.when(score >= 0).then(score).cast(pl.Int32).alias("persona_score"),
            bands.gather(pl.when(score >= 0).then(score)).alias("persona_band"))
        return out


def lit_value(v, kind):
    if isinstance(v, ast.DateValue):
        return v.value
    return float(v.value) if kind.name == "number" else (int(v.value) if v.value == int(v.value) else float(v.value))


# ---- DuckDB ---------------------------------------------------------------------------------------


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_values(values) -> str:
    return ", ".join(_sql_string(v) for v in values)


class DuckdbPeer:
    """DuckDB SQL: ENUM columns tested by `enum_code`, set bitmasks, live rules only, matched
    leads only, a CASE per ICP for its Personas, no ORDER BY."""

    name = "duckdb"
    enums = True  # string columns as ENUM (False: VARCHAR, tested with IN lists of the true values)

    def __init__(self, ruleset: Ruleset, as_of: dt.date):
        self.ruleset, self.as_of = ruleset, as_of
        self.luts = Luts(Context(ruleset.schema, as_of))
        self.scale = _scale(ruleset)
        self.set_items = set_items(ruleset)
        self.names = persona_names(ruleset)
        self.icp_codes = [i.code for i in ruleset.icps]

    def connect(self, connection=None):
        import duckdb

        self.db = connection or duckdb.connect()
        return self.db

    # -- encoding
    def enum_types(self, sources: dict[str, str]) -> dict[str, list]:
        """One ENUM type per string field, over the distinct values of its column in `sources`
        (kind -> relation); returns the values by field (code = index)."""
        cats = {}
        for kind, source in sources.items():
            fields = [f.name for f in self.ruleset.schema.of_kind(kind) if f.type.name in STRINGS]
            if not fields:
                continue
            row = self.db.execute("SELECT " + ", ".join(f'list(DISTINCT "{f}")' for f in fields)
                                  + f" FROM {source}").fetchone()
            for f, values in zip(fields, row):
                cats[f] = sorted(v for v in (values or []) if v is not None)
                self.db.execute(f"DROP TYPE IF EXISTS e_{f}")
                if cats[f] and self.enums:
                    self.db.execute(f"CREATE TYPE e_{f} AS ENUM ({_sql_values(cats[f])})")
        return cats

    def encoded(self, kind: str, source: str, cats: dict, extra: str = "") -> str:
        """SELECT of one record kind with ENUM casts and set bitmasks."""
        columns = []
        for f in self.ruleset.schema.of_kind(kind):
            name = f'"{f.name}"'
            if f.type.name in STRINGS and not self.enums:
                columns.append(name)
            elif f.type.name in STRINGS:
                columns.append(f"CAST({name} AS e_{f.name}) AS {name}" if cats.get(f.name)
                               else f"CAST(NULL AS INTEGER) AS {name}")
            elif f.name in self.set_items:
                cases = " ".join(f"WHEN {_sql_string(v)} THEN {1 << b}" for b, v in enumerate(self.set_items[f.name]))
                columns.append(f"CASE WHEN {name} IS NULL THEN NULL ELSE COALESCE(list_aggregate(list_transform({name}, "
                               f"lambda x: CAST(CASE x {cases} ELSE 0 END AS UBIGINT)), 'bit_or'), CAST(0 AS UBIGINT)) END AS {name}")
            else:
                columns.append(name)
        keys = ["account_id"] if kind == "account" else ["lead_id", "account_id"]
        return f"SELECT {', '.join(keys + columns)}{extra} FROM {source}"

    def prepare(self, accounts: pa.Table, leads: pa.Table, connection=None):
        """The kernel footing's encoded tables: ENUM columns, bitmasks, row numbers, each lead's
        account row (resolved here, as unstuck_dsl's load resolves it)."""
        self.connect(connection)
        arow = pc.index_in(leads.column("account_id"), value_set=accounts.column("account_id"))
        self.db.register("accounts_in", accounts.append_column("_row", pa.array(np.arange(accounts.num_rows))))
        self.db.register("leads_in", leads.append_column("_row", pa.array(np.arange(leads.num_rows)))
                         .append_column("_arow", arow.cast(pa.int64())))
        self.cats = self.enum_types({"account": "accounts_in", "lead": "leads_in"})
        self.db.execute("CREATE OR REPLACE TABLE accounts AS " + self.encoded("account", "accounts_in", self.cats, ", _row"))
        self.db.execute("CREATE OR REPLACE TABLE leads AS " + self.encoded("lead", "leads_in", self.cats, ", _row, _arow"))
        self.db.unregister("accounts_in")
        self.db.unregister("leads_in")
        self.counts = (accounts.num_rows, leads.num_rows)

    # -- conditions
    def condition(self, c, cats: dict) -> str:
        if isinstance(c, ast.Not):
            return f"(NOT {self.condition(c.operand, cats)})"
        if isinstance(c, (ast.And, ast.Or)):
            joiner = " AND " if isinstance(c, ast.And) else " OR "
            return "(" + joiner.join(self.condition(o, cats) for o in c.operands) + ")"
        name = c.field.name
        col = f'"{name}"'
        kind = self.ruleset.schema.get(name).type
        if isinstance(c, ast.IsKnown):
            return f"({col} IS {'NOT ' if c.known else ''}NULL)"
        if kind.name in STRINGS:
            truths = self.luts.truths(c, cats.get(name, []))
            if not truths:
                return "CAST(NULL AS BOOLEAN)"
            if not self.enums:  # VARCHAR: membership in the values the table says are true
                true = [v for v, t in zip(cats[name], truths) if t]
                test = f"({col} IN ({_sql_values(true)}))" if true else f"(CASE WHEN {col} IS NULL THEN NULL ELSE FALSE END)"
                unknown = [v for v, t in zip(cats[name], truths) if t is None]
                return f"(CASE WHEN {col} IN ({_sql_values(unknown)}) THEN NULL ELSE {test} END)" if unknown else test
            if len(truths) <= 64 and None not in truths:
                # The lookup table packed into one 64-bit constant, tested at the ENUM's code: in
                # DuckDB 3-4x faster than `enum_code(col) IN (codes)` (NULL stays NULL).
                mask = sum(1 << code for code, t in enumerate(truths) if t)
                return f"(((CAST({mask} AS UBIGINT) >> enum_code({col})) & CAST(1 AS UBIGINT)) = 1)"
            table = ", ".join(_sql_tri(t) for t in truths)  # a list indexed by code (1-based)
            return f"([{table}][enum_code({col}) + 1])"
        if kind.name == "bool":
            truths = self.luts.truths(c, [False, True])
            return f"(CASE WHEN {col} THEN {_sql_tri(truths[1])} WHEN NOT {col} THEN {_sql_tri(truths[0])} END)"
        if kind.name == "set":
            items = self.set_items[name]
            bits = reduce(lambda a, b: a | b, (1 << items.index(i.value) for i in c.items))
            hit = f"(({col} & {bits}) = {bits})" if c.quantifier == "all" else f"(({col} & {bits}) <> 0)"
            return f"(CASE WHEN {hit} THEN TRUE ELSE NULL END)" if kind.open else hit
        if isinstance(c, ast.Within):
            low, high = _window(c, self.as_of)
            return f"({col} BETWEEN DATE '{low.isoformat()}' AND DATE '{high.isoformat()}')"
        if isinstance(c, ast.DateBound):
            return f"({col} {'<' if c.side == 'before' else '>'} DATE '{_bound(c, self.as_of).isoformat()}')"

        def lit(v) -> str:
            if isinstance(v, ast.DateValue):
                return f"DATE '{v.value.isoformat()}'"
            if kind.name == "number":
                return f"CAST({float(v.value)!r} AS DOUBLE)"
            return str(int(v.value)) if v.value == int(v.value) else f"CAST({float(v.value)!r} AS DOUBLE)"

        op = {"==": "=", "!=": "<>"}
        if isinstance(c, ast.Compare):
            return f"({col} {op.get(c.op, c.op)} {lit(c.value)})"
        if isinstance(c, ast.Between):
            return f"({col} BETWEEN {lit(c.low)} AND {lit(c.high)})"
        if isinstance(c, ast.In):
            return f"({col} {'NOT ' if c.negated else ''}IN ({', '.join(lit(v) for v in c.items)}))"
        raise TypeError(c)

    def key(self, rules, cats: dict) -> str:
        """The assignment key of the best live rule: score * KEY + (KEY - 1 - index), or -1."""
        keys = []
        for k, rule in live(rules):
            qualifies, earned = [], []
            for p in rule.params:
                value = self.condition(p.condition, cats)
                if p.mode == "filter":
                    qualifies.append(f"COALESCE({value}, {'TRUE' if p.unknown == 'passes' else 'FALSE'})")
                elif p.mode == "exclude":
                    qualifies.append(f"NOT COALESCE({value}, {'TRUE' if p.unknown == 'excludes' else 'FALSE'})")
                else:
                    earned.append(f"(CASE WHEN {value} THEN {int(p.weight * self.scale)} ELSE 0 END)")
            possible = int(rule.possible * self.scale)
            score = "100" if possible == 0 else f"((200 * ({' + '.join(earned) or '0'}) + {possible}) // {2 * possible})"
            keys.append(f"(CASE WHEN {' AND '.join(qualifies) or 'TRUE'} THEN {score} * {KEY} + {KEY - 1 - k} ELSE -1 END)")
        return f"GREATEST({', '.join(keys)})" if len(keys) > 1 else (keys[0] if keys else "-1")

    def account_select(self, source: str, cats: dict, keep: str) -> str:
        """keep, icp, icp_score of every account (icp -1: none)."""
        return (f"SELECT {keep}, CASE WHEN k >= 0 THEN {KEY - 1} - k % {KEY} ELSE -1 END AS icp, "
                f"CASE WHEN k >= 0 THEN k // {KEY} ELSE -1 END AS icp_score "
                f"FROM (SELECT *, {self.key(self.ruleset.icps, cats)} AS k FROM {source})")

    def persona_key(self, cats: dict, icp: str = "icp") -> str:
        """Per lead of a matched account: its ICP's best Persona key (a CASE per ICP, so each
        ICP's Personas are evaluated on its leads only)."""
        cases = [f"WHEN {k} THEN {self.key(rule.personas, cats)}" for k, rule in live(self.ruleset.icps)
                 if live(rule.personas)]
        return f"CASE {icp} {' '.join(cases)} ELSE -1 END" if cases else "-1"

    def persona_name(self, pkey: str = "pkey", icp: str = "icp") -> str:
        cases = []
        for k, rule in live(self.ruleset.icps):
            mapping = " ".join(f"WHEN {j} THEN {self.names.index(p.code)}" for j, p in live(rule.personas))
            if mapping:
                cases.append(f"WHEN {k} THEN CASE {KEY - 1} - {pkey} % {KEY} {mapping} END")
        no_fit = self.names.index(NO_PERSONA_FIT)
        name = f"CASE {icp} {' '.join(cases)} END" if cases else str(no_fit)
        return f"CASE WHEN {pkey} < 0 THEN {no_fit} ELSE {name} END"

    # -- the kernel footing
    def run(self):
        self.db.execute("CREATE OR REPLACE TEMP TABLE scored AS "
                        + self.account_select("accounts", self.cats, "_row"))
        accounts = self.db.execute("SELECT _row, icp, icp_score FROM scored").fetchnumpy()
        leads = self.db.execute(
            f"SELECT _row, {self.persona_name()} AS persona, CASE WHEN pkey >= 0 THEN pkey // {KEY} ELSE -1 END "
            f"AS persona_score FROM (SELECT l._row, s.icp, {self.persona_key(self.cats, 's.icp')} AS pkey "
            "FROM leads l JOIN (SELECT _row, icp FROM scored WHERE icp >= 0) s ON l._arow = s._row)").fetchnumpy()
        n, m = self.counts
        icp, icp_score = np.empty(n, np.int64), np.empty(n, np.int64)
        rows = np.asarray(accounts["_row"])
        icp[rows], icp_score[rows] = accounts["icp"], accounts["icp_score"]
        persona, persona_score = np.full(m, -1, np.int64), np.full(m, -1, np.int64)
        rows = np.asarray(leads["_row"])
        persona[rows], persona_score[rows] = leads["persona"], leads["persona_score"]
        return icp, icp_score, persona, persona_score

    # -- the whole footing
    def table_query(self, accounts: str, leads: str, enum_codes: bool = False) -> str:
        """The lead table from two relations of raw records (ENUM types made by enum_types); the
        code columns as VARCHAR (casting them to ENUM on output cost DuckDB about 0.6 s at 1M
        accounts; Parquet dictionary-encodes them either way), or with `enum_codes` as ENUM."""
        cats = self.cats
        icp_cases = " ".join(f"WHEN {k} THEN {_sql_string(code)}" for k, code in enumerate(self.icp_codes))
        name_cases = " ".join(f"WHEN {j} THEN {_sql_string(name)}" for j, name in enumerate(self.names))

        def code(expression: str, values) -> str:
            return f"CAST({expression} AS ENUM({_sql_values(values)}))" if enum_codes else expression

        def band(score: str) -> str:
            return code("CASE " + " ".join(f"WHEN {score} <= {top} THEN '{name}'" for name, top in BANDS) + " END",
                        BAND_LEVELS)

        matched = f"SELECT * FROM ({self.account_select('a', cats, 'account_id')}) WHERE icp >= 0"
        keyed = (f"SELECT l.lead_id, l.account_id, s.icp, s.icp_score, {self.persona_key(cats, 's.icp')} AS pkey "
                 f"FROM l LEFT JOIN s USING (account_id)")
        return (f"WITH a AS ({self.encoded('account', accounts, cats)}), s AS ({matched}), "
                f"l AS ({self.encoded('lead', leads, cats)}), k AS ({keyed}) "
                f"SELECT lead_id, account_id, {code(f'CASE icp {icp_cases} END', self.icp_codes)} AS icp_code, "
                f"CAST(icp_score AS INTEGER) AS icp_score, {band('icp_score')} AS icp_band, "
                + code(f"CASE WHEN icp IS NULL THEN NULL ELSE CASE ({self.persona_name()}) {name_cases} END END",
                       self.names) + " AS persona_code, "
                f"CAST(CASE WHEN pkey >= 0 THEN pkey // {KEY} END AS INTEGER) AS persona_score, "
                f"{band(f'CASE WHEN pkey >= 0 THEN pkey // {KEY} END')} AS persona_band FROM k")

    def run_table(self, accounts: pa.Table, leads: pa.Table) -> pa.Table:
        """The lead table from Arrow tables (use an instance apart from the kernel footing's:
        the ENUM types are made again from the data on every run)."""
        if getattr(self, "db", None) is None:
            self.connect()
        self.db.register("accounts_raw", accounts)
        self.db.register("leads_raw", leads)
        self.cats = self.enum_types({"account": "accounts_raw", "lead": "leads_raw"})
        return self.db.sql(self.table_query("accounts_raw", "leads_raw")).to_arrow_table()


def _sql_tri(value) -> str:
    return "NULL" if value is None else ("TRUE" if value else "FALSE")
# ---- plain Python --------------------------------------------------------------------------------


class PythonPeer:
    """A plain Python loop over dict records, each condition a closure built once."""

    name = "python"

    def __init__(self, ruleset: Ruleset, as_of: dt.date):
        self.ruleset, self.as_of, self.ctx = ruleset, as_of, Context(ruleset.schema, as_of)
        self.scale = _scale(ruleset)

    def prepare(self, accounts: pa.Table, leads: pa.Table):
        self.accounts, self.leads = accounts.to_pylist(), leads.to_pylist()

    def condition(self, c):
        if isinstance(c, ast.Not):
            inner = self.condition(c.operand)
            return lambda r: None if (v := inner(r)) is None else not v
        if isinstance(c, (ast.And, ast.Or)):
            parts = [self.condition(o) for o in c.operands]
            stop = isinstance(c, ast.Or)  # or: stops at true; and: stops at false

            def combine(r):
                unknown = False
                for part in parts:
                    v = part(r)
                    if v is stop:
                        return stop
                    unknown = unknown or v is None
                return None if unknown else not stop
            return combine
        name = c.field.name
        kind = self.ruleset.schema.get(name).type
        if isinstance(c, ast.IsKnown):
            return lambda r: (r[name] is not None) == c.known
        if kind.name in ("category", "text", "ordinal", "bool"):
            memo, ctx = {}, self.ctx

            def lookup(r):
                v = r[name]
                if v is None:
                    return None
                if v not in memo:
                    memo[v] = evaluate_predicate(c, {name: v}, ctx)
                return memo[v]
            return lookup
        if kind.name == "set":
            items = [i.value for i in c.items]
            need_all, missing = c.quantifier == "all", None if kind.open else False

            def has(r):
                v = r[name]
                if v is None:
                    return None
                found = all(i in v for i in items) if need_all else any(i in v for i in items)
                return True if found else missing
            return has
        if isinstance(c, ast.Within):
            low, high = _window(c, self.as_of)
            return lambda r: None if (v := r[name]) is None else low <= v <= high
        if isinstance(c, ast.DateBound):
            bound = _bound(c, self.as_of)
            if c.side == "before":
                return lambda r: None if (v := r[name]) is None else v < bound
            return lambda r: None if (v := r[name]) is None else v > bound

        def const(v):
            return v.value if isinstance(v, ast.DateValue) else (float(v.value) if kind.name == "number" else v.value)

        nan_is_null = kind.name == "number"

        def known(r):
            v = r[name]
            return None if v is None or (nan_is_null and v != v) else v
        if isinstance(c, ast.Compare):
            k, op = const(c.value), c.op
            test = {"==": lambda v: v == k, "!=": lambda v: v != k, "<": lambda v: v < k, "<=": lambda v: v <= k,
                    ">": lambda v: v > k, ">=": lambda v: v >= k}[op]
            return lambda r: None if (v := known(r)) is None else test(v)
        if isinstance(c, ast.Between):
            lo, hi = const(c.low), const(c.high)
            return lambda r: None if (v := known(r)) is None else lo <= v <= hi
        if isinstance(c, ast.In):
            values = {const(v) for v in c.items}
            return lambda r: None if (v := known(r)) is None else ((v in values) != c.negated)
        raise TypeError(c)

    def _compile(self, rule):
        params = []
        for p in rule.params:
            weight = int(p.weight * self.scale) if p.weight is not None else 0
            params.append((p.mode, p.unknown, weight, self.condition(p.condition)))
        possible = int(rule.possible * self.scale)

        def score(r):
            qualifies, earned = True, 0
            for mode, unknown, weight, test in params:
                v = test(r)
                if mode == "filter":
                    if not (v is True or (v is None and unknown == "passes")):
                        qualifies = False
                elif mode == "exclude":
                    if v is True or (v is None and unknown == "excludes"):
                        qualifies = False
                elif v is True:
                    earned += weight
            return qualifies, 100 if possible == 0 else (200 * earned + possible) // (2 * possible)
        return score

    def run(self):
        icps = [(k, icp, self._compile(icp)) for k, icp in enumerate(self.ruleset.icps) if icp.status == "live"]
        names = persona_names(self.ruleset)
        personas = {k: [(names.index(p.code), self._compile(p)) for p in icp.personas if p.status == "live"]
                    for k, icp in enumerate(self.ruleset.icps)}
        icp_of, icp_score, row_of = [], [], {}
        for row, account in enumerate(self.accounts):
            best, best_score = -1, -1
            for k, _, score in icps:
                ok, s = score(account)
                if ok and s > best_score:
                    best, best_score = k, s
            icp_of.append(best)
            icp_score.append(best_score)
            row_of[account["account_id"]] = row
        persona_of, persona_score = [], []
        no_fit = names.index(NO_PERSONA_FIT)
        for lead in self.leads:
            row = row_of.get(lead["account_id"])
            icp = icp_of[row] if row is not None else -1
            if icp < 0:
                persona_of.append(-1)
                persona_score.append(-1)
                continue
            best, best_score = no_fit, -1
            for name, score in personas[icp]:
                ok, s = score(lead)
                if ok and s > best_score:
                    best, best_score = name, s
            persona_of.append(best)
            persona_score.append(best_score)
        return np.array(icp_of), np.array(icp_score), np.array(persona_of), np.array(persona_score)


# ---- the floor -----------------------------------------------------------------------------------


def _floor_source(name: str, arrays: list[tuple]) -> str:
    """A kernel over records start..stop that reads every element of every array once (row-wise,
    as the scoring kernel does: a CSR column's members through its offsets) and writes the two
    int32 outputs once."""
    params = [f"a{j}" for j in range(len(arrays))]
    lines = [f"def {name}(start, stop, {', '.join(params)}, out0, out1):", "    for i in range(start, stop):",
             "        acc = 0"]
    for j, (role, array) in enumerate(arrays):
        if role == "members":
            offsets = f"a{j - 1}"
            lines += [f"        for q in range({offsets}[i], {offsets}[i + 1]):", f"            acc ^= a{j}[q]"]
        elif array.ndim == 2:  # bitset words, unrolled (the width is known here)
            lines += [f"        acc ^= a{j}[i, {w}]" for w in range(array.shape[1])]
        else:
            lines.append(f"        acc ^= a{j}[i]")
    lines += ["        out0[i] = acc", "        out1[i] = acc >> 32"]
    return "\n".join(lines) + "\n"


def _as_ints(array: np.ndarray) -> np.ndarray:
    """The same bytes as integers (no copy), so the floor xors them."""
    return array.view({1: np.int8, 2: np.int16, 4: np.int32, 8: np.int64}[array.dtype.itemsize])


class FloorPeer:
    """The true floor: one pass per record kind, on unstuck_dsl's own thread pool (the same
    slices the kernel runs), over every encoded array the scoring kernel reads (values, valid
    flags, bitset words, CSR offsets; for leads also the resolved account rows), each byte read
    once, and the kernel's four int32 outputs allocated and written once. No dispatch per
    column, no extra copies: what any engine pays before it computes anything."""

    name = "floor"

    def __init__(self, compiled, dataset):
        from numba import njit

        self.compiled, self.dataset = compiled, dataset
        ds, program = dataset, compiled.program
        self.plans = []
        for kind, table, slots, extra in (("accounts", ds.accounts, program.account_columns, []),
                                          ("leads", ds.leads, program.lead_columns, [ds.lead_account_rows])):
            arrays = []
            for slot in slots:
                column = table.columns[slot.field]
                if column.offsets is not None:  # CSR: offsets, then the members read through them
                    arrays += [("row", column.valid), ("row", column.offsets), ("members", column.values)]
                else:
                    arrays += [("row", a) for a in (column.values, column.valid) if a is not None]
            arrays = [(role, _as_ints(np.ascontiguousarray(a))) for role, a in [*arrays, *(("row", e) for e in extra)]]
            namespace: dict = {}
            exec(compile(_floor_source(f"floor_{kind}", arrays), f"<floor {kind}>", "exec"), namespace)
            self.plans.append((njit(nogil=True)(namespace[f"floor_{kind}"]), table.n, [a for _, a in arrays]))
        self.bytes_read = sum(a.nbytes for _, _, arrays in self.plans for a in arrays)

    def run(self):
        from unstuck_dsl.execute import run_parallel

        outputs = []
        for kernel, n, arrays in self.plans:
            out0, out1 = np.empty(n, np.int32), np.empty(n, np.int32)
            run_parallel(kernel, n, *arrays, out0, out1)
            outputs += [out0, out1]
        return tuple(outputs)


PEERS = {"polars": PolarsPeer, "duckdb": DuckdbPeer, "python": PythonPeer}
