"""The order of passes, written once.

Front end, `load_ruleset`: read → parse → expand templates → check (→ lint, for `unstuck check`)
    source.py, parser.py (parsed.py keeps its trees), expand.py, check.py, lint.py
Back end, `compile_rules`, `score`, `score_dataset`: lower → encode → bind → generate → load kernel → execute → tables
    lower.py, data.py, bind.py, codegen.py, kernel.py, execute.py, tables.py (explain.py rebuilds a drawer)
    (`score_chunks`: encode → … → execute the accounts once, then the same passes per chunk of leads)

api.py is the facade over both.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable
from pathlib import Path

from . import ast
from .check import check_workspace
from .diagnostics import MAX_ERRORS, Diagnostic, RuleError
from .expand import expand_templates
from .lint import lint_ruleset
from .model import Ruleset
from .parsed import parse
from .source import TEXT_NAME, Source, read_sources


def looks_like_path(path_or_text: str | Path) -> bool:
    if isinstance(path_or_text, Path):
        return True
    return "\n" not in path_or_text and "{" not in path_or_text


def sources_of(path_or_text: str | Path) -> list[Source]:
    if looks_like_path(path_or_text):
        return read_sources(path_or_text)
    return [Source(TEXT_NAME, str(path_or_text))]


def check_sources(sources: list[Source], lint: bool = False, keep_parsed: bool = False,
                  ) -> tuple[Ruleset | None, list[Diagnostic]]:
    """Parse every file, expand the templates, then check the workspace, and with `lint` run the
    lint pass on rules without errors (its findings are warnings). Syntax errors of all files are
    reported together; the later passes wait until every file parses, so a broken file cannot
    cause knock-on "unknown name" errors elsewhere. Each pass reports at most MAX_ERRORS errors,
    and the run stops at the pass that reaches them. With `keep_parsed`, the syntax trees of files
    parsed by an earlier process are reused (`parsed`)."""
    files, diagnostics = [], []
    with _cycle_collection_paused():
        for source in sources:
            rule_file, problems = parse(source, keep=keep_parsed)
            diagnostics.extend(problems)
            if rule_file is not None:
                files.append(rule_file)
        if diagnostics:
            return None, diagnostics[:MAX_ERRORS]
        expanded, diagnostics = expand_templates(ast.Workspace(tuple(files)))
        if len(diagnostics) >= MAX_ERRORS:
            return None, diagnostics
        ruleset, problems = check_workspace(expanded)
        diagnostics += _up_to_max_errors(problems, MAX_ERRORS - len(diagnostics))
        if any(d.is_error for d in diagnostics):
            return None, diagnostics
        if lint:
            diagnostics += lint_ruleset(ruleset, expanded)
        return ruleset, diagnostics


def _up_to_max_errors(diagnostics: list[Diagnostic], errors: int) -> list[Diagnostic]:
    """The diagnostics up to the given number of errors, as if checking had stopped there."""
    for k, d in enumerate(diagnostics):
        errors -= d.is_error
        if errors == 0:
            return diagnostics[:k + 1]
    return diagnostics


@contextlib.contextmanager
def _cycle_collection_paused():
    """The front end allocates millions of small objects and keeps them (parse trees, AST
    nodes, spans), none of them in a reference cycle. Python's cycle collector would rescan all
    that are alive every time the heap grows by a quarter, which more than doubles the time of
    a large workspace and makes it grow faster than the rules; reference counting still frees
    everything, and the collector resumes afterwards. (So does loading kernels from the cache:
    `uncollected_kernel_loading`.)"""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# Run once, by the first loading of kernels in the process: see `after_first_kernels`.
_after_first_kernels: list[Callable[[], None]] = []
_after_first_kernels_lock = threading.Lock()


def after_first_kernels(then: Callable[[], None]) -> None:
    """Have the first loading of kernels in this process (`uncollected_kernel_loading`) run `then`
    once it has loaded them, on its thread, before the cycle collector resumes: what that loading
    made (numba's modules, types and dispatchers, some 100,000 objects) lives until the process
    ends, and the command line sets it aside from the collector (`cli.process.set_aside_loaded_kernels`).
    The API registers nothing: a caller's collector is left as it is."""
    with _after_first_kernels_lock:
        _after_first_kernels.append(then)


@contextlib.contextmanager
def uncollected_kernel_loading():
    """Kernels load inside the block, from the cache (numba's start-up, then cached kernels and
    passes): no cycle collection meanwhile. It found no garbage there, yet ran some 300 times,
    twice in full, over the loading's ~100,000 objects (0.2-0.3 s of an ingest of 1,000 accounts
    into 1M, holding the GIL). Not for compiling: numba's compiler makes and drops many objects
    in reference cycles. The first such block in the process runs what `after_first_kernels` was
    given, at its end."""
    with _cycle_collection_paused():
        yield
        with _after_first_kernels_lock:
            taken = list(_after_first_kernels)
            _after_first_kernels.clear()
        for then in taken:
            then()


def load_ruleset(path_or_text: str | Path) -> Ruleset:
    """Read and check a workspace (a file, a directory, or rule text); RuleError on any error.
    A file parsed before, by any command, is not parsed again (`parsed`): a workspace step
    checks its published rules, and the rules given with it, at every run."""
    sources = sources_of(path_or_text)
    ruleset, diagnostics = check_sources(sources, keep_parsed=True)
    if ruleset is None:
        raise RuleError(diagnostics, {s.name: s for s in sources})
    return ruleset


# ---- the back end ---------------------------------------------------------------------------------
# Its modules import numba, so they are imported when a command first scores, not when it only
# checks rules.


def compile_rules(path_or_text: str | Path):
    """The front end, then lower: rules ready to score any records (an `api.CompiledRules`)."""
    from .api import CompiledRules

    return CompiledRules(load_ruleset(path_or_text))


def _quiet(_: str) -> None:
    pass


# Leads scored at a time by `score_chunks`: four million leads' encoded fields, scores and output
# pieces are a few hundred MB. (Smaller chunks, two alive at once, lifted the peak of 1M accounts
# and 3M leads, one chunk, by 5%; at 10M accounts and 30M leads, 4M was as quick as 1M or 2M.)
LEAD_CHUNK_ROWS = 1 << 22


def score(rules, accounts=None, leads=None, as_of=None, preview=(), signals=None, null_values=(),
          missing_columns: str = "error", skip_unknown_signals: bool = False, outcomes: bool = False,
          on_stage=_quiet, on_warning=None):
    """Check the request, encode the records, then `score_dataset`: what a scoring command runs
    once it has compiled `rules` (its inputs may be read with their schema). Each stage is named
    to `on_stage` before it starts; each warning about the input is told to `on_warning`, when
    given."""
    from .api import parse_as_of
    from .engagement import skipped_signals_warning

    as_of = parse_as_of(as_of)
    preview = rules.preview_codes(preview)
    on_stage("reading and encoding data")
    with kernels_loading(rules):
        dataset = rules.load(accounts, leads, null_values, missing_columns)
    for line in dataset.warnings() if on_warning else ():
        on_warning(line)
    on_stage("scoring")
    result = score_dataset(rules, dataset, as_of, preview, outcomes, signals, skip_unknown_signals)
    if result.skipped_signals and on_warning:
        on_warning(skipped_signals_warning(result.skipped_signals))
    return result


@contextlib.contextmanager
def kernels_loading(rules):
    """Load numba and the usual layout's kernels on a second thread while the block reads its
    input, the first time these rules score: numba's start-up holds the GIL for most of a second,
    and Arrow's reading (DuckDB's too) mostly releases it. Yields a function that waits for the
    loading (call it before scoring); the block's end waits too. A block inside another's shares
    its loading (`warm` holds a lock while it loads): a workspace step starts it before its
    transaction, and the store's reading in it shares it. A failure there is left for the
    scoring itself to meet."""

    def loaded() -> None:  # returns once the kernels are loaded, at once when they were before
        rules.warm(quietly=True)

    if rules.needs_warming():
        # numba imports numpy.random, whose modules import each other: imported by both threads at
        # once (pyarrow imports pandas, and so numpy.random, to read a list of dicts), one of them
        # failed with a _DeadlockError. Imported here first, it is there for both.
        import numpy.random  # noqa: F401

        threading.Thread(target=loaded, name="unstuck-warm", daemon=True).start()
    try:
        yield loaded
    finally:
        loaded()


def score_chunks(rules, accounts, leads, as_of=None, preview=(), null_values=(), missing_columns: str = "error",
                 on_stage=_quiet, on_warning=_quiet, lead_chunk_rows: int | None = None):
    """`score` of accounts and their leads, the leads a chunk of up to `lead_chunk_rows` at a
    time (default `LEAD_CHUNK_ROWS`): the accounts are read, encoded and scored once; each chunk
    of leads is read, encoded and scored in turn, and handed over as an `api.ScoreResult` of its
    own (the accounts and that chunk's leads, in the input's order), whose lead table is those
    rows of `score`'s. The next chunk is read and encoded on a thread of its own while the caller
    holds this one (the reading and Arrow's decoding leave the GIL, as do the kernels): memory
    holds the accounts, the first chunk's results (the accounts' scores come with them) and a
    chunk or two of leads, not every lead. What `unstuck score` writes its files from.
    `on_warning` hears what `score`'s does, in the same order: the columns missing and the
    accounts' odd country values once the first chunk is read, the leads' once the last one is
    (each chunk has its own dictionaries). No signals: engagement scores each record from all of
    its own."""
    from .ahead import made_ahead
    from .api import parse_as_of
    from .data import add_odd_countries, country_warnings, load_dataset_chunks, odd_countries

    as_of = parse_as_of(as_of)
    preview = rules.preview_codes(preview)
    on_stage("reading and encoding data")
    chunks = made_ahead(load_dataset_chunks(rules.model.schema, rules.account_fields, rules.lead_fields, accounts,
                                            leads, null_values, missing_columns, lead_chunk_rows or LEAD_CHUNK_ROWS),
                        "unstuck-chunk")
    with kernels_loading(rules):
        dataset = next(chunks)
    for line in dataset.missing_column_warnings() + country_warnings(odd_countries(dataset.accounts)):
        on_warning(line)
    leads_read = dataset.leads
    odd = odd_countries(leads_read) if leads_read is not None else {}
    on_stage("scoring")
    first = score_dataset(rules, dataset, as_of, preview)
    yield first
    for dataset in chunks:
        add_odd_countries(odd, odd_countries(dataset.leads))
        yield score_dataset(rules, dataset, as_of, preview, accounts_of=first)
    if leads_read is not None:  # in the order of the columns, as `score` says them
        columns = [(leads_read.name, name) for name in leads_read.columns]
        for line in country_warnings({column: odd[column] for column in columns if column in odd}):
            on_warning(line)


def score_dataset(rules, dataset, as_of, preview: frozenset[str] = frozenset(), outcomes: bool = False,
                  signals=None, skip_unknown_signals: bool = False, accounts_of=None):
    """The back end's passes over encoded records, in order (an `api.ScoreResult`).
    `accounts_of`: a result over the same accounts (a chunk of leads before, `score_chunks`),
    whose account scores these leads take: only the leads are scored."""
    from .api import ScoreResult
    from .bind import bind_program
    from .execute import layouts_of

    bound = bind_program(rules.program, rules.scoring_tables, rules.model.schema, dataset, as_of,
                         rules.model.titles)  # this run's constants
    if accounts_of is None:
        kernels = rules.kernels(dataset, outcomes)  # generate and load the kernels of this data layout, once
        run = rules.assignments(kernels, dataset, bound, preview)  # execute
    else:
        if outcomes:
            raise ValueError("a chunk of leads scored against earlier accounts keeps no parameter outcomes")
        # The accounts' layouts are those they were scored with (their fields may be let go by
        # now, `ScoreResult.drop_fields`, as the lead kernel reads only their ICPs).
        kernels = rules.kernels_of({**accounts_of._kernels.layouts, **layouts_of([dataset.leads])})
        run = rules.lead_assignments(accounts_of._run, kernels, dataset, bound, preview)
    result = ScoreResult(rules, dataset, as_of, preview, bound, kernels, run)  # tables, when first read
    if rules.model.engagement is not None and signals is not None:
        result.score_engagement(signals, skip_unknown_signals)
    return result


def score_leads(rules, leads, account_icp, account_preview_icp, as_of, preview: frozenset[str] = frozenset(),
                missing_columns: str = "error"):
    """The Personas of leads whose accounts were scored before, elsewhere (the Spark engine
    scores the accounts, then sends each lead only its account's ICP): `leads` (lead_id,
    account_id and the lead fields) as `score` reads them; `account_icp` and
    `account_preview_icp`, per lead, the kernel's ICP number of its account (`codegen.NO_RULE`
    when it has none, or no account). Returns their `execute.LeadAssignments`, row for row,
    equal to what `score` gives these leads with their accounts."""
    import numpy as np
    import pyarrow as pa

    from .bind import bind_program
    from .data import Dataset, encode
    from .execute import score_leads as lead_kernel
    from .schema import ACCOUNT_KEY

    schema = rules.model.schema
    no_accounts = encode(pa.table({ACCOUNT_KEY: pa.nulls(0, pa.string())}), schema, "account", rules.account_fields,
                         "accounts", missing_columns="unknown")
    lead_table = encode(leads, schema, "lead", rules.lead_fields, None, (ACCOUNT_KEY,), (), missing_columns)
    # Each lead reads its own entry of the ICP arrays: lead i's account is "row" i.
    dataset = Dataset(no_accounts, lead_table, np.arange(lead_table.n, dtype=np.int64))
    bound = bind_program(rules.program, rules.scoring_tables, schema, dataset, as_of, rules.model.titles)
    return lead_kernel(rules.program, rules.kernels(dataset), lead_table, dataset.lead_account_rows,
                       np.asarray(account_icp, np.int32), np.asarray(account_preview_icp, np.int32), bound,
                       rules.active(preview), rules.lead_tables, bool(preview))
