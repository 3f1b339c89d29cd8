"""What a rule change would move: two scorings of the same records, compared record by record.

Nothing is applied. The report has the transition matrices of ICP and Persona codes (old → new),
band changes, the distribution of score deltas, and the records that moved most with the
parameter rows that made them move.
"""

from __future__ import annotations

from collections import Counter

import attrs
import pyarrow as pa

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


def _columns(result) -> dict[str, list]:
    table = result.table()
    return {name: table.column(name).cast(pa.string()).to_pylist() if pa.types.is_dictionary(table.column(name).type)
            else table.column(name).to_pylist() for name in table.column_names}


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


def compare(old_result, new_result, top: int = 5) -> RuleDiff:
    """Compare two ScoreResults over the same records (same order)."""
    old, new = _columns(old_result), _columns(new_result)
    kind = "lead" if "lead_id" in old else "account"
    key = f"{kind}_id"
    has_persona = "persona_code" in old
    n = len(old[key])
    empty = [None] * n
    icp_t, persona_t, bands, icp_d, persona_d = Counter(), Counter(), Counter(), Counter(), Counter()
    changed_rows, movement = [], []
    for i in range(n):
        o = (old["icp_code"][i], old["icp_score"][i], (old.get("persona_code") or empty)[i],
             (old.get("persona_score") or empty)[i])
        w = (new["icp_code"][i], new["icp_score"][i], (new.get("persona_code") or empty)[i],
             (new.get("persona_score") or empty)[i])
        icp_t[(o[0] or NONE, w[0] or NONE)] += 1
        if has_persona:
            persona_t[(o[2] or NONE, w[2] or NONE)] += 1
        old_band = (old["icp_band"][i], (old.get("persona_band") or empty)[i])
        new_band = (new["icp_band"][i], (new.get("persona_band") or empty)[i])
        if old_band != new_band:
            bands[(f"{old_band[0] or NONE}/{old_band[1] or NONE}", f"{new_band[0] or NONE}/{new_band[1] or NONE}")] += 1
        if o[1] is not None and w[1] is not None:
            icp_d[_bucket(w[1] - o[1])] += 1
        if o[3] is not None and w[3] is not None:
            persona_d[_bucket(w[3] - o[3])] += 1
        if o != w:
            changed_rows.append({key: old[key][i], "old_icp_code": o[0], "new_icp_code": w[0], "old_icp_score": o[1],
                                 "new_icp_score": w[1], "old_persona_code": o[2], "new_persona_code": w[2],
                                 "old_persona_score": o[3], "new_persona_score": w[3]})
            size = abs((w[1] or 0) - (o[1] or 0)) + abs((w[3] or 0) - (o[3] or 0)) + 100 * (o[0] != w[0]) + 100 * (o[2] != w[2])
            movement.append((-size, old[key][i], o, w))
    movers = []
    for _, record_id, o, w in sorted(movement)[:top]:
        explain = {f"{kind}_id": record_id}
        movers.append(Mover(record_id, o, w, _moved_rows(old_result.explain(**explain), new_result.explain(**explain))))
    schema = pa.schema([(key, pa.string()), ("old_icp_code", pa.string()), ("new_icp_code", pa.string()),
                        ("old_icp_score", pa.int32()), ("new_icp_score", pa.int32()),
                        ("old_persona_code", pa.string()), ("new_persona_code", pa.string()),
                        ("old_persona_score", pa.int32()), ("new_persona_score", pa.int32())])
    return RuleDiff(kind, n, len(changed_rows), dict(icp_t), dict(persona_t), dict(bands), dict(icp_d),
                    dict(persona_d), tuple(movers), pa.Table.from_pylist(changed_rows, schema=schema))
