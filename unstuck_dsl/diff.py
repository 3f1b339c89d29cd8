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
from .schema import BAND_LEVELS
from .tables import ComparedScores, SharedCodes, band_codes, codes_column, score_column

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


def _labels(codes: SharedCodes):
    """The text of each of `codes`' numbers (-1: none)."""
    return lambda number: NONE if number < 0 else codes.names[number]


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


def _deltas(old: np.ndarray, new: np.ndarray) -> dict:
    """The distribution of score deltas in `_bucket`s, over the records scored both times (-1: no score)."""
    both = (old >= 0) & (new >= 0)
    values, counts = np.unique(new[both] - old[both], return_counts=True)
    buckets = Counter()
    for value, count in zip(values.tolist(), counts.tolist()):
        buckets[_bucket(value)] += count
    return dict(buckets)


def compare(old_result, new_result, top: int = 5) -> RuleDiff:
    """Compare two ScoreResults over the same records (same order), column by column over the
    kernels' numbers: only the records that moved most become Python values (their drawers show
    which rows moved them)."""
    old, new = old_result.score_numbers(), new_result.score_numbers()
    kind, key, n = old.kind, f"{old.kind}_id", len(old.ids)
    has_persona = kind == "lead"
    compared = ComparedScores.of(old, new)
    codes, scores, moved = compared.codes, compared.scores, compared.moved
    changed = moved["icp_code"] | moved["icp_score"] | moved["persona_code"] | moved["persona_score"]
    # A band follows from its score: only the records whose scores moved can change band.
    scored = np.flatnonzero(moved["icp_score"] | moved["persona_score"])
    bands = [SharedCodes(band_codes(o[scored]), band_codes(w[scored]), list(BAND_LEVELS)) for o, w in scores.values()]
    band_moved = np.flatnonzero((bands[0].old != bands[0].new) | (bands[1].old != bands[1].new))
    # A band change is counted as "ICP band/Persona band" old and new: one number per pair of bands.
    width = len(bands[1].names) + 1
    pair = [(bands[0].old[band_moved] + 1) * width + bands[1].old[band_moved] + 1,
            (bands[0].new[band_moved] + 1) * width + bands[1].new[band_moved] + 1]

    icp_band, persona_band = (_labels(b) for b in bands)

    def band_label(number: int) -> str:
        return f"{icp_band(number // width - 1)}/{persona_band(number % width - 1)}"

    band_changes = _counts((pair[0], band_label), (pair[1], band_label)) if len(band_moved) else {}
    rows = np.flatnonzero(changed)
    taken = pa.array(rows, pa.int64())
    fields = ("icp_code", "icp_score", "persona_code", "persona_score")

    def changed_column(side: int, f: str) -> pa.Array:
        if f in codes:
            numbers = (codes[f].old, codes[f].new)[side][rows]
            return codes_column(codes[f].names, numbers).cast(pa.string())
        return score_column(scores[f][side][rows])

    changes = pa.table([pc.take(old.ids, taken).cast(pa.string())]
                       + [changed_column(side, f) for f in fields for side in (0, 1)],
                       names=[key, *(f"{side}_{f}" for f in fields for side in ("old", "new"))])
    movers = []
    if len(rows):
        # The records that moved most: a code change counts 100, then the size of each score's move.
        size = 100 * moved["icp_code"][rows] + 100 * moved["persona_code"][rows]
        for o, w in scores.values():
            size += np.abs(np.maximum(w[rows], 0) - np.maximum(o[rows], 0))
        ranked = pa.table({"size": pa.array(size, pa.int64()), "id": changes.column(key)})
        first = pc.select_k_unstable(ranked, top, sort_keys=[("size", "descending"), ("id", "ascending")])
        for at, row in zip(rows[first.to_numpy()].tolist(), changes.take(first).to_pylist()):
            movers.append(Mover(row[key], tuple(row[f"old_{f}"] for f in fields), tuple(row[f"new_{f}"] for f in fields),
                                _moved_rows(old_result.explain_row(kind, at), new_result.explain_row(kind, at))))
    icp, persona = codes["icp_code"], codes["persona_code"]
    return RuleDiff(kind, n, len(rows), _counts((icp.old, _labels(icp)), (icp.new, _labels(icp))),
                    _counts((persona.old, _labels(persona)), (persona.new, _labels(persona))) if has_persona else {},
                    band_changes, _deltas(*scores["icp_score"]),
                    _deltas(*scores["persona_score"]) if has_persona else {}, tuple(movers), changes)
