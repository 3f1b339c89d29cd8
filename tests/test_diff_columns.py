"""`diff.compare` works column by column; it must say what the record-by-record reading says
(the plain Python below, which it replaced), for leads and for accounts alone."""

from __future__ import annotations

import shutil
from collections import Counter

import pyarrow as pa
import pytest

import unstuck_dsl
from unstuck_dsl import sample
from unstuck_dsl.diff import NONE, _bucket, _moved_rows, compare

from cli_support import AS_OF, RULES


def _plain_compare(old_result, new_result, top: int = 5):
    """Record by record, in Python: (records, changed, ICP transitions, Persona transitions, band
    changes, ICP deltas, Persona deltas, movers as (id, old, new, rows), changed rows)."""
    def columns(result):
        table = result.table()
        return {name: table.column(name).cast(pa.string()).to_pylist()
                if pa.types.is_dictionary(table.column(name).type) else table.column(name).to_pylist()
                for name in table.column_names}

    old, new = columns(old_result), columns(new_result)
    key = "lead_id" if "lead_id" in old else "account_id"
    has_persona = "persona_code" in old
    n = len(old[key])
    empty = [None] * n
    icp_t, persona_t, bands, icp_d, persona_d = Counter(), Counter(), Counter(), Counter(), Counter()
    changed, movement = [], []
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
            changed.append((old[key][i], *o, *w))
            size = abs((w[1] or 0) - (o[1] or 0)) + abs((w[3] or 0) - (o[3] or 0)) + 100 * (o[0] != w[0]) \
                + 100 * (o[2] != w[2])
            movement.append((-size, old[key][i], o, w))
    movers = [(record_id, o, w, _moved_rows(old_result.explain(**{key: record_id}),
                                            new_result.explain(**{key: record_id})))
              for _, record_id, o, w in sorted(movement)[:top]]
    return (n, len(changed), dict(icp_t), dict(persona_t), dict(bands), dict(icp_d), dict(persona_d), movers,
            changed)


@pytest.fixture(scope="module")
def rulesets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rules") / "rules"
    shutil.copytree(RULES, folder)
    icps = folder / "icps.ust"
    icps.write_text(icps.read_text().replace('score 5 "Uses Snowflake"', 'score 9 "Uses Snowflake"')
                    .replace("employees between 51 and 2000", "employees between 300 and 2000"))
    return unstuck_dsl.compile(RULES), unstuck_dsl.compile(folder)


@pytest.mark.parametrize("with_leads", [True, False])
def test_compare_says_what_the_record_by_record_reading_says(rulesets, with_leads):
    accounts, leads = sample.generate(400, seed=21)
    leads = leads if with_leads else None
    old, new = (rules.score(accounts, leads, as_of=AS_OF) for rules in rulesets)
    report = compare(old, new)
    plain = _plain_compare(old, new)
    changes = [tuple(row.values()) for row in report.changes.to_pylist()]
    assert (report.records, report.changed, report.icp_transitions, report.persona_transitions, report.band_changes,
            report.icp_deltas, report.persona_deltas) == plain[:7]
    assert [(m.record_id, m.old, m.new, m.rows) for m in report.movers] == plain[7]
    expected = [(row[0], row[1], row[5], row[2], row[6], row[3], row[7], row[4], row[8]) for row in plain[8]]
    assert changes == expected and report.changed > 0
    assert report.kind == ("lead" if with_leads else "account")


def test_compare_of_the_same_rules_moves_nothing(rulesets):
    accounts, leads = sample.generate(100, seed=3)
    result = rulesets[0].score(accounts, leads, as_of=AS_OF)
    report = compare(result, result)
    assert (report.changed, report.band_changes, report.movers, report.changes.num_rows) == (0, {}, (), 0)
    assert report.icp_deltas == {"0": sum(1 for s in result.leads.column("icp_score").to_pylist() if s is not None)}
