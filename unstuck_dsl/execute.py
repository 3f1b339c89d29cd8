"""Execution: compiled kernels per data layout, arguments marshalled by name, and the thread
pool that runs a kernel over slices of the records.

Every kernel argument is passed by the name codegen gave it (`codegen.account_parameters` and
its siblings, the same lists the generated `def` lines are written from), so two arrays of one
dtype cannot trade places unnoticed: a missing or unexpected name is an error before the call.
"""

from __future__ import annotations

import copy
import math
import os
import weakref

import attrs
import numpy as np
import pyarrow as pa

from . import codegen, ir, kernel
from .ahead import kept_pool
from .bind import Bound, Constants, ScoringTables
from .data import Dataset, EncodedTable
from .schema import ENCODING_DTYPES


def compile_errors() -> tuple[type[BaseException], ...]:
    """Failures of numba's compiler itself (typing, lowering; too deep or too large a function),
    as opposed to a cache entry that cannot be read. numba is imported when a kernel fails, not
    when rules compile."""
    from numba.core.errors import NumbaError

    return NumbaError, RecursionError, MemoryError


# A kernel this long (in lines of generated source) takes more time to compile than a child
# process takes to start (importing numba): below it, compiling side by side would not pay.
COMPILE_ASIDE_LINES = 80


def lines_of(source: str, name: str) -> int:
    """How many lines of `source` kernel `name` is: what its compile time grows with."""
    start = source.index(f"def {name}(")
    end = source.find("@njit", start)
    return source.count("\n", start, end if end >= 0 else len(source))


def _large(source: str, names) -> bool:
    return all(lines_of(source, name) >= COMPILE_ASIDE_LINES for name in names)


@attrs.define
class KernelModule:
    """The compiled module of one layout. The first call of each kernel runs on zero records,
    which loads it from numba's cache or compiles it; a corrupt cache entry is rebuilt then.
    `compilers`: child processes started with a module new to this machine, to compile its large
    kernels side by side (`prepare`). `outcomes`: its scoring kernels are an explain run's, which
    keep each parameter's truth value (`codegen.generate`)."""

    module: object
    source: str
    layouts: dict[str, str]
    parameters: dict[str, list[str]]  # kernel name → its parameters after (start, stop), codegen's list
    compilers: list[kernel.Compiler] = attrs.Factory(list)
    outcomes: bool = False
    ready: set = attrs.Factory(set)

    def prepare(self, calls: dict[str, dict[str, object]]) -> None:
        """Compile (or load from the cache) the kernels about to run, `calls` giving each one's
        arguments. In a module new to this machine, large kernels compile side by side: all but
        the shortest in child processes (`kernel.Compiler`), the shortest here meanwhile. The
        children, started with the module, are ready to compile before this process, which has
        encoded the records and bound the constants meanwhile: the longer kernels are theirs."""
        pending = {name: marshal(self.parameters[name], named) for name, named in calls.items()
                   if name not in self.ready}
        here, children = list(pending), []
        if len(pending) > 1 and kernel.written_here(self.module) and _large(self.source, pending):
            shortest, *aside = sorted(pending, key=lambda name: lines_of(self.source, name))
            for name in aside:
                children.append(self.compilers.pop() if self.compilers else kernel.Compiler())
                children[-1].compile(self.module, name, pending[name])
            here = [shortest]
        for compiler in self.compilers:  # started for work that did not come
            compiler.close()
        self.compilers.clear()
        try:
            for name in here:
                self._first_call(name, pending[name])
        finally:
            for child in children:
                child.wait()
        for name, args in pending.items():  # found in the cache the children filled
            if name not in self.ready:
                self._first_call(name, args)

    def _first_call(self, name: str, args: list[object]) -> None:
        try:
            getattr(self.module, name)(0, 0, *args)
        except compile_errors():
            raise  # compiling again would fail the same way, after as long again
        except Exception:  # a damaged cache entry: rebuild it once, then let errors through
            self.module = kernel.reload_kernel(self.source)
            self.ready.clear()
            getattr(self.module, name)(0, 0, *args)
        self.ready.add(name)

    def run(self, name: str, n: int, named: dict[str, object]) -> None:
        """Run kernel `name` over records 0..n with the arguments `named`, in its parameters' order."""
        args = marshal(self.parameters[name], named)
        if name not in self.ready:
            self._first_call(name, args)
        run_parallel(getattr(self.module, name), n, *args)


def marshal(parameters: list[str], named: dict[str, object]) -> list[object]:
    """The arguments in parameter order; every parameter named exactly once, and no array the
    kernel writes (an `out_` parameter) sharing memory with another argument: kernels are
    compiled on that promise (steps.kernel)."""
    if len(named) != len(parameters) or not all(p in named for p in parameters):
        missing = [p for p in parameters if p not in named]
        extra = sorted(set(named) - set(parameters))
        raise TypeError(f"kernel arguments do not match its parameters: missing {missing}, unexpected {extra}")
    _check_apart(named)
    return [named[p] for p in parameters]


def _check_apart(named: dict[str, object]) -> None:
    """Raise unless each output is an array `kernel_output` made (fresh memory, which no array
    made before it shares) and is passed once."""
    for name, value in named.items():
        if name.startswith("out_") and (_FRESH.get(id(value)) is not value or sum(v is value for v in named.values()) > 1):
            raise ValueError(f"kernel output {name} is not an array of its own (execute.kernel_output)")


def cached_module(cache: dict, key, layouts: dict[str, str], generate, parameters, outcomes: bool = False) -> KernelModule:
    """The kernel module of `key` in `cache`, generated (`generate(layouts)`) and loaded on
    first use; `parameters` maps each of its kernels to a function of the layouts giving that
    kernel's parameter names. A module new to this machine with several large kernels starts
    the child processes that will compile all but one of them first, so that they load numba
    while this process imports the module and prepares the kernels' arguments."""
    if key not in cache:
        source = generate(layouts)
        compilers = [kernel.Compiler() for _ in list(parameters)[1:]] \
            if len(parameters) > 1 and _large(source, parameters) and kernel.is_new(source) else []
        cache[key] = KernelModule(kernel.load_kernel(source), source, layouts,
                                  {name: names(layouts) for name, names in parameters.items()}, compilers, outcomes=outcomes)
    return cache[key]


def layouts_of(tables: list[EncodedTable]) -> dict[str, str]:
    """The layout ("bitset" or "csr") of every set column in these tables."""
    return {name: column.encoding for t in tables for name, column in t.columns.items()
            if column.encoding in ("bitset", "csr")}


# ---- the thread pool ----------------------------------------------------------------------------

PARALLEL_MIN_RECORDS = 20_000
CORES = os.cpu_count() or 1  # asked once: `os.cpu_count` reads /proc, tens of microseconds a call
# Slices per core: a core that finishes its slices early (its neighbour was busy with another
# process) takes the ones still waiting, instead of the whole run waiting for the slowest core.
SLICES_PER_CORE = 4


def run_parallel(kernel_fn, n: int, *args) -> None:
    """Run a kernel over records 0..n in slices, a few per core, on the process's kernel threads
    (`ahead.kept_pool`); the kernel releases the GIL."""
    slices = max(1, min(CORES * SLICES_PER_CORE, n // PARALLEL_MIN_RECORDS))
    if slices == 1 or CORES == 1:
        kernel_fn(0, n, *args)
        return
    pool = kept_pool("unstuck-kernel", CORES)
    bounds = np.linspace(0, n, slices + 1).astype(np.int64, copy=False)
    futures = [pool.submit(kernel_fn, int(lo), int(hi), *args) for lo, hi in zip(bounds[:-1], bounds[1:])]
    for future in futures:
        future.result()


# ---- marshalling --------------------------------------------------------------------------------


def column_arguments(prefix: str, table: EncodedTable | None, slots, layouts) -> dict[str, np.ndarray]:
    """The column arrays of one record kind by kernel parameter name; empty placeholders when
    there are no records of this kind."""
    named = {}
    for name, k, role in codegen.column_parameters(prefix, slots, layouts):
        column = table.columns[slots[k].field] if table is not None else None
        if column is None:
            named[name] = _placeholder(slots[k], role, layouts)
        else:
            named[name] = {"values": column.values, "valid": column.valid, "offsets": column.offsets}[role]
    return named


def _placeholder(slot, role, layouts) -> np.ndarray:
    """An empty column for a kernel run with no records of this kind."""
    if role == "offsets":
        return np.zeros(1, np.int64)
    if role == "valid":
        return np.zeros(0, np.uint8)
    if slot.encoding == "set":
        return np.zeros(0, np.int32) if layouts.get(slot.field) == "csr" else np.zeros((0, 1), np.uint64)
    return np.zeros(0, ENCODING_DTYPES[slot.encoding])


def constant_arguments(constants: Constants) -> dict[str, np.ndarray]:
    return {"luts": constants.luts, "lut_off": constants.lut_offsets, "floats": constants.floats,
            "ints": constants.ints, "bit_words": constants.bit_words, "bit_masks": constants.bit_masks}


def scoring_arguments(scoring: ScoringTables, weights: np.ndarray) -> dict[str, np.ndarray]:
    """The scoring tables one kernel reads, with `weights`: its record kind's, per parameter slot."""
    return {"weights": weights, "possible": scoring.possible, "score_table": scoring.score_table,
            "score_at": scoring.score_at}


# ---- the scoring run ----------------------------------------------------------------------------


@attrs.frozen
class Active:
    """Which ICPs and Personas take part, one uint8 per rule: live ones, and in a preview run
    also the named drafts."""

    live_icp: np.ndarray
    preview_icp: np.ndarray
    live_persona: np.ndarray
    preview_persona: np.ndarray


# Outputs from this size come from Arrow's memory pool (`kernel_output`); below it, from numpy's
# allocator: a small array faults in no pages worth a call into Arrow (an explain run makes ten,
# which cost it 0.2 ms through the pool).
POOLED_OUTPUT_BYTES = 1 << 20

# The arrays `kernel_output` made, by id, as long as they live: a kernel writes only these (`marshal`).
_FRESH: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def kernel_output(shape: int | tuple[int, ...], dtype, fill: int | None = None) -> np.ndarray:
    """An array a kernel writes (`fill`: its value before). A large one is made in Arrow's memory
    pool, as the result tables built over it are: the pool keeps the pages it frees for the
    next run's outputs. numpy's came from the system and went back at every run (at 1M accounts,
    2,600-3,100 page faults a run when the process did other work between runs: a tenth of the
    scoring)."""
    shape = (shape,) if isinstance(shape, int) else shape
    dtype = np.dtype(dtype)
    size = math.prod(shape) * dtype.itemsize
    if size < POOLED_OUTPUT_BYTES:
        array = np.empty(shape, dtype)
    else:
        array = np.frombuffer(pa.allocate_buffer(size), dtype).reshape(shape)
    if fill is not None:
        array.fill(fill)
    _FRESH[id(array)] = array
    return array


class Assignments:
    """One kernel run over a dataset: assignment arrays (kernel numbers and scores, see
    `codegen.NO_RULE` and the persona sentinels) and, when `kernels` are an explain run's,
    parameter outcomes."""

    def __init__(self, program: ir.Program, kernels: KernelModule, dataset: Dataset, bound: Bound, active: Active,
                 tables: tuple[codegen.Tables, codegen.Tables], preview: bool):
        outcomes = kernels.outcomes
        layouts = kernels.layouts
        n = dataset.accounts.n
        account_params = sum(len(r.params) for r in program.icps.rules)
        # Preview outputs exist only in a preview run (the kernel does not touch them otherwise).
        p = n if preview else 1
        self.icp = kernel_output(n, np.int32)
        self.icp_score = kernel_output(n, np.int32)
        self.preview_icp = kernel_output(p, np.int32, codegen.NO_RULE)
        self.preview_icp_score = kernel_output(p, np.int32, codegen.NO_RULE)
        self.outcomes = outcomes  # whether every record's parameter outcomes were kept
        self.account_outcomes = kernel_output((n if outcomes else 0, max(account_params, 1)), np.int8, -1)
        constants = constant_arguments(bound.constants)
        calls = {"score_accounts": {
            **column_arguments("a", dataset.accounts, program.account_columns, layouts), **constants,
            **scoring_arguments(bound.scoring, bound.scoring.weights), "live": active.live_icp,
            "preview_live": active.preview_icp, "preview": preview,
            "out_icp": self.icp, "out_score": self.icp_score, "out_preview_icp": self.preview_icp,
            "out_preview_score": self.preview_icp_score, "out_tri": self.account_outcomes,
            **tables[0].named()}}
        self.lead_outcomes = None
        leads = None
        if dataset.leads is not None:
            leads = LeadAssignments(program, layouts, dataset.leads, dataset.lead_account_rows, self.icp,
                                    self.preview_icp, bound, active, tables[1], preview, outcomes)
            self._take(leads)
            calls["score_leads"] = leads.calls[0]
        kernels.prepare(calls)
        kernels.run("score_accounts", n, calls["score_accounts"])
        if leads is not None:  # after the accounts: a lead reads its account's ICP
            leads.run(kernels)

    def _take(self, leads: LeadAssignments) -> None:
        self.persona, self.persona_score = leads.persona, leads.persona_score
        self.preview_persona, self.preview_persona_score = leads.preview_persona, leads.preview_persona_score
        self.lead_outcomes = leads.lead_outcomes

    def with_leads(self, program: ir.Program, kernels: KernelModule, leads: EncodedTable, account_rows: np.ndarray,
                   bound: Bound, active: Active, tables: codegen.Tables, preview: bool) -> Assignments:
        """These accounts' assignments, with other leads of theirs (`account_rows`: each one's
        account row here) scored by the lead kernel alone: the next chunk of a lead file read a
        chunk at a time (`pipeline.score_chunks`). The accounts are not scored again. A scoring
        run's: no parameter outcomes are kept."""
        other = copy.copy(self)
        other._take(score_leads(program, kernels, leads, account_rows, self.icp, self.preview_icp, bound, active,
                                tables, preview))
        other.outcomes = False
        return other


class LeadAssignments:
    """The lead kernel's calls and their output arrays (kernel Persona numbers and scores, live and
    preview, and on request parameter outcomes), given each lead's account row and the accounts'
    assigned ICPs (kernel numbers, `codegen.NO_RULE` for none). The kernel assigns one ICP's
    Personas, so a preview run calls it twice: with the live ICPs and Personas, then with the
    preview's, into the preview outputs; both calls write their Personas' outcomes. A lead whose
    ICP is the same in both is evaluated twice, but only in a preview run: a kernel assigning both
    at once took 20% longer to compile (the heavy ruleset's lead kernel sets the cold compile time)
    and 12% longer to run."""

    def __init__(self, program: ir.Program, layouts: dict[str, str], leads: EncodedTable, account_rows: np.ndarray,
                 account_icp: np.ndarray, account_preview_icp: np.ndarray, bound: Bound, active: Active,
                 tables: codegen.Tables, preview: bool, outcomes: bool):
        m = leads.n
        lead_params = sum(len(r.params) for b in program.personas for r in b.rules)
        p = m if preview else 1  # preview outputs exist only in a preview run
        self.persona = kernel_output(m, np.int32)
        self.persona_score = kernel_output(m, np.int32)
        self.preview_persona = kernel_output(p, np.int32, codegen.PERSONA_NO_ICP)
        self.preview_persona_score = kernel_output(p, np.int32, codegen.NO_RULE)
        self.lead_outcomes = kernel_output((m if outcomes else 0, max(lead_params, 1)), np.int8, -1)
        self.n = m
        common = {"account_row": account_rows, **column_arguments("l", leads, program.lead_columns, layouts),
                  **constant_arguments(bound.constants), **scoring_arguments(bound.scoring, bound.scoring.lead_weights),
                  "out_tri": self.lead_outcomes, **tables.named()}
        self.calls = [{**common, "account_icp": account_icp, "live": active.live_persona,
                       "out_persona": self.persona, "out_score": self.persona_score}]
        if preview:
            self.calls.append({**common, "account_icp": account_preview_icp, "live": active.preview_persona,
                               "out_persona": self.preview_persona, "out_score": self.preview_persona_score})

    def run(self, kernels: KernelModule) -> None:
        for call in self.calls:
            kernels.run("score_leads", self.n, call)


def score_leads(program: ir.Program, kernels: KernelModule, leads: EncodedTable, account_rows: np.ndarray,
                account_icp: np.ndarray, account_preview_icp: np.ndarray, bound: Bound, active: Active,
                tables: codegen.Tables, preview: bool) -> LeadAssignments:
    """The lead kernel alone, for leads whose accounts were scored before (by another run or
    engine): only the accounts' assigned ICPs are read, not their fields."""
    run = LeadAssignments(program, kernels.layouts, leads, account_rows, account_icp, account_preview_icp, bound,
                          active, tables, preview, outcomes=False)
    kernels.prepare({"score_leads": run.calls[0]})
    run.run(kernels)
    return run


def match_audience(program: ir.AudienceProgram, kernels: KernelModule, records: EncodedTable,
                   constants: Constants) -> np.ndarray:
    """Per record: the audience condition's truth value (`ir.TRUE`: a member)."""
    out = kernel_output(records.n, np.int8, 0)
    kernels.run("match_audience", records.n, {
        **column_arguments("c", records, program.columns, kernels.layouts), **constant_arguments(constants),
        "out": out, **codegen.audience_tables(program).named()})
    return out
