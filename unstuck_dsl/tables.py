"""Output tables: the kernels' assignment arrays as SPEC's Arrow columns (accounts, leads), as
the encoded table audiences read (each record with its fields and score columns), and as the
numbers two results are compared by (a diff, what a publish moves)."""

from __future__ import annotations

import functools

import attrs
import numpy as np
import pyarrow as pa

from . import codegen
from .data import Column, Dataset, EncodedTable, unknown_column
from .schema import BAND_LEVELS, BANDS, SCORE_FIELDS, Schema


def gather(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`values[rows]` per lead, from its account's row; `codegen.NO_RULE` where a lead has no
    account (row -1) or there are no accounts. (Not by appending NO_RULE to `values`: a copy of
    every account's value for each piece of leads, 30 copies of 10M at 10M accounts.)"""
    if not len(values):
        return np.full(len(rows), codegen.NO_RULE, values.dtype)
    found = values.take(rows)  # row -1 reads the last account's value, replaced below
    found[rows < 0] = codegen.NO_RULE
    return found


def codes_column(codes: list[str], index: np.ndarray) -> pa.Array:
    """A dictionary-encoded string column (the kernel's own codes, no copies of strings);
    a negative index is null."""
    return pa.DictionaryArray.from_arrays(_null_below_zero(index), _dictionary(tuple(codes)))


def _null_below_zero(values: np.ndarray) -> pa.Array:
    """Whole numbers as an int32 Arrow array (over the same memory when they are contiguous int32
    already), a negative value null. The validity bitmap
    packed by numpy: Arrow's conversion of a boolean mask took twice as long, and the code and
    score columns of 30M leads are built six at a time."""
    values = np.ascontiguousarray(values, dtype=np.int32)
    valid = np.packbits(values >= 0, bitorder="little")
    return pa.Array.from_buffers(pa.int32(), len(values), [pa.py_buffer(valid), pa.py_buffer(values)])


@functools.cache
def _dictionary(codes: tuple[str, ...]) -> pa.Array:
    """A column's codes as Arrow, made once (a ruleset's ICP, Persona and band codes: every
    scoring made them again, a fixed cost of scoring one record)."""
    return pa.array(codes, pa.string())


def score_column(scores: np.ndarray) -> pa.Array:
    return _null_below_zero(scores)


# Rule 6 (schema.BANDS) as a table indexed by score + 1; entry 0 (no score) is -1.
_BAND_OF_SCORE = np.concatenate([[-1], np.searchsorted([top for _, top in BANDS], np.arange(101))]).astype(np.int32)


def band_codes(scores: np.ndarray) -> np.ndarray:
    return _BAND_OF_SCORE[scores + 1]


def band_column(scores: np.ndarray) -> pa.Array:
    return codes_column(list(BAND_LEVELS), band_codes(scores))


def _int_column(field, scores: np.ndarray) -> Column:
    return Column(field, "i64", np.maximum(scores, 0).astype(np.int64, copy=False), (scores >= 0).astype(np.uint8, copy=False))


def engagement_columns(stages: list[str], scored) -> dict:
    if scored is None:
        return {}
    score, stage = scored
    return {"engagement_score": pa.array(score, pa.float64()), "stage": codes_column(stages, stage)}


def account_table(dataset: Dataset, run, icp_codes: list[str], preview: bool, engagement: dict) -> pa.Table:
    """account_id, icp_code, icp_score, icp_band (and preview_* columns in a preview run)."""
    columns = {
        "account_id": dataset.accounts.ids,
        "icp_code": codes_column(icp_codes, run.icp),
        "icp_score": score_column(run.icp_score),
        "icp_band": band_column(run.icp_score),
    }
    if preview:
        columns.update({"preview_icp_code": codes_column(icp_codes, run.preview_icp),
                        "preview_icp_score": score_column(run.preview_icp_score),
                        "preview_icp_band": band_column(run.preview_icp_score)})
    columns.update(engagement)
    return pa.table(columns)


def lead_table(dataset: Dataset, run, icp_codes: list[str], persona_names: list[str], persona_name_of: np.ndarray,
               preview: bool, engagement: dict, start: int = 0, stop: int | None = None) -> pa.Table:
    """lead_id, account_id, icp_code, icp_score, icp_band, persona_code, persona_score,
    persona_band (and preview_* columns) of the leads from row `start` to `stop` (all of them by
    default). `persona_name_of` maps kernel Persona numbers (and the sentinels) to indexes of
    `persona_names`; `engagement` holds whole columns, sliced here."""
    leads = dataset.leads
    stop = leads.n if stop is None else min(stop, leads.n)
    rows, count = dataset.lead_account_rows[start:stop], stop - start
    icp, icp_score = gather(run.icp, rows), gather(run.icp_score, rows)
    persona, persona_score = run.persona[start:stop], run.persona_score[start:stop]
    columns = {
        "lead_id": leads.ids.slice(start, count),
        "account_id": leads.account_ids.slice(start, count),
        "icp_code": codes_column(icp_codes, icp),
        "icp_score": score_column(icp_score),
        "icp_band": band_column(icp_score),
        "persona_code": codes_column(persona_names, persona_name_of[persona]),
        "persona_score": score_column(persona_score),
        "persona_band": band_column(persona_score),
    }
    if preview:
        picp, picp_score = gather(run.preview_icp, rows), gather(run.preview_icp_score, rows)
        ppersona, ppersona_score = run.preview_persona[start:stop], run.preview_persona_score[start:stop]
        columns.update({
            "preview_icp_code": codes_column(icp_codes, picp),
            "preview_icp_score": score_column(picp_score),
            "preview_icp_band": band_column(picp_score),
            "preview_persona_code": codes_column(persona_names, persona_name_of[ppersona]),
            "preview_persona_score": score_column(ppersona_score),
            "preview_persona_band": band_column(ppersona_score),
        })
    columns.update({name: column.slice(start, count) for name, column in engagement.items()})
    return pa.table(columns)


@attrs.frozen
class ScoreNumbers:
    """The score columns of a result's records of one kind as the kernel's numbers: codes as
    positions in `icp_codes` and `persona_names`, scores as they are; -1 is none (every Persona
    of an account). What comparing two results reads, rather than 4M strings."""

    kind: str  # "lead" or "account"
    ids: pa.Array
    icp: np.ndarray
    icp_score: np.ndarray
    persona: np.ndarray
    persona_score: np.ndarray
    icp_codes: list[str]
    persona_names: list[str]


def score_numbers(dataset: Dataset, run, icp_codes: list[str], persona_names: list[str],
                  persona_name_of: np.ndarray, kind: str) -> ScoreNumbers:
    """`ScoreNumbers` of a kernel run's records of `kind` (`persona_name_of` as in `lead_table`)."""
    if kind == "account":
        none = np.full(dataset.accounts.n, -1, np.int32)
        return ScoreNumbers("account", dataset.accounts.ids, run.icp, run.icp_score, none, none, icp_codes, [])
    rows = dataset.lead_account_rows
    return ScoreNumbers("lead", dataset.leads.ids, gather(run.icp, rows), gather(run.icp_score, rows),
                        persona_name_of[run.persona], run.persona_score, icp_codes, persona_names)


def code_counts(dataset: Dataset, run, icp_codes: list[str], persona_names: list[str], persona_name_of: np.ndarray,
                kind: str) -> dict[tuple, int]:
    """How many records of `kind` hold each code: per `(icp_code,)` for accounts, per
    `(icp_code, persona_code)` for leads (None: no code), in one pass over the kernel's numbers
    (at 30M leads, gathering each lead's ICP code and combining the pairs in numpy took seconds)."""
    icps = [None, *icp_codes]
    if kind == "account":
        counts = np.bincount(run.icp + 1, minlength=len(icps))
        return {(icps[i],): int(counts[i]) for i in np.flatnonzero(counts)}
    counts = _pair_counter()(run.icp, dataset.lead_account_rows, run.persona, persona_name_of,
                             len(icp_codes), len(persona_names))
    personas = [None, *persona_names]
    return {(icps[i], personas[j]): int(counts[i, j]) for i, j in zip(*np.nonzero(counts))}


def _count_pairs(account_icp, lead_account_rows, persona, persona_name_of, icps, personas):
    """Leads per (ICP code + 1, Persona name + 1); 0 is none (no account, no ICP, no Persona)."""
    counts = np.zeros((icps + 1, personas + 1), np.int64)
    for lead in range(len(lead_account_rows)):
        row = lead_account_rows[lead]
        icp = account_icp[row] if row >= 0 else -1
        counts[icp + 1, persona_name_of[persona[lead]] + 1] += 1  # (sentinels index from the end)
    return counts


@functools.cache
def _pair_counter():
    from numba import njit  # compiled on first use (and cached on disk), not on import

    return njit(cache=True, nogil=True)(_count_pairs)


@attrs.frozen
class SharedCodes:
    """A code or band column of two results over the same records as numbers over one vocabulary:
    `old` and `new` per record (-1: none), `names[k]` the text of number k. Comparing and counting
    numbers, not 4M strings, is most of what makes a diff of a big workspace quick (and finding
    what a publish moves)."""

    old: np.ndarray
    new: np.ndarray
    names: list[str]

    @classmethod
    def of(cls, old: np.ndarray, old_names: list[str], new: np.ndarray, new_names: list[str]) -> SharedCodes:
        """Each side's numbers (positions in its own names, -1: none) over the names of both."""
        names = list(dict.fromkeys([*old_names, *new_names]))
        position = {name: k for k, name in enumerate(names)}

        def renumbered(numbers: np.ndarray, own: list[str]) -> np.ndarray:
            if names[:len(own)] == own:  # the same numbers (always the old side's)
                return numbers
            # Entry -1, appended last, keeps none as none.
            return np.array([position[name] for name in own] + [-1], np.int64)[numbers]

        return cls(renumbered(old, old_names), renumbered(new, new_names), names)


@attrs.frozen
class ComparedScores:
    """Two results' `ScoreNumbers` over the same records, column by column: the code columns over
    one vocabulary (`codes`), each score column's (old, new) numbers (`scores`), and where each
    column differs (`moved`; a score is -1 when there is none: none equals none and differs from
    every score). What a diff counts and what a publish rewrites are both read from it."""

    codes: dict[str, SharedCodes]
    scores: dict[str, tuple[np.ndarray, np.ndarray]]
    moved: dict[str, np.ndarray]

    @classmethod
    def of(cls, old: ScoreNumbers, new: ScoreNumbers) -> ComparedScores:
        codes = {"icp_code": SharedCodes.of(old.icp, old.icp_codes, new.icp, new.icp_codes),
                 "persona_code": SharedCodes.of(old.persona, old.persona_names, new.persona, new.persona_names)}
        scores = {"icp_score": (old.icp_score, new.icp_score), "persona_score": (old.persona_score, new.persona_score)}
        moved = {**{c: shared.old != shared.new for c, shared in codes.items()},
                 **{c: before != after for c, (before, after) in scores.items()}}
        return cls(codes, scores, moved)


def audience_table(dataset: Dataset, run, schema: Schema, icp_codes: list[str], persona_names: list[str],
                   persona_name_of: np.ndarray, stages: list[str] | None, engagement) -> EncodedTable:
    """The scored records as one table for audiences: each lead with its account's fields (or
    each account when no leads were scored) and the six score columns. `schema` is the
    audience schema; `stages` the engagement stages when the rules declare engagement, and
    `engagement` the (score, stage) arrays of these records when signals were given."""
    ds = dataset
    if ds.leads is not None:
        rows = ds.lead_account_rows
        columns = {name: c.gather(rows) for name, c in ds.accounts.columns.items()}
        columns.update(ds.leads.columns)
        icp, icp_score = gather(run.icp, rows), gather(run.icp_score, rows)
        persona, persona_score, ids, kind = run.persona, run.persona_score, ds.leads.ids, "lead"
    else:
        columns = dict(ds.accounts.columns)
        columns.update({f.name: unknown_column(f, ds.accounts.n) for f in schema.of_kind("lead")})
        icp, icp_score = run.icp, run.icp_score
        persona = np.full(ds.accounts.n, codegen.PERSONA_NO_ICP)
        persona_score = np.full(ds.accounts.n, codegen.NO_RULE)
        ids, kind = ds.accounts.ids, "account"
    fields = {f.name: f for f in SCORE_FIELDS}
    columns["icp_code"] = Column(fields["icp_code"], "coded", icp.astype(np.int32, copy=False), dictionary=icp_codes)
    columns["icp_score"] = _int_column(fields["icp_score"], icp_score)
    columns["icp_band"] = Column(fields["icp_band"], "coded", band_codes(icp_score), dictionary=list(BAND_LEVELS))
    columns["persona_code"] = Column(fields["persona_code"], "coded",
                                     persona_name_of[persona], dictionary=persona_names)
    columns["persona_score"] = _int_column(fields["persona_score"], persona_score)
    columns["persona_band"] = Column(fields["persona_band"], "coded", band_codes(persona_score),
                                     dictionary=list(BAND_LEVELS))
    if stages is not None and engagement is None:  # no signals given: unknown
        columns["engagement_score"] = unknown_column(schema.get("engagement_score"), len(ids))
        columns["stage"] = unknown_column(schema.get("stage"), len(ids))
    elif engagement is not None:
        score, stage = engagement
        columns["engagement_score"] = Column(schema.get("engagement_score"), "f64", score,
                                             np.ones(len(score), np.uint8))
        columns["stage"] = Column(schema.get("stage"), "coded", stage.astype(np.int32), dictionary=stages)
    return EncodedTable(kind, ids, columns)
