"""The Python API, a thin facade over the pipeline's back end (pipeline.py lists the passes):
compile rules once, score tables, explain any record.

    import unstuck_dsl
    rules = unstuck_dsl.compile("rules/")
    result = rules.score("accounts.csv", "leads.csv", as_of="2026-11-26")
    result.leads                       # an Arrow table; result.to_pandas(), result.to_polars()
    print(result.explain(account_id="a1"))
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from collections.abc import Iterator
from pathlib import Path

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import codegen, dates, engagement, explain, ir, kernel, model, pick, pipeline, tables
from .bind import Bound, bind_constants, scoring_tables
from .data import Dataset, EncodedTable, load_dataset
from .diagnostics import did_you_mean
from .execute import Active, Assignments, KernelModule, cached_module, layouts_of, match_audience, run_parallel
from .lower import lower_audience, lower_ruleset
from .reference import AccountResult, LeadResult, band, signal_value, tally
from .schema import ACCOUNT_KEY, LEAD_KEY, arrow_type


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


def compile(path_or_text: str | Path) -> CompiledRules:  # noqa: A001 - the documented API name
    """Read, check and lower a workspace (a .ust file, a directory, or rule text)."""
    return pipeline.compile_rules(path_or_text)


class CompiledRules:
    """Checked, lowered rules. Kernels are generated per data layout and cached on disk."""

    def __init__(self, checked: model.Ruleset):
        self.model = checked
        self.program = lower_ruleset(checked)
        self.scoring_tables = scoring_tables(self.program)  # points and score tables, once
        self.personas = [(icp, p) for icp in checked.icps for p in icp.personas]
        # Output names of the kernel's persona numbers: each code once, then `no_persona_fit`.
        self.persona_names = sorted({p.code for _, p in self.personas}) + [model.NO_PERSONA_FIT]
        # Indexed by kernel persona number; the sentinels index from the end:
        # PERSONA_NONE_FITS (-1) is the last entry, `no_persona_fit`, and PERSONA_NO_ICP (-2) the
        # one before it, -1 (null).
        self.persona_name_of = np.array([self.persona_names.index(p.code) for _, p in self.personas]
                                        + [-1, len(self.persona_names) - 1], dtype=np.int32)
        self._kernels: dict[tuple, KernelModule] = {}
        # The kernel modules warmed, by `outcomes` (a scoring run's, an explain run's); the lock is
        # re-entered: warming scores, and a score waits for warming.
        self._warm, self._warming = set(), threading.RLock()
        self.account_tables = codegen.tables((self.program.icps,), self.program.account_columns)
        self.lead_tables = codegen.tables(self.program.personas, self.program.lead_columns)
        self.audience_schema = checked.audience_schema

    @property
    def account_fields(self) -> list[str]:
        return [f.name for f in self.model.schema.of_kind("account")]

    @property
    def lead_fields(self) -> list[str]:
        return [f.name for f in self.model.schema.of_kind("lead")]

    @property
    def icp_codes(self) -> list[str]:
        return [i.code for i in self.model.icps]

    def source(self, layouts: dict[str, str], outcomes: bool = False) -> str:
        return codegen.generate(self.program, layouts, outcomes)

    def audience_kernels(self, code: str, layouts: dict[str, str],
                         audience: model.Audience | None = None) -> tuple[ir.AudienceProgram, KernelModule]:
        """The lowered program and compiled kernel of one audience, for one data layout: a
        declared one, or `audience`, checked against these rules (its code names it in the cache)."""
        audience = audience or self.model.audience(code)
        if audience is None:
            known = [a.code for a in self.model.audiences]
            hint = did_you_mean(code, known) or ("audiences: " + ", ".join(known) if known else "the rules declare none")
            raise ScoringError(f"unknown audience `{code}`; {hint}")
        program = lower_audience(self.audience_schema, audience)
        used = {slot.field: layouts[slot.field] for slot in program.columns if slot.field in layouts}
        key = (code, tuple(sorted(used.items())))
        return program, cached_module(self._kernels, key, used, functools.partial(codegen.generate_audience, program),
                                      {"match_audience": functools.partial(codegen.audience_parameters, program)})

    def kernels(self, dataset: Dataset | None = None, outcomes: bool = False) -> KernelModule:
        """The kernel module of the dataset's layout; without one, of the usual layout (every set
        a bitset, as in a small dataset or none). `outcomes`: an explain run's (`kernels_of`)."""
        # A set field with no data (leads not given) is an empty bitset.
        layouts = {slot.field: "bitset" for slot in self.program.lead_columns + self.program.account_columns
                   if slot.encoding == "set"}
        if dataset is not None:
            layouts.update(layouts_of([dataset.accounts] + ([dataset.leads] if dataset.leads is not None else [])))
        return self.kernels_of(layouts, outcomes)

    def kernels_of(self, layouts: dict[str, str], outcomes: bool = False) -> KernelModule:
        """The kernel module of these set layouts: a scoring run's or, with `outcomes`, an explain
        run's, which keeps every parameter's truth value. An explain run's is generated, and
        compiled, only when a record is explained."""
        return cached_module(self._kernels, (outcomes, tuple(sorted(layouts.items()))), layouts,
                             functools.partial(self.source, outcomes=outcomes),
                             {"score_accounts": functools.partial(codegen.account_parameters, self.program),
                              "score_leads": functools.partial(codegen.lead_parameters, self.program)}, outcomes)

    def needs_warming(self, outcomes: bool = False) -> bool:
        return outcomes not in self._warm

    def warm(self, quietly: bool = False, outcomes: bool = False) -> None:
        """Compile (or load from the cache) the kernels for the usual layout, on one empty record
        set: a scoring run's, or with `outcomes` an explain run's (a server showing drawers warms
        both). `quietly`: a failure is not raised (the scoring that follows meets it itself)."""
        with self._warming:
            if outcomes in self._warm:
                return
            self._warm.add(outcomes)
            try:
                with pipeline.uncollected_kernel_loading():
                    # First: a module new here starts its compilers, which load numba meanwhile.
                    compiles = kernel.written_here(self.kernels(outcomes=outcomes).module)
                    if not compiles:  # (data.py's and steps.py's passes may compile here: small, once an installation)
                        self._score_unknown(outcomes)
                if compiles:  # a new module's kernels compile outside `uncollected_kernel_loading` (see there)
                    self._score_unknown(outcomes)
            except Exception:
                if not quietly:
                    raise

    def _score_unknown(self, outcomes: bool) -> None:
        """Score one account and its lead, every field unknown: every compiled pass a scoring
        run calls is loaded, the loading's (ids, sets) before the kernels, so that a run loading
        its records meanwhile (`pipeline.kernels_loading`) does not wait on numba's compiler
        lock for the kernels' load to end. (With no records, the loading calls none of its
        passes.)"""
        accounts = pa.table({"account_id": pa.array(["a"]),
                             **{f.name: _unknown_column(f) for f in self.model.schema.of_kind("account")}})
        leads = pa.table({"lead_id": pa.array(["l"]), "account_id": pa.array(["a"]),
                          **{f.name: _unknown_column(f) for f in self.model.schema.of_kind("lead")}})
        self.score(accounts, leads, as_of=dt.date(2000, 1, 1), outcomes=outcomes)

    def load(self, accounts=None, leads=None, null_values=(), missing_columns: str = "error") -> Dataset:
        return load_dataset(self.model.schema, self.account_fields, self.lead_fields, accounts, leads, null_values,
                            missing_columns)

    def score(self, accounts=None, leads=None, as_of=None, preview=(), outcomes: bool = False,
              signals=None, null_values=(), missing_columns: str = "error",
              skip_unknown_signals: bool = False) -> ScoreResult:
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
        return pipeline.score(self, accounts, leads, as_of, preview, signals, null_values, missing_columns,
                              skip_unknown_signals, outcomes)

    def score_dataset(self, dataset: Dataset, as_of: dt.date, preview: frozenset[str] = frozenset(),
                      outcomes: bool = False, signals=None, skip_unknown_signals: bool = False) -> ScoreResult:
        return pipeline.score_dataset(self, dataset, as_of, preview, outcomes, signals, skip_unknown_signals)

    def explain_record(self, accounts=None, leads=None, account_id: str | None = None, lead_id: str | None = None,
                       as_of=None, preview=(), signals=None, null_values=(), missing_columns: str = "error",
                       skip_unknown_signals: bool = False, on_warning=None) -> explain.Explanation:
        """The drawer of one record, as `score(...).explain(...)` gives it (with `preview`, the
        preview's assignment), reading, encoding and scoring only the records it depends on
        (pick.py): a lead and its account, or an account (with its leads when signals are
        given: their signals count for the account). Each warning about the input is told to
        `on_warning`, when given."""
        if (account_id is None) == (lead_id is None):
            raise ScoringError("explain one record: give account_id or lead_id")
        as_of = parse_as_of(as_of)
        codes = self.preview_codes(preview)
        if lead_id is not None and leads is None:
            raise ScoringError("no leads were scored")
        engaged = self.model.engagement is not None and signals is not None
        dataset = pick.explained_records(self.model.schema, self.account_fields, self.lead_fields, accounts, leads,
                                         account_id, lead_id, engaged, null_values, missing_columns)
        for line in dataset.warnings() if on_warning else ():
            on_warning(line)
        return self.explain_dataset(dataset, account_id, lead_id, as_of, codes, signals, skip_unknown_signals,
                                    on_warning)

    def explain_dataset(self, dataset: Dataset, account_id: str | None = None, lead_id: str | None = None,
                        as_of=None, preview=(), signals=None, skip_unknown_signals: bool = False,
                        on_warning=None) -> explain.Explanation:
        """The drawer of one record of `dataset`, which holds the records it depends on (as
        `explain_record` picks them from its inputs; a workspace reads just those from its store)."""
        codes = self.preview_codes(preview)
        # Outcomes kept in the one run over these few records: the drawer reads them (no second run).
        result = self.score_dataset(dataset, parse_as_of(as_of), codes, outcomes=True, signals=signals,
                                    skip_unknown_signals=skip_unknown_signals)
        if result.skipped_signals and on_warning:
            on_warning(engagement.skipped_signals_warning(result.skipped_signals))
        return result.explain(account_id=account_id, lead_id=lead_id, preview=bool(codes))

    def with_stored_scores(self, dataset: Dataset, as_of: dt.date, account_scores: pa.Table,
                           lead_scores: pa.Table | None) -> ScoreResult | None:
        """A result holding scores stored earlier (icp_code, icp_score per account; icp_code,
        persona_code, persona_score per lead, in the dataset's order) instead of scoring again:
        for a workspace whose every record these rules scored as of `as_of`, the same result.
        None when the stored rows are not the dataset's records, row for row. It has no
        parameter outcomes, so it gives tables and audiences, not explanations."""
        if not _same_ids(account_scores.column(ACCOUNT_KEY), dataset.accounts.ids):
            return None
        if (lead_scores is None) != (dataset.leads is None) or (
                lead_scores is not None and not _same_ids(lead_scores.column(LEAD_KEY), dataset.leads.ids)):
            return None
        icp = _positions(account_scores.column("icp_code"), self.icp_codes)
        if np.any((icp < 0) & _valid(account_scores.column("icp_code"))):
            return None  # a code these rules do not have: not their scores
        persona = persona_score = np.zeros(0, np.int32)
        if lead_scores is not None:
            # Kernel persona numbers: a Persona is known by its ICP and its code together.
            pairs = [f"{i.code}\x1f{p.code}" for i, p in self.personas]
            joined = pc.binary_join_element_wise(lead_scores.column("icp_code").cast(pa.string()),
                                                 lead_scores.column("persona_code").cast(pa.string()), "\x1f")
            codes = lead_scores.column("persona_code").cast(pa.string())
            known, none_fits = _valid(codes), _equal(codes, model.NO_PERSONA_FIT)
            persona = _positions(joined, pairs)
            if np.any(known & ~none_fits & (persona < 0)):
                return None
            persona = np.where(~known, codegen.PERSONA_NO_ICP,
                               np.where(none_fits, codegen.PERSONA_NONE_FITS, persona)).astype(np.int32)
            persona_score = _scores(lead_scores.column("persona_score"))
        run = StoredAssignments(icp, _scores(account_scores.column("icp_score")), persona, persona_score)
        return ScoreResult(self, dataset, as_of, frozenset(), None, None, run)

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

    def active(self, preview: frozenset[str]) -> Active:
        """Which ICPs and Personas take part: live ones, and in preview also the named drafts."""
        live_icp = np.array([i.status == "live" for i in self.model.icps] or [False], np.uint8)
        preview_icp = np.array([i.status == "live" or i.code in preview for i in self.model.icps] or [False], np.uint8)
        live_persona = np.array([p.status == "live" for _, p in self.personas] or [False], np.uint8)
        preview_persona = np.array([p.status == "live" or f"{i.code}.{p.code}" in preview
                                    for i, p in self.personas] or [False], np.uint8)
        return Active(live_icp, preview_icp, live_persona, preview_persona)

    def assignments(self, kernels: KernelModule, dataset: Dataset, bound: Bound, preview: frozenset[str]) -> Assignments:
        """Run the `kernels` (a scoring or an explain run's) over `dataset`."""
        return Assignments(self.program, kernels, dataset, bound, self.active(preview),
                           (self.account_tables, self.lead_tables), bool(preview))

    def lead_assignments(self, accounts: Assignments, kernels: KernelModule, dataset: Dataset, bound: Bound,
                         preview: frozenset[str]) -> Assignments:
        """`accounts` (a run over the dataset's accounts) with the dataset's leads scored by the
        `kernels` (a scoring run's): the accounts are not scored again."""
        return accounts.with_leads(self.program, kernels, dataset.leads, dataset.lead_account_rows, bound,
                                   self.active(preview), self.lead_tables, bool(preview))


@attrs.define
class StoredAssignments:
    """Assignments read back from stored scores, shaped like `execute.Assignments` (kernel
    numbers and scores; no previews, no parameter outcomes)."""

    icp: np.ndarray
    icp_score: np.ndarray
    persona: np.ndarray
    persona_score: np.ndarray
    account_outcomes: None = None
    lead_outcomes: None = None


def _same_ids(stored, ids) -> bool:
    return len(stored) == len(ids) and (len(ids) == 0 or bool(pc.all(pc.equal(stored.cast(pa.string()),
                                                                              ids.cast(pa.string()))).as_py()))


def _valid(column) -> np.ndarray:
    return pc.is_valid(column).to_numpy(zero_copy_only=False).astype(bool)


def _equal(column, value: str) -> np.ndarray:
    return pc.equal(column, value).fill_null(False).to_numpy(zero_copy_only=False)


def _positions(column, names: list[str]) -> np.ndarray:
    """Each value's index in `names` (-1: null or not there), as the kernel numbers them."""
    found = pc.index_in(column.cast(pa.string()), value_set=pa.array(names, pa.string())).fill_null(-1)
    return found.to_numpy(zero_copy_only=False).astype(np.int32)


def _scores(column) -> np.ndarray:
    """Scores as the kernel writes them: -1 for none."""
    return column.cast(pa.int32()).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)


def _unknown_column(field) -> pa.Array:
    return pa.nulls(1, arrow_type(field.type))



Ruleset = CompiledRules  # the name before CompiledRules, kept for one release


class ScoreResult:
    """Scores of one run: `accounts` and `leads` Arrow tables (SPEC's output columns), the
    as-of date, and `explain()` for any record."""

    def __init__(self, ruleset: CompiledRules, dataset: Dataset, as_of: dt.date, preview: frozenset[str],
                 bound: Bound, kernels: KernelModule, run: Assignments):
        self.ruleset, self.dataset, self.as_of, self.preview = ruleset, dataset, as_of, preview
        self._bound, self._kernels, self._run = bound, kernels, run
        self.account_outcomes = run.account_outcomes
        self.lead_outcomes = run.lead_outcomes
        self.signal_lists = None  # (accounts, leads) when the rules declare engagement
        self.account_engagement = self.lead_engagement = None  # (score, stage index) arrays
        self.skipped_signals: dict[str, int] = {}  # undeclared signal type: signals left out
        self._audience_records: EncodedTable | None = None  # built when an audience is first asked for
        self._members: dict[str, pa.Table] = {}  # each declared audience's members, once asked for
        self._numbers: dict[str, tables.ScoreNumbers] = {}  # per kind, once asked for (a publish's diff and its write)

    def score_engagement(self, signals, skip_unknown_signals: bool = False) -> None:
        """Engagement per account and lead from the signals, apart from fit."""
        rules = self.ruleset.model.engagement
        read = engagement.read_signals(signals, rules, skip_unknown_signals)
        self.skipped_signals = read.skipped
        self.signal_lists = engagement.signal_lists(read.checked, self.dataset)
        self.account_engagement = engagement.score(rules, self.signal_lists[0], self.as_of)
        if self.signal_lists[1] is not None:
            self.lead_engagement = engagement.score(rules, self.signal_lists[1], self.as_of)
        self._audience_records, self._members = None, {}  # their stage columns change

    def _engagement_columns(self, scored) -> dict:
        stages = list(self.ruleset.model.engagement.stages) if scored is not None else []
        return tables.engagement_columns(stages, scored)

    # The tables are built from the kernel's arrays when first asked for.
    @functools.cached_property
    def accounts(self) -> pa.Table:
        """account_id, icp_code, icp_score, icp_band (and preview_* columns in a preview run)."""
        return tables.account_table(self.dataset, self._run, self.ruleset.icp_codes, bool(self.preview),
                                    self._engagement_columns(self.account_engagement))

    @functools.cached_property
    def leads(self) -> pa.Table | None:
        """lead_id, account_id, icp_code, icp_score, icp_band, persona_code, persona_score,
        persona_band (and preview_* columns); None when no leads were scored."""
        if self.dataset.leads is None:
            return None
        return self._lead_rows(0, self.dataset.leads.n)

    def _lead_rows(self, start: int, stop: int) -> pa.Table:
        rules = self.ruleset
        return tables.lead_table(self.dataset, self._run, rules.icp_codes, rules.persona_names, rules.persona_name_of,
                                 bool(self.preview), self._engagement_columns(self.lead_engagement), start, stop)

    # -- audiences
    def audience_table(self) -> EncodedTable:
        """The scored records as one table for audiences: each lead with its account's fields
        (or each account when no leads were scored) and the six score columns. Built once: every
        audience of the run reads the same records (a workspace's pages ask for several)."""
        if self._audience_records is None:
            rules = self.ruleset
            engagement = self.lead_engagement if self.dataset.leads is not None else self.account_engagement
            stages = list(rules.model.engagement.stages) if rules.model.engagement is not None else None
            self._audience_records = tables.audience_table(self.dataset, self._run, rules.audience_schema,
                                                           rules.icp_codes, rules.persona_names,
                                                           rules.persona_name_of, stages, engagement)
        return self._audience_records

    def audience(self, code: str) -> pa.Table:
        """The members of an audience: the rows of `table()` whose records meet its condition
        (kept: a workspace's pages ask for one audience's members, count and composition)."""
        if code not in self._members:
            self._members[code] = self.table().filter(pa.array(self.audience_membership(code) == ir.TRUE))
        return self._members[code]

    def audience_membership(self, code: str, audience: model.Audience | None = None) -> np.ndarray:
        """Per record of `table()`: ir.FALSE / UNKNOWN / TRUE (not a member / unknown, so not a
        member / member). `audience`: a condition checked against these rules but not declared
        in them (`audience_kernels`)."""
        records = self.audience_table()
        program, kernels = self.ruleset.audience_kernels(code, layouts_of([records]), audience)
        constants = bind_constants(program, self.ruleset.audience_schema, records.columns, self.as_of,
                                   self.ruleset.model.titles)
        return match_audience(program, kernels, records, constants)

    # -- conversions
    def table(self) -> pa.Table:
        return self.leads if self.leads is not None else self.accounts

    def score_numbers(self, kind: str | None = None) -> tables.ScoreNumbers:
        """The score columns of the records of `kind` ("lead" or "account"; default: those of
        `table()`) as the kernel's numbers: what comparing two results reads."""
        rules = self.ruleset
        kind = kind or ("lead" if self.dataset.leads is not None else "account")
        if kind not in self._numbers:
            self._numbers[kind] = tables.score_numbers(self.dataset, self._run, rules.icp_codes, rules.persona_names,
                                                       rules.persona_name_of, kind)
        return self._numbers[kind]

    def code_counts(self, kind: str) -> dict[tuple, int]:
        """How many records of `kind` ("account" or "lead") hold each ICP code (and, for leads,
        ICP code and Persona code); None is no code. What a run's summary line counts."""
        rules = self.ruleset
        return tables.code_counts(self.dataset, self._run, rules.icp_codes, rules.persona_names, rules.persona_name_of,
                                  kind)

    def drop_fields(self) -> None:
        """Let go of the records' encoded fields, which after scoring only explanations and
        audiences read: a command that writes the scores and ends (`unstuck score`) then writes
        them in the memory the fields took (124 MB at 1M accounts and 3M leads). The score
        tables stay; explanations and audiences are not available afterwards."""
        for table in (self.dataset.accounts, self.dataset.leads):
            if table is not None:
                table.columns = {}
        self._audience_records, self._members = None, {}

    def table_pieces(self, rows: int) -> Iterator[pa.Table]:
        """`table()` as consecutive pieces of up to `rows` leads (at least one piece, for its
        schema), each built when asked for: a writer that streams them never holds the whole
        lead table, at 3M leads the largest allocation of a scoring run's end. The account
        table, or a lead table built already, comes whole."""
        if self.dataset.leads is None or "leads" in self.__dict__:
            yield self.table()
            return
        for start in range(0, max(self.dataset.leads.n, 1), rows):
            yield self._lead_rows(start, start + rows)

    def to_pandas(self):
        """The lead table when leads were scored, else the account table, as pandas."""
        return self.table().to_pandas()

    def to_polars(self):
        import polars as pl

        return pl.from_arrow(self.table())

    # -- explanations
    def explain(self, account_id: str | None = None, lead_id: str | None = None,
                preview: bool = False) -> explain.Explanation:
        """The drawer for one record, from the kernel's own outcomes for that record alone: its
        live assignment, or with `preview=True` (in a preview run) the preview's, drafts as if live."""
        if (account_id is None) == (lead_id is None):
            raise ScoringError("explain one record: give account_id or lead_id")
        ds = self.dataset
        if lead_id is not None:
            if ds.leads is None:
                raise ScoringError("no leads were scored")
            row = ds.leads.row_of(lead_id)  # the id index, built on the first call
            if row is None:
                raise ScoringError(f"unknown lead id {lead_id!r}")
        else:
            row = ds.accounts.row_of(account_id)
            if row is None:
                raise ScoringError(f"unknown account id {account_id!r}")
        return self.explain_row("lead" if lead_id is not None else "account", row, preview)

    def explain_row(self, kind: str, row: int, preview: bool = False) -> explain.Explanation:
        """`explain` of the record of `kind` ("lead" or "account") at `row` of the scored records:
        for a caller that knows the row (a diff's movers), no id index is built (a fifth of a
        diff of 3M leads)."""
        if preview and not self.preview:
            raise ScoringError("explain(preview=True) needs a run scored with preview codes")
        if self._kernels is None:
            raise ScoringError("these scores were read from a workspace, not computed: score to explain a record")
        ds = self.dataset
        is_lead, preview = kind == "lead", frozenset(self.preview) if preview else frozenset()
        account_row = int(ds.lead_account_rows[row]) if is_lead else row
        if self._run.outcomes:  # this run kept every record's outcomes: read this one's
            account = ds.accounts.record(account_row) if account_row >= 0 else None
            explanation = self._explained(self._run, account_row if account_row >= 0 else None, account,
                                          row if is_lead else None, ds.leads.record(row) if is_lead else None, preview)
        else:
            explanation = self._explain_subset(ds, row if is_lead else None, account_row, preview)
        return attrs.evolve(explanation, engagement=self._engagement_rows(row, is_lead))

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

    def _explain_subset(self, ds: Dataset, lead_row: int | None, account_row: int,
                        preview: frozenset[str]) -> explain.Explanation:
        """The drawer of one record of a run that kept no outcomes: the run's constants, with the
        explain run's kernels of its layout, over this record alone (and a lead's account)."""
        if lead_row is None:
            sub = Dataset(ds.accounts.take([account_row]), None, None)
        elif account_row >= 0:
            sub = Dataset(ds.accounts.take([account_row]), ds.leads.take([lead_row]), np.zeros(1, np.int64))
        else:  # the lead's account is not in the data
            sub = Dataset(ds.accounts.take([]), ds.leads.take([lead_row]), np.full(1, -1, np.int64))
        run = self.ruleset.assignments(self.ruleset.kernels_of(self._kernels.layouts, outcomes=True), sub, self._bound,
                                       self.preview)
        account = sub.accounts.record(0) if sub.accounts.n else None
        return self._explained(run, 0 if sub.accounts.n else None, account, None if lead_row is None else 0,
                               None if lead_row is None else sub.leads.record(0), preview)

    def _explained(self, run, account_row: int | None, account: dict | None, lead_row: int | None,
                   lead: dict | None, preview: frozenset[str]) -> explain.Explanation:
        """The drawer from a kernel run that kept outcomes: the account at `account_row` (None:
        the lead's account is not in the data) and, for a lead's drawer, the lead at `lead_row`;
        `account` and `lead` are their records."""
        rules = self.ruleset
        icps = rules.model.icps
        # Asked for the preview, the drawer explains the preview's assignment (drafts as if live).
        icp, icp_scores = (run.preview_icp, run.preview_icp_score) if preview else (run.icp, run.icp_score)
        account_result = icp_number = None
        if account_row is not None:
            icp_number = int(icp[account_row])
            icp_code = icps[icp_number].code if icp_number >= 0 else None
            icp_score = int(icp_scores[account_row]) if icp_code else None
            account_result = AccountResult(icp_code, icp_score, band(icp_score),
                                           _rule_outcomes(rules.program.icps.rules, icps, run.account_outcomes[account_row]))
        if lead_row is None:
            return explain.explain_account(rules.model, account, account_result, self.as_of, preview=preview)
        personas, persona_scores = ((run.preview_persona, run.preview_persona_score) if preview
                                    else (run.persona, run.persona_score))
        persona_outcomes, persona_code, persona_score = (), None, None
        if account_result is not None and account_result.icp_code is not None:
            block = rules.program.personas[icp_number]
            persona_outcomes = _rule_outcomes(block.rules, icps[icp_number].personas, run.lead_outcomes[lead_row])
            persona_code, persona_score = model.NO_PERSONA_FIT, None
            if personas[lead_row] >= 0:
                persona_code = rules.personas[personas[lead_row]][1].code
                persona_score = int(persona_scores[lead_row])
        result = LeadResult(account_result, persona_code, persona_score, band(persona_score), persona_outcomes)
        return explain.explain_lead(rules.model, lead, account, result, self.as_of, preview=preview)


def _rule_outcomes(rule_irs, rules, row: np.ndarray):
    """Kernel truth values → reference truth values → the reference's own tally."""
    decode = {ir.FALSE: False, ir.UNKNOWN: None, ir.TRUE: True}
    return tuple(tally(rule, tuple(decode[int(row[p.slot])] for p in rule_ir.params))
                 for rule_ir, rule in zip(rule_irs, rules))


__all__ = ["compile", "CompiledRules", "Ruleset", "ScoreResult", "ScoringError", "run_parallel"]
