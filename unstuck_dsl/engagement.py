"""Engagement: signals read into per-record lists, and the compiled kernel that scores them.

Engagement is computed apart from fit and never changes a fit score. A lead's engagement sums
its own signals; an account's sums its own and all its leads'. Each signal counts its weight,
halved every half-life (or whole within its window) at the as-of date; the stage is the first
whose threshold the score is below. `reference.engagement_score` is the same rule in Python.
"""

from __future__ import annotations

import datetime as dt
import functools

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import dates, model
from .data import DataError, Dataset, date_days, read_table, row_error
from .execute import run_parallel

SIGNAL_COLUMNS = ("lead_id", "account_id", "signal", "timestamp")


@attrs.frozen
class SignalLists:
    """Signals per record as CSR lists, each list in (day, signal type) order."""

    offsets: np.ndarray  # int64[n + 1]
    days: np.ndarray  # int32 day numbers
    kinds: np.ndarray  # int32 signal type indices

    def of(self, row: int) -> list[tuple[int, int]]:
        return list(zip(self.kinds[self.offsets[row]:self.offsets[row + 1]].tolist(),
                        self.days[self.offsets[row]:self.offsets[row + 1]].tolist()))


def _days(column: pa.ChunkedArray, name: str, rows: np.ndarray) -> np.ndarray:
    """Timestamps as day numbers: dates, times, or ISO 8601 text with or without a zone (a zoned
    time counts on its day in UTC), as a date field reads them; a missing one is an error.
    `rows` are the values' row indices in the input, for errors."""
    def fail(message: str, index: int, value=None) -> DataError:
        return row_error(name, "`timestamp`", message, int(rows[index]), value)

    array = date_days(column.combine_chunks(), fail, "a date or time")
    if array.null_count:
        index = int(np.flatnonzero(array.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{name}: column `timestamp` is empty in row {rows[index] + 1}")
    return array.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int32)


@attrs.frozen
class SignalInput:
    """A signals input, read and checked."""

    rows: pa.Table  # the input's rows of declared types, every column as read (what a workspace stores)
    checked: pa.Table  # lead_id, account_id, kind (index of the signal type), day; duplicates count once
    skipped: dict[str, int]  # undeclared signal type: its rows left out, most first (with skip_unknown_signals)


def read_signals(source, engagement: model.Engagement, skip_unknown_signals: bool = False) -> SignalInput:
    """A signals input checked: a record id per row, readable timestamps, declared signal types.
    A row of an undeclared type is an error or, with `skip_unknown_signals`, left out and counted
    by type (a feed of every event scores on the types the rules know). Duplicates (same record,
    type and timestamp) count once."""
    name = str(source) if not isinstance(source, (pa.Table, list)) else "signals"
    table = read_table(source)
    for column in ("signal", "timestamp"):
        if column not in table.column_names:
            raise DataError(f"{name}: missing column `{column}`; signals have lead_id or account_id, signal, timestamp")
    rows = np.arange(table.num_rows)  # each row kept, by its row index in the input
    kinds = table.column("signal").cast(pa.string())
    if kinds.null_count:
        raise DataError(f"{name}: column `signal` is empty in row {int(pc.index(kinds.is_null(), True).as_py()) + 1}; "
                        "every signal has a type")
    declared = pa.array([s.code for s in engagement.signals], pa.string())
    undeclared = pc.invert(pc.is_in(kinds, value_set=declared))
    skipped = {}
    if pc.any(undeclared).as_py():
        counts = pc.value_counts(kinds.filter(undeclared))
        skipped = dict(sorted(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()),
                              key=lambda kind_count: (-kind_count[1], kind_count[0])))
        if not skip_unknown_signals:
            row = pc.index(undeclared, True).as_py()
            raise DataError(f"{name}: column `signal`: {kinds[row].as_py()!r} is not a declared signal type; row {row + 1} "
                            f"(declared: {', '.join(s.code for s in engagement.signals)}); in all {_count_by_type(skipped)}")
        kept = pc.invert(undeclared)
        rows = rows[kept.to_numpy(zero_copy_only=False)]
        table, kinds = table.filter(kept), kinds.filter(kept)
    ids = {c: table.column(c).cast(pa.string()) if c in table.column_names else pa.nulls(table.num_rows, pa.string())
           for c in ("lead_id", "account_id")}
    no_id = pc.and_(pc.is_null(ids["lead_id"]), pc.is_null(ids["account_id"])).to_numpy(zero_copy_only=False)
    if no_id.any():
        raise DataError(f"{name}: row {rows[np.flatnonzero(no_id)[0]] + 1} names neither a lead_id nor an account_id")
    stamp = table.column("timestamp")
    days = _days(stamp, name, rows)
    checked = pa.table({"lead_id": ids["lead_id"], "account_id": ids["account_id"],
                        "kind": pc.index_in(kinds, value_set=declared), "stamp": stamp.cast(pa.string()),
                        "day": pa.array(days)})
    unique = checked.group_by(["lead_id", "account_id", "kind", "stamp", "day"], use_threads=False).aggregate([])
    return SignalInput(table, unique.select(["lead_id", "account_id", "kind", "day"]), skipped)


def _count_by_type(counts: dict[str, int]) -> str:
    """`12 signals of undeclared types: newsletter 10, webinar 2`."""
    total = sum(counts.values())
    return (f"{total:,} signal{'s' if total != 1 else ''} of {'undeclared types' if len(counts) > 1 else 'an undeclared type'}: "
            + ", ".join(f"{kind} {n:,}" for kind, n in counts.items()))


def skipped_signals_warning(skipped: dict[str, int]) -> str:
    """What a run that left out signals of undeclared types says about them."""
    return f"skipped {_count_by_type(skipped)}"


def _lists(rows: np.ndarray, days: np.ndarray, kinds: np.ndarray, n: int) -> SignalLists:
    keep = rows >= 0
    rows, days, kinds = rows[keep], days[keep], kinds[keep]
    order = np.lexsort((kinds, days, rows))
    counts = np.bincount(rows, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return SignalLists(offsets, days[order].astype(np.int32), kinds[order].astype(np.int32))


def signal_lists(signals: pa.Table, dataset: Dataset) -> tuple[SignalLists, SignalLists | None]:
    """Each account's and each lead's signals; signals of records not in the data are left out."""
    accounts = dataset.accounts.ids.cast(pa.string()).combine_chunks()
    kinds = signals.column("kind").to_numpy(zero_copy_only=False).astype(np.int32)
    days = signals.column("day").to_numpy(zero_copy_only=False).astype(np.int32)
    lead_rows = np.full(signals.num_rows, -1, np.int64)
    if dataset.leads is not None and signals.num_rows:
        leads = dataset.leads.ids.cast(pa.string()).combine_chunks()
        lead_rows = pc.index_in(signals.column("lead_id"), value_set=leads).fill_null(-1).to_numpy(
            zero_copy_only=False).astype(np.int64)
    direct = pc.index_in(signals.column("account_id"), value_set=accounts).fill_null(-1).to_numpy(
        zero_copy_only=False).astype(np.int64) if signals.num_rows else np.zeros(0, np.int64)
    via_lead = np.where(lead_rows >= 0, dataset.lead_account_rows[np.maximum(lead_rows, 0)], -1) \
        if dataset.leads is not None and len(lead_rows) else np.full(len(direct), -1)
    account_rows = np.where(lead_rows >= 0, via_lead, direct)
    account_lists = _lists(account_rows, days, kinds, dataset.accounts.n)
    lead_lists = _lists(lead_rows, days, kinds, dataset.leads.n) if dataset.leads is not None else None
    return account_lists, lead_lists


def _score(start, stop, offsets, days, kinds, weights, spans, windows, as_of_day, thresholds, out_score, out_stage):
    for i in range(start, stop):
        total = 0.0
        for j in range(offsets[i], offsets[i + 1]):
            age = as_of_day - days[j]
            if age < 0:  # a signal after the as-of date does not count yet
                continue
            k = kinds[j]
            if windows[k]:
                total += weights[k] if age <= spans[k] else 0.0
            else:
                total += weights[k] * 0.5 ** (age / spans[k])
        out_score[i] = total
        level = len(thresholds)
        for s in range(len(thresholds)):
            if total < thresholds[s]:
                level = s
                break
        out_stage[i] = level


@functools.cache
def _compiled_score():
    from numba import njit  # compiled on first use (and cached on disk), not when rules compile

    return njit(cache=True, nogil=True)(_score)


def score(engagement: model.Engagement, lists: SignalLists, as_of: dt.date) -> tuple[np.ndarray, np.ndarray]:
    """Engagement score and stage index per record, in parallel slices."""
    n = len(lists.offsets) - 1
    out_score, out_stage = np.zeros(n, np.float64), np.zeros(n, np.int32)
    weights = np.array([float(s.weight) for s in engagement.signals] or [0.0], np.float64)
    spans = np.array([float(s.days) for s in engagement.signals] or [1.0], np.float64)
    windows = np.array([s.decay == "window" for s in engagement.signals] or [False], np.bool_)
    thresholds = np.array([float(t) for t in engagement.thresholds], np.float64)
    run_parallel(_compiled_score(), n, lists.offsets, lists.days, lists.kinds, weights, spans, windows,
                 np.int64(dates.to_days(as_of)), thresholds, out_score, out_stage)
    return out_score, out_stage
