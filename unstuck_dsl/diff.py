"""What a rule change would move: two scorings of the same records, compared record by record.

Nothing is applied. The report has the transition matrices of ICP and Persona codes (old → new),
band changes, the distribution of score deltas, and the records that moved most with the
parameter rows that made them move.
"""

from __future__ import annotations

from collections import Counter

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .explain import Explanation

NONE = "—"


@attrs.frozen
class Mover:
    record_id: str
    old: tuple  # (icp_code, icp_score, persona_code, persona_score)
    new: tuple
    rows: tuple[tuple[str, str, str, str], ...]  # (ICP or Persona, parameter, old result, new result)


@attrs.frozen
class RuleDiff:
    kind: str  # "lead" or "account": what the records are
    records: int
    changed: int
    icp_transitions: dict
    persona_transitions: dict
    band_changes: dict
    icp_deltas: dict
    persona_deltas: dict
    movers: tuple[Mover, ...]
    changes: pa.Table  # one row per record whose code or score moved


def _bucket(delta: int) -> str:
    """Score deltas in tens: "0", "+1..10", "+11..20", ..., "-10..-1", "-20..-11"."""
    if delta == 0:
        return "0"
    high = min(100, ((abs(delta) - 1) // 10 + 1) * 10)
    low = high - 9 if high > 10 else 1
    return f"+{low}..{high}" if delta > 0 else f"-{high}..-{low}"


def _moved_rows(old: Explanation, new: Explanation) -> tuple:
    """The parameter rows whose result differs between the two explanations (or exist in one)."""
    rows = []
    for kind, old_parts, new_parts in (("ICP", old.icps, new.icps), ("Persona", old.personas, new.personas)):
        old_by = {(b.code, r.name): r.result for b in old_parts for r in b.rows}
        new_by = {(b.code, r.name): r.result for b in new_parts for r in b.rows}
        for key in dict.fromkeys([*old_by, *new_by]):
            before, after = old_by.get(key, "(none)"), new_by.get(key, "(none)")
            if before != after:
                rows.append((f"{kind} {key[0]}", key[1], before, after))
    return tuple(rows)


def _column(table: pa.Table, name: str) -> pa.Array | None:
    """A result column as plain values (codes as text), or None when the table has no such column."""
    if name not in table.column_names:
        return None
    column = table.column(name).combine_chunks()
    return column.cast(pa.string()) if pa.types.is_dictionary(column.type) else column


def _distinct(a: pa.Array, b: pa.Array) -> np.ndarray:
    """Per row: a and b differ (null differs from any value, and equals null)."""
    differ = pc.fill_null(pc.not_equal(a, b), True)
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return np.asarray(pc.and_not(differ, both_null).to_numpy(zero_copy_only=False), bool)


def _counts(*columns: pa.Array) -> dict:
    """How many rows hold each combination of values (null shown as NONE)."""
    names = [f"c{k}" for k in range(len(columns))]
    table = pa.table({name: pc.fill_null(column, NONE) for name, column in zip(names, columns)})
    grouped = table.group_by(names).aggregate([(names[0], "count")])
    keys = zip(*(grouped.column(name).to_pylist() for name in names))
    return {key if len(names) > 1 else key[0]: count
            for key, count in zip(keys, grouped.column(f"{names[0]}_count").to_pylist())}


def _deltas(old: pa.Array, new: pa.Array) -> dict:
    """The distribution of score deltas in `_bucket`s, over the records scored both times."""
    both = pc.and_(pc.is_valid(old), pc.is_valid(new))
    delta = pc.subtract(pc.filter(new, both).cast(pa.int64()), pc.filter(old, both).cast(pa.int64()))
    values, counts = np.unique(delta.to_numpy(zero_copy_only=False), return_counts=True)
    buckets = Counter()
    for value, count in zip(values.tolist(), counts.tolist()):
        buckets[_bucket(value)] += count
    return dict(buckets)


def compare(old_result, new_result, top: int = 5) -> RuleDiff:
    """Compare two ScoreResults over the same records (same order), column by column: only the
    records that moved most become Python values (their drawers show which rows moved them)."""
    old_table, new_table = old_result.table(), new_result.table()
    kind = "lead" if "lead_id" in old_table.column_names else "account"
    key = f"{kind}_id"
    ids = _column(old_table, key).cast(pa.string())
    n = len(ids)
    nothing = pa.nulls(n, pa.string())
    fields = ("icp_code", "icp_score", "persona_code", "persona_score")
    old = {f: _column(old_table, f) for f in fields}
    new = {f: _column(new_table, f) for f in fields}
    has_persona = old["persona_code"] is not None
    for side in (old, new):
        side["persona_code"] = side["persona_code"] if has_persona else nothing
        side["persona_score"] = side["persona_score"] if has_persona else pa.nulls(n, pa.int32())
    moved = {f: _distinct(old[f], new[f]) for f in fields}
    changed = moved["icp_code"] | moved["icp_score"] | moved["persona_code"] | moved["persona_score"]
    band_labels = []
    for table in (old_table, new_table):
        persona_band = _column(table, "persona_band") if has_persona else nothing
        band_labels.append(pc.binary_join_element_wise(pc.fill_null(_column(table, "icp_band"), NONE),
                                                       pc.fill_null(persona_band, NONE), "/"))
    band_moved = pa.array(_distinct(band_labels[0], band_labels[1]))
    bands = _counts(pc.filter(band_labels[0], band_moved), pc.filter(band_labels[1], band_moved)) \
        if pc.any(band_moved).as_py() else {}
    # The records that moved most: a code change counts 100, then the size of each score's move.
    size = (100 * moved["icp_code"] + 100 * moved["persona_code"]).astype(np.int64)
    for score in ("icp_score", "persona_score"):
        before = old[score].cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        after = new[score].cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        size += np.abs(after - before)
    rows = np.flatnonzero(changed)
    movers = []
    if len(rows):
        order = pc.sort_indices(pa.table({"size": pa.array(-size[rows]), "id": pc.take(ids, pa.array(rows))}),
                                sort_keys=[("size", "ascending"), ("id", "ascending")])
        for row in rows[order.to_numpy()[:top]].tolist():
            record_id = ids[row].as_py()
            o = tuple(old[f][row].as_py() for f in fields)
            w = tuple(new[f][row].as_py() for f in fields)
            explain = {key: record_id}
            movers.append(Mover(record_id, o, w, _moved_rows(old_result.explain(**explain),
                                                             new_result.explain(**explain))))
    taken = pa.array(rows, pa.int64())
    schema = pa.schema([(key, pa.string()), ("old_icp_code", pa.string()), ("new_icp_code", pa.string()),
                        ("old_icp_score", pa.int32()), ("new_icp_score", pa.int32()),
                        ("old_persona_code", pa.string()), ("new_persona_code", pa.string()),
                        ("old_persona_score", pa.int32()), ("new_persona_score", pa.int32())])
    changes = pa.table([pc.take(ids, taken)] + [pc.take(side[f], taken).cast(schema.field(f"{name}_{f}").type)
                                                for f in fields for name, side in (("old", old), ("new", new))],
                       schema=schema)
    return RuleDiff(kind, n, len(rows), _counts(old["icp_code"], new["icp_code"]),
                    _counts(old["persona_code"], new["persona_code"]) if has_persona else {}, bands,
                    _deltas(old["icp_score"], new["icp_score"]),
                    _deltas(old["persona_score"], new["persona_score"]) if has_persona else {},
                    tuple(movers), changes)
