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


@attrs.frozen
class _Codes:
    """A code or band column of both results as numbers over one vocabulary: `old` and `new` per
    record (-1: none), `names[k]` the text of number k. Comparing and counting numbers, not 4M
    strings, is most of what makes a diff of a big workspace quick."""

    old: np.ndarray
    new: np.ndarray
    names: list[str]

    @classmethod
    def of(cls, old: pa.Array | None, new: pa.Array | None, n: int) -> _Codes:
        old, new = (_dictionary(column, n) for column in (old, new))
        names = pc.unique(pa.concat_arrays([old.dictionary.cast(pa.string()), new.dictionary.cast(pa.string())]))
        return cls(_numbers(old, names), _numbers(new, names), names.to_pylist())

    def label(self, number: int) -> str:
        return NONE if number < 0 else self.names[number]


def _dictionary(column: pa.Array | None, n: int) -> pa.DictionaryArray:
    """A result column as a dictionary array (a missing column: n nulls)."""
    if column is None:
        return pa.DictionaryArray.from_arrays(pa.nulls(n, pa.int32()), pa.array([], pa.string()))
    return column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)


def _numbers(column: pa.DictionaryArray, names: pa.Array) -> np.ndarray:
    """Each record's code as its number in `names` (-1: null)."""
    of_entry = pc.index_in(column.dictionary.cast(pa.string()), value_set=names).to_numpy(zero_copy_only=False)
    indices = column.indices.cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
    return np.where(indices < 0, -1, of_entry.astype(np.int64)[np.maximum(indices, 0)]) if len(of_entry) else \
        np.full(len(column), -1, np.int64)


def _column(table: pa.Table, name: str) -> pa.Array | None:
    """A result column (combined), or None when the table has no such column."""
    return table.column(name).combine_chunks() if name in table.column_names else None


def _score_values(column: pa.Array | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A score column as (value, 0 where none; has a value)."""
    if column is None:
        return np.zeros(n, np.int64), np.zeros(n, bool)
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    return column.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), np.asarray(valid, bool)


def _distinct_scores(old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Per record: the scores differ (none differs from any value, and equals none)."""
    return (old[1] != new[1]) | (old[1] & new[1] & (old[0] != new[0]))


def _counts(*columns: tuple[np.ndarray, callable]) -> dict:
    """How many records hold each combination of values: each column as (numbers, -1 for none;
    the text of a number); a one-column count is keyed by the text, more by a tuple of texts.
    The numbers are small: a combination is one number, counted by `bincount`."""
    key, sizes = np.zeros(len(columns[0][0]), np.int64), []
    for numbers, _ in columns:
        size = int(numbers.max(initial=-1)) + 2
        key = key * size + (numbers + 1)
        sizes.append(size)
    counted, counts = {}, np.bincount(key, minlength=1)
    for combined in np.flatnonzero(counts).tolist():
        texts, rest = [], combined
        for (_, text), size in zip(reversed(columns), reversed(sizes)):
            texts.append(text(rest % size - 1))
            rest //= size
        texts = tuple(reversed(texts))
        counted[texts if len(texts) > 1 else texts[0]] = int(counts[combined])
    return counted


def _deltas(old: tuple[np.ndarray, np.ndarray], new: tuple[np.ndarray, np.ndarray]) -> dict:
    """The distribution of score deltas in `_bucket`s, over the records scored both times (each
    side as `_score_values`)."""
    both = old[1] & new[1]
    values, counts = np.unique(new[0][both] - old[0][both], return_counts=True)
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
    ids = _column(old_table, key)
    n = len(ids)
    has_persona = "persona_code" in old_table.column_names
    fields = ("icp_code", "icp_score", "persona_code", "persona_score")
    sides = {name: {f: _column(table, f) for f in (*fields, "icp_band", "persona_band")}
             for name, table in (("old", old_table), ("new", new_table))}
    codes = {f: _Codes.of(sides["old"][f], sides["new"][f], n) for f in ("icp_code", "persona_code")}
    scores = {f: (_score_values(sides["old"][f], n), _score_values(sides["new"][f], n))
              for f in ("icp_score", "persona_score")}
    moved = {**{f: c.old != c.new for f, c in codes.items()},
             **{f: _distinct_scores(*sides) for f, sides in scores.items()}}
    changed = moved["icp_code"] | moved["icp_score"] | moved["persona_code"] | moved["persona_score"]
    bands = [_Codes.of(sides["old"][f], sides["new"][f], n) for f in ("icp_band", "persona_band")]
    band_moved = np.flatnonzero((bands[0].old != bands[0].new) | (bands[1].old != bands[1].new))
    # A band change is counted as "ICP band/Persona band" old and new: one number per pair of bands.
    width = len(bands[1].names) + 1
    pair = [(bands[0].old[band_moved] + 1) * width + bands[1].old[band_moved] + 1,
            (bands[0].new[band_moved] + 1) * width + bands[1].new[band_moved] + 1]

    def band_label(number: int) -> str:
        return f"{bands[0].label(number // width - 1)}/{bands[1].label(number % width - 1)}"

    band_changes = _counts((pair[0], band_label), (pair[1], band_label)) if len(band_moved) else {}
    # The records that moved most: a code change counts 100, then the size of each score's move.
    size = (100 * moved["icp_code"] + 100 * moved["persona_code"]).astype(np.int64)
    for old, new in scores.values():
        size += np.abs(new[0] - old[0])
    rows = np.flatnonzero(changed)
    text_ids = ids.cast(pa.string())
    taken = pa.array(rows, pa.int64())
    schema = pa.schema([(key, pa.string()), ("old_icp_code", pa.string()), ("new_icp_code", pa.string()),
                        ("old_icp_score", pa.int32()), ("new_icp_score", pa.int32()),
                        ("old_persona_code", pa.string()), ("new_persona_code", pa.string()),
                        ("old_persona_score", pa.int32()), ("new_persona_score", pa.int32())])

    def changed_column(side: str, f: str) -> pa.Array:
        column = sides[side][f]
        kind_of = schema.field(f"{side}_{f}").type
        return pa.nulls(len(rows), kind_of) if column is None else pc.take(column, taken).cast(kind_of)

    changes = pa.table([pc.take(text_ids, taken)] + [changed_column(side, f) for f in fields for side in ("old", "new")],
                       schema=schema)
    movers = []
    if len(rows):
        order = pc.sort_indices(pa.table({"size": pa.array(-size[rows]), "id": changes.column(key)}),
                                sort_keys=[("size", "ascending"), ("id", "ascending")])
        for at in order.to_numpy()[:top].tolist():
            row = changes.slice(at, 1).to_pylist()[0]
            record_id = row[key]
            explain = {key: record_id}
            movers.append(Mover(record_id, tuple(row[f"old_{f}"] for f in fields), tuple(row[f"new_{f}"] for f in fields),
                                _moved_rows(old_result.explain(**explain), new_result.explain(**explain))))
    icp, persona = codes["icp_code"], codes["persona_code"]
    return RuleDiff(kind, n, len(rows), _counts((icp.old, icp.label), (icp.new, icp.label)),
                    _counts((persona.old, persona.label), (persona.new, persona.label)) if has_persona else {},
                    band_changes, _deltas(*scores["icp_score"]),
                    _deltas(*scores["persona_score"]) if has_persona else {}, tuple(movers), changes)
