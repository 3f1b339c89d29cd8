"""The Python API: compile rules once, score tables, explain any record.

    import unstuck_dsl
    rules = unstuck_dsl.compile("rules/")
    result = rules.score("accounts.csv", "leads.csv", as_of="2026-11-26")
    result.leads                       # an Arrow table; result.to_pandas(), result.to_polars()
    print(result.explain(account_id="a1"))
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import attrs
import numpy as np
import pyarrow as pa
from numba.core.errors import NumbaError

from . import codegen, dates, explain, kernel, model
from .data import Column, Dataset, EncodedTable, load_dataset, unknown_column
from .diagnostics import did_you_mean
from .lower import Bound, bind_constants, bind_program, lower_audience, lower_ruleset
from .pipeline import load_ruleset
from .reference import band, signal_value, tally
from .schema import BAND_LEVELS, SCORE_FIELDS, audience_schema


class ScoringError(ValueError):
    """A scoring request that cannot be met (an unknown preview code, id or date)."""


def parse_as_of(as_of) -> dt.date:
    if as_of is None:
        return dt.date.today()
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    try:
        return dt.date.fromisoformat(str(as_of))
    except ValueError:
        raise ScoringError(f"as-of date {as_of!r} is not a date; write YYYY-MM-DD") from None


def compile(path_or_text: str | Path) -> "Ruleset":  # noqa: A001 - the documented API name
    """Read, check and lower a workspace (a .ust file, a directory, or rule text)."""
    return Ruleset(load_ruleset(path_or_text))


# Failures of numba's compiler itself (typing, lowering; too deep or too large a function), as
# opposed to a cache entry that cannot be read.
COMPILE_ERRORS = (NumbaError, RecursionError, MemoryError)


@attrs.define
class _Kernels:
    """The compiled module of one layout. The first call of each kernel runs on zero records,
    which loads it from numba's cache or compiles it; a corrupt cache entry is rebuilt then."""

    module: object
    source: str
    layouts: dict[str, str]
    ready: set = attrs.Factory(set)

    def run(self, name: str, n: int, *args) -> None:
        if name not in self.ready:
            try:
                getattr(self.module, name)(0, 0, *args)
            except COMPILE_ERRORS:
                raise  # compiling again would fail the same way, after as long again
            except Exception:  # a damaged cache entry: rebuild it once, then let errors through
                self.module = kernel.reload_kernel(self.source)
                self.ready.clear()
                getattr(self.module, name)(0, 0, *args)
            self.ready.add(name)
        run_parallel(getattr(self.module, name), n, *args)


class Ruleset:
    """Checked, lowered rules. Kernels are generated per data layout and cached on disk."""

    def __init__(self, checked: model.Ruleset):
        self.model = checked
        self.program = lower_ruleset(checked)
        self.personas = [(icp, p) for icp in checked.icps for p in icp.personas]
        # Output names of the kernel's persona numbers: each code once, then `no_persona_fit`.
        self.persona_names = sorted({p.code for _, p in self.personas}) + [model.NO_PERSONA_FIT]
        # Indexed by kernel persona number; -1 (no Persona fits) is the last entry, -2 (no ICP,
        # null) the one before it.
        self.persona_name_of = np.array([self.persona_names.index(p.code) for _, p in self.personas]
                                        + [-1, len(self.persona_names) - 1], dtype=np.int64)
        self._kernels: dict[tuple, _Kernels] = {}
        self.account_tables = codegen.tables((self.program.icps,), self.program.account_columns)
        self.lead_tables = codegen.tables(self.program.personas, self.program.lead_columns)

    @property
    def account_fields(self) -> list[str]:
        return [f.name for f in self.model.schema.of_kind("account")]

    @property
    def lead_fields(self) -> list[str]:
        return [f.name for f in self.model.schema.of_kind("lead")]

    def source(self, layouts: dict[str, str]) -> str:
        return codegen.generate(self.program, layouts)

    def audience_kernels(self, code: str, layouts: dict[str, str]) -> tuple[object, _Kernels]:
        """The lowered program and compiled kernel of one audience, for one data layout."""
        audience = self.model.audience(code)
        if audience is None:
            known = [a.code for a in self.model.audiences]
            hint = did_you_mean(code, known) or ("audiences: " + ", ".join(known) if known else "the rules declare none")
            raise ScoringError(f"unknown audience `{code}`; {hint}")
        program = lower_audience(audience_schema(self.model.schema, self.model.engagement), audience)
        used = {slot.field: layouts[slot.field] for slot in program.columns if slot.field in layouts}
        key = (code, tuple(sorted(used.items())))
        if key not in self._kernels:
            source = codegen.generate_audience(program, used)
            self._kernels[key] = _Kernels(kernel.load_kernel(source), source, used)
        return program, self._kernels[key]

    def kernels(self, dataset: Dataset) -> _Kernels:
        # A set field with no data (leads not given) is an empty bitset.
        layouts = {slot.field: "bitset" for slot in self.program.lead_columns + self.program.account_columns
                   if slot.kind == "set"}
        layouts.update(_layouts(dataset))
        key = tuple(sorted(layouts.items()))
        if key not in self._kernels:
            source = self.source(layouts)
            self._kernels[key] = _Kernels(kernel.load_kernel(source), source, layouts)
        return self._kernels[key]

    def warm(self) -> None:
        """Compile (or load from the cache) the kernels for the usual layout, on one empty record set."""
        empty_accounts = pa.table({"account_id": pa.array([], pa.string()),
                                   **{f.name: _empty_column(f) for f in self.model.schema.of_kind("account")}})
        empty_leads = pa.table({"lead_id": pa.array([], pa.string()), "account_id": pa.array([], pa.string()),
                                **{f.name: _empty_column(f) for f in self.model.schema.of_kind("lead")}})
        self.score(empty_accounts, empty_leads, as_of=dt.date(2000, 1, 1))

    def load(self, accounts=None, leads=None, null_values=(), missing_columns: str = "error") -> Dataset:
        return load_dataset(self.model.schema, self.account_fields, self.lead_fields, accounts, leads, null_values,
                            missing_columns)

    def score(self, accounts=None, leads=None, as_of=None, preview=(), outcomes: bool = False,
              signals=None, null_values=(), missing_columns: str = "error",
              skip_unknown_signals: bool = False) -> "ScoreResult":
        """Score accounts (and leads). `accounts` and `leads` are paths (.csv, .parquet, .jsonl),
        Arrow tables, pandas or polars DataFrames, or lists of dicts; leads alone is a flat
        lead table carrying the account columns. `preview` names drafts (`icp` or
        `icp.persona`) to score as if live, reported apart in preview_* columns. `signals`
        (lead_id or account_id, signal, timestamp), when the rules declare engagement, add the
        engagement_score and stage columns. In CSV input only an empty cell is unknown;
        `null_values` (e.g. `["NA", "null"]`) names more cells that mean unknown.
        `missing_columns="unknown"` reads a declared field the input lacks as unknown in every
        record (`result.dataset.missing_columns` names them) instead of refusing the input;
        `skip_unknown_signals` leaves out signals of undeclared types (`result.skipped_signals`
        counts them by type) instead of refusing the signals."""
        as_of = parse_as_of(as_of)
        preview = self.preview_codes(preview)
        dataset = self.load(accounts, leads, null_values, missing_columns)
        return self.score_dataset(dataset, as_of, preview, outcomes, signals, skip_unknown_signals)

    def score_dataset(self, dataset: Dataset, as_of: dt.date, preview: frozenset[str] = frozenset(),
                      outcomes: bool = False, signals=None, skip_unknown_signals: bool = False) -> "ScoreResult":
        bound = bind_program(self.program, self.model.schema, dataset, as_of)
        kernels = self.kernels(dataset)
        run = _Run(self, kernels, dataset, bound, preview, outcomes)
        result = ScoreResult(self, dataset, as_of, preview, bound, kernels, run)
        if self.model.engagement is not None and signals is not None:
            result.score_engagement(signals, skip_unknown_signals)
        return result

    def preview_codes(self, preview) -> frozenset[str]:
        """The preview codes, checked: each names an ICP or an `icp.persona`."""
        codes = frozenset([preview] if isinstance(preview, str) else preview)
        known = {i.code for i in self.model.icps} | {f"{i.code}.{p.code}" for i, p in self.personas}
        live = {i.code for i in self.model.icps if i.status == "live"}
        live |= {f"{i.code}.{p.code}" for i, p in self.personas if p.status == "live" and i.status == "live"}
        for code in codes:
            if code not in known:
                hint = did_you_mean(code, known)
                raise ScoringError(f"unknown preview code `{code}`" + (f"; {hint}" if hint else
                                   "; name an ICP (`ent_finserv`) or a Persona (`mm_saas.vp_sales`)"))
            if code in live:  # a preview shows what a draft would do; a live rule already does it
                drafts = sorted(known - live)
                raise ScoringError(f"`{code}` is live, not a draft: its scores are in the live columns already"
                                   + (f"; drafts: {', '.join(drafts)}" if drafts else "; the rules declare no drafts"))
        return codes

    def active(self, preview: frozenset[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Which ICPs and Personas take part: live ones, and in preview also the named drafts."""
        live_icp = np.array([i.status == "live" for i in self.model.icps] or [False], np.uint8)
        preview_icp = np.array([i.status == "live" or i.code in preview for i in self.model.icps] or [False], np.uint8)
        live_persona = np.array([p.status == "live" for _, p in self.personas] or [False], np.uint8)
        preview_persona = np.array([p.status == "live" or f"{i.code}.{p.code}" in preview
                                    for i, p in self.personas] or [False], np.uint8)
        return live_icp, preview_icp, live_persona, preview_persona


def _empty_column(field) -> pa.Array:
    types = {"number": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "date": pa.date32(),
             "set": pa.list_(pa.string())}
    return pa.array([], types.get(field.type.name, pa.string()))


def _layouts(dataset: Dataset) -> dict[str, str]:
    tables = [dataset.accounts] + ([dataset.leads] if dataset.leads is not None else [])
    return {name: column.kind for t in tables for name, column in t.columns.items() if column.kind in ("bitset", "csr")}


def _column_arrays(table: EncodedTable | None, slots, layouts) -> list[np.ndarray]:
    arrays = []
    for k, role in codegen.kernel_arguments(slots, layouts):
        column = table.columns[slots[k].field] if table is not None else None
        if column is None:
            arrays.append(_placeholder(slots[k], role, layouts))
        else:
            arrays.append({"values": column.values, "valid": column.valid, "offsets": column.offsets}[role])
    return arrays


def _placeholder(slot, role, layouts) -> np.ndarray:
    """An empty column for a kernel run with no records of this kind."""
    if role == "offsets":
        return np.zeros(1, np.int64)
    if role == "valid":
        return np.zeros(0, np.uint8)
    if slot.kind == "coded":
        return np.zeros(0, np.int32)
    if slot.kind == "set":
        return np.zeros(0, np.int32) if layouts.get(slot.field) == "csr" else np.zeros((0, 1), np.uint64)
    return np.zeros(0, {"f64": np.float64, "i64": np.int64, "days": np.int32}[slot.kind])


PARALLEL_MIN_RECORDS = 20_000
_pool: ThreadPoolExecutor | None = None


def run_parallel(kernel_fn, n: int, *args) -> None:
    """Run a kernel over records 0..n in slices, one per core; the kernel releases the GIL."""
    global _pool
    threads = max(1, min(os.cpu_count() or 1, n // PARALLEL_MIN_RECORDS))
    if threads == 1:
        kernel_fn(0, n, *args)
        return
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="unstuck-kernel")
    bounds = np.linspace(0, n, threads + 1).astype(np.int64, copy=False)
    futures = [_pool.submit(kernel_fn, int(lo), int(hi), *args) for lo, hi in zip(bounds[:-1], bounds[1:])]
    for future in futures:
        future.result()


class _Run:
    """One kernel run over a dataset: assignment arrays and, on request, parameter outcomes."""

    def __init__(self, ruleset: Ruleset, kernels: _Kernels, dataset: Dataset, bound: Bound,
                 preview: frozenset[str], outcomes: bool):
        program, layouts = ruleset.program, kernels.layouts
        live_icp, preview_icp, live_persona, preview_persona = ruleset.active(preview)
        has_preview = bool(preview)
        n = dataset.accounts.n
        account_params = sum(len(r.params) for r in program.icps.rules)
        # Preview outputs exist only in a preview run (the kernel does not touch them otherwise).
        p = n if has_preview else 1
        self.icp = np.empty(n, np.int32)
        self.icp_score = np.empty(n, np.int32)
        self.preview_icp = np.full(p, -1, np.int32)
        self.preview_icp_score = np.full(p, -1, np.int32)
        self.account_outcomes = np.full((n if outcomes else 0, max(account_params, 1)), -1, np.int8)
        constants = bound.constants.arrays()
        kernels.run("score_accounts", n, *_column_arrays(dataset.accounts, program.account_columns, layouts), *constants,
            bound.weights, bound.possible, live_icp, preview_icp, has_preview, outcomes,
            self.icp, self.icp_score, self.preview_icp, self.preview_icp_score, self.account_outcomes,
            *ruleset.account_tables.arrays())
        self.lead_outcomes = None
        if dataset.leads is None:
            return
        m = dataset.leads.n
        lead_params = sum(len(r.params) for b in program.personas for r in b.rules)
        p = m if has_preview else 1
        self.persona = np.empty(m, np.int32)
        self.persona_score = np.empty(m, np.int32)
        self.preview_persona = np.full(p, -2, np.int32)
        self.preview_persona_score = np.full(p, -1, np.int32)
        self.lead_outcomes = np.full((m if outcomes else 0, max(lead_params, 1)), -1, np.int8)
        kernels.run("score_leads", m, dataset.lead_account_rows, self.icp, self.preview_icp,
            *_column_arrays(dataset.leads, program.lead_columns, layouts), *constants,
            bound.lead_weights, bound.possible, live_persona, preview_persona, has_preview, outcomes,
            self.persona, self.persona_score, self.preview_persona, self.preview_persona_score, self.lead_outcomes,
            *ruleset.lead_tables.arrays())


def _codes_column(codes: list[str], index: np.ndarray) -> pa.Array:
    """A dictionary-encoded string column (the kernel's own codes, no copies of strings);
    a negative index is null."""
    indices = pa.array(index.astype(np.int32, copy=False), mask=index < 0, type=pa.int32())
    return pa.DictionaryArray.from_arrays(indices, pa.array(codes, pa.string()))


def _score_column(scores: np.ndarray) -> pa.Array:
    return pa.array(scores.astype(np.int32, copy=False), mask=scores < 0, type=pa.int32())


# Rule 6 as a table indexed by score + 1: 0–25 weak, 26–50 partial, 51–75 solid, 76–100 strong;
# entry 0 (score -1, none) is -1.
_BAND_OF_SCORE = np.array([-1] + [0] * 26 + [1] * 25 + [2] * 25 + [3] * 25, dtype=np.int32)


def _band_codes(scores: np.ndarray) -> np.ndarray:
    return _BAND_OF_SCORE[scores + 1]


def _band_column(scores: np.ndarray) -> pa.Array:
    return _codes_column(list(BAND_LEVELS), _band_codes(scores))


def _int_column(field, scores: np.ndarray) -> Column:
    return Column(field, "i64", np.maximum(scores, 0).astype(np.int64, copy=False), (scores >= 0).astype(np.uint8, copy=False))


class ScoreResult:
    """Scores of one run: `accounts` and `leads` Arrow tables (SPEC's output columns), the
    as-of date, and `explain()` for any record."""

    def __init__(self, ruleset: Ruleset, dataset: Dataset, as_of: dt.date, preview: frozenset[str],
                 bound: Bound, kernels: _Kernels, run: _Run):
        self.ruleset, self.dataset, self.as_of, self.preview = ruleset, dataset, as_of, preview
        self._bound, self._kernels, self._run = bound, kernels, run
        self.account_outcomes = run.account_outcomes
        self.lead_outcomes = run.lead_outcomes
        self.signal_lists = None  # (accounts, leads) when the rules declare engagement
        self.account_engagement = self.lead_engagement = None  # (score, stage index) arrays
        self.skipped_signals: dict[str, int] = {}  # undeclared signal type: signals left out

    def score_engagement(self, signals, skip_unknown_signals: bool = False) -> None:
        """Engagement per account and lead from the signals, apart from fit."""
        from . import engagement

        rules = self.ruleset.model.engagement
        read = engagement.read_signals(signals, rules, skip_unknown_signals)
        self.skipped_signals = read.skipped
        self.signal_lists = engagement.signal_lists(read.checked, self.dataset)
        self.account_engagement = engagement.score(rules, self.signal_lists[0], self.as_of)
        if self.signal_lists[1] is not None:
            self.lead_engagement = engagement.score(rules, self.signal_lists[1], self.as_of)

    def _engagement_columns(self, scored) -> dict:
        if scored is None:
            return {}
        score, stage = scored
        return {"engagement_score": pa.array(score, pa.float64()),
                "stage": _codes_column(list(self.ruleset.model.engagement.stages), stage)}

    # The tables are built from the kernel's arrays when first asked for.
    @functools.cached_property
    def accounts(self) -> pa.Table:
        """account_id, icp_code, icp_score, icp_band (and preview_* columns in a preview run)."""
        return self._account_table()

    @functools.cached_property
    def leads(self) -> pa.Table | None:
        """lead_id, account_id, icp_code, icp_score, icp_band, persona_code, persona_score,
        persona_band (and preview_* columns); None when no leads were scored."""
        return self._lead_table() if self.dataset.leads is not None else None

    def _account_table(self) -> pa.Table:
        icp_codes = [i.code for i in self.ruleset.model.icps]
        run = self._run
        columns = {
            "account_id": self.dataset.accounts.ids,
            "icp_code": _codes_column(icp_codes, run.icp),
            "icp_score": _score_column(run.icp_score),
            "icp_band": _band_column(run.icp_score),
        }
        if self.preview:
            columns.update({"preview_icp_code": _codes_column(icp_codes, run.preview_icp),
                            "preview_icp_score": _score_column(run.preview_icp_score),
                            "preview_icp_band": _band_column(run.preview_icp_score)})
        columns.update(self._engagement_columns(self.account_engagement))
        return pa.table(columns)

    def _lead_table(self) -> pa.Table:
        run, leads = self._run, self.dataset.leads
        rows = self.dataset.lead_account_rows

        def per_lead(values: np.ndarray) -> np.ndarray:
            return np.where(rows >= 0, values[np.maximum(rows, 0)] if len(values) else -1, -1)

        def persona_index(index: np.ndarray) -> np.ndarray:
            return self.ruleset.persona_name_of[index]

        icp_codes = [i.code for i in self.ruleset.model.icps]
        icp, icp_score = per_lead(run.icp), per_lead(run.icp_score)
        columns = {
            "lead_id": leads.ids,
            "account_id": leads.account_ids,
            "icp_code": _codes_column(icp_codes, icp),
            "icp_score": _score_column(icp_score),
            "icp_band": _band_column(icp_score),
            "persona_code": _codes_column(self.ruleset.persona_names, persona_index(run.persona)),
            "persona_score": _score_column(run.persona_score),
            "persona_band": _band_column(run.persona_score),
        }
        if self.preview:
            picp, picp_score = per_lead(run.preview_icp), per_lead(run.preview_icp_score)
            columns.update({
                "preview_icp_code": _codes_column(icp_codes, picp),
                "preview_icp_score": _score_column(picp_score),
                "preview_icp_band": _band_column(picp_score),
                "preview_persona_code": _codes_column(self.ruleset.persona_names, persona_index(run.preview_persona)),
                "preview_persona_score": _score_column(run.preview_persona_score),
                "preview_persona_band": _band_column(run.preview_persona_score),
            })
        columns.update(self._engagement_columns(self.lead_engagement))
        return pa.table(columns)

    # -- audiences
    def audience_table(self) -> EncodedTable:
        """The scored records as one table for audiences: each lead with its account's fields
        (or each account when no leads were scored) and the six score columns."""
        ds, run, rules = self.dataset, self._run, self.ruleset
        if ds.leads is not None:
            rows = ds.lead_account_rows
            columns = {name: c.gather(rows) for name, c in ds.accounts.columns.items()}
            columns.update(ds.leads.columns)
            icp = np.where(rows >= 0, run.icp[np.maximum(rows, 0)] if len(run.icp) else -1, -1)
            icp_score = np.where(rows >= 0, run.icp_score[np.maximum(rows, 0)] if len(run.icp) else -1, -1)
            persona, persona_score, ids, kind = run.persona, run.persona_score, ds.leads.ids, "lead"
        else:
            columns = dict(ds.accounts.columns)
            columns.update({f.name: unknown_column(f, ds.accounts.n) for f in rules.model.schema.of_kind("lead")})
            icp, icp_score = run.icp, run.icp_score
            persona, persona_score = np.full(ds.accounts.n, -2), np.full(ds.accounts.n, -1)
            ids, kind = ds.accounts.ids, "account"
        fields = {f.name: f for f in SCORE_FIELDS}
        icp_codes = [i.code for i in rules.model.icps]
        columns["icp_code"] = Column(fields["icp_code"], "coded", icp.astype(np.int32, copy=False), dictionary=icp_codes)
        columns["icp_score"] = _int_column(fields["icp_score"], icp_score)
        columns["icp_band"] = Column(fields["icp_band"], "coded", _band_codes(icp_score), dictionary=list(BAND_LEVELS))
        columns["persona_code"] = Column(fields["persona_code"], "coded",
                                         rules.persona_name_of[persona].astype(np.int32, copy=False),
                                         dictionary=rules.persona_names)
        columns["persona_score"] = _int_column(fields["persona_score"], persona_score)
        columns["persona_band"] = Column(fields["persona_band"], "coded", _band_codes(persona_score),
                                         dictionary=list(BAND_LEVELS))
        engagement = self.lead_engagement if kind == "lead" else self.account_engagement
        schema = audience_schema(rules.model.schema, rules.model.engagement)
        if rules.model.engagement is not None and engagement is None:  # no signals given: unknown
            columns["engagement_score"] = unknown_column(schema.get("engagement_score"), len(ids))
            columns["stage"] = unknown_column(schema.get("stage"), len(ids))
        elif engagement is not None:
            score, stage = engagement
            columns["engagement_score"] = Column(schema.get("engagement_score"), "f64", score,
                                                 np.ones(len(score), np.uint8))
            columns["stage"] = Column(schema.get("stage"), "coded", stage.astype(np.int32),
                                      dictionary=list(rules.model.engagement.stages))
        return EncodedTable(kind, ids, columns)

    def audience(self, code: str) -> pa.Table:
        """The members of an audience: the rows of `table()` whose records meet its condition."""
        return self.table().filter(pa.array(self.audience_membership(code) == 2))

    def audience_membership(self, code: str) -> np.ndarray:
        """Per record of `table()`: 0 / 1 / 2 (not a member / unknown, so not a member / member)."""
        records = self.audience_table()
        layouts = {n: c.kind for n, c in records.columns.items() if c.kind in ("bitset", "csr")}
        program, kernels = self.ruleset.audience_kernels(code, layouts)
        constants = bind_constants(program, audience_schema(self.ruleset.model.schema, self.ruleset.model.engagement), records.columns, self.as_of)
        out = np.zeros(records.n, np.int8)
        kernels.run("match_audience", records.n, *_column_arrays(records, program.columns, kernels.layouts),
                    *constants.arrays(), out, *codegen.audience_tables(program).arrays())
        return out

    # -- conversions
    def table(self) -> pa.Table:
        return self.leads if self.leads is not None else self.accounts

    def to_pandas(self):
        """The lead table when leads were scored, else the account table, as pandas."""
        return self.table().to_pandas()

    def to_polars(self):
        import polars as pl

        return pl.from_arrow(self.table())

    # -- explanations
    def explain(self, account_id: str | None = None, lead_id: str | None = None) -> explain.Explanation:
        """The drawer for one record, from the kernel's own outcomes for that record alone."""
        if (account_id is None) == (lead_id is None):
            raise ScoringError("explain one record: give account_id or lead_id")
        ds = self.dataset
        if lead_id is not None:
            if ds.leads is None:
                raise ScoringError("no leads were scored")
            row = ds.leads.row_of(lead_id)
            if row is None:
                raise ScoringError(f"unknown lead id {lead_id!r}")
            account_row = int(ds.lead_account_rows[row])
            lead_table = ds.leads.take([row])
            if account_row >= 0:
                sub = Dataset(ds.accounts.take([account_row]), lead_table, np.zeros(1, np.int64))
            else:
                sub = Dataset(ds.accounts.take([]), lead_table, np.full(1, -1, np.int64))
        else:
            row = ds.accounts.row_of(account_id)
            if row is None:
                raise ScoringError(f"unknown account id {account_id!r}")
            sub = Dataset(ds.accounts.take([row]), None, None)
        explanation = self._explain_subset(sub, lead_id is not None)
        return attrs.evolve(explanation, engagement=self._engagement_rows(row, lead_id is not None))

    def _engagement_rows(self, row: int, is_lead: bool):
        """Which signals count for this record, how old each is and how much it still counts;
        the total and the stage are the kernel's."""
        if self.signal_lists is None:
            return None
        rules = self.ruleset.model.engagement
        lists = self.signal_lists[1] if is_lead else self.signal_lists[0]
        score, stage = (self.lead_engagement if is_lead else self.account_engagement)
        today = dates.to_days(self.as_of)
        rows = tuple(explain.SignalRow(rules.signals[kind].code, dates.from_days(day), today - day,
                                       signal_value(rules.signals[kind], today - day)) for kind, day in lists.of(row))
        return explain.EngagementBreakdown(rows, float(score[row]), rules.stages[int(stage[row])])

    def _explain_subset(self, sub: Dataset, is_lead: bool) -> explain.Explanation:
        rules = self.ruleset
        # The same kernels and constants as the full run, over this one record.
        run = _Run(rules, self._kernels, sub, self._bound, self.preview, outcomes=True)
        icps = rules.model.icps
        # In a preview run the drawer explains the preview's assignment (drafts as if live).
        icp, icp_scores = (run.preview_icp, run.preview_icp_score) if self.preview else (run.icp, run.icp_score)
        icp_outcomes = ()
        account = None
        if sub.accounts.n:
            account = sub.accounts.record(0)
            icp_outcomes = _rule_outcomes(rules.program.icps.rules, icps, run.account_outcomes[0])
        icp_code = icps[icp[0]].code if sub.accounts.n and icp[0] >= 0 else None
        icp_score = int(icp_scores[0]) if icp_code else None
        if not is_lead:
            return explain.explain_account(rules.model, account["account_id"], account, icp_outcomes,
                                           icp_code, icp_score, self.as_of, self.preview)
        lead = sub.leads.record(0)
        personas, persona_scores = ((run.preview_persona, run.preview_persona_score) if self.preview
                                    else (run.persona, run.persona_score))
        persona_outcomes, persona_code, persona_score = (), None, None
        if icp_code is not None:
            icp_index = int(icp[0])
            block = rules.program.personas[icp_index]
            persona_outcomes = _rule_outcomes(block.rules, icps[icp_index].personas, run.lead_outcomes[0])
            persona_code, persona_score = model.NO_PERSONA_FIT, None
            if personas[0] >= 0:
                persona_code = rules.personas[personas[0]][1].code
                persona_score = int(persona_scores[0])
        return explain.explain_lead(rules.model, lead["lead_id"], lead, account, icp_outcomes, icp_code,
                                    icp_score, persona_outcomes, persona_code, persona_score, self.as_of,
                                    self.preview)


def _rule_outcomes(rule_irs, rules, row: np.ndarray):
    """Kernel truth values (0/1/2) → reference truth values → the reference's own tally."""
    decode = {0: False, 1: None, 2: True}
    return tuple(tally(rule, tuple(decode[int(row[p.slot])] for p in rule_ir.params))
                 for rule_ir, rule in zip(rule_irs, rules))


__all__ = ["compile", "Ruleset", "ScoreResult", "ScoringError", "band"]
