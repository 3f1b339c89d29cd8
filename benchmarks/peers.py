"""The same scoring job written the way each peer's users would write it (benchmark code, not
product code): idiomatic Polars expressions, DuckDB SQL, a plain Python loop over dict records,
and the bare floor (read the encoded inputs once, write the outputs, compute nothing).

Each peer is generated from the checked ruleset, so peer and product answer the same question;
conditions on strings use the product's text functions on each distinct value (what a Polars or
DuckDB user does with a Python UDF over the categories). Every peer returns the same four
arrays: per account (icp index, icp score) and per lead (persona name index, persona score),
with -1 for none; they are compared with unstuck_dsl's on every record before any timing.
"""

from __future__ import annotations

import datetime as dt
from functools import reduce

import numpy as np
import pyarrow as pa

from unstuck_dsl import ast, dates
from unstuck_dsl.model import NO_PERSONA_FIT, Ruleset
from unstuck_dsl.reference import Context, evaluate_predicate

KEY = 64  # assignment keys: score * KEY + (KEY - 1 - rule index), so ties go to the first


def _scale(ruleset: Ruleset) -> int:
    rules = [*ruleset.icps, *(p for i in ruleset.icps for p in i.personas)]
    decimals = max((-p.weight.as_tuple().exponent for r in rules for p in r.params if p.weight is not None), default=0)
    return 10 ** max(decimals, 0)


def _string_truths(c, field: str, values: list, ctx: Context) -> list:
    """The values of a string column (category, text, ordinal) for which the predicate holds."""
    return [v for v in values if evaluate_predicate(c, {field: v}, ctx)]


def _window(c: ast.Within, as_of: dt.date) -> tuple[dt.date, dt.date]:
    return dates.window(as_of, c.amount, c.unit, c.future)


def _bound(c: ast.DateBound, as_of: dt.date) -> dt.date:
    if isinstance(c.bound, ast.RelativeDate):
        return dates.shift(as_of, -c.bound.amount, c.bound.unit)
    return c.bound.value


def persona_names(ruleset: Ruleset) -> list[str]:
    return sorted({p.code for i in ruleset.icps for p in i.personas}) + [NO_PERSONA_FIT]


# ---- Polars --------------------------------------------------------------------------------------


class PolarsPeer:
    """Lazy Polars: categorical string columns, one expression per condition, one pass."""

    name = "polars"

    def __init__(self, ruleset: Ruleset, as_of: dt.date):
        self.ruleset, self.as_of, self.ctx = ruleset, as_of, Context(ruleset.schema, as_of)
        self.scale = _scale(ruleset)

    def prepare(self, accounts: pa.Table, leads: pa.Table):
        import polars as pl

        def frame(table: pa.Table):
            df = pl.from_arrow(table)
            strings = [f.name for f in self.ruleset.schema.fields if f.type.name in ("category", "text", "ordinal")
                       and f.name in df.columns]
            return df.with_columns([pl.col(c).cast(pl.Categorical) for c in strings])

        self.accounts, self.leads = frame(accounts), frame(leads)
        self.categories = {c: self.accounts[c].unique().drop_nulls().to_list() for c in self.accounts.columns
                           if self.accounts.schema[c] == pl.Categorical}
        self.categories.update({c: self.leads[c].unique().drop_nulls().to_list() for c in self.leads.columns
                                if self.leads.schema[c] == pl.Categorical})

    def condition(self, c):
        import polars as pl

        if isinstance(c, ast.Not):
            return ~self.condition(c.operand)
        if isinstance(c, ast.And):
            return reduce(lambda a, b: a & b, (self.condition(o) for o in c.operands))
        if isinstance(c, ast.Or):
            return reduce(lambda a, b: a | b, (self.condition(o) for o in c.operands))
        name = c.field.name
        col = pl.col(name)
        kind = self.ruleset.schema.get(name).type
        if isinstance(c, ast.IsKnown):
            return col.is_not_null() if c.known else col.is_null()
        if kind.name in ("category", "text", "ordinal"):
            truths = _string_truths(c, name, self.categories.get(name, []), self.ctx)
            return pl.when(col.is_null()).then(None).otherwise(col.cast(pl.String).is_in(truths))
        if kind.name == "bool":
            truths = _string_truths(c, name, [False, True], self.ctx)
            return pl.when(col.is_null()).then(None).otherwise(col.is_in(truths))
        if kind.name == "set":
            found = [col.list.contains(pl.lit(item.value)) for item in c.items]
            hit = reduce(lambda a, b: a & b, found) if c.quantifier == "all" else reduce(lambda a, b: a | b, found)
            missing = None if kind.open else False
            return pl.when(col.is_null()).then(None).when(hit).then(True).otherwise(pl.lit(missing, pl.Boolean))
        if isinstance(c, ast.Within):
            low, high = _window(c, self.as_of)
            return col.is_between(pl.lit(low), pl.lit(high))
        if isinstance(c, ast.DateBound):
            return col < pl.lit(_bound(c, self.as_of)) if c.side == "before" else col > pl.lit(_bound(c, self.as_of))
        return self._compare_family(c, col, kind)

    def _compare_family(self, c, col, kind):
        import polars as pl

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
            member = reduce(lambda a, b: a | b, (col == lit(v) for v in c.items))
            return ~member if c.negated else member
        raise TypeError(c)

    def _rules(self, rules, indices):
        """Per rule: (qualifies, score) expressions."""
        import polars as pl

        out = []
        for rule in rules:
            qualifies, earned = pl.lit(True), pl.lit(0)
            for p in rule.params:
                value = self.condition(p.condition)
                if p.mode == "filter":
                    qualifies = qualifies & value.fill_null(p.unknown == "passes")
                elif p.mode == "exclude":
                    qualifies = qualifies & ~value.fill_null(p.unknown == "excludes")
                else:
                    earned = earned + pl.when(value).then(int(p.weight * self.scale)).otherwise(0)
            possible = int(rule.possible * self.scale)
            score = pl.lit(100) if possible == 0 else (200 * earned + possible) // (2 * possible)
            out.append((qualifies, score))
        return out

    def _best(self, rules, results):
        import polars as pl

        keys = [pl.when(q & pl.lit(rule.status == "live")).then(s * KEY + (KEY - 1 - k)).otherwise(-1)
                for k, (rule, (q, s)) in enumerate(zip(rules, results))]
        return pl.max_horizontal(keys) if keys else pl.lit(-1)

    def run(self):
        import polars as pl

        icps = self.ruleset.icps
        account_key = self._best(icps, self._rules(icps, range(len(icps))))
        scored = (self.accounts.lazy()
                  .with_columns(account_key.alias("_key"))
                  .select("account_id", pl.when(pl.col("_key") >= 0).then(KEY - 1 - pl.col("_key") % KEY)
                          .otherwise(-1).alias("icp"),
                          pl.when(pl.col("_key") >= 0).then(pl.col("_key") // KEY).otherwise(-1).alias("icp_score"))
                  .collect())
        names = persona_names(self.ruleset)
        persona_key, persona_name = pl.lit(-1), pl.lit(-1)
        for k, icp in enumerate(icps):
            if not icp.personas:
                continue
            best = self._best(icp.personas, self._rules(icp.personas, range(len(icp.personas))))
            persona_key = pl.when(pl.col("icp") == k).then(best).otherwise(persona_key)
            index = KEY - 1 - best % KEY
            name = pl.lit(-1)
            for j, persona in enumerate(icp.personas):
                name = pl.when(index == j).then(names.index(persona.code)).otherwise(name)
            persona_name = pl.when(pl.col("icp") == k).then(name).otherwise(persona_name)
        no_fit = names.index(NO_PERSONA_FIT)
        leads = (self.leads.lazy()
                 .join(scored.lazy().select("account_id", "icp"), on="account_id", how="left", maintain_order="left")
                 .with_columns(pl.col("icp").fill_null(-1))
                 .with_columns(persona_key.alias("_pkey"), persona_name.alias("_pname"))
                 .select(pl.when(pl.col("icp") < 0).then(-1).when(pl.col("_pkey") < 0).then(no_fit)
                         .otherwise(pl.col("_pname")).alias("persona"),
                         pl.when(pl.col("_pkey") >= 0).then(pl.col("_pkey") // KEY).otherwise(-1).alias("persona_score"))
                 .collect())
        return (scored["icp"].to_numpy(), scored["icp_score"].to_numpy(), leads["persona"].to_numpy(),
                leads["persona_score"].to_numpy())


# ---- DuckDB ---------------------------------------------------------------------------------------


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class DuckdbPeer:
    """DuckDB SQL: one query for accounts, one join + query for leads."""

    name = "duckdb"

    def __init__(self, ruleset: Ruleset, as_of: dt.date):
        self.ruleset, self.as_of, self.ctx = ruleset, as_of, Context(ruleset.schema, as_of)
        self.scale = _scale(ruleset)

    def prepare(self, accounts: pa.Table, leads: pa.Table, connection=None):
        import duckdb

        self.db = connection or duckdb.connect()
        with_rows = lambda t: t.append_column("_row", pa.array(np.arange(t.num_rows)))  # noqa: E731
        self.db.register("accounts_in", with_rows(accounts))
        self.db.register("leads_in", with_rows(leads))
        self.db.execute("CREATE OR REPLACE TABLE accounts AS SELECT * FROM accounts_in")
        self.db.execute("CREATE OR REPLACE TABLE leads AS SELECT * FROM leads_in")
        self.categories = {}
        for f in self.ruleset.schema.fields:
            if f.type.name in ("category", "text", "ordinal"):
                table = "accounts" if f.kind == "account" else "leads"
                rows = self.db.execute(f'SELECT DISTINCT "{f.name}" FROM {table} WHERE "{f.name}" IS NOT NULL').fetchall()
                self.categories[f.name] = [r[0] for r in rows]

    def condition(self, c) -> str:
        if isinstance(c, ast.Not):
            return f"(NOT {self.condition(c.operand)})"
        if isinstance(c, (ast.And, ast.Or)):
            joiner = " AND " if isinstance(c, ast.And) else " OR "
            return "(" + joiner.join(self.condition(o) for o in c.operands) + ")"
        name = c.field.name
        col = f'"{name}"'
        kind = self.ruleset.schema.get(name).type
        if isinstance(c, ast.IsKnown):
            return f"({col} IS {'NOT ' if c.known else ''}NULL)"
        if kind.name in ("category", "text", "ordinal", "bool"):
            values = self.categories.get(name, []) if kind.name != "bool" else [False, True]
            truths = _string_truths(c, name, values, self.ctx)
            if not truths:
                return f"(CASE WHEN {col} IS NULL THEN NULL ELSE FALSE END)"
            items = ", ".join(("TRUE" if v else "FALSE") if isinstance(v, bool) else _sql_string(v) for v in truths)
            return f"({col} IN ({items}))"
        if kind.name == "set":
            found = [f"list_contains({col}, {_sql_string(i.value)})" for i in c.items]
            hit = (" AND " if c.quantifier == "all" else " OR ").join(found)
            missing = "NULL" if kind.open else "FALSE"
            return f"(CASE WHEN {col} IS NULL THEN NULL WHEN {hit} THEN TRUE ELSE {missing} END)"
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

    def _key(self, rules) -> str:
        keys = []
        for k, rule in enumerate(rules):
            if rule.status != "live":
                continue
            qualifies, earned = [], []
            for p in rule.params:
                value = self.condition(p.condition)
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

    def account_query(self, source: str) -> str:
        key = self._key(self.ruleset.icps)
        return (f"SELECT account_id, _row, CASE WHEN k >= 0 THEN {KEY - 1} - k % {KEY} ELSE -1 END AS icp, "
                f"CASE WHEN k >= 0 THEN k // {KEY} ELSE -1 END AS icp_score FROM (SELECT *, {key} AS k FROM {source})")

    def lead_query(self, source: str, scored: str) -> str:
        names = persona_names(self.ruleset)
        key_cases, name_cases = [], []
        for k, icp in enumerate(self.ruleset.icps):
            if not icp.personas:
                continue
            key_cases.append(f"WHEN {k} THEN {self._key(icp.personas)}")
            mapping = " ".join(f"WHEN {j} THEN {names.index(p.code)}" for j, p in enumerate(icp.personas))
            name_cases.append(f"WHEN {k} THEN CASE {KEY - 1} - pkey % {KEY} {mapping} END")
        pkey = f"CASE s.icp {' '.join(key_cases)} ELSE -1 END" if key_cases else "-1"
        pname = f"CASE icp {' '.join(name_cases)} ELSE -1 END" if name_cases else "-1"
        no_fit = names.index(NO_PERSONA_FIT)
        keyed = (f"SELECT l._row, COALESCE(s.icp, -1) AS icp, {pkey} AS pkey "
                 f"FROM {source} l LEFT JOIN {scored} s USING (account_id)")
        return (f"SELECT _row, CASE WHEN icp < 0 THEN -1 WHEN pkey < 0 THEN {no_fit} ELSE {pname} END AS persona, "
                f"CASE WHEN pkey >= 0 THEN pkey // {KEY} ELSE -1 END AS persona_score FROM ({keyed}) ORDER BY _row")

    def run(self):
        self.db.execute(f"CREATE OR REPLACE TEMP TABLE scored AS {self.account_query('accounts')}")
        accounts = self.db.execute("SELECT icp, icp_score FROM scored ORDER BY _row").fetchnumpy()
        leads = self.db.execute(self.lead_query("leads", "scored")).fetchnumpy()
        return (np.asarray(accounts["icp"]), np.asarray(accounts["icp_score"]), np.asarray(leads["persona"]),
                np.asarray(leads["persona_score"]))


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


def floor_kernels():
    """Touch every encoded value once and write the four outputs: nothing computed."""
    from numba import njit

    @njit(nogil=True, cache=True)
    def touch(start, stop, column, out):
        for i in range(start, stop):
            out[i] += column[i]

    @njit(nogil=True, cache=True)
    def touch_rows(start, stop, column, out):
        for i in range(start, stop):
            for j in range(column.shape[1]):
                out[i] += column[i, j]

    return touch, touch_rows


class FloorPeer:
    """Reads the encoded input columns the rules read, once, and writes outputs of the right
    shape: the time any engine needs before it computes anything."""

    name = "floor"

    def __init__(self, compiled, dataset):
        self.compiled, self.dataset = compiled, dataset
        self.touch, self.touch_rows = floor_kernels()

    def _arrays(self, table, slots):
        for slot in slots:
            column = table.columns[slot.field]
            yield from (a for a in (column.values, column.valid, column.offsets) if a is not None)

    def run(self):
        from unstuck_dsl.api import run_parallel

        ds = self.dataset
        outputs = []
        for table, slots, extra in ((ds.accounts, self.compiled.program.account_columns, []),
                                    (ds.leads, self.compiled.program.lead_columns, [ds.lead_account_rows])):
            out = np.zeros(table.n, np.int64)
            for array in [*self._arrays(table, slots), *extra]:
                if array.ndim == 2:
                    run_parallel(self.touch_rows, table.n, array, out)
                elif len(array) == table.n:
                    run_parallel(self.touch, table.n, array, out)
            outputs += [out, out.copy()]
        return tuple(outputs)


PEERS = {"polars": PolarsPeer, "duckdb": DuckdbPeer, "python": PythonPeer}
